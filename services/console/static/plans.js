/* Send plans: the new-plan form (sent with the CSRF header and an upload progress bar)
   and live progress bars polled from /ui/plans/progress. */
"use strict";
(function () {
  const meta = JSON.parse(document.getElementById("plan-states").textContent);
  const form = document.getElementById("plan-form");

  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const when = document.getElementById("plan-when").value;
      document.getElementById("plan-when-iso").value = when ? new Date(when).toISOString() : "";
      const errors = document.getElementById("plan-errors");
      const bar = document.getElementById("upload-progress");
      errors.replaceChildren();
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRF-Token", mp.csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (p) {
        if (p.lengthComputable) { bar.hidden = false; bar.value = 100 * p.loaded / p.total; }
      };
      xhr.onload = function () {
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
        // The plans page again, saying what was made (its notice) and scrolled to the plan.
        if (xhr.status === 201) { window.location = "/ui/plans?created=" + answer.id + "#plan-" + answer.id; return; }
        if (xhr.status === 401) mp.sessionEnded();
        bar.hidden = true;
        errors.append(mp.el("li", {}, answer.message || String(xhr.status)));
        (answer.errors || []).forEach(function (e) { errors.append(mp.el("li", {}, e.message)); });
      };
      xhr.send(new FormData(form));
    });
  }

  let timer = null;
  async function poll() {
    const answer = await fetch("/ui/plans/progress", { headers: { Accept: "application/json" } });
    if (answer.status === 401) {  // signed out: nothing will move until the user signs in
      clearInterval(timer);
      mp.sessionEnded();
      return;
    }
    if (!answer.ok) return;
    const data = await answer.json();
    data.plans.forEach(function (plan) {
      const bar = document.querySelector('.progress[data-plan="' + plan.id + '"]');
      if (!bar) return;
      bar.querySelectorAll(".seg").forEach(function (seg) {
        const n = plan.counts[seg.dataset.state] || 0;
        seg.style.width = (plan.total ? 100 * n / plan.total : 0) + "%";
        seg.title = meta.labels[seg.dataset.state] + ": " + n;
      });
      const counts = document.querySelector('[data-counts="' + plan.id + '"]');
      counts.replaceChildren();
      meta.states.forEach(function (state) {
        const n = plan.counts[state] || 0;
        if (n) counts.append(mp.el("span", { class: "chip s-" + state }, meta.labels[state] + " " + n), " ");
      });
      const phase = document.querySelector('[data-phase="' + plan.id + '"]');
      phase.textContent = meta.labels["phase." + plan.phase] || plan.phase;
      phase.dataset.value = plan.phase;
      if (plan.phase === "completed" || plan.phase === "cancelled") {
        // Nothing left to pause or cancel (the server would refuse it anyway).
        bar.closest(".plan").querySelectorAll(".actions form").forEach(function (f) { f.remove(); });
      }
    });
    const settled = data.plans.every(function (p) { return p.phase === "completed" || p.phase === "cancelled"; });
    if (settled) clearInterval(timer);  // nothing will move any more
  }
  if (document.getElementById("plans")) timer = setInterval(poll, 1500);
})();
