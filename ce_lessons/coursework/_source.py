"""A function's source as the book shows it: the code, without its docstring.

The docstrings of ``ce_lessons`` hold reST math (``.. math::``) for ``help()`` and editors; on a
page that already states the formula in rendered math, the raw markup is noise. The book's
``literalinclude`` with ``:code-only:`` (``book/_ext/code_only.py``) and the student notebooks
written by ``ce-assign`` both show a function through :func:`without_docstring`.
"""

from __future__ import annotations

import ast
import textwrap


def without_docstring(source: str) -> str:
    """``source`` of one function (or class) with its docstring lines removed.

    >>> print(without_docstring('def f(x):\\n    \"\"\"Twice x.\"\"\"\\n    return 2 * x'))
    def f(x):
        return 2 * x
    """
    lines = source.splitlines()
    tree = ast.parse(textwrap.dedent(source))
    node = tree.body[0]
    body = getattr(node, "body", [])
    first = body[0] if body else None
    is_doc = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if not is_doc:
        return source
    kept = lines[: first.lineno - 1] + lines[first.end_lineno :]
    return "\n".join(kept)
