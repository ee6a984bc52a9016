"""What a reader meets on the built site, measured in a real browser (Playwright driving Chromium).

Each ``*_problems`` function returns a list of readable problems, empty when the page is right, so
that the tests can assert both that the real site has none and that a deliberately broken copy of
it (math engine removed, figure deleted) does.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
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
    def log_message(self, *args):  # no request log on the test output
        pass


class Visit:
    """One page load, with everything that went wrong on the way recorded."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(
            viewport={"width": 1280, "height": 900}
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
        # MathJax typesets after the load event; its startup promise resolves when it is done
        self.page.evaluate(
            "async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }"
        )

    def close(self):
        self.page.close()


def load_problems(visit: Visit) -> list:
    return (
        [f"failed to load {u}" for u in visit.failed]
        + [f"page error: {e}" for e in visit.errors]
        + [f"needs the network: {u}" for u in visit.outside]
    )


def math_problems(visit: Visit) -> list:
    """Every math element typeset by MathJax, and no raw TeX delimiters left in the text."""
    counts = visit.page.evaluate(
        """() => {
            const math = [...document.querySelectorAll('article .math')];
            return {math: math.length,
                    typeset: math.filter(m => m.querySelector('mjx-container')).length,
                    text: document.querySelector('article').innerText};
        }"""
    )
    problems = []
    if counts["typeset"] < counts["math"]:
        problems.append(
            f"{counts['math'] - counts['typeset']} of {counts['math']} formulas not typeset"
        )
    for raw in ["\\(", "\\[", "$$"]:
        if raw in counts["text"]:
            problems.append(f"raw {raw} in the page text")
    return problems


def figure_problems(visit: Visit) -> list:
    """Every image in the article loaded, and described by alt text."""
    images = visit.page.evaluate(
        """() => [...document.querySelectorAll('article img')].map(
            i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0,
                   alt: (i.getAttribute('alt') || '').trim()}))"""
    )
    problems = [
        f"image not loaded: {i['src']}" for i in images if not i["loaded"]
    ]
    return problems + [
        f"image without alt text: {i['src']}"
        for i in images
        if not i["alt"]
    ]


def solution_problems(visit: Visit) -> list:
    """Each solution hidden until its toggle is clicked, then shown."""
    problems = []
    solutions = visit.page.locator("article div.solution")
    for k in range(solutions.count()):
        solution = solutions.nth(k)
        body = solution.locator(
            ":scope > :not(.admonition-title)"
        ).first  # the solution itself
        if body.is_visible():
            problems.append(
                f"solution {k + 1} is visible before it is opened"
            )
        solution.locator(".toggle-button").first.click()
        visit.page.wait_for_timeout(300)
        if not body.is_visible():
            problems.append(f"solution {k + 1} stays hidden after a click")
    return problems
