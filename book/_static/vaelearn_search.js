// vaelearn book: typeset the maths in search-result summaries.
// Sphinx fills each summary with the page's text, where inline maths is still its source
// "\(...\)"; once results appear, MathJax (served with the book) typesets them.
(function () {
  "use strict";
  function typeset(root) {
    if (!window.MathJax || !MathJax.typesetPromise) { return; }
    var todo = Array.prototype.filter.call(
      root.querySelectorAll("p.context"), function (p) { return !p.dataset.vaelearnMath; });
    if (!todo.length) { return; }
    todo.forEach(function (p) {
      p.dataset.vaelearnMath = "1";
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
