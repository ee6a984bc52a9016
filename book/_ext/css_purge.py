"""Drop the CSS rules no page can use (for book/_ext/site_polish.py).

The theme's style sheet is 310 kB (Bootstrap's every utility class, at every breakpoint). A
rule is kept unless one of its selectors needs a class that no built page mentions in a
``class`` attribute and no shipped script mentions at all (a script may add a class by name):
an over-approximation, so nothing a page can show loses its style. At-rules other than
``@media``/``@supports``/``@layer`` (fonts, keyframes) are kept whole.
"""

from __future__ import annotations

import re

CLASS = re.compile(r"\.(-?[_a-zA-Z][_a-zA-Z0-9-]*)")
GROUPING = ("@media", "@supports", "@layer", "@container")


def used_names(html_texts, script_texts) -> set:
    names = set()
    for text in html_texts:
        for value in re.findall(r'class="([^"]*)"', text):
            names.update(value.split())
    for text in script_texts:
        names.update(re.findall(r"[_a-zA-Z][_a-zA-Z0-9-]*", text))
    return names


def _split_selectors(prelude: str) -> list:
    out, depth, start = [], 0, 0
    for i, char in enumerate(prelude):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            out.append(prelude[start:i])
            start = i + 1
    out.append(prelude[start:])
    return out


def _maybe_used(selector: str, used: set) -> bool:
    if "\\" in selector:
        return True  # escaped characters: not worth the risk
    flat = re.sub(
        r"\([^()]*\)", "", selector
    )  # :not(.x), :is(.a, .b): never required
    flat = re.sub(r"\[[^\]]*\]", "", flat)
    return all(name in used for name in CLASS.findall(flat))


def _block_end(css: str, start: int) -> int:
    """Index just past the ``}`` matching the ``{`` at ``start``."""
    depth, i, quote = 0, start, None
    while i < len(css):
        char = css[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(css)


def purge(css: str, used: set) -> str:
    out, i = [], 0
    while i < len(css):
        if css.startswith("/*", i):
            end = css.find("*/", i) + 2 or len(css)
            i = end
            continue
        brace = css.find("{", i)
        semi = css.find(";", i)
        if brace < 0:
            out.append(css[i:])
            break
        if css[i:].lstrip().startswith("@") and 0 <= semi < brace:
            out.append(css[i : semi + 1])  # @charset, @import
            i = semi + 1
            continue
        end = _block_end(css, brace)
        prelude, body = css[i:brace].strip(), css[brace + 1 : end - 1]
        if prelude.startswith(GROUPING):
            inner = purge(body, used)
            if inner.strip():
                out.append(f"{prelude}{{{inner}}}")
        elif prelude.startswith("@"):
            out.append(css[i:end])
        else:
            kept = [
                s for s in _split_selectors(prelude) if _maybe_used(s, used)
            ]
            if kept:
                out.append(",".join(kept) + "{" + body + "}")
        i = end
    return "".join(out)
