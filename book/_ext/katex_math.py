"""Sphinx extension: math typeset at build time by KaTeX, served from the site.

MathJax in the page cost 1.16 MB of script per page, typeset after the load (the layout jumped
as its fonts arrived) and needed JavaScript. Here every formula is turned into HTML (plus MathML
for screen readers) while the book builds, by npm's ``katex`` run with node
(``tools/site/katex-render.js``; ``npm ci --prefix tools/site`` installs it). A page then needs
only KaTeX's stylesheet and the few fonts its formulas use, all copied into ``_static/katex/``:
the math renders offline, with no script, and a TeX error is a build warning (so ``-W`` fails).

Use with ``html_math_renderer: katex_prerender`` in the Sphinx config.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "site"
SETUP_HINT = "run `npm ci --prefix tools/site` (needs node 18+)"


def node_modules() -> Path:
    """tools/site/node_modules of this checkout; for a copy of the book built elsewhere
    (``ce-assign`` copies it without node_modules), $CE_NODE_MODULES or the one under the
    current directory."""
    candidates = [
        os.environ.get("CE_NODE_MODULES", ""),
        TOOLS / "node_modules",
        Path.cwd() / "tools" / "site" / "node_modules",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "katex").is_dir():
            return Path(candidate)
    return TOOLS / "node_modules"


KATEX = node_modules() / "katex" / "dist"


class _KatexServer:
    """One node process for the whole build, asked one formula at a time."""

    def __init__(self):
        self.process = None
        self.cache: dict = {}

    def render(self, tex: str, display: bool) -> tuple:
        key = (tex, display)
        if key not in self.cache:
            self.cache[key] = self._ask(tex, display)
        return self.cache[key]

    def _ask(self, tex, display):
        if self.process is None:
            if not KATEX.exists():
                raise RuntimeError(f"KaTeX is not installed: {SETUP_HINT}")
            self.process = subprocess.Popen(
                ["node", str(TOOLS / "katex-render.js")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                env=dict(os.environ, NODE_PATH=str(node_modules())),
            )
            atexit.register(self.close)
        request = json.dumps({"tex": tex, "display": display})
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        return answer.get("html"), answer.get("error")

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=10)
            self.process = None


SERVER = _KatexServer()


_TEXT = re.compile(r"\\text\{([^{}]*)\}")


def _as_katex_reads_it(tex: str) -> str:
    """MathJax takes a bare ``_`` inside ``\\text{…}`` (``\\text{ignore_index}``), KaTeX
    needs it escaped."""
    return _TEXT.sub(
        lambda m: r"\text{" + re.sub(r"(?<!\\)_", r"\\_", m.group(1)) + "}",
        tex,
    )


def _typeset(translator, node, tex: str, display: bool) -> str:
    html, error = SERVER.render(_as_katex_reads_it(tex), display)
    if error:
        logger.warning(
            "KaTeX cannot typeset %r: %s", tex, error, location=node
        )
        return f'<code class="math-error">{translator.encode(tex)}</code>'
    return html


def visit_math(self, node):
    html = _typeset(self, node, node.astext(), display=False)
    self.body.append(
        self.starttag(
            node, "span", "", CLASS="math notranslate nohighlight"
        )
        + html
        + "</span>"
    )
    raise nodes.SkipNode


def _display_tex(node) -> str:
    """The TeX of a display formula, as Sphinx's MathJax renderer groups it."""
    if node["nowrap"]:  # amsmath environments (align, …) come whole
        return node.astext()
    parts = [p for p in node.astext().split("\n\n") if p.strip()]
    parts = [
        r"\begin{aligned}" + p + r"\end{aligned}" if r"\\" in p else p
        for p in parts
    ]
    if len(parts) > 1:
        return r"\begin{gathered}" + r"\\".join(parts) + r"\end{gathered}"
    return parts[0] if parts else ""


def visit_displaymath(self, node):
    self.body.append(
        self.starttag(node, "div", CLASS="math notranslate nohighlight")
    )
    if node["number"] and not node["nowrap"]:
        number = get_node_equation_number(self, node)
        self.body.append(f'<span class="eqno">({number})')
        self.add_permalink_ref(node, "Link to this equation")
        self.body.append("</span>")
    self.body.append(_typeset(self, node, _display_tex(node), display=True))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def copy_katex_assets(app, exception):
    """KaTeX's stylesheet and woff2 fonts into _static/katex/ (browsers
    that read woff2 never ask for the other formats, so only those ship)."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "katex"
    (target / "fonts").mkdir(parents=True, exist_ok=True)
    # font-display: block (KaTeX's default): a formula never shows in a fallback font and then
    # reflows (with "swap", the glossary's layout shift measured 0.09)
    css = (KATEX / "katex.min.css").read_text(encoding="utf-8")
    (target / "katex.min.css").write_text(css, encoding="utf-8")
    for font in (KATEX / "fonts").glob("*.woff2"):
        shutil.copy2(font, target / "fonts" / font.name)
    SERVER.close()


# The fonts a page's formulas need, by the KaTeX class that uses each: preloaded in the head, so
# they arrive with the style sheet instead of after the first layout (which then reflowed the
# text around each formula: the glossary's layout shift measured 0.09 without them, 0 with).
FONTS_BY_CLASS = {
    "Main-Regular": 'class="katex"',
    "Math-Italic": "mathnormal",
    "Size1-Regular": ("size1", "small-op"),
    "Size2-Regular": ("size2", "large-op"),
}


def preload_fonts(app, pagename, templatename, context, doctree):
    body = context.get("body", "")
    if 'class="katex"' not in body:
        return
    links = [
        '<link rel="preload" as="font" type="font/woff2" crossorigin href="'
        + context["pathto"](f"_static/katex/fonts/KaTeX_{font}.woff2", 1)
        + '" />'
        for font, marks in FONTS_BY_CLASS.items()
        if any(
            mark in body
            for mark in (marks if isinstance(marks, tuple) else (marks,))
        )
    ]
    context["metatags"] = (
        context.get("metatags", "") + "\n" + "\n".join(links)
    )


def check_installed(app):
    if not (KATEX / "katex.min.css").exists():
        logger.warning("KaTeX is not installed: %s", SETUP_HINT)


def setup(app):
    app.add_html_math_renderer(
        "katex_prerender",
        (visit_math, None),
        (visit_displaymath, None),
    )
    app.add_css_file("katex/katex.min.css")
    app.connect("builder-inited", check_installed)
    app.connect("html-page-context", preload_fonts)
    # before site_polish bundles the style sheets (priority 500)
    app.connect("build-finished", copy_katex_assets, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": False}
