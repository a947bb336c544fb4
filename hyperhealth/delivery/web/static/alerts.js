// Alert actions of the person page: acknowledge, resolve, annotate, and pausing notifications.
// Each POSTs to the alerts API (signed in by the session cookie; the server records who acted)
// and updates the page in place.
"use strict";
(function () {
  const T = window.hhT || ((s, p) => (p ? s.replace(/%\((\w+)\)s/g, (_, k) => p[k]) : s));
  const status = document.getElementById("alert-status");
  function say(text) { if (status) status.textContent = text; }

  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await r.json();
    if (!r.ok) throw new Error((answer.what || r.statusText) + (answer.fix ? " — " + answer.fix : ""));
    return answer;
  }

  const STATUS = { open: T("open"), acknowledged: T("acknowledged"), resolved: T("resolved") };

  function show(item, alert) {
    item.dataset.status = alert.status;
    const state = item.querySelector(".alert-state");
    const word = STATUS[alert.status] || alert.status;
    state.textContent = alert.acknowledged_by
      ? T("%(status)s by %(name)s", { status: word, name: alert.acknowledged_by }) : word;
    item.querySelectorAll("button[data-action]").forEach((b) => {
      const a = b.dataset.action;
      const stays = alert.status !== "resolved" && (a === "resolve" || a === "annotate");
      if (!stays) b.remove();
    });
    if (alert.status === "resolved") item.querySelectorAll("form.note").forEach((f) => f.remove());
  }

  async function act(item, action, button) {
    const id = item.dataset.alertId;
    const title = item.querySelector("h3").textContent;
    button.disabled = true;
    try {
      const alert = await post("/api/alerts/" + encodeURIComponent(id) + "/" + action, { note: "" });
      show(item, alert);
      say(T("“%(title)s”: %(status)s.", { title: title, status: STATUS[alert.status] || alert.status }));
    } catch (err) {
      button.disabled = false;
      say(T("Could not change “%(title)s”: %(error)s", { title: title, error: err.message }));
    }
  }

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("li[data-alert-id] button[data-action]");
    if (!button) return;
    const item = button.closest("li[data-alert-id]");
    if (button.dataset.action === "annotate") {
      const form = item.querySelector("form.note");
      form.hidden = !form.hidden;
      button.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) form.querySelector("textarea").focus();
      return;
    }
    act(item, button.dataset.action, button);
  });

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (form.matches("li[data-alert-id] form.note")) {
      ev.preventDefault();
      const item = form.closest("li[data-alert-id]");
      const note = form.querySelector("textarea").value.trim();
      if (!note) return;
      try {
        await post("/api/alerts/" + encodeURIComponent(item.dataset.alertId) + "/annotate", { note: note });
        form.reset();
        form.hidden = true;
        say(T("Note saved."));
      } catch (err) {
        say(T("The note was not saved: %(error)s", { error: err.message }));
      }
    } else if (form.id === "snooze-form") {
      ev.preventDefault();
      const level = form.elements.level.value;
      const minutes = Number(form.elements.minutes.value);
      try {
        const out = await post("/api/persons/" + encodeURIComponent(form.dataset.personId) + "/snooze",
                               { level: level, minutes: minutes });
        say(T("Notifications paused until %(until)s.", { until: new Date(out.until).toLocaleString() }));
      } catch (err) {
        say(T("Notifications were not paused: %(error)s", { error: err.message }));
      }
    }
  });
})();
