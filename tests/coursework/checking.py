"""What every chapter's self-check tests assert about a classic mistake."""


def assert_named_mistake(check, answer, hint):
    """``check(answer)`` fails, scores below 1, and its message is the hint
    that names the mistake (``hint`` is a phrase of it)."""
    result = check(answer)
    assert not result.passed and 0.0 <= result.score < 1.0
    assert result.message.startswith("Hint:") and hint in result.message, (
        result.message
    )
    return result
