/* The audit log's filter: a time range typed in the reader's own zone, sent as instants. */
"use strict";
(function () {
  const filters = document.getElementById("audit-filters");
  const ends = [["f-since-local", "f-since"], ["f-until-local", "f-until"]];
  const pad = n => String(n).padStart(2, "0");

  // The server reads the range's ends as instants (ISO 8601); the inputs show and take
  // them in the browser's zone.
  function local(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d)) return "";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
           `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  ends.forEach(function ([shown, sent]) {
    document.getElementById(shown).value = local(document.getElementById(sent).value);
  });
  filters.addEventListener("submit", function () {
    ends.forEach(function ([shown, sent]) {
      const value = document.getElementById(shown).value;
      document.getElementById(sent).value = value ? new Date(value).toISOString() : "";
    });
  });
})();
