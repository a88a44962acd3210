/* The audit log's filter: a time range typed in the reader's own zone, sent as instants. */
"use strict";
mp.zonedRange(document.getElementById("audit-filters"),
              [["f-since-local", "f-since"], ["f-until-local", "f-until"]]);
