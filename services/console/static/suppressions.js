/* Suppressions: a CSV file's addresses added. The file goes to the server as it is, and is
   decoded there (shared/intake/csvtext.py: UTF-8, CP949, UTF-16), as the grid's import is. */
"use strict";
(function () {
  const importForm = document.getElementById("import-form");
  if (!importForm) return;
  const errors = document.getElementById("import-errors");
  importForm.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    errors.replaceChildren();
    const file = document.getElementById("import-file").files[0];
    if (!file) return;
    const charset = document.getElementById("import-charset").value;
    const button = document.getElementById("import");
    button.disabled = true;
    try {
      const resp = await fetch(importForm.dataset.url + "?charset=" + encodeURIComponent(charset), {
        method: "POST", body: file, credentials: "same-origin",
        headers: { "X-CSRF-Token": mp.csrf, "Accept": "application/json", "Content-Type": "text/csv" },
      });
      if (resp.status === 401) { mp.sessionEnded(); return; }
      const data = await resp.json().catch(function () { return {}; });
      if (resp.ok) {
        const next = new URLSearchParams({ added: data.added, already: data.already });
        window.location.assign(window.location.pathname + "?" + next);
        return;
      }
      errors.append(mp.el("li", {}, data.message || String(resp.status)));
      (data.errors || []).forEach(function (e) { errors.append(mp.el("li", {}, e.message)); });
    } finally {
      button.disabled = false;
    }
  });
})();
