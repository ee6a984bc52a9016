// Typesets TeX with KaTeX for the book build (book/_ext/katex_math.py).
// Reads one JSON request a line on stdin: {"tex": "...", "display": true|false}
// and answers one JSON line on stdout: {"html": "..."} or {"error": "..."}.
"use strict";
const katex = require("katex");
const readline = require("readline");

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on("line", (line) => {
  let answer;
  try {
    const request = JSON.parse(line);
    answer = {
      html: katex.renderToString(request.tex, {
        displayMode: request.display,
        throwOnError: true,
        output: "htmlAndMathml", // MathML for screen readers, HTML for the eye
        strict: "ignore",
        trust: false,
      }),
    };
  } catch (error) {
    answer = { error: String(error && error.message ? error.message : error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
