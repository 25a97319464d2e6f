// Copy buttons: a button marked data-copy="<selector>" copies that element's text to the clipboard.
// The buttons are rendered hidden and shown here, so a browser without this script (or without the
// clipboard API) shows no button that does nothing. No inline script: the CSP allows none.
(function () {
  "use strict";

  // Says what happened on the button itself until the next click (a screen reader hears it too).
  function show(button, words) {
    button.textContent = words;
  }

  function copy(event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) {
      return;
    }
    var source = document.querySelector(button.dataset.copy);
    if (!source) {
      return;
    }
    show(button, "Copying…");
    navigator.clipboard.writeText(source.textContent.trim()).then(
      function () { show(button, "Copied"); },
      function () { show(button, "Copy failed: select the id and copy it"); }
    );
  }

  function reveal() {
    if (!navigator.clipboard) {
      return;
    }
    document.querySelectorAll("button[data-copy]").forEach(function (button) { button.hidden = false; });
  }

  document.addEventListener("click", copy);
  document.addEventListener("DOMContentLoaded", reveal);
  document.addEventListener("htmx:afterSwap", reveal);
})();
