/* The new key's page: the copy button (the key is shown only once). */
"use strict";
(function () {
  document.addEventListener("click", async function (ev) {
    const button = ev.target.closest("[data-copy]");
    if (!button) return;
    const field = document.getElementById(button.dataset.copy);
    field.focus();
    field.select();
    let copied = false;
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch (e) {
      // No clipboard API (a page served over plain HTTP from another host): the
      // browser's own copy of the selected text.
      copied = document.execCommand && document.execCommand("copy");
    }
    if (copied) {
      button.textContent = button.dataset.copied;
      button.classList.add("done");
    }
  });
})();
