/* The course's small fixes to the theme (book/_ext/site_polish.py adds this to every page). */
"use strict";

/* 1. The visible ☰ and "Contents" buttons. pydata-sphinx-theme 0.17.1 binds its handlers to the
   FIRST .primary-toggle / .secondary-toggle of the page, which sphinx-book-theme hides (upstream
   pydata-sphinx-theme#2451, sphinx-book-theme#988): a click on a visible one is forwarded to the
   bound one, whose handlers open the sidebar (a modal below 992 px) or hide it (wider). Buttons
   answer Enter and Space with a click, so the keyboard works the same way. */
document.addEventListener("click", (event) => {
  for (const name of ["primary-toggle", "secondary-toggle"]) {
    const pressed = event.target.closest("." + name);
    const bound = document.querySelector("." + name);
    if (pressed && bound && pressed !== bound) {
      event.preventDefault();
      event.stopPropagation();
      bound.click();
      const modal = document.getElementById(
        name === "primary-toggle" ? "pst-primary-sidebar-modal" : "pst-secondary-sidebar-modal");
      pressed.setAttribute("aria-expanded", modal && modal.open ? "true" : "false");
      return;
    }
  }
}, true);

/* 2. A solution's title bar opens the solution: the link to its exercise inside the title would
   otherwise jump back up the page instead (togglebutton already toggles on the title). */
document.addEventListener("click", (event) => {
  const link = event.target.closest(".solution.dropdown > .admonition-title a");
  if (link) event.preventDefault();
}, true);

/* 3. Search snippets: Sphinx takes the text of [role=main], which starts with the page's header
   buttons and its printed "Contents"; drop those first. A formula reads as its TeX source, not
   as KaTeX's boxes of glyphs ("wyn​​"); a glossary term brings its definition, and an index
   entry's empty target the text it marks; a snippet starts at a whole word. */
const NOT_SEARCHED = ".bd-header-article, #jb-print-docs-body, .onlyprint, " +
  ".bd-sidebar-secondary, .prev-next-area, .bd-footer-article, .ce-run-box, .toggle-button";
const betterSnippets = () => {
  if (typeof Search === "undefined" || !Search.htmlToText || Search.ceSnippets) return;
  const pageText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".katex").forEach((math) => {
      const tex = math.querySelector('annotation[encoding="application/x-tex"]');
      math.replaceWith(tex ? tex.textContent.trim() : "");
    });
    doc.querySelectorAll(NOT_SEARCHED).forEach((element) => element.remove());
    let target = null;
    try {
      target = anchor && doc.querySelector(`[role="main"] ${anchor}`);
    } catch (error) { /* an anchor that is no selector: Sphinx falls back to the page */ }
    if (target && target.tagName === "DT" && target.nextElementSibling) {
      target.append(" — " + target.nextElementSibling.textContent);
    } else if (target && !target.textContent.trim()) {
      const next = target.nextElementSibling;
      target.textContent = (next && next.textContent.trim() ? next : target.parentElement)
        .textContent;
    }
    return pageText(doc.documentElement.outerHTML, anchor);
  };
  const summary = Search.makeSearchSummary;
  Search.makeSearchSummary = (...args) => {
    const snippet = summary(...args);
    if (snippet && snippet.textContent.startsWith("...")) {
      snippet.textContent = snippet.textContent.replace(/^\.\.\.\S*\s+/, "...");
    }
    return snippet;
  };
  Search.ceSnippets = true;
};
betterSnippets(); // searchtools.js may load before or after this (deferred) script
document.addEventListener("DOMContentLoaded", betterSnippets);

/* 3b. Search snippets on a site opened as files (file://), where the browser refuses the
   fetch() of each result's page that Sphinx cuts the snippet from: the search page loads the
   pages' text (_static/ce-search-pages.js, written by book/_ext/offline_search.py) and answers
   those fetches from it. A site served over HTTP never loads it. */
if (location.protocol === "file:" && document.getElementById("search-results")) {
  const root = new URL(document.documentElement.dataset.content_root || "./", location.href);
  const pages = new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = new URL("_static/ce-search-pages.js", root).href;
    script.onload = () => resolve(window.CE_SEARCH_PAGES || {});
    script.onerror = () => resolve({});
    document.head.appendChild(script);
  });
  const fetchFile = window.fetch;
  window.fetch = (resource, options) => {
    const url = new URL(String(resource), location.href);
    const docname = url.href.startsWith(root.href)
      ? url.href.slice(root.href.length).replace(/\.html$/, "") : null;
    return pages.then((texts) => docname !== null && docname in texts
      ? new Response(texts[docname], {headers: {"Content-Type": "text/html"}})
      : fetchFile(resource, options));
  };
}

/* 4. A box that scrolls sideways (a wide formula, output or table) can be scrolled from the
   keyboard: it takes the focus (axe: scrollable-region-focusable). */
const focusScrollBoxes = () => {
  document.querySelectorAll(
    "article .katex-display, article div.math, article .cell_output .output, article table"
  ).forEach((box) => {
    if (box.scrollWidth > box.clientWidth + 1 && !box.hasAttribute("tabindex")) {
      box.setAttribute("tabindex", "0");
    }
  });
};
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", focusScrollBoxes);
} else {
  focusScrollBoxes();
}
window.addEventListener("resize", focusScrollBoxes);
