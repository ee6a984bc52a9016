"""The website as a reader meets it: every page, offline, in Chromium.

Run by CI after the book is built (`pytest -m browser tests/browser`); needs Debian's `chromium`
(`.ci/run` installs it). Screenshots of every page land in `_build/screenshots/`.
"""

import re
import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.browser.sitecheck import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Visit,
    figure_problems,
    load_problems,
    math_problems,
    serve,
    solution_problems,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
PAGES = [
    entry + ".html"
    for entry in re.findall(
        r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text()
    )
]
CHAPTERS = [p for p in PAGES if Path(p).stem.startswith("ch")]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium (or set CE_CHROMIUM)"
        )
    if not (HTML / "index.html").exists():
        pytest.fail("no built site: run `jupyter-book build .` first")
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


@pytest.fixture(scope="session", params=PAGES, ids=lambda p: Path(p).stem)
def visit(request, browser, site):
    page = Visit(browser, f"{site}/{request.param}")
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(
        path=str(shots / f"{Path(request.param).stem}.png"), full_page=True
    )
    yield page
    page.close()


def test_every_page_loads_offline_without_errors(visit):
    assert load_problems(visit) == []


def test_every_formula_is_typeset(visit):
    assert math_problems(visit) == []


def test_every_figure_loads_and_has_alt_text(visit):
    assert figure_problems(visit) == []


def test_solutions_are_hidden_until_opened(visit):
    assert solution_problems(visit) == []


def test_chapters_have_math_figures_and_exercises(browser, site):
    for chapter in CHAPTERS:
        page = Visit(browser, f"{site}/{chapter}")
        counts = page.page.evaluate(
            "() => [document.querySelectorAll('article mjx-container').length,"
            " document.querySelectorAll('article div.solution').length]"
        )
        page.close()
        assert counts[0] > 0, f"{chapter}: no typeset math"
        assert counts[1] >= 2, (
            f"{chapter}: fewer than 2 exercises with solutions"
        )


def test_every_page_offers_its_notebook_for_download(browser, site):
    for page_path in PAGES:
        page = Visit(browser, f"{site}/{page_path}")
        links = page.page.eval_on_selector_all(
            "a[href$='.ipynb']", "links => links.map(a => a.href)"
        )
        page.close()
        if page_path.endswith("intro.html"):
            continue  # the landing page is markdown, not a notebook
        assert links, f"{page_path}: no .ipynb download link"
        with urllib.request.urlopen(links[0]) as response:
            assert response.status == 200 and b'"cells"' in response.read()


def test_the_search_finds_logits(browser, site):
    page = Visit(browser, f"{site}/search.html?q=logits")
    page.page.wait_for_selector("#search-results li", timeout=10_000)
    found = page.page.eval_on_selector_all(
        "#search-results li a", "links => links.map(a => a.textContent)"
    )
    page.close()
    assert any("logits" in title.lower() for title in found), found


def test_next_links_walk_the_chapters_in_order(browser, site):
    page = Visit(browser, f"{site}/{PAGES[0]}")
    seen = [page.page.url]
    while page.page.locator("a.right-next").count():
        page.page.locator("a.right-next").first.click()
        page.page.wait_for_load_state("networkidle")
        seen.append(page.page.url)
    page.close()
    assert [Path(u).stem for u in seen] == [Path(p).stem for p in PAGES]


# --- the checks can fail: a broken copy of the site must be caught ---------------------------


@pytest.fixture
def broken_site(tmp_path):
    copy = tmp_path / "html"
    shutil.copytree(HTML, copy)
    return copy


def test_removing_the_local_math_engine_is_caught(browser, broken_site):
    shutil.rmtree(broken_site / "_static" / "mathjax")
    with serve(broken_site) as url:
        page = Visit(browser, f"{url}/{CHAPTERS[0]}")
        problems = load_problems(page) + math_problems(page)
        page.close()
    assert any("not typeset" in p for p in problems) and any(
        "mathjax" in p for p in problems
    )


def test_a_missing_figure_is_caught(browser, broken_site):
    for image in (broken_site / "_images").glob("*.png"):
        image.unlink()
    with serve(broken_site) as url:
        page = Visit(browser, f"{url}/{CHAPTERS[0]}")
        problems = figure_problems(page)
        page.close()
    assert any("image not loaded" in p for p in problems)
