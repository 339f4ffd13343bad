// vaelearn book: typeset the maths in search-result summaries.
// Sphinx fills each summary with the page's text, where inline maths is still its source
// "\(...\)"; once results appear, MathJax (served with the book) typesets them.
(function () {
  "use strict";
  // A summary is a window of the page's text: it may start inside a formula ("x^2\) is ...")
  // or stop inside one ("where \(p(z"). Cut those pieces off so every formula left is whole.
  function balanced(text) {
    var pairs = [["\\(", "\\)"], ["\\[", "\\]"]];
    pairs.forEach(function (pair) {
      var open = text.indexOf(pair[0]), close = text.indexOf(pair[1]);
      if (close !== -1 && (open === -1 || close < open)) {
        text = "..." + text.slice(close + 2);
      }
      var lastOpen = text.lastIndexOf(pair[0]), lastClose = text.lastIndexOf(pair[1]);
      if (lastOpen !== -1 && lastOpen > lastClose) {
        text = text.slice(0, lastOpen) + "...";
      }
    });
    return text;
  }

  function typeset(root) {
    if (!window.MathJax || !MathJax.typesetPromise) { return; }
    var todo = Array.prototype.filter.call(
      root.querySelectorAll("p.context"), function (p) { return !p.dataset.vaelearnMath; });
    if (!todo.length) { return; }
    todo.forEach(function (p) {
      p.dataset.vaelearnMath = "1";
      p.textContent = balanced(p.textContent);
      p.classList.add("mathjax_process");  // Sphinx's MathJax config ignores other text
    });
    MathJax.typesetPromise(todo).catch(function () {});
  }
  function watch() {
    var results = document.getElementById("search-results");
    if (!results) { return; }
    var pending = null;
    new MutationObserver(function () {
      clearTimeout(pending);
      pending = setTimeout(function () { typeset(results); }, 100);
    }).observe(results, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watch);
  } else {
    watch();
  }
})();
