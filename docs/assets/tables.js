// Code in a table wraps at its spaces only (issue 30): the browser would also break a token at a hyphen
// or a slash (`--deterministic`, `norm1/conv1`), and CSS cannot tell it not to without also keeping a
// long value with spaces on one line. So each run of non-space characters goes into a span that
// docs/assets/tables.css keeps whole.
(() => {
  "use strict";
  const keepWhole = () => {
    for (const code of document.querySelectorAll(".md-typeset table code")) {
      if (code.children.length) continue;  // done already, or markup of its own
      code.replaceChildren(...code.textContent.split(/(\s+)/).filter(Boolean).map((part) => {
        if (/\s/.test(part)) return document.createTextNode(part);
        const token = document.createElement("span");
        token.className = "token-whole";
        token.textContent = part;
        return token;
      }));
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", keepWhole);
  else keepWhole();
})();
