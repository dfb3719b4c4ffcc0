// Nexplane console behaviour that htmx does not cover. Loaded on every page;
// no inline scripts (the Content-Security-Policy forbids them).
(function () {
  "use strict";

  // Copy buttons: <button data-copy="element-id">. Copies the element's text
  // (or value for inputs) and says so on the button for two seconds.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Fallback for plain-HTTP development: a hidden textarea and execCommand.
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.style.position = "fixed";
      ta.style.opacity = "0";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-copy]");
    if (!btn) { return; }
    ev.preventDefault();
    var src = document.getElementById(btn.getAttribute("data-copy"));
    if (!src) { return; }
    var text = "value" in src && src.tagName !== "BUTTON" ? src.value : src.textContent;
    var label = btn.getAttribute("data-label") || btn.textContent;
    btn.setAttribute("data-label", label);
    copyText(text.trim()).then(function () {
      btn.textContent = "Copied";
      btn.setAttribute("data-copied", "true");
    }, function () {
      btn.textContent = "Select and copy by hand";
    });
    setTimeout(function () {
      btn.textContent = label;
      btn.removeAttribute("data-copied");
    }, 2000);
  });

  // Operation rows of the change form. "Remove" drops its row here (the
  // server reads the rows that are left; their names keep their index);
  // without JavaScript the button posts the form and the server draws it
  // again without that row. Labels count the rows that are there.
  function renumberOpRows() {
    var rows = document.querySelectorAll("#op-rows .op-row");
    for (var i = 0; i < rows.length; i++) {
      var n = rows[i].querySelector(".op-number");
      if (n) { n.textContent = String(i + 1); }
    }
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-remove-row]");
    if (!btn) { return; }
    var row = btn.closest(".op-row");
    if (!row) { return; }
    ev.preventDefault();
    row.remove();
    renumberOpRows();
    // Keep the keyboard in the form: on the add button.
    var add = document.querySelector("button[data-add-row]");
    if (add) { add.focus(); }
  });

  document.addEventListener("htmx:afterSettle", renumberOpRows);
})();
