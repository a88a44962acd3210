/* The messages list: a time window typed in the reader's own zone, and choosing rows to requeue. */
"use strict";
(function () {
  const filters = document.getElementById("filters");
  const period = document.getElementById("f-period");
  const range = document.getElementById("f-range");
  period.addEventListener("change", function () { range.hidden = period.value !== "range"; });
  // The window is sent only when "range" is the period chosen.
  mp.zonedRange(filters, [["f-since-local", "f-since"], ["f-until-local", "f-until"]],
                function () { return period.value === "range"; });

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
