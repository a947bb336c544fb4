// Live updates for the dashboard pages: server-sent events from /api/persons/{id}/live or
// /api/triage/live, signed in by the session cookie (same origin).
//
//   const live = hhLive.connect(url, {reading(d) {...}, alert(d) {...}, revoked(d) {...},
//                                     state(s) {...}});   // s: "open", "retrying", "closed"
//   live.close();
//
// After "revoked" the stream stays closed. A dropped connection is resumed by the browser
// (with Last-Event-ID); a refused or failed one is tried again after 1 s, 2 s, 4 s ... up to
// a minute, from the last event received. This file shows and announces nothing: the page
// decides what people see and hear.
"use strict";
(function () {
  const FIRST_WAIT_MS = 1000;
  const LONGEST_WAIT_MS = 60000;

  function connect(url, handlers) {
    const h = handlers || {};
    let source = null;
    let lastId = "";
    let wait = FIRST_WAIT_MS;
    let timer = null;
    let stopped = false;

    function state(s) {
      if (typeof h.state === "function") h.state(s);
    }

    function deliver(name, ev) {
      if (ev.lastEventId) lastId = ev.lastEventId;
      if (typeof h[name] !== "function") return;
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch (err) {
        return; // not ours; nothing to show
      }
      h[name](data);
    }

    function open() {
      timer = null;
      const target = lastId
        ? url + (url.indexOf("?") < 0 ? "?" : "&") + "last_event_id=" + encodeURIComponent(lastId)
        : url;
      source = new EventSource(target);
      source.onopen = function () {
        wait = FIRST_WAIT_MS;
        state("open");
      };
      source.addEventListener("reading", (ev) => deliver("reading", ev));
      source.addEventListener("alert", (ev) => deliver("alert", ev));
      source.addEventListener("revoked", (ev) => {
        close();
        deliver("revoked", ev);
      });
      source.onerror = function () {
        if (stopped) return;
        state("retrying");
        if (source.readyState !== EventSource.CLOSED) return; // the browser reconnects itself
        source.close();
        timer = setTimeout(open, wait * (0.75 + Math.random() / 2));
        wait = Math.min(wait * 2, LONGEST_WAIT_MS);
      };
    }

    function close() {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      if (source) source.close();
      state("closed");
    }

    open();
    return {
      close: close,
      get lastEventId() {
        return lastId;
      },
    };
  }

  window.hhLive = { connect: connect };
})();
