// Acknowledge and resolve buttons of the person page's alerts: POST to the alerts API (signed in
// by the session cookie; the server records the signed-in user) and update the alert in place.
"use strict";
(function () {
  const list = document.querySelector("ol.alerts");
  if (!list) return;
  const status = document.getElementById("alert-status");

  function say(text) { status.textContent = text; }

  async function act(item, action, button) {
    const id = item.dataset.alertId;
    const title = item.querySelector("h3").textContent;
    button.disabled = true;
    try {
      const r = await fetch("/api/alerts/" + encodeURIComponent(id) + "/" + action, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ note: "" }),
      });
      const body = await r.json();
      if (!r.ok) throw new Error((body.what || r.statusText) + (body.fix ? " — " + body.fix : ""));
      show(item, body);
      say("“" + title + "”: " + body.status + ".");
    } catch (err) {
      button.disabled = false;
      say("Could not " + action + " “" + title + "”: " + err.message);
    }
  }

  function show(item, alert) {
    item.dataset.status = alert.status;
    const state = item.querySelector(".alert-state");
    state.textContent = alert.status + (alert.acknowledged_by ? " by " + alert.acknowledged_by : "");
    item.querySelectorAll("button[data-action]").forEach((b) => {
      const stays = alert.status !== "resolved" && b.dataset.action === "resolve";
      if (!stays) b.remove();
    });
  }

  list.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (!button) return;
    act(button.closest("li[data-alert-id]"), button.dataset.action, button);
  });
})();
