"""The website as a reader meets it: every page, offline, in Chromium, on every screen.

Run by CI after the book is built (`pytest -m browser tests/browser`); needs Debian's `chromium`
and, for axe-core and Lighthouse, `npm ci --prefix tests/browser`. The site is `_build/html`, or
the folder named by the environment variable CE_SITE. Every page is checked at 390 px (a phone,
by tap), 900 px (a tablet) and 1280 px (a desktop), in light and dark mode; screenshots of each
land in `screenshots/` next to the site folder (`_build/screenshots/`).
"""

import json
import os
import re
import shutil
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.browser.sitecheck import (
    AXE,
    CHROMIUM,
    CHROMIUM_ARGS,
    LIGHTHOUSE,
    Visit,
    axe_violations,
    figure_problems,
    lighthouse,
    load_problems,
    math_problems,
    nav_problems,
    overflow_problems,
    page_weight,
    search_snippets,
    serve,
    solution_problems,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("CE_SITE", ROOT / "_build" / "html"))
SHOTS = HTML.parent / "screenshots"
PAGES = [
    entry + ".html"
    for entry in re.findall(
        r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text()
    )
]
CHAPTERS = [p for p in PAGES if Path(p).stem.startswith("ch")]
NOTEBOOK_PAGES = [
    p for p in PAGES if (ROOT / p).with_suffix(".ipynb").exists()
]
VIEWS = [(w, s) for w in (390, 900, 1280) for s in ("light", "dark")]
MAX_PAGE_BYTES = 1_000_000  # a chapter, uncompressed, everything loaded


def stem(page):
    return Path(page).stem


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium (or set CE_CHROMIUM)"
        )
    if not (HTML / "index.html").exists():
        pytest.fail(
            f"no built site in {HTML}: run `jupyter-book build .` first"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def site():
    with serve(HTML) as url:
        yield url


@pytest.fixture(
    scope="session",
    params=[(p, w, s) for p in PAGES for (w, s) in VIEWS],
    ids=lambda v: f"{stem(v[0])}-{v[1]}px-{v[2]}",
)
def visit(request, browser, site):
    """One page at one width and colour scheme, with a screenshot saved."""
    page, width, scheme = request.param
    seen = Visit(browser, f"{site}/{page}", width=width, scheme=scheme)
    SHOTS.mkdir(parents=True, exist_ok=True)
    seen.page.screenshot(
        path=str(SHOTS / f"{stem(page)}-{width}-{scheme}.png"),
        full_page=scheme == "light",
    )
    yield seen
    seen.close()


# --- every page, every width, light and dark ---------------------------------------------------


def test_every_page_loads_offline_without_errors(visit):
    assert load_problems(visit) == []


def test_the_colour_scheme_follows_the_reader(visit):
    theme = visit.page.evaluate(
        "() => document.documentElement.dataset.theme"
    )
    assert theme == visit.scheme


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_colour_scheme_is_set_before_any_script_file_runs(
    browser, site, scheme
):
    """The head's inline script decides light or dark: a dark-mode reader never sees a light
    page flash, and the theme's script, when it runs, restyles nothing (Lighthouse's TBT)."""
    page = browser.new_page(color_scheme=scheme)
    page.route("**/*.js*", lambda route: route.abort())
    page.goto(f"{site}/{CHAPTERS[0]}", wait_until="domcontentloaded")
    theme = page.evaluate("() => document.documentElement.dataset.theme")
    page.close()
    assert theme == scheme


def test_every_formula_is_typeset(visit):
    assert math_problems(visit) == []


def test_nothing_is_cut_off_and_the_page_never_scrolls_sideways(visit):
    assert overflow_problems(visit) == []


def test_axe_finds_no_critical_or_serious_violation(visit):
    assert axe_violations(visit) == []


@pytest.mark.parametrize("page", [PAGES[0], CHAPTERS[0]], ids=stem)
@pytest.mark.parametrize(
    "width,scheme", VIEWS, ids=[f"{w}px-{s}" for w, s in VIEWS]
)
def test_navigation_and_contents_open_and_close(
    browser, site, page, width, scheme
):
    """☰ and "Contents" by tap (phone) or click, and by keyboard (Enter, Escape)."""
    seen = Visit(browser, f"{site}/{page}", width=width, scheme=scheme)
    problems = nav_problems(seen)
    seen.close()
    assert problems == []


# --- per page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("page", PAGES, ids=stem)
def test_every_figure_loads_is_described_sized_and_enlargeable(
    browser, site, page, width
):
    seen = Visit(browser, f"{site}/{page}", width=width)
    problems = figure_problems(seen)
    seen.close()
    assert problems == []


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("page", CHAPTERS, ids=stem)
def test_solutions_open_from_their_bar_with_their_self_check_inside(
    browser, site, page, width
):
    seen = Visit(browser, f"{site}/{page}", width=width)
    problems = solution_problems(seen)
    seen.close()
    assert problems == []


@pytest.mark.parametrize("page", CHAPTERS, ids=stem)
def test_a_chapter_weighs_at_most_1_mb(browser, site, page):
    seen = Visit(browser, f"{site}/{page}", width=390)
    weight = page_weight(seen)
    seen.close()
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"weight-{stem(page)}.json").write_text(json.dumps(weight))
    assert sum(weight.values()) <= MAX_PAGE_BYTES, weight


def test_chapters_have_math_figures_and_exercises(browser, site):
    for chapter in CHAPTERS:
        page = Visit(browser, f"{site}/{chapter}")
        counts = page.page.evaluate(
            "() => [document.querySelectorAll('article .katex').length,"
            " document.querySelectorAll('article div.solution').length]"
        )
        page.close()
        assert counts[0] > 0, f"{chapter}: no typeset math"
        assert counts[1] >= 2, (
            f"{chapter}: fewer than 2 exercises with solutions"
        )


def test_every_page_describes_itself_and_has_an_icon(browser, site):
    for page_path in PAGES:
        page = Visit(browser, f"{site}/{page_path}")
        description, icon = page.page.evaluate(
            "() => [document.querySelector('meta[name=description]')?.content || '',"
            " document.querySelector('link[rel=icon]')?.href || '']"
        )
        page.close()
        assert len(description) > 40, page_path
        with urllib.request.urlopen(icon) as response:
            assert response.status == 200


def test_every_page_offers_its_notebook_for_download(browser, site):
    for page_path in PAGES:
        page = Visit(browser, f"{site}/{page_path}")
        links = page.page.eval_on_selector_all(
            "a[href$='.ipynb']", "links => links.map(a => a.href)"
        )
        page.close()
        if page_path not in NOTEBOOK_PAGES:
            continue  # markdown pages (the landing page, notation, …)
        assert links, f"{page_path}: no .ipynb download link"
        with urllib.request.urlopen(links[0]) as response:
            assert response.status == 200 and b'"cells"' in response.read()


@pytest.mark.parametrize("page", NOTEBOOK_PAGES, ids=stem)
def test_run_it_yourself_box_gives_the_notebook_the_package_and_the_command(
    browser, site, page, tmp_path
):
    seen = Visit(browser, f"{site}/{page}", width=390)
    box = seen.page.locator("aside.ce-run-box")
    assert box.count() == 1 and box.is_visible()
    closed_height = box.bounding_box()["height"]
    box.locator("summary").tap()  # one line until the reader opens it
    assert box.locator("pre").is_visible()
    assert closed_height < 100 < box.bounding_box()["height"]
    text = box.inner_text()
    links = box.locator("a").evaluate_all("links => links.map(a => a.href)")
    seen.close()
    assert "pip install -r requirements.txt" in text
    notebook = next(u for u in links if u.endswith(".ipynb"))
    with urllib.request.urlopen(notebook) as response:
        assert b'"cells"' in response.read()
    archive = next(u for u in links if u.endswith(".zip"))
    target = tmp_path / "course.zip"
    with urllib.request.urlopen(archive) as response:
        target.write_bytes(response.read())
    names = zipfile.ZipFile(target).namelist()
    for needed in (
        "cross-entropy-course/requirements.txt",
        "cross-entropy-course/pyproject.toml",
        "cross-entropy-course/ce_lessons/__init__.py",
        f"cross-entropy-course/{Path(page).with_suffix('.ipynb')}",
    ):
        assert needed in names


# --- the reader's reference apparatus -----------------------------------------------------------


def assert_snippets_show_the_match(results, term):
    assert len(results) >= 5, results
    for title, snippet in results:
        assert term in snippet.lower(), (title, snippet)
        assert not snippet.strip().startswith("Contents"), (title, snippet)


def test_search_snippets_show_the_matching_sentence(browser, site):
    page = Visit(browser, f"{site}/search.html?q=smoothing")
    results = search_snippets(page.page)
    page.close()
    assert_snippets_show_the_match(results, "smoothing")


def test_search_snippets_define_terms_and_quote_error_messages(
    browser, site
):
    """A glossary hit shows its definition, an index entry (chapter 6's error messages) the
    sentence it marks, and a formula its TeX, not KaTeX's boxes of glyphs."""
    found = {}
    for query in (
        "perplexity",
        "expected scalar type Long but found Float",
    ):
        page = Visit(
            browser, f"{site}/search.html?q={urllib.parse.quote(query)}"
        )
        found[query] = search_snippets(page.page)
        page.close()
    definition = next(s for t, s in found["perplexity"] if t == "Glossary")
    assert definition.startswith("perplexity — ") and len(definition) > 40
    error_hits = found["expected scalar type Long but found Float"]
    assert error_hits[0][0].startswith("6.") and error_hits[0][1].strip()
    for title, snippet in found["perplexity"] + error_hits:
        assert snippet.strip(), title
        assert "\u200b" not in snippet, (title, snippet)


def test_search_snippets_show_it_on_the_site_opened_as_files(browser):
    """Opened from disk (file://) the browser refuses Sphinx's fetch() of each result's
    page; the search page reads the pages' text from _static/ce-search-pages.js instead."""
    page = browser.new_page()
    page.goto((HTML / "search.html").as_uri() + "?q=smoothing")
    results = search_snippets(page)
    page.close()
    assert_snippets_show_the_match(results, "smoothing")


def test_the_search_finds_logits(browser, site):
    page = Visit(browser, f"{site}/search.html?q=logits")
    page.page.wait_for_selector("#search-results li", timeout=10_000)
    found = page.page.eval_on_selector_all(
        "#search-results li a", "links => links.map(a => a.textContent)"
    )
    page.close()
    assert any("logits" in title.lower() for title in found), found


@pytest.mark.parametrize(
    "term", ["logit", "ignore_index", "label smoothing"]
)
def test_the_index_has_the_terms_readers_look_up(browser, site, term):
    page = Visit(browser, f"{site}/genindex.html")
    page.page.get_by_role("link", name=term, exact=True).first.click()
    page.page.wait_for_load_state("networkidle")
    target = page.page.evaluate(
        "() => document.getElementById(decodeURIComponent(location.hash.slice(1)))?.innerText"
    )
    page.close()
    assert target and term in target.lower()


def test_the_notation_page_gives_each_symbol_a_chapter(browser, site):
    page = Visit(browser, f"{site}/book/notation.html")
    rows = page.page.evaluate(
        "() => [...document.querySelectorAll('article table tbody tr')].map(r =>"
        " [r.cells[0].querySelectorAll('.katex').length, r.cells[3].innerText.trim()])"
    )
    page.close()
    assert len(rows) >= 30
    assert all(symbols >= 1 and chapter for symbols, chapter in rows), rows


def test_the_references_list_the_sources(browser, site):
    page = Visit(browser, f"{site}/book/references.html")
    text = page.page.locator("article").inner_text()
    links = page.page.eval_on_selector_all(
        "article a", "links => links.map(a => a.href)"
    )
    page.close()
    for author in (
        "Hinton",
        "Guo",
        "Lin",
        "Cui",
        "Szegedy",
        "Wijmans",
        "Shoeybi",
    ):
        assert author in text
    assert any("discuss.pytorch.org" in u for u in links)
    assert any("CrossEntropyLoss.html" in u for u in links)


def test_next_links_walk_the_chapters_in_order(browser, site):
    page = Visit(browser, f"{site}/{PAGES[0]}")
    seen = [page.page.url]
    while page.page.locator("a.right-next").count():
        page.page.locator("a.right-next").first.click()
        page.page.wait_for_load_state("networkidle")
        seen.append(page.page.url)
    page.close()
    assert [Path(u).stem for u in seen] == [Path(p).stem for p in PAGES]


# --- Lighthouse, every page, one at a time ------------------------------------------------------

# Goals of issue 17. Lighthouse's mobile preset simulates a slow phone from the CPU time it
# measures, so its performance score moves with the machine's load (the same page measured 76
# and 98 on a busy and a quiet 2-core machine). Pages are measured one at a time (two at once
# counted each other's work); a page below the goal on its first run is measured four more times
# and judged on the median of the five, as Lighthouse's documentation advises for variable
# scores. On a quiet machine every page measured 90-100 (chapter 3, the largest page, 86-98).
LIGHTHOUSE_GOALS = {
    "performance": 90,
    "accessibility": 100,
    "best-practices": 100,
    "seo": 100,
}


def lighthouse_median(url: str, out: Path) -> dict:
    """One page's report: its first run, or the median (by performance) of five."""
    runs = [lighthouse(url, out)]
    if runs[0]["performance"] < LIGHTHOUSE_GOALS["performance"]:
        runs += [lighthouse(url, out) for _ in range(4)]
    runs.sort(key=lambda run: run["performance"])
    median = runs[len(runs) // 2]
    return {**median, "performance_runs": [r["performance"] for r in runs]}


@pytest.fixture(scope="session")
def lighthouse_reports(site, tmp_path_factory):
    if not LIGHTHOUSE.exists():
        pytest.fail(
            "Lighthouse not installed: npm ci --prefix tests/browser"
        )
    out = tmp_path_factory.mktemp("lighthouse")
    reports = {
        page: lighthouse_median(
            f"{site}/{page}", out / f"{stem(page)}.json"
        )
        for page in PAGES
    }
    SHOTS.mkdir(
        parents=True, exist_ok=True
    )  # for a person to read, next to the screenshots
    (SHOTS / "lighthouse.json").write_text(json.dumps(reports, indent=1))
    return reports


@pytest.mark.parametrize("category", list(LIGHTHOUSE_GOALS))
@pytest.mark.parametrize("page", PAGES, ids=stem)
def test_lighthouse_scores(lighthouse_reports, page, category):
    report = lighthouse_reports[page]
    assert report[category] >= LIGHTHOUSE_GOALS[category], report


@pytest.mark.parametrize("page", PAGES, ids=stem)
def test_lighthouse_layout_does_not_jump(lighthouse_reports, page):
    assert lighthouse_reports[page]["cls"] < 0.1, lighthouse_reports[page]


# --- the checks can fail: a broken copy of the site must be caught ---------------------------


@pytest.fixture
def broken_site(tmp_path):
    copy = tmp_path / "html"
    shutil.copytree(HTML, copy)
    return copy


def test_removing_the_math_fonts_is_caught(browser, broken_site):
    shutil.rmtree(broken_site / "_static" / "katex" / "fonts")
    with serve(broken_site) as url:
        page = Visit(browser, f"{url}/{CHAPTERS[0]}")
        problems = load_problems(page) + math_problems(page)
        page.close()
    assert "KaTeX's fonts not loaded" in problems and any(
        "katex/fonts" in p for p in problems
    )


def test_math_without_katex_style_is_caught(browser, broken_site):
    for bundle in (broken_site / "_static").glob("ce-bundle-*.css"):
        text = bundle.read_text()
        bundle.write_text(text.replace("KaTeX_Main", "Not_KaTeX"))
    with serve(broken_site) as url:
        page = Visit(browser, f"{url}/{CHAPTERS[0]}")
        problems = math_problems(page)
        page.close()
    assert any("not styled" in p for p in problems)


def test_a_missing_figure_is_caught(browser, broken_site):
    for image in (broken_site / "_images").glob("*.png"):
        image.unlink()
    with serve(broken_site) as url:
        page = Visit(browser, f"{url}/{CHAPTERS[0]}")
        problems = figure_problems(page)
        page.close()
    assert any("image not loaded" in p for p in problems)


def test_the_theme_bug_is_caught_without_the_site_script(
    browser, broken_site
):
    (broken_site / "_static" / "ce-site.js").write_text("")
    with serve(broken_site) as url:
        page = Visit(browser, f"{url}/{CHAPTERS[0]}", width=390)
        problems = nav_problems(page)
        page.close()
    assert any("does not open" in p for p in problems)


def test_clipped_content_is_caught(browser, broken_site):
    for bundle in (broken_site / "_static").glob("ce-bundle-*.css"):
        text = (
            bundle.read_text()
        )  # the course's own rules are the bundle's last part
        bundle.write_text(text[: text.find("/* The course's layout fixes")])
    with serve(broken_site) as url:
        page = Visit(
            browser, f"{url}/book/ch4_sigmoid_vs_softmax.html", width=390
        )
        problems = overflow_problems(page)
        page.close()
    assert problems


def test_axe_is_really_run(browser, broken_site):
    assert AXE.exists(), (
        "axe-core not installed: npm ci --prefix tests/browser"
    )
    chapter = broken_site / CHAPTERS[0]
    chapter.write_text(
        chapter.read_text()
        .replace(' lang="en"', "", 1)
        .replace("<title>", "<title hidden>", 1)
    )
    with serve(broken_site) as url:
        page = Visit(browser, f"{url}/{CHAPTERS[0]}")
        problems = axe_violations(page)
        page.close()
    assert any("html-has-lang" in p for p in problems)
