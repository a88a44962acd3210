/* The messages list: a time window typed in the reader's own zone, and choosing rows to requeue. */
"use strict";
(function () {
  const filters = document.getElementById("filters");
  const period = document.getElementById("f-period");
  const range = document.getElementById("f-range");
  const ends = [["f-since-local", "f-since"], ["f-until-local", "f-until"]];
  const pad = n => String(n).padStart(2, "0");

  // The server keeps the window's ends as instants (ISO 8601, UTC); the inputs show and
  // take them in the browser's zone.
  function local(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d)) return "";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
           `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  ends.forEach(function ([shown, sent]) {
    document.getElementById(shown).value = local(document.getElementById(sent).value);
  });
  period.addEventListener("change", function () { range.hidden = period.value !== "range"; });
  filters.addEventListener("submit", function () {
    ends.forEach(function ([shown, sent]) {
      const value = document.getElementById(shown).value;
      document.getElementById(sent).value =
        period.value === "range" && value ? new Date(value).toISOString() : "";
    });
  });

  // Rows to requeue: "all" chooses every row of the page that can be requeued.
  const table = document.getElementById("messages");
  const all = document.getElementById("pick-all");
  const button = document.getElementById("requeue-picked");
  if (!table || !button) return;
  const boxes = Array.from(table.querySelectorAll("tbody input[type=checkbox]"));
  function update() {
    const picked = boxes.filter(box => box.checked).length;
    button.disabled = picked === 0;
    if (all) {
      all.checked = picked > 0 && picked === boxes.length;
      all.indeterminate = picked > 0 && picked < boxes.length;
    }
  }
  if (all) {
    all.disabled = boxes.length === 0;
    all.addEventListener("change", function () {
      boxes.forEach(box => { box.checked = all.checked; });
      update();
    });
  }
  boxes.forEach(box => box.addEventListener("change", update));
  update();
})();
