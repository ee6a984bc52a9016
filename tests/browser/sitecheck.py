"""What a reader meets on the built site, measured in a real browser (Playwright driving Chromium).

Each ``*_problems`` function returns a list of readable problems, empty when the page is right, so
that the tests can assert both that the real site has none and that a deliberately broken copy of
it (math engine removed, figure deleted) does.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import os
import shutil
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get(
    "CE_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium"
)
# Flags that keep Chromium quiet and offline on a machine with no network (see the env notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def serve(folder: Path):
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port); yield the base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A static host as readers meet one: text files (HTML, CSS, JavaScript, SVG) are sent
    gzip-compressed to a browser that accepts it, as GitHub Pages, Netlify or nginx do."""

    COMPRESSED = {".html", ".css", ".js", ".svg", ".json", ".txt", ".ipynb"}
    _cache: dict = {}

    def log_message(self, *args):  # no request log on the test output
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if (
            path.is_file()
            and path.suffix in self.COMPRESSED
            and "gzip" in self.headers.get("Accept-Encoding", "")
        ):
            key = (path, path.stat().st_mtime_ns)
            if key not in self._cache:
                self._cache[key] = gzip.compress(path.read_bytes(), 6)
            body = self._cache[key]
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


class Visit:
    """One page load, with everything that went wrong on the way recorded."""

    def __init__(
        self,
        browser,
        url: str,
        width: int = 1280,
        scheme: str = "light",
    ):
        self.width, self.scheme = width, scheme
        self.page = browser.new_page(
            viewport={
                "width": width,
                "height": 900 if width > 600 else 844,
            },
            color_scheme=scheme,
            has_touch=width < 600,  # a phone: taps
            is_mobile=width < 600,
        )
        self.failed, self.errors, self.outside = [], [], []
        self.page.on(
            "requestfailed",
            lambda r: self.failed.append(f"{r.url} ({r.failure})"),
        )
        self.page.on(
            "response",
            lambda r: (
                r.status >= 400
                and self.failed.append(f"{r.url} (HTTP {r.status})")
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "console",
            lambda m: (
                m.type == "error"
                and self.errors.append(f"console: {m.text}")
            ),
        )
        # offline: anything not served by the local server is refused, and noted
        self.page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(
                    ("http://127.0.0.1", "data:", "blob:")
                )
                else (self.outside.append(route.request.url), route.abort())
            ),
        )
        self.page.goto(url, wait_until="networkidle")
        self.page.evaluate("() => document.fonts.ready.then(() => true)")

    def close(self):
        self.page.close()


def load_problems(visit: Visit) -> list:
    return (
        [f"failed to load {u}" for u in visit.failed]
        + [f"page error: {e}" for e in visit.errors]
        + [f"needs the network: {u}" for u in visit.outside]
    )


def math_problems(visit: Visit) -> list:
    """Every math element typeset (KaTeX, at build time) and styled by KaTeX's own stylesheet
    and fonts; no TeX error and no raw TeX delimiters left in the text; a display formula
    narrower than the text is centred (the theme's flex row once pushed it to the right)."""
    counts = visit.page.evaluate(
        """() => {
            const math = [...document.querySelectorAll('article .math')];
            const typeset = math.filter(m => m.querySelector('.katex'));
            const styled = typeset.filter(m => getComputedStyle(
                m.querySelector('.katex')).fontFamily.includes('KaTeX_Main'));
            return {math: math.length, typeset: typeset.length,
                    styled: styled.length,
                    fonts: [...document.fonts].some(f => f.family.includes('KaTeX_Main')
                                                       && f.status === 'loaded'),
                    errors: document.querySelectorAll('article .math-error').length,
                    offCentre: [...document.querySelectorAll('article div.math')]
                        .filter(d => !d.querySelector('.eqno') && d.offsetParent)
                        .map(d => [d.getBoundingClientRect(),
                                   d.querySelector('.katex-display > .katex')])
                        .filter(([box, k]) => k && k.getBoundingClientRect().width
                                                   < box.width - 4)
                        .map(([box, k]) => [k.getBoundingClientRect().left - box.left,
                                            box.right - k.getBoundingClientRect().right])
                        .filter(([left, right]) => Math.abs(left - right) > 3).length,
                    text: (() => { const a = document.querySelector('article').cloneNode(true);
                        a.querySelectorAll('pre, code, .highlight').forEach(e => e.remove());
                        return a.textContent; })()};  // prose only: code may hold \\( in a regex
        }"""
    )
    problems = []
    if counts["typeset"] < counts["math"]:
        problems.append(
            f"{counts['math'] - counts['typeset']} of {counts['math']} formulas not typeset"
        )
    if counts["styled"] < counts["typeset"]:
        problems.append(
            f"{counts['typeset'] - counts['styled']} formulas not styled by KaTeX's CSS"
        )
    if counts["typeset"] and not counts["fonts"]:
        problems.append("KaTeX's fonts not loaded")
    if counts["errors"]:
        problems.append(f"{counts['errors']} formulas KaTeX could not read")
    if counts["offCentre"]:
        problems.append(
            f"{counts['offCentre']} display formulas narrower than the text"
            " are not centred"
        )
    for raw in ["\\(", "\\[", "$$"]:
        if raw in counts["text"]:
            problems.append(f"raw {raw} in the page text")
    return problems


def figure_problems(visit: Visit) -> list:
    """Every image in the article loaded, described by alt text, with its intrinsic width and
    height in the HTML (no layout jump) and a link to itself (tap to enlarge)."""
    visit.page.evaluate(
        """async () => { for (const i of document.querySelectorAll('article img')) {
            i.loading = 'eager'; if (!i.complete) await i.decode().catch(() => null); } }"""
    )
    images = visit.page.evaluate(
        """() => [...document.querySelectorAll('article img')].map(
            i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0,
                   alt: (i.getAttribute('alt') || '').trim(),
                   sized: i.getAttribute('width') == i.naturalWidth
                          && i.getAttribute('height') == i.naturalHeight,
                   zoom: !!(i.closest('a') && i.closest('a').getAttribute('href')
                            === i.getAttribute('src'))}))"""
    )
    problems = [
        f"image without its intrinsic width/height: {i['src']}"
        for i in images
        if i["loaded"] and not i["sized"]
    ] + [
        f"image not linked to itself (enlarge): {i['src']}"
        for i in images
        if not i["zoom"]
    ]
    problems += [
        f"image not loaded: {i['src']}" for i in images if not i["loaded"]
    ]
    return problems + [
        f"image without alt text: {i['src']}"
        for i in images
        if not i["alt"]
    ]


def solution_problems(visit: Visit) -> list:
    """Each solution hidden until its title bar is tapped (on the title's words, which link to
    the exercise, so a click there must open the solution, not jump away), then shown; the
    self-check after it sits inside it, labelled as run on the solution."""
    page, problems = visit.page, []
    solutions = page.locator("article div.solution")
    loose = page.locator(
        "article div.solution + div.cell.tag_self-check"
    ).count()
    if loose:
        problems.append(f"{loose} self-checks outside their solution")
    for k in range(solutions.count()):
        solution = solutions.nth(k)
        body = solution.locator(":scope > :not(.admonition-title)").first
        check = solution.locator(".tag_self-check")
        if body.is_visible() or (
            check.count() and check.first.is_visible()
        ):
            problems.append(
                f"solution {k + 1} (or its self-check) is visible before it is opened"
            )
        url = page.url
        title = solution.locator(".admonition-title")
        box = title.bounding_box()
        if visit.width < 600:
            title.tap(position={"x": 10, "y": box["height"] / 2})
        else:
            title.click(
                position={"x": box["width"] / 2, "y": box["height"] / 2}
            )
        page.wait_for_timeout(150)
        if not body.is_visible():
            problems.append(
                f"solution {k + 1} stays hidden after a tap on its bar"
            )
        if page.url != url:
            problems.append(
                f"solution {k + 1}: its bar navigated to {page.url}"
            )
        if check.count():
            label = solution.locator(".ce-self-check-label")
            if not (
                label.count()
                and "on the solution" in label.first.inner_text()
            ):
                problems.append(
                    f"solution {k + 1}: self-check not labelled"
                )
    return problems


def nav_problems(visit: Visit) -> list:
    """The chapter list (☰) and the page contents open and close, by tap or click and by
    keyboard, with the buttons a reader sees at this width."""
    page, problems = visit.page, []
    primary = page.locator(".bd-header-article .primary-toggle")
    secondary = page.locator(".bd-header-article .secondary-toggle")
    nav_link = "#pst-primary-sidebar-modal a.reference, #pst-primary-sidebar a.reference"
    toc_link = (
        "#pst-secondary-sidebar-modal nav a, #pst-secondary-sidebar nav a"
    )

    def shown(selector):
        return page.evaluate(
            """s => [...document.querySelectorAll(s)].some(a => {
                const r = a.getBoundingClientRect(); const st = getComputedStyle(a);
                return r.width > 0 && r.right > 0 && r.left < innerWidth
                    && st.visibility !== 'hidden' && +st.opacity !== 0
                    && a.closest('.bd-sidebar-primary, dialog, .bd-sidebar-secondary')
                    && getComputedStyle(a.closest('.bd-sidebar-primary, dialog, .bd-sidebar-secondary')).opacity != 0; })""",
            selector,
        )

    def press(button, how):
        if how == "keyboard":
            button.focus()
            page.keyboard.press("Enter")
        elif visit.width < 600:
            button.tap()
        else:
            button.click()
        page.wait_for_timeout(400)  # the theme's transitions

    def close(how):
        modal = page.locator("dialog[open]")
        if modal.count():
            if how == "keyboard":
                page.keyboard.press("Escape")
            else:  # a tap or click on the backdrop, beside the sidebar
                box = modal.first.bounding_box()
                url = page.url
                right = (
                    box["x"] + box["width"]
                )  # the middle of the backdrop's strip
                x = (
                    (right + visit.width) / 2
                    if right < visit.width
                    else box["x"] / 2
                )
                if visit.width < 600:
                    page.touchscreen.tap(x, 400)
                else:
                    page.mouse.click(x, 400)
                if page.url != url:
                    problems.append(
                        f"tapping beside the sidebar followed a link: {page.url}"
                    )
            page.wait_for_timeout(400)
            return
        press(primary, how)

    for how in ("pointer", "keyboard"):
        if not primary.is_visible():
            problems.append("no visible ☰ (chapters) button")
        else:
            was = (
                shown(nav_link) and not page.locator("dialog[open]").count()
            )
            press(primary, how)
            opened = shown(nav_link)
            if was:  # a wide screen: the sidebar shows, the ☰ hides and shows it again
                if opened:
                    problems.append(
                        f"☰ by {how}: the chapter list does not hide"
                    )
                press(primary, how)
                if not shown(nav_link):
                    problems.append(
                        f"☰ by {how}: the chapter list does not come back"
                    )
            else:
                if not opened:
                    problems.append(
                        f"☰ by {how}: the chapter list does not open"
                    )
                close(how)
                if shown(nav_link) and page.locator("dialog[open]").count():
                    problems.append(
                        f"☰ by {how}: the chapter list does not close"
                    )
        if secondary.count() and secondary.is_visible():
            press(secondary, how)
            if not shown(toc_link):
                problems.append(
                    f"Contents by {how}: the page contents do not open"
                )
            if page.locator("dialog[open]").count():
                close(how)
                if page.locator("dialog[open]").count():
                    problems.append(
                        f"Contents by {how}: the page contents do not close"
                    )
        elif page.locator(
            "#pst-secondary-sidebar nav a"
        ).count() and not shown(toc_link):
            problems.append(
                "no Contents button and no visible page contents"
            )
    return problems


# Containers that are the page itself: content that overflows them makes the page scroll
# sideways (or is cut off), which is what "nothing clipped" forbids.
PAGE_LEVEL = "html, body, .bd-container, .bd-container__inner, .bd-main, .bd-content, .bd-article-container, .bd-page-width, article.bd-article"


def overflow_problems(visit: Visit) -> list:
    """No text, formula, code or table cut off without a scroll box of its own; at a phone's
    width the page itself never scrolls sideways."""
    found = visit.page.evaluate(
        """pageLevel => {
        const out = [];
        const doc = document.documentElement;
        if (doc.scrollWidth > innerWidth + 1)
            out.push(`the page scrolls sideways: ${doc.scrollWidth} px wide in ${innerWidth}`);
        const items = document.querySelectorAll(
            'article p, article li, article pre, article table, article img, article h1,' +
            'article h2, article h3, article .katex-display, article .katex, article dt,' +
            'article code, article mjx-container, article .math, ' +
            'article .cell_output .output, article .admonition-title, .prev-next-area a');
        for (const e of items) {
            const r = e.getBoundingClientRect();
            if (r.width === 0 || r.height === 0) continue;
            if (e.closest('dialog:not([open]), .toggle-hidden')) continue;
            for (let a = e.parentElement; a; a = a.parentElement) {
                const st = getComputedStyle(a);
                const scrolls = ['auto', 'scroll'].includes(st.overflowX);
                const page = a.matches(pageLevel);
                if (scrolls && !page) break;  // in its own scroll box: fine
                const ar = a.getBoundingClientRect();
                const cut = r.right > ar.right + 1 || r.left < ar.left - 1;
                if (cut && (st.overflowX !== 'visible' || page)) {
                    const name = e.tagName.toLowerCase() + (e.className ? '.' +
                        String(e.className).split(' ')[0] : '');
                    out.push(`${name} "${(e.innerText || e.getAttribute('alt') || '')
                        .trim().slice(0, 40)}" cut off by ${a.tagName.toLowerCase()}.${
                        String(a.className).split(' ')[0]} (${Math.round(r.right - ar.right)} px)`);
                    break;
                }
                if (page) break;
            }
        }
        return out;
    }""",
        PAGE_LEVEL,
    )
    return sorted(set(found))


AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"


def axe_violations(visit: Visit, impacts=("critical", "serious")) -> list:
    """axe-core's violations of the given impacts, one line per rule and element."""
    visit.page.add_script_tag(path=str(AXE))
    result = visit.page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['impact']} {v['id']}: {', '.join(v['nodes'][:3])}"
        for v in result
        if v["impact"] in impacts
    ]


def page_weight(visit: Visit) -> dict:
    """Bytes a reader downloads (uncompressed) reading the whole page: the HTML and every
    script, style sheet, font and image it loads once scrolled to the end."""
    visit.page.evaluate(
        """async () => { for (const i of document.querySelectorAll('img'))
            i.loading = 'eager';
            window.scrollTo(0, document.body.scrollHeight);
            await new Promise(r => setTimeout(r, 300)); window.scrollTo(0, 0); }"""
    )
    visit.page.wait_for_load_state("networkidle")
    return visit.page.evaluate(
        """() => { const out = {};
        for (const e of [...performance.getEntriesByType('navigation'),
                         ...performance.getEntriesByType('resource')]) {
            const kind = e.entryType === 'navigation' ? 'html' : e.initiatorType;
            out[kind] = (out[kind] || 0) + e.decodedBodySize; }
        return out; }"""
    )


def search_snippets(page) -> list:
    """The results of a search page (a Playwright page): (title, snippet) pairs."""
    page.wait_for_selector("#search-results li p.context", timeout=15_000)
    page.wait_for_timeout(500)
    return page.eval_on_selector_all(
        "#search-results li",
        "items => items.map(li => [li.querySelector('a').textContent,"
        " (li.querySelector('p.context') || {}).textContent || ''])",
    )


LIGHTHOUSE = (
    Path(__file__).with_name("node_modules") / ".bin" / "lighthouse"
)


def lighthouse(url: str, out: Path) -> dict:
    """Lighthouse's mobile preset (simulated slow 4G, 4x slower CPU) on one page, driving
    Debian's chromium; returns the four category scores (0-100) and the key metrics."""
    env = dict(os.environ, CHROME_PATH=CHROMIUM)
    subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            "--quiet",
            "--output=json",
            f"--output-path={out}",
            "--only-categories=performance,accessibility,best-practices,seo",
            "--chrome-flags=--headless --no-sandbox --disable-gpu",
        ],
        env=env,
        check=True,
        timeout=240,
    )
    report = json.loads(out.read_text())
    audits = report["audits"]
    failed = [
        f"{category['id']}: {ref['id']}"
        for category in report["categories"].values()
        if category["id"] != "performance"
        for ref in category["auditRefs"]
        if ref["weight"] > 0
        and audits[ref["id"]]["score"] is not None
        and audits[ref["id"]]["score"] < 1
    ]
    return {
        **{
            key: round(100 * category["score"])
            for key, category in report["categories"].items()
        },
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "fcp_ms": audits["first-contentful-paint"]["numericValue"],
        "lcp_ms": audits["largest-contentful-paint"]["numericValue"],
        "tbt_ms": audits["total-blocking-time"]["numericValue"],
        "failed": failed,
    }
