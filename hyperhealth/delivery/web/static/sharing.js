// The data-sharing page: give and revoke access through the JSON API, then reload the lists.
//
// Writes go to POST/DELETE /api/persons/{id}/consents with the session cookie (same origin;
// the server refuses cookie writes from other sites). After each change the two lists are
// re-read from /sharing, so what the page shows is always what the server holds, and the
// result is announced in the status region.
(function () {
  "use strict";

  var hhT = window.hhT || function (text, values) {
    return text.replace(/%\((\w+)\)s/g, function (all, name) {
      return values && name in values ? String(values[name]) : all;
    });
  };
  var grants = document.getElementById("grants");
  var form = document.getElementById("grant-form");
  var status = document.getElementById("sharing-status");
  if (!grants || !form || !status) return;
  var person = grants.getAttribute("data-person");
  var base = "/api/persons/" + encodeURIComponent(person) + "/consents";

  function say(text, isError) {
    status.classList.toggle("error", !!isError);
    // clear first so that the same message twice is announced twice
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  async function reason(resp) {
    try {
      var p = await resp.json();
      var text = [p.what, p.fix].filter(Boolean).join(". ");
      if (text) return text;
    } catch (e) { /* not a problem body */ }
    return hhT("the server answered %(status)s", { status: resp.status });
  }

  // re-read both lists from the server; false when that failed (the change itself was made)
  async function reload() {
    try {
      var resp = await fetch("/sharing", { credentials: "same-origin" });
      if (!resp.ok) return false;
      var doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      ["grants", "accesses"].forEach(function (id) {
        var fresh = doc.getElementById(id);
        var here = document.getElementById(id);
        if (fresh && here) here.innerHTML = fresh.innerHTML;
      });
      return true;
    } catch (e) {
      return false;
    }
  }

  function stale(ok) {
    return ok ? "" : " " + hhT("Reload the page to see the updated list.");
  }

  async function send(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json", "Accept": "application/json" }
        : { "Accept": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
  }

  // the end of the chosen day in the browser's time zone, as an ISO instant
  function endOf(day) {
    if (!day) return null;
    var parts = day.split("-").map(Number);
    if (parts.length !== 3 || parts.some(isNaN)) return undefined;
    return new Date(parts[0], parts[1] - 1, parts[2] + 1).toISOString();
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var grantee = form.elements.grantee.value.trim();
    var kind = form.querySelector("input[name=grantee_kind]:checked");
    var cats = Array.prototype.map.call(
      form.querySelectorAll("input[name=categories]:checked"), function (c) { return c.value; });
    if (!grantee) {
      say(hhT("Enter the username of the person, or the name of the care team."), true);
      form.elements.grantee.focus();
      return;
    }
    if (!cats.length) {
      say(hhT("Choose at least one kind of data to share."), true);
      form.querySelector("input[name=categories]").focus();
      return;
    }
    var end = endOf(form.elements.end.value);
    if (end === undefined) {
      say(hhT("The end date is not a valid date."), true);
      form.elements.end.focus();
      return;
    }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      var resp = await send("POST", base, {
        grantee: grantee, grantee_kind: kind ? kind.value : "user", categories: cats,
        purpose: form.elements.purpose.value, end: end,
      });
      if (!resp.ok) {
        say(hhT("Access was not given: %(reason)s", { reason: await reason(resp) }), true);
        return;
      }
      form.reset();
      var fresh = await reload();
      say(hhT("%(name)s can now see the data you chose.", { name: grantee }) + stale(fresh));
    } catch (e) {
      say(hhT("Access was not given: the server could not be reached. Try again."), true);
    } finally {
      button.disabled = false;
    }
  });

  grants.addEventListener("click", async function (ev) {
    var button = ev.target.closest("button[data-revoke]");
    if (!button) return;
    var who = button.getAttribute("data-who");
    button.disabled = true;
    try {
      var resp = await send("DELETE", base + "/" + encodeURIComponent(button.getAttribute("data-revoke")));
      if (!resp.ok) {
        button.disabled = false;
        say(hhT("Access was not revoked: %(reason)s", { reason: await reason(resp) }), true);
        return;
      }
      var fresh = await reload();
      say(hhT("Access for %(name)s is revoked. It ended now.", { name: who }) + stale(fresh));
      var heading = document.getElementById("grants-h");
      if (heading) heading.focus();
    } catch (e) {
      button.disabled = false;
      say(hhT("Access was not revoked: the server could not be reached. Try again."), true);
    }
  });
})();
