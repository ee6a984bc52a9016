"""Sphinx extension: ``literalinclude`` gains a ``:code-only:`` flag.

With ``:pyobject: NAME`` it shows the function's code without its docstring (whose reST math
would show as raw markup on the page; the chapter states the formula in rendered math). The same
cut is used for the student notebooks (``ce_lessons.coursework._source.without_docstring``).
"""

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.directives.code import LiteralInclude

from ce_lessons.coursework._source import without_docstring


class CodeOnlyLiteralInclude(LiteralInclude):
    option_spec = dict(
        LiteralInclude.option_spec, **{"code-only": directives.flag}
    )

    def run(self):
        code_only = "code-only" in self.options
        self.options.pop("code-only", None)
        result = super().run()
        if not code_only:
            return result
        for block in result:
            for node in block.findall(nodes.literal_block):
                text = without_docstring(node.astext())
                node.rawsource = text
                node.children = [nodes.Text(text)]
        return result


def setup(app):
    app.add_directive(
        "literalinclude", CodeOnlyLiteralInclude, override=True
    )
    return {"parallel_read_safe": True, "parallel_write_safe": True}
