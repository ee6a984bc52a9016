"""Sphinx extension: the website on every screen (issue 17).

What it does to the built site, each part checked by ``tests/browser``:

- adds ``_static/ce-site.css`` and ``_static/ce-site.js`` to every page (the ☰ and "Contents"
  buttons, wide math and tables in their own scroll boxes, solutions opened from their whole bar,
  search snippets from the page's text);
- a **self-check** cell that follows a solution moves into it, under the label "Self-check run on
  the solution above:", so that a closed solution never shows "all N public cases pass" as if it
  were about the reader's code;
- a **"Run it yourself"** box on every page whose source is a notebook, one line until the
  reader opens it (so that a phone's first screen shows the question): the download link of the
  notebook, the course archive (``_downloads/cross-entropy-course.zip``: the notebooks,
  ``ce_lessons`` and the requirements) and the one command that installs and opens it;
- a **meta description** on every page (its first paragraph), for search engines and link
  previews;
- after the build: every figure gets its intrinsic ``width``/``height`` (read from the PNG header,
  so the page does not jump while it loads) and a link to itself (tap to enlarge on a phone);
  the theme's 1.5 MB Font Awesome script is replaced by the few icons the pages use, inlined as
  SVG masks in ``_static/ce-icons.css`` (from npm's ``@fortawesome/fontawesome-free``, the
  theme's version).
"""

from __future__ import annotations

import html
import os
import re
import struct
import urllib.parse
import zipfile
from pathlib import Path

import css_purge
from docutils import nodes
from katex_math import node_modules
from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
FONTAWESOME = node_modules() / "@fortawesome" / "fontawesome-free"
ARCHIVE = "cross-entropy-course.zip"
# What a reader needs to run the chapters: the notebooks, the package and its requirements.
ARCHIVE_FILES = [
    "README.md",
    "requirements.txt",
    "constraints.txt",
    "pyproject.toml",
    "book/*.ipynb",
    "ce_lessons/**/*.py",
]
RUN_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    " && .venv/bin/jupyter lab book/"
)
SELF_CHECK_LABEL = "Self-check run on the solution above:"
# The page the run box sends a reader to for the details (on that page, to its set-up section).
GETTING_STARTED = "book/getting_started"


# --- the self-check belongs to the solution -------------------------------------------------


def _is_solution(node) -> bool:
    return isinstance(node, nodes.Element) and (
        "solution" in node.get("classes", [])
        or type(node).__name__.startswith("solution")
    )


def move_self_checks_into_solutions(app, doctree, docname):
    for cell in list(doctree.findall(nodes.container)):
        if "tag_self-check" not in cell.get("classes", []):
            continue
        parent = cell.parent
        index = parent.index(cell)
        if index == 0 or not _is_solution(parent[index - 1]):
            continue
        solution = parent[index - 1]
        parent.remove(cell)
        label = nodes.paragraph(
            "", SELF_CHECK_LABEL, classes=["ce-self-check-label"]
        )
        solution += label
        solution += cell


# --- every page: description, "Run it yourself" ---------------------------------------------


def _first_paragraph(body: str) -> str:
    for match in re.finditer(r"<p(?:\s[^>]*)?>(.*?)</p>", body, re.S):
        text = re.sub(r"<[^>]+>", "", match.group(1))
        text = " ".join(html.unescape(text).split())
        if len(text) > 40:
            return text
    return ""


def _description(app, body: str) -> str:
    text = _first_paragraph(body) or (
        f"{app.config.project}: PyTorch's cross-entropy loss explained"
        " with runnable, verified code."
    )
    if len(text) > 160:
        text = text[:157].rsplit(" ", 1)[0] + "…"
    return text


def _run_box(app, pagename: str) -> str:
    notebook = Path(pagename).name + ".ipynb"
    depth = pagename.count("/")
    up = "../" * depth
    details = (
        '<a href="#set-up">Set-up</a>, below, has'
        if pagename == GETTING_STARTED
        else f'the <a href="{up}{GETTING_STARTED}.html">getting-started page</a> has'
    )
    return f"""
<aside class="ce-run-box" aria-label="Run it yourself">
<details>
<summary class="ce-run-box__title">Run it yourself: this notebook, <code>ce_lessons</code>
and one command</summary>
<p>This page is a Jupyter notebook:
<a href="{up}_sources/{pagename}.ipynb" download="{notebook}">download {notebook}</a>.
It imports <code>ce_lessons</code>, the course's package: get
<a href="{up}_downloads/{ARCHIVE}" download>the course archive</a>
(all the notebooks, <code>ce_lessons</code> and its pinned requirements), unzip it, and in
its folder run</p>
<pre class="ce-run-box__command"><code>{html.escape(RUN_COMMAND)}</code></pre>
<p>Python 3.10 or newer; the install takes a few minutes. Where pip finds no
<code>torch==2.13.0+cpu</code>, add PyTorch's CPU wheel index; {details} the details.</p>
</details>
</aside>
"""


def add_page_extras(app, pagename, templatename, context, doctree):
    body = context.get("body", "")
    description = html.escape(_description(app, body), quote=True)
    context["metatags"] = (
        context.get("metatags", "")
        + f'\n<meta name="description" content="{description}" />'
    )
    if doctree is None or not body:
        return
    source = app.env.doc2path(pagename, base=False)
    if str(source).endswith(".ipynb"):
        context["body"] = re.sub(
            r"(</h1>)",
            lambda m: m.group(1) + _run_box(app, pagename),
            body,
            count=1,
        )


# --- after the build: figures, icons, the course archive ------------------------------------


def _png_size(path: Path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


IMG = re.compile(r"<img\b[^>]*>")


def _polish_images(page: Path, text: str) -> str:
    out, last = [], 0
    for match in IMG.finditer(text):
        tag = match.group(0)
        src = re.search(r'src="([^"]+)"', tag)
        if not src or "width=" in tag:
            continue
        url = urllib.parse.unquote(src.group(1).split("?")[0])
        image = (page.parent / url).resolve()
        size = _png_size(image) if image.is_file() else None
        if size is None:
            continue
        width, height = size
        new = tag[:-2].rstrip() if tag.endswith("/>") else tag[:-1]
        new += f' width="{width}" height="{height}" loading="lazy" />'
        before = text[: match.start()]
        inside_link = before.rfind("<a ") > before.rfind("</a>")
        if not inside_link:
            new = (
                f'<a class="ce-zoom" href="{src.group(1)}"'
                ' title="Open the figure full size">' + new + "</a>"
            )
        out.append(text[last : match.start()] + new)
        last = match.end()
    out.append(text[last:])
    return "".join(out)


FA_SCRIPT = re.compile(
    r"\s*<(?:script[^>]*|link[^>]*)scripts/fontawesome\.js[^>]*>(?:</script>)?"
)
FA_STYLES = ("solid", "regular", "brands")
FA_NOT_ICONS = {
    "fa-solid",
    "fa-regular",
    "fa-brands",
    "fa-lg",
    "fa-xs",
    "fa-sm",
    "fa-fw",
}


# The theme draws these with the Font Awesome font (156 kB) from its style sheet: the same
# icons as SVG masks instead (pydata-sphinx-theme's --pst-icon-* defaults).
THEME_ICONS = {
    ".admonition>.admonition-title::after, div.admonition>.admonition-title::after": "bell",
    ".admonition:is(.note,.important,.attention)>.admonition-title::after": "circle-info",
    ".admonition:is(.warning,.caution,.danger)>.admonition-title::after": "triangle-exclamation",
    ".admonition.error>.admonition-title::after": "circle-xmark",
    ".admonition:is(.tip,.hint)>.admonition-title::after": "lightbulb",
    ".admonition.seealso>.admonition-title::after": "share",
    ".admonition:is(.todo,.exercise,.solution)>.admonition-title::after": "pencil",
    "a.reference.download::before": "download",
    "nav.bd-links li>a.reference.external::after, .nav-link.nav-external::after": "up-right-from-square",
}


def _svg_mask(name: str):
    """The mask of Font Awesome's icon ``name`` and its width/height ratio, or None."""
    for style in FA_STYLES:
        candidate = FONTAWESOME / "svgs" / style / f"{name}.svg"
        if candidate.exists():
            svg = candidate.read_text(encoding="utf-8")
            break
    else:
        return None
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S).strip()
    svg = svg.replace('"', "'")
    box = re.search(r"viewBox='0 0 (\d+) (\d+)'", svg)
    ratio = int(box.group(1)) / int(box.group(2)) if box else 1.0
    data = urllib.parse.quote(svg, safe=" =:/'")
    return (
        f'url("data:image/svg+xml,{data}") no-repeat center/contain',
        ratio,
    )


def _icon_css(names: set) -> str:
    rules = [
        "/* The icons the pages use, from @fortawesome/fontawesome-free (as the theme's),",
        "   as SVG masks: written by book/_ext/site_polish.py at build time. */",
        ".fa-solid,.fas,.fa-regular,.far,.fa-brands,.fab{font-family:inherit!important;"
        "font-weight:inherit!important}",
    ]
    missing = []
    for name in sorted(names - FA_NOT_ICONS):
        found = _svg_mask(name[3:])
        if found is None:
            missing.append(name)
            continue
        mask, ratio = found
        rules.append(
            f".{name}::before{{content:''!important;display:inline-block;"
            f"width:{ratio:.4f}em;height:1em;vertical-align:-0.125em;"
            f"background-color:currentColor;-webkit-mask:{mask};mask:{mask}}}"
        )
    for selector, name in THEME_ICONS.items():
        mask, _ = _svg_mask(name)
        rules.append(
            f"{selector}{{content:''!important;font:inherit!important;"
            f"background-color:currentColor;-webkit-mask:{mask};mask:{mask}}}"
        )
    if missing:
        logger.warning(
            "no Font Awesome SVG for icons: %s", ", ".join(missing)
        )
    return "\n".join(rules) + "\n"


def _write_archive(outdir: Path):
    target = outdir / "_downloads" / ARCHIVE
    target.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(
        {
            path
            for pattern in ARCHIVE_FILES
            for path in ROOT.glob(pattern)
            if path.is_file() and ".ipynb_checkpoints" not in path.parts
        }
    )
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            name = "cross-entropy-course/" + str(path.relative_to(ROOT))
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


FA_RULES = re.compile(r'(?:\.fa-[a-z0-9-]+:before,?)+\{content:"[^"]*"\}')
DESIGN = re.compile(
    r"\s*<(?:link[^>]*sphinx-design\.min\.css|script[^>]*design-tabs\.js)[^>]*>(?:</script>)?"
)


PURGED_CSS = [
    "styles/pydata-sphinx-theme.css",
    "basic.css",
    "sphinx-design.min.css",
    "mystnb.*.css",
]


def _slim_theme_css(outdir: Path, pages: list):
    """The style sheets carry a rule for each of Font Awesome's 1,900 icons (86 kB; the used
    ones are in ce-icons.css) and Bootstrap's every utility class: drop the rules no page
    can use (css_purge.py says how that is decided)."""
    static = outdir / "_static"
    scripts = [
        p.read_text(encoding="utf-8", errors="ignore")
        for p in static.rglob("*.js")
    ]
    used = css_purge.used_names(pages, scripts)
    for pattern in PURGED_CSS:
        for css in static.glob(pattern):
            text = FA_RULES.sub("", css.read_text(encoding="utf-8"))
            css.write_text(css_purge.purge(text, used), encoding="utf-8")


SEARCH_SCRIPTS = re.compile(
    r'\s*<script[^>]*src="[^"]*(?:searchtools|language_data|searchindex)\.js[^"]*"[^>]*></script>'
)
HEAD_SCRIPT = re.compile(
    r'<script (?![^>]*\b(?:defer|async)\b)([^>]*\bsrc="([^"]*)"[^>]*)>'
)


def _unblock_scripts(page: Path, text: str) -> str:
    """Scripts no longer hold up the first paint: every script in the head is deferred (they
    still run in order, before DOMContentLoaded) except documentation_options.js, which the
    head's inline scripts use at once; only the search page loads the search index."""
    if page.name != "search.html":
        text = SEARCH_SCRIPTS.sub("", text)
    head_end = text.find("</head>")
    if head_end < 0:
        return text
    head = HEAD_SCRIPT.sub(
        lambda m: (
            m.group(0)
            if "documentation_options" in m.group(2)
            else f"<script defer {m.group(1)}>"
        ),
        text[:head_end],
    )
    return head + text[head_end:]


THEME_GUESS = 'document.documentElement.dataset.theme = localStorage.getItem("theme") || "auto";'
THEME_KNOWN = (
    "document.documentElement.dataset.theme ="
    ' document.documentElement.dataset.mode === "auto"'
    ' ? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light")'
    ' : localStorage.getItem("theme") || "light";'
)


def _theme_before_first_paint(page: Path, text: str) -> str:
    """The head's inline script gives ``<html>`` its final light or dark theme. The theme
    writes "auto" there and resolves it only when its script runs after the page has loaded,
    which restyles the whole page (65-90 ms of a chapter's main thread, 4x that on
    Lighthouse's phone) and flashes a light page at a reader in dark mode."""
    if "dataset.mode" not in text or THEME_KNOWN in text:
        return text  # no theme script, or done by an earlier build
    if THEME_GUESS not in text:
        logger.warning(
            "%s: the theme's inline colour-mode script changed; update"
            " site_polish.THEME_GUESS",
            page.name,
        )
        return text
    return text.replace(THEME_GUESS, THEME_KNOWN)


STYLESHEET = re.compile(
    r'[ \t]*<link (?=[^>]*rel="stylesheet")(?![^>]*media=)[^>]*href="([^"]+)"[^>]*>\n?'
)
CSS_URL = re.compile(r"url\((['\"]?)([^'\")]+)\1\)")
CSS_IMPORT = re.compile(r"@import\s+(?:url\()?['\"]([^'\"]+)['\"]\)?\s*;")


def _css_for_bundle(path: Path, static: Path) -> str:
    """A style sheet's text with its @imports inlined and its url()s made relative to
    _static/, where the bundle lives."""
    text = path.read_text(encoding="utf-8")
    text = CSS_IMPORT.sub(
        lambda m: _css_for_bundle(
            (path.parent / m.group(1)).resolve(), static
        ),
        text,
    )

    def moved(match):
        quote, url = match.groups()
        if url.startswith(("data:", "http:", "https:", "/", "#")):
            return match.group(0)
        plain = re.split(r"[?#]", url)[0]
        rest = url[len(plain) :]
        target = os.path.relpath((path.parent / plain).resolve(), static)
        return f"url({quote}{target}{rest}{quote})"

    return CSS_URL.sub(moved, text)


def _bundle_styles(
    outdir: Path, page: Path, text: str, bundles: dict
) -> str:
    """All the style sheets of a page's head in one file (one request instead of 13: the
    first paint waits for every one of them)."""
    head_end = text.find("</head>")
    links = list(STYLESHEET.finditer(text[:head_end]))
    if len(links) < 2:
        return text
    files = []
    for link in links:
        href = link.group(1).split("?")[0]
        target = (page.parent / href).resolve()
        if not target.is_file() or outdir.resolve() not in target.parents:
            return text  # not ours to bundle
        files.append(target)
    key = tuple(files)
    static = (outdir / "_static").resolve()
    if key not in bundles:
        name = f"ce-bundle-{len(bundles) + 1}.css"
        bundles[key] = name
        css = "\n".join(_css_for_bundle(f, static) for f in files)
        (static / name).write_text(css, encoding="utf-8")
    href = os.path.relpath(static / bundles[key], page.parent.resolve())
    first, last = links[0], links[-1]
    kept = (
        text[: first.start()] + f'<link rel="stylesheet" href="{href}" />\n'
    )
    between = STYLESHEET.sub("", text[first.start() : last.end()])
    return kept + between + text[last.end() :]


def polish_site(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    icons: set = set()
    pages = []
    for page in outdir.rglob("*.html"):
        if "_static" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        new = FA_SCRIPT.sub("", text)
        if not re.search(
            r'class="[^"]*\bsd-', new
        ):  # no sphinx-design on this page
            new = DESIGN.sub("", new)
        new = _polish_images(page, new)
        new = _unblock_scripts(page, new)
        new = _theme_before_first_paint(page, new)
        # sphinxcontrib-bibtex's list of references: role="list" whose entries are not
        # role="listitem" (axe: aria-required-children, critical); a plain <div> list.
        new = new.replace(
            '<div role="list" class="citation-list">',
            '<div class="citation-list">',
        ).replace(' role="doc-biblioentry"', "")
        # The search field reads "Search Ctrl+K": a name of "Search" alone hides what a
        # voice-control user sees (axe: label-content-name-mismatch).
        new = re.sub(
            r'(<button class="btn search-button-field[^"]*"[^>]*?) aria-label="Search"',
            r"\1",
            new,
        )
        icons |= set(re.findall(r"\bfa-[a-z0-9-]+", new))
        pages.append(new)
        if new != text:
            page.write_text(new, encoding="utf-8")
    if not (FONTAWESOME / "svgs").exists():
        logger.warning(
            "Font Awesome SVGs not installed: run `npm ci --prefix tools/site`"
        )
    else:
        (outdir / "_static" / "ce-icons.css").write_text(
            _icon_css(icons), encoding="utf-8"
        )
    _slim_theme_css(outdir, pages)
    bundles: dict = {}
    for page in outdir.rglob("*.html"):
        if "_static" not in page.parts:
            text = page.read_text(encoding="utf-8")
            page.write_text(
                _bundle_styles(outdir, page, text, bundles),
                encoding="utf-8",
            )
    _write_archive(outdir)


def every_page(app, env, added, changed, removed):
    """Every page is written anew on every build: the steps after the build rewrite the
    pages (one style sheet bundle for many source files, inlined icons, the theme script),
    so a page Sphinx left as it was would keep the previous build's bundle and miss an edit
    to ce-site.css. The book is small: a full build takes about 10 s."""
    return sorted(env.found_docs - added - changed)


def setup(app):
    app.connect("env-get-outdated", every_page)
    app.add_css_file("ce-icons.css")
    app.add_css_file("ce-site.css")
    app.add_js_file("ce-site.js", loading_method="defer")
    app.connect("doctree-resolved", move_self_checks_into_solutions)
    app.connect("html-page-context", add_page_extras)
    # last: after the theme rewrites pygments.css and KaTeX copies its style sheet
    app.connect("build-finished", polish_site, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
