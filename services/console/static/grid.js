/* Recipient grid: a small spreadsheet. Columns are email plus the template's variables;
   paste tab-separated rows from Excel or Google Sheets, add/remove rows, CSV import and
   export, and cells flagged with the reason the campaign intake would refuse them. */
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("grid-data").textContent);
  const strings = document.getElementById("grid-strings").dataset;
  // "1 row" / "2 rows": both forms come from the catalog, {n} is filled in here.
  function count(one, other, n) { return strings[n === 1 ? one : other].replace("{n}", String(n)); }
  // Rows with at least one cell filled: blank rows are neither counted nor sent.
  function filledRows() { return rows.filter(function (row) { return row.some(function (cell) { return String(cell || "").trim(); }); }).length; }
  const table = document.getElementById("grid");
  const templateSelect = document.getElementById("grid-template");
  const nameInput = document.getElementById("grid-name");
  const statusLine = document.getElementById("grid-status");
  const errorList = document.getElementById("grid-errors");
  let columns = data.grid ? data.grid.columns.slice() : ["email"];
  let rows = data.grid ? data.grid.rows.map(function (r) { return r.slice(); }) : [[], [], []];
  let gridId = data.grid ? data.grid.id : null;

  function columnsFor(templateId) {
    return ["email"].concat(data.variables[templateId] || []);
  }

  function setColumns(next) {
    // Keep the values of columns that stay, by name.
    rows = rows.map(function (row) {
      return next.map(function (name) {
        const i = columns.indexOf(name);
        return i >= 0 ? (row[i] || "") : "";
      });
    });
    columns = next;
    draw();
  }

  function draw() {
    const head = table.tHead;
    head.replaceChildren();
    const tr = mp.el("tr");
    tr.append(mp.el("th", { class: "rownum" }, "#"));
    columns.forEach(function (name) { tr.append(mp.el("th", { scope: "col" }, name)); });
    tr.append(mp.el("th", { class: "rowdel" }, ""));
    head.append(tr);
    const body = table.tBodies[0];
    body.replaceChildren();
    rows.forEach(function (row, r) { body.append(rowElement(row, r)); });
    statusLine.textContent = count("row", "rows", filledRows());
  }

  function rowElement(row, r) {
    const tr = mp.el("tr");
    tr.append(mp.el("td", { class: "rownum" }, String(r + 1)));
    columns.forEach(function (name, c) {
      const td = mp.el("td");
      const input = mp.el("input", { "data-row": r, "data-col": c, "aria-label": name + " " + (r + 1) });
      input.value = row[c] || "";
      input.readOnly = !data.editable;
      td.append(input);
      tr.append(td);
    });
    const del = mp.el("td", { class: "rowdel" });
    if (data.editable) {
      const button = mp.el("button", { type: "button", class: "small", title: strings.remove, "data-remove": r }, "×");
      del.append(button);
    }
    tr.append(del);
    return tr;
  }

  function cellOf(node) {
    return { r: Number(node.dataset.row), c: Number(node.dataset.col) };
  }

  table.addEventListener("input", function (ev) {
    if (!ev.target.dataset.row) return;
    const at = cellOf(ev.target);
    while (rows[at.r].length < columns.length) rows[at.r].push("");
    rows[at.r][at.c] = ev.target.value;
    laterCheck();
  });

  table.addEventListener("paste", function (ev) {
    if (!ev.target.dataset.row || !data.editable) return;
    const text = (ev.clipboardData || window.clipboardData).getData("text");
    if (!/[\t\n]/.test(text)) return;  // one value: the browser pastes it as usual
    ev.preventDefault();
    const at = cellOf(ev.target);
    const lines = parseDelimited(text, "\t");
    lines.forEach(function (cells, i) {
      const r = at.r + i;
      while (rows.length <= r) rows.push([]);
      cells.forEach(function (value, j) {
        const c = at.c + j;
        if (c >= columns.length) return;
        while (rows[r].length < columns.length) rows[r].push("");
        rows[r][c] = value;
      });
    });
    draw();
    check();
  });

  table.addEventListener("click", function (ev) {
    const r = ev.target.dataset.remove;
    if (r === undefined) return;
    rows.splice(Number(r), 1);
    draw();
    check();
  });

  /* Spreadsheet text: quoted fields may hold the delimiter, quotes ("") and line breaks. */
  function parseDelimited(text, delimiter) {
    const out = [];
    let row = [], field = "", quoted = false, i = 0;
    text = text.replace(/\r\n?/g, "\n");
    while (i < text.length) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
        if (ch === '"') { quoted = false; i++; continue; }
        field += ch; i++; continue;
      }
      if (ch === '"' && field === "") { quoted = true; i++; continue; }
      if (ch === delimiter) { row.push(field); field = ""; i++; continue; }
      if (ch === "\n") { row.push(field); out.push(row); row = []; field = ""; i++; continue; }
      field += ch; i++;
    }
    if (field !== "" || row.length) { row.push(field); out.push(row); }
    return out;
  }

  async function check() {
    const answer = await mp.send("POST", "/ui/grids/check", {
      template_id: templateSelect.value || null, columns: columns, rows: rows });
    table.querySelectorAll("input.bad").forEach(function (input) {
      input.classList.remove("bad"); input.removeAttribute("title"); input.removeAttribute("aria-invalid");
    });
    errorList.replaceChildren();
    if (!answer.ok) { errorList.append(mp.el("li", {}, (answer.data && answer.data.message) || answer.status)); return; }
    const errors = answer.data.errors;
    errors.forEach(function (e) {
      const c = columns.indexOf(e.column);
      const input = table.querySelector('input[data-row="' + (e.row - 1) + '"][data-col="' + c + '"]');
      if (input) {
        input.classList.add("bad"); input.title = e.message; input.setAttribute("aria-invalid", "true");
      }
      errorList.append(mp.el("li", { "data-row": e.row, "data-column": e.column }, e.message));
    });
    statusLine.textContent = count("row", "rows", filledRows()) + " · " +
      (errors.length ? count("badOne", "bad", errors.length) : strings.ok);
  }
  const laterCheck = mp.debounce(check, 400);

  templateSelect.addEventListener("change", function () { setColumns(columnsFor(templateSelect.value)); check(); });
  document.getElementById("check-grid").addEventListener("click", check);
  document.getElementById("add-row")?.addEventListener("click", function () { rows.push([]); draw(); });

  // CSV files are read and written by the server (shared.intake.csvtext): a browser reads
  // only UTF-8 and would turn CP949, what Korean Excel saves, into U+FFFD without a word.
  async function fetchCsv(url, body, contentType) {
    const resp = await fetch(url, { method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRF-Token": mp.csrf, "Accept": "application/json", "Content-Type": contentType } });
    return resp;
  }

  async function refusal(resp) {
    try { return (await resp.json()).message || String(resp.status); } catch (e) { return String(resp.status); }
  }

  document.getElementById("export-csv").addEventListener("click", async function () {
    const charset = document.getElementById("export-charset").value;
    const resp = await fetchCsv("/ui/grids/export?charset=" + encodeURIComponent(charset),
      JSON.stringify({ name: nameInput.value, columns: columns, rows: rows }), "application/json");
    if (!resp.ok) { statusLine.textContent = await refusal(resp); return; }
    const blob = await resp.blob();
    const link = mp.el("a", { href: URL.createObjectURL(blob), download: (nameInput.value || "recipients") + ".csv" });
    document.body.append(link); link.click(); link.remove();
  });

  document.getElementById("import-csv").addEventListener("change", async function (ev) {
    const file = ev.target.files[0];
    if (!file) return;
    ev.target.value = "";  // the same file may be chosen again (with another charset)
    const bar = document.getElementById("import-progress");
    const charset = document.getElementById("import-charset").value;
    bar.hidden = false; bar.removeAttribute("value");  // indeterminate while the server reads it
    const resp = await fetchCsv("/ui/grids/import?charset=" + encodeURIComponent(charset), file, "text/csv");
    bar.hidden = true;
    if (!resp.ok) {
      const message = await refusal(resp);
      errorList.replaceChildren(mp.el("li", { "data-import": "refused" }, message));  // once
      return;
    }
    const answer = await resp.json();
    rows = answer.rows.map(function (l) {
      return columns.map(function (name) { const i = answer.header.indexOf(name); return i >= 0 ? (l[i] || "") : ""; });
    });
    draw(); check();
  });

  document.getElementById("save-grid")?.addEventListener("click", async function () {
    if (!nameInput.value.trim()) { statusLine.textContent = strings.needName; nameInput.focus(); return; }
    const answer = await mp.send("POST", gridId ? "/ui/grids/" + gridId : "/ui/grids", {
      name: nameInput.value, template_id: templateSelect.value || null, columns: columns, rows: rows });
    if (answer.ok) {
      // Saved as a recipient list: an address given twice is kept once (its first row).
      const folded = answer.data.duplicates;
      statusLine.textContent = folded ? count("savedDupOne", "savedDup", folded) : strings.saved;
      if (!gridId) { gridId = answer.data.id; history.replaceState(null, "", "/ui/grids/" + gridId); }
    } else {
      statusLine.textContent = (answer.data && answer.data.message) || String(answer.status);
    }
  });

  document.getElementById("delete-grid")?.addEventListener("click", async function (ev) {
    if (!window.confirm(ev.target.dataset.confirm)) return;
    const answer = await mp.send("DELETE", "/ui/grids/" + gridId);
    if (answer.ok || answer.status === 204) window.location = "/ui/grids?deleted=1";  // says so
  });

  if (!data.grid && templateSelect.value) columns = columnsFor(templateSelect.value);
  draw();
  if (data.grid) check();
})();
