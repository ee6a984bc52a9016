"""Sphinx extension: each page loads each script once.

jupyter-book 1.0.4 registers sphinx-thebe's inline configuration script twice, so every page
threw "Identifier 'THEBE_JS_URL' has already been declared" in the browser. This drops the
repeats from each page's script list (tests/browser checks that pages load without errors).
"""


def drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        filename = (
            getattr(script, "filename", script) or ""
        )  # None and "" both mean inline
        key = (
            str(filename),
            repr(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts, priority=999)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
