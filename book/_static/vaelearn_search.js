// vaelearn book: typeset the maths in search-result summaries; name glossary terms.
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
  // A glossary term found by the search is listed under the page's title, "Glossary", so a
  // query matching two terms listed "Glossary" twice. Name the term instead: "Entropy (glossary)".
  var glossaryTerms = null;
  function loadGlossary() {
    if (glossaryTerms) { return glossaryTerms; }
    glossaryTerms = fetch("glossary.html").then(function (r) { return r.text(); }).then(
      function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html"), terms = {};
        doc.querySelectorAll("dl.glossary dt[id]").forEach(function (dt) {
          var clone = dt.cloneNode(true);
          clone.querySelectorAll("a.headerlink").forEach(function (a) { a.remove(); });
          terms[dt.id] = clone.textContent.trim();
        });
        return terms;
      }).catch(function () { return {}; });
    return glossaryTerms;
  }
  function nameTerms(root) {
    var links = root.querySelectorAll('li > a[href*="glossary.html#term-"]:not([data-vaelearn-term])');
    if (!links.length) { return; }
    loadGlossary().then(function (terms) {
      links.forEach(function (a) {
        var id = decodeURIComponent(a.getAttribute("href").split("#")[1] || "");
        a.dataset.vaelearnTerm = "1";
        if (terms[id]) { a.textContent = terms[id] + " (glossary)"; }
      });
    });
  }

  function watch() {
    var results = document.getElementById("search-results");
    if (!results) { return; }
    var pending = null;
    new MutationObserver(function () {
      clearTimeout(pending);
      pending = setTimeout(function () { nameTerms(results); typeset(results); }, 100);
    }).observe(results, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watch);
  } else {
    watch();
  }
})();
