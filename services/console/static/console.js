/* mailpipe console: what every page shares (CSRF-carrying fetch, small behaviours). */
"use strict";
window.mp = (function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  async function send(method, url, body) {
    const headers = { "X-CSRF-Token": csrf, "Accept": "application/json" };
    if (body !== undefined && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    const resp = await fetch(url, { method, headers, body, credentials: "same-origin" });
    if (resp.status === 401) sessionEnded();
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    return { ok: resp.ok, status: resp.status, data };
  }
  // A script's request answered 401 (the server's JSON for a script: services/console/app.py):
  // the session expired or was signed out. Say so, with a way to sign in, instead of
  // failing silently (base.html holds the words, in the page's language).
  function sessionEnded() {
    const notice = document.getElementById("session-ended");
    if (notice) notice.hidden = false;
  }
  function debounce(fn, ms) {
    let timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("select[data-autosubmit]")) ev.target.form.submit();
  });
  document.addEventListener("submit", function (ev) {
    const button = ev.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
      ev.preventDefault();
    }
  });

  // Moments: the server writes <time datetime="…UTC…" data-style> (services/console/times.py);
  // each is shown here in the browser's zone, in the page's language. One entry per style
  // there; "full" and "second" name the zone after the time.
  const lang = document.documentElement.lang;
  const STYLES = {
    "full": { dateStyle: "medium", timeStyle: "short" },
    "second": { dateStyle: "medium", timeStyle: "medium" },
    "axis-second": { timeStyle: "medium", hourCycle: "h23" },
    "axis-minute": { timeStyle: "short", hourCycle: "h23" },
    "axis-day-minute": { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
                         hourCycle: "h23" },
    "axis-day": { month: "short", day: "numeric" },
  };
  const ZONED = new Set(["full", "second"]);
  const formats = {};
  function format(options) {
    const key = JSON.stringify(options);
    formats[key] = formats[key] || new Intl.DateTimeFormat(lang, options);
    return formats[key];
  }
  // The zone's short name at that instant (GMT+9; EDT or EST by the date).
  function zoneAt(when) {
    return format({ timeZoneName: "short" }).formatToParts(when)
      .find(function (part) { return part.type === "timeZoneName"; }).value;
  }
  function showTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      const when = new Date(node.dateTime);
      if (isNaN(when)) return;
      const style = STYLES[node.dataset.style] ? node.dataset.style : "full";
      node.textContent = format(STYLES[style]).format(when) + (ZONED.has(style) ? " " + zoneAt(when) : "");
      node.title = format({ dateStyle: "full", timeStyle: "long" }).format(when);
    });
    // Where the zone is said once: its name at the instant given (a chart's last), else now.
    root.querySelectorAll("[data-zone]").forEach(function (node) {
      const at = node.dataset.zone ? new Date(node.dataset.zone) : new Date();
      node.textContent = zoneAt(isNaN(at) ? new Date() : at);
    });
  }
  showTimes(document);

  // A time range typed in the reader's own zone (the messages list's window, the audit
  // log's range). Each end is a pair of ids: a datetime-local input the reader sees and a
  // hidden one the form sends, which the server reads as an instant (ISO 8601). The shown
  // ones are filled from the hidden ones now; on submit the hidden ones get the instants,
  // or nothing where an end is empty or `sent()` (if given) says the range is not wanted.
  function zonedRange(form, ends, sent) {
    const pad = n => String(n).padStart(2, "0");
    function local(iso) {
      const d = new Date(iso);
      if (!iso || isNaN(d)) return "";
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
             `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    }
    ends.forEach(function ([shown, hidden]) {
      document.getElementById(shown).value = local(document.getElementById(hidden).value);
    });
    form.addEventListener("submit", function () {
      const wanted = !sent || sent();
      ends.forEach(function ([shown, hidden]) {
        const value = document.getElementById(shown).value;
        document.getElementById(hidden).value =
          wanted && value ? new Date(value).toISOString() : "";
      });
    });
  }

  return { csrf, send, debounce, el, lang, showTimes, sessionEnded, zonedRange };
})();
