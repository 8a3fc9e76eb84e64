/* cinerec: small progressive enhancements; every page works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  document.addEventListener("DOMContentLoaded", function () {
    /* A rating form marked data-autosubmit saves as soon as a star is chosen (its button is hidden). */
    document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      form.addEventListener("change", function (event) {
        if (event.target && event.target.type === "radio") {
          form.requestSubmit ? form.requestSubmit() : form.submit();
        }
      });
    });

    /* A poster that fails to load falls back to the generated placeholder underneath. */
    document.querySelectorAll(".poster img").forEach(function (img) {
      function drop() { img.remove(); }
      if (img.complete && img.naturalWidth === 0) { drop(); } else { img.addEventListener("error", drop); }
    });

    /* The settings page asks once more before deleting the account. */
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });

    /* A share's public link is selected whole when clicked, ready to copy. */
    document.querySelectorAll("input[data-select]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });

    /* A click on a recommended film is reported (the outcome of A/B experiments) without holding up the
       navigation: keepalive lets the request finish after the page is left. Same-origin cookie writes need
       no token (the server checks Origin / Sec-Fetch-Site). */
    document.addEventListener("click", function (event) {
      var link = event.target && event.target.closest ? event.target.closest("a[data-rec-click]") : null;
      if (!link || !window.fetch) { return; }
      var movieId = parseInt(link.getAttribute("data-rec-click"), 10);
      var position = parseInt(link.getAttribute("data-rec-pos"), 10);
      if (!(movieId > 0)) { return; }
      try {
        fetch("/api/v1/me/events", {
          method: "POST", keepalive: true, credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ kind: "click", movie_id: movieId, position: position >= 0 ? position : null })
        }).catch(function () { /* a lost click only costs the statistics */ });
      } catch (e) { /* never block navigation */ }
    });

    /* Close the account menu when clicking elsewhere. */
    document.addEventListener("click", function (event) {
      document.querySelectorAll("details.menu[open]").forEach(function (menu) {
        if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
      });
    });
  });
})();
