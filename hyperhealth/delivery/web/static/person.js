// Live updates on the person page (GET /api/persons/{id}/live): new readings and alert changes
// are announced without reloading; when access ends, the page says so and stops.
"use strict";
(function () {
  const root = document.getElementById("person");
  const line = document.getElementById("live-status");
  if (!root || !line || !window.hhLive) return;
  const T = window.hhT || ((s, p) => (p ? s.replace(/%\((\w+)\)s/g, (_, k) => p[k]) : s));
  const N = window.hhNumber || ((v) => String(v));
  const when = (t) => (window.hhDateTime ? hhDateTime(t) : t);
  const names = {};
  document.querySelectorAll("#trend-code option").forEach((o) => { names[o.value] = o.textContent; });
  let readings = 0;

  window.hhLive.connect("/api/persons/" + encodeURIComponent(root.dataset.personId) + "/live", {
    state(s) {
      if (s === "open" && !readings) line.textContent = T("Live: new readings and alerts appear here.");
      if (s === "retrying") line.textContent = T("Live updates paused; reconnecting…");
    },
    reading(r) {
      readings += 1;
      line.textContent = T("Live: %(name)s %(value)s %(unit)s at %(time)s (new readings: %(n)s).", {
        name: names[r.code] || r.code, value: N(r.value, 1), unit: r.unit, time: when(r.t), n: readings });
    },
    alert(a) {
      const item = document.querySelector('li[data-alert-id="' + a.id + '"]');
      // the page shows this state already (changed here, or only a note was added): nothing new,
      // and announcing it would replace what the page just said about its own action
      if (item && item.dataset.status === a.status) return;
      if (item) item.dataset.status = a.status;
      const text = T("Alert “%(title)s” is now %(status)s (%(time)s).",
                     { title: a.title, status: T(a.status), time: when(a.changed) });
      const list = document.getElementById("alert-status");
      if (list) list.textContent = text + (item ? "" : " " + T("Reload the page to see it."));
    },
    revoked() {
      line.textContent = T("Your access to this person's data has ended. Reload the page.");
    },
  });
})();
