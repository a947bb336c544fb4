// The clinician's triage panel: patients by alert priority from GET /api/triage, with filters,
// kept current by the live alert stream (GET /api/triage/live): a change reloads the list and
// the changed patient's row is highlighted and announced.
"use strict";
(function () {
  const table = document.getElementById("triage");
  if (!table) return;
  const T = window.hhT || ((s, p) => (p ? s.replace(/%\((\w+)\)s/g, (_, k) => p[k]) : s));
  const form = document.getElementById("triage-filters");
  const status = document.getElementById("triage-status");
  const LEVEL = { urgent: T("Urgent"), warn: T("Warning"), info: T("Information") };
  const STATUS = { open: T("open"), acknowledged: T("acknowledged") };
  let fresh = new Set();
  let reloadTimer = null;

  function say(text) { status.textContent = text; }

  function cell(tag, text, attrs) {
    const c = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) c.setAttribute(k, v);
    if (text instanceof Node) c.append(text); else c.textContent = text;
    return c;
  }

  function count(c) {
    const n = c.open + c.acknowledged;
    if (!n) return "0";
    return c.open ? T("%(n)s (%(open)s open)", { n: n, open: c.open }) : String(n);
  }

  function row(r) {
    const tr = document.createElement("tr");
    tr.dataset.personId = r.person_id;
    if (r.top_alert) tr.className = "level-" + r.top_alert.level;
    if (fresh.has(r.person_id)) tr.classList.add("fresh");
    const link = cell("a", r.person_id, { href: "/persons/" + encodeURIComponent(r.person_id) });
    const who = document.createElement("span");
    who.append(link);
    const facts = [r.age !== null ? T("age %(age)s", { age: r.age }) : null, r.sex_at_birth].filter(Boolean);
    if (facts.length) who.append(" ", cell("span", facts.join(", "), { class: "muted small" }));
    tr.append(cell("th", who, { scope: "row" }));
    if (r.top_alert) {
      const a = r.top_alert;
      const top = document.createElement("span");
      top.append(cell("span", LEVEL[a.level] || a.level, { class: "badge level-" + a.level }), " ",
                 a.title, " ", cell("span", "(" + (STATUS[a.status] || a.status) + ", " +
                 (window.hhDateTime ? hhDateTime(a.opened) : a.opened) + ")", { class: "muted small" }));
      tr.append(cell("td", top));
    } else {
      tr.append(cell("td", T("No active alerts"), { class: "muted" }));
    }
    tr.append(cell("td", count(r.alerts.urgent), { class: "num" }),
              cell("td", count(r.alerts.warn), { class: "num" }),
              cell("td", count(r.alerts.info), { class: "num" }),
              cell("td", r.conditions === null ? T("not shared") : r.conditions.join(", ") || "—"),
              cell("td", r.last_reading ? (window.hhDateTime ? hhDateTime(r.last_reading) : r.last_reading) : "—"));
    return tr;
  }

  async function load() {
    const q = new URLSearchParams();
    for (const name of ["level", "status", "q"]) {
      const v = form.elements[name].value.trim();
      if (v) q.set(name, v);
    }
    const r = await fetch("/api/triage?" + q, { headers: { Accept: "application/json" } });
    const body = await r.json();
    if (!r.ok) throw new Error((body.what || r.statusText) + (body.fix ? " — " + body.fix : ""));
    table.tBodies[0].replaceChildren(...body.map(row));
    const alerting = body.filter((x) => x.top_alert).length;
    say(T("%(n)s patients, %(alerting)s with active alerts.", { n: body.length, alerting: alerting }));
    fresh = new Set();
  }

  function reload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => load().catch(fail), 300);
  }

  function fail(err) { say(T("The list could not be loaded: %(error)s", { error: err.message })); }

  form.addEventListener("submit", (ev) => { ev.preventDefault(); load().catch(fail); });
  form.addEventListener("change", () => load().catch(fail));
  load().catch(fail);

  if (window.hhLive) {
    window.hhLive.connect("/api/triage/live", {
      alert(a) {
        fresh.add(a.person_id);
        reload();
        if (a.status === "open") {
          say(T("New alert for %(person)s: %(title)s", { person: a.person_id, title: a.title }));
        }
      },
    });
  }
})();
