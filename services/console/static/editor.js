/* Template editor: Quill (visual) or HTML source, variables listed and a live preview
   rendered by mailpipe's own renderer (POST /ui/templates/preview). */
"use strict";
(function () {
  const form = document.getElementById("template-form");
  const source = document.getElementById("html-source");
  const subject = document.getElementById("subject");
  const textPart = document.getElementById("text-part");
  const varsOut = document.getElementById("variables");
  const samples = document.getElementById("samples");
  const frame = document.getElementById("preview-frame");
  const previewSubject = document.getElementById("preview-subject");
  const previewText = document.getElementById("preview-text");
  const visualTab = document.getElementById("mode-visual");
  const sourceTab = document.getElementById("mode-source");
  const modeField = document.getElementById("editor-mode");
  const readOnly = subject.readOnly;
  // The toolbar is the page's (template_edit.html), so its words are in the page's language.
  const toolbar = document.getElementById("editor-toolbar");
  const quill = new Quill("#visual-editor", {
    theme: "snow", readOnly, modules: { toolbar: readOnly || !toolbar ? false : toolbar },
  });
  if (toolbar) translateToolbar(toolbar);

  /* What Quill writes itself, in English: the pickers it builds from the toolbar's selects
     (they lose their aria-label) and the link tooltip, whose words its style sheet holds
     (console.css shows these data-* attributes instead). */
  function translateToolbar(bar) {
    bar.querySelectorAll("select[aria-label]").forEach(function (select) {
      const label = select.previousElementSibling?.querySelector(".ql-picker-label");
      if (label) label.setAttribute("aria-label", select.getAttribute("aria-label"));
    });
    const tip = quill.theme.tooltip.root;
    const words = bar.dataset;
    tip.dataset.visit = words.visit;
    tip.dataset.enter = words.enter;
    tip.querySelector("a.ql-action").dataset.edit = words.edit;
    tip.querySelector("a.ql-action").dataset.save = words.save;
    tip.querySelector("a.ql-remove").dataset.remove = words.remove;
    tip.querySelector("input[type=text]").dataset.link = "https://example.com";
  }
  let mode = "visual";
  const sampleValues = {};

  function html() { return mode === "visual" ? quill.root.innerHTML : source.value; }

  function setMode(next) {
    if (next === mode) return;
    if (next === "source") source.value = quill.root.innerHTML;
    else quill.clipboard.dangerouslyPasteHTML(source.value, "silent");
    mode = next;
    modeField.value = mode;
    source.hidden = mode !== "source";
    quill.container.parentElement.querySelector(".ql-toolbar")?.toggleAttribute("hidden", mode !== "visual");
    quill.container.hidden = mode !== "visual";
    visualTab.setAttribute("aria-selected", String(mode === "visual"));
    sourceTab.setAttribute("aria-selected", String(mode === "source"));
    refresh();
  }

  function showError(error) {
    // A fresh check replaces what the server said when the page was sent back.
    document.querySelectorAll(".field-error").forEach(function (p) { p.hidden = true; });
    if (!error) return;
    const target = document.getElementById("live-error-" + error.field);
    if (target) { target.textContent = error.message; target.hidden = false; }
  }

  function showVariables(names) {
    varsOut.replaceChildren();
    samples.replaceChildren();
    names.forEach(function (name) {
      varsOut.append(mp.el("code", { class: "var" }, name), " ");
      const input = mp.el("input", { "data-var": name, placeholder: name, "aria-label": name });
      input.value = sampleValues[name] || "";
      input.addEventListener("input", function () { sampleValues[name] = input.value; later(); });
      const label = mp.el("label", {}, name + " ");
      label.append(input);
      samples.append(label);
    });
  }

  async function refresh() {
    const body = { subject: subject.value, html: html(), text: textPart.value,
                   values: sampleValues };
    const answer = await mp.send("POST", "/ui/templates/preview", body);
    if (!answer.ok || !answer.data) return;  // refused (signed out: console.js says so)
    if (answer.data.error) { showError(answer.data.error); return; }
    showError(null);
    const focused = document.activeElement && document.activeElement.dataset.var;
    showVariables(answer.data.variables);
    if (focused) samples.querySelector('[data-var="' + CSS.escape(focused) + '"]')?.focus();
    previewSubject.textContent = answer.data.subject;
    frame.srcdoc = answer.data.html;
    previewText.textContent = answer.data.text;
  }
  const later = mp.debounce(refresh, 250);

  // Markup the visual editor cannot hold (tables, styles, layout) starts in source mode.
  if (modeField.value === "source" || /<(table|style|div|center|html|body|img)\b/i.test(source.value)) {
    mode = "source"; modeField.value = mode; source.hidden = false; quill.container.hidden = true;
    visualTab.setAttribute("aria-selected", "false"); sourceTab.setAttribute("aria-selected", "true");
    quill.container.parentElement.querySelector(".ql-toolbar")?.setAttribute("hidden", "");
  } else {
    quill.clipboard.dangerouslyPasteHTML(source.value, "silent");
  }
  quill.on("text-change", later);
  [subject, source, textPart].forEach(function (node) { node.addEventListener("input", later); });
  visualTab.addEventListener("click", function () { setMode("visual"); });
  sourceTab.addEventListener("click", function () { setMode("source"); });
  form.addEventListener("submit", function () { source.value = html(); });
  refresh();
})();
