"""Sphinx extension: search snippets on a site opened as files (issue 17).

Sphinx's search page shows, under each result, the sentence that matched: it ``fetch()``es the
result's page and cuts the sentence out of its text. A reader who unzips the site and opens
``index.html`` from disk (``file://``) gets titles only, because browsers refuse ``fetch()`` of
one file from another. So, after the build, this writes ``_static/ce-search-pages.js``: the
text of every page's main content, with the ``id`` of each section kept so that a result's
anchor still finds its section. ``ce-site.js`` loads that script only on the search page and
only from ``file://``, and answers Sphinx's ``fetch()`` of a page from it; a site served over
HTTP never downloads it.

The text is what the snippets are cut from: the page's header, its printed contents, the
"Run it yourself" box and KaTeX's drawing of each formula are dropped, and every element is
reduced to its text except those ``ce-site.js`` reads, as it does on a served page: elements
with an ``id`` (sections, index targets), glossary terms and definitions, and each formula's
TeX source.
"""

from __future__ import annotations

import json
from pathlib import Path

from bs4 import BeautifulSoup

NOT_SEARCHED = (
    ".bd-header-article, #jb-print-docs-body, .onlyprint, .bd-sidebar-secondary,"
    " .prev-next-area, .bd-footer-article, .katex-html, .ce-run-box,"
    " .toggle-button, .headerlink, script, style"
)
# What ce-site.js reads besides the text: a formula's TeX (``.katex`` and its ``annotation``),
# a glossary term's definition (``dt``, ``dd``).
KEPT = {"annotation": ["encoding"], "dt": [], "dd": []}
OUTPUT = "ce-search-pages.js"


def main_text(page_html: str) -> str:
    """The ``[role=main]`` element of a page as minimal HTML: its text, with the elements
    ``ce-site.js`` reads kept: those with an ``id`` (sections, index targets; only the
    ``id``), glossary terms and definitions, and each formula's ``.katex`` with its TeX
    ``annotation``."""
    soup = BeautifulSoup(page_html, "html.parser")
    main = soup.select_one('[role="main"]')
    if main is None:
        return ""
    for element in main.select(NOT_SEARCHED):
        element.decompose()
    for element in reversed(main.find_all(True)):
        if element.name == "span" and "katex" in element.get("class", []):
            element.attrs = {"class": "katex"}
        elif element.name in KEPT:
            element.attrs = {
                name: element[name]
                for name in ("id", *KEPT[element.name])
                if element.get(name)
            }
        elif element.get("id"):
            element.attrs = {"id": element["id"]}
            element.name = (
                "section" if element.name == "section" else "span"
            )
        else:
            element.unwrap()
    return f'<div role="main">{main.decode_contents()}</div>'


def write_page_texts(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    pages = {}
    for docname in sorted(app.env.found_docs):
        page = outdir / app.builder.get_target_uri(docname)
        if page.is_file():
            pages[docname] = main_text(page.read_text(encoding="utf-8"))
    (outdir / "_static" / OUTPUT).write_text(
        "window.CE_SEARCH_PAGES = "
        + json.dumps(pages, ensure_ascii=False, separators=(",", ":"))
        + ";\n",
        encoding="utf-8",
    )


def setup(app):
    # after site_polish (900), which rewrites the pages
    app.connect("build-finished", write_page_texts, priority=950)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
