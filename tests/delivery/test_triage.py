"""The triage panel on both backends: order, filters, and what consent lets a caller see."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import NoMatchFound

from hyperhealth.actions.alerts import AlertBook
from hyperhealth.actions.levels import Level
from hyperhealth.delivery.api import _live, _triage
from hyperhealth.delivery.api._triage import visible_categories
from hyperhealth.model import Condition, Observation, Person
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import ALL_CATEGORIES, SYSTEM, Category, Role
from hyperhealth.store import Store
from tests import signin
from tests.delivery.alert_rows import raise_alert
from tests.signin import PASSWORD, login

NOW = datetime.now(UTC).replace(microsecond=0)
#: the persons of the panel, in the order the docstring of GET /api/triage promises
ORDER = ["p-d", "p-b", "p-a", "p-c", "p-e", "p-f", "p-g", "p-h", "p-i", "p-j"]


def app_for(store: Store, *, web: bool = False) -> FastAPI:
    """The real app with the triage and live routes (included here until _app.py has them)."""
    app = signin.app_for(store, web=web)
    for name, router in (("triage", _triage.router), ("person_live", _live.router)):
        try:
            app.url_path_for(name, **({"person_id": "x"} if name == "person_live" else {}))
        except NoMatchFound:
            app.include_router(router)
    return app


@dataclass
class Panel:
    client: TestClient
    store: Store
    alerts: dict[str, int]
    tokens: dict[str, str]
    grants: dict[str, int]

    def get(self, who: str, **params: Any) -> Any:
        return self.client.get("/api/triage", params=params,
                               headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def rows(self, who: str, **params: Any) -> list[dict[str, Any]]:
        r = self.get(who, **params)
        assert r.status_code == 200, r.text
        body: list[dict[str, Any]] = r.json()
        return body

    def ids(self, who: str, **params: Any) -> list[str]:
        return [row["person_id"] for row in self.rows(who, **params)]


def _hr(pid: str, t: datetime) -> Observation:
    return Observation(pid, "8867-4", t, 72.0, "/min", source="test")


@pytest.fixture
def panel(sqlite_store: Store) -> Iterator[Panel]:
    yield from _panel(sqlite_store)


@pytest.fixture
def panel_both(store: Store) -> Iterator[Panel]:
    """:func:`panel` on SQLite and on PostgreSQL."""
    yield from _panel(store)


def _panel(store: Store) -> Iterator[Panel]:
    """Ten persons with alerts made by the real lifecycle, and callers with different grants.

    - p-d: two urgent open alerts, opened latest (more alerts at the top level come first)
    - p-b: one urgent open, opened first; p-a: one urgent open, opened later
    - p-c: one urgent acknowledged
    - p-e: one warn open; p-f: a warn acknowledged and an info open
    - p-g, p-h: no active alert (p-j's only alert is resolved), p-g read more recently;
      p-i and p-j have no readings
    """
    with store.transaction() as w:
        for pid in ORDER:
            w.upsert_person(Person(pid, birth_date=date(1961, 4, 2), sex_at_birth="female"))
        w.add_observations([_hr("p-g", NOW - timedelta(minutes=5)),
                            _hr("p-h", NOW - timedelta(hours=3)),
                            _hr("p-a", NOW - timedelta(minutes=50)),
                            Observation("p-a", "2339-0", NOW - timedelta(minutes=1), 140.0,
                                        "mg/dL", source="test")])
        w.add_conditions([Condition("p-h", "44054006", "Type 2 diabetes mellitus",
                                    onset=date(2015, 3, 1)),
                          Condition("p-a", "38341003", "Hypertensive disorder",
                                    onset=date(2010, 1, 1)),
                          Condition("p-a", "195967001", "Asthma", onset=date(2001, 1, 1),
                                    clinical_status="resolved")])
    book = AlertBook(store)
    a: dict[str, int] = {
        "d1": raise_alert(store, "p-d", rule="spo2", minutes=30),
        "d2": raise_alert(store, "p-d", rule="heart_rate_high", key="high", minutes=40,
                          title="Very high heart rate"),
        "b": raise_alert(store, "p-b", minutes=0),
        "a": raise_alert(store, "p-a", minutes=10),
        "c": raise_alert(store, "p-c", minutes=0),
        "e": raise_alert(store, "p-e", level=Level.WARN, rule="glucose", key="high",
                         minutes=5, title="High glucose"),
        "f_warn": raise_alert(store, "p-f", level=Level.WARN, rule="glucose", key="high",
                              minutes=1, title="High glucose"),
        "f_info": raise_alert(store, "p-f", level=Level.INFO, rule="sleep_deficit", key="",
                              minutes=2, title="Short sleep"),
        "j": raise_alert(store, "p-j", level=Level.WARN, rule="glucose", key="high"),
    }
    book.acknowledge(a["c"], "someone")
    book.acknowledge(a["f_warn"], "someone")
    book.resolve(a["j"], "someone")

    identity, consents = Identity(store), ConsentBook(store)
    identity.create_user("pat-a", Role.PATIENT, PASSWORD, person_id="p-a")
    identity.create_user("res", Role.RESEARCHER, PASSWORD)
    identity.create_user("adm", Role.ADMIN, PASSWORD)
    identity.create_user("dr-all", Role.CLINICIAN, PASSWORD)  # everything of everyone
    identity.create_user("cc-team", Role.CARE_COORDINATOR, PASSWORD, teams=["ward-7"])
    identity.create_user("dr-alerts", Role.CLINICIAN, PASSWORD)  # p-a: alerts only
    identity.create_user("dr-vitals", Role.CLINICIAN, PASSWORD)  # p-a: no alerts
    identity.create_user("dr-glass", Role.CLINICIAN, PASSWORD)  # p-b by break-glass
    grants = {pid: consents.grant(pid, "dr-all", ALL_CATEGORIES, by=SYSTEM).pk
              for pid in ORDER}
    consents.grant("p-e", "ward-7", [Category.ALERTS], grantee_kind="team", by=SYSTEM)
    grants["alerts-only"] = consents.grant("p-a", "dr-alerts", [Category.ALERTS],
                                           by=SYSTEM).pk
    consents.grant("p-a", "dr-vitals", [Category.VITALS, Category.DEMOGRAPHICS,
                                        Category.CONDITIONS], by=SYSTEM)
    consents.break_glass(identity.user("dr-glass").actor(), "p-b",
                         "found unresponsive at home visit")
    tokens = {u: login(store, u) for u in ("pat-a", "res", "adm", "dr-all", "cc-team",
                                           "dr-alerts", "dr-vitals", "dr-glass")}
    with TestClient(app_for(store), raise_server_exceptions=True) as client:
        yield Panel(client, store, a, tokens, grants)


def test_order_follows_the_documented_priority(panel_both: Panel) -> None:
    panel = panel_both
    rows = panel.rows("dr-all")
    assert [r["person_id"] for r in rows] == ORDER
    by = {r["person_id"]: r for r in rows}
    d = by["p-d"]
    assert d["alerts"]["urgent"] == {"open": 2, "acknowledged": 0} and d["alerts"]["total"] == 2
    # the top alert is the one waiting longest at the highest level
    assert d["top_alert"]["id"] == panel.alerts["d1"]
    assert d["top_alert"]["level"] == "urgent" and d["top_alert"]["status"] == "open"
    assert d["top_alert"]["explanation"].startswith("SpO2")
    f = by["p-f"]
    assert f["alerts"]["warn"] == {"open": 0, "acknowledged": 1}
    assert f["alerts"]["info"] == {"open": 1, "acknowledged": 0}
    assert f["top_alert"]["id"] == panel.alerts["f_warn"]  # warn outranks info, acked or not
    assert by["p-j"]["top_alert"] is None and by["p-j"]["alerts"]["total"] == 0
    a = by["p-a"]
    assert a["age"] == NOW.date().year - 1961 - ((NOW.month, NOW.day) < (4, 2))
    assert a["sex_at_birth"] == "female"
    assert a["conditions"] == ["Hypertensive disorder"]  # the resolved asthma is left out
    assert datetime.fromisoformat(a["last_reading"]) == NOW - timedelta(minutes=1)
    assert by["p-i"]["last_reading"] is None and by["p-i"]["conditions"] == []


def test_filters(panel: Panel) -> None:
    assert panel.ids("dr-all", level="urgent") == ["p-d", "p-b", "p-a", "p-c"]
    assert panel.ids("dr-all", level="warn") == ["p-d", "p-b", "p-a", "p-c", "p-e", "p-f"]
    assert panel.ids("dr-all", status="open") == ["p-d", "p-b", "p-a", "p-e", "p-f"]
    acked = panel.rows("dr-all", status="acknowledged")
    assert [r["person_id"] for r in acked] == ["p-c", "p-f"]
    # the counts and the top alert describe the alerts the filter keeps
    assert acked[1]["alerts"]["info"]["open"] == 0 and acked[1]["alerts"]["total"] == 1
    assert panel.ids("dr-all", status="any-active") == ORDER[:6]
    assert panel.ids("dr-all", rule="glucose") == ["p-e", "p-f"]
    assert panel.ids("dr-all", rule="glucose", status="open") == ["p-e"]
    assert panel.ids("dr-all", q="P-D") == ["p-d"]
    assert panel.ids("dr-all", q="diabetes") == ["p-h"]  # condition text, case ignored
    assert panel.ids("dr-all", q="asthma") == []  # resolved conditions do not match
    assert panel.ids("dr-all", limit=2) == ["p-d", "p-b"]
    assert panel.ids("dr-all", limit=8) == ORDER[:8]
    assert panel.get("dr-all", level="severe").status_code == 422
    assert panel.get("dr-all", status="resolved").status_code == 422
    assert panel.get("dr-all", limit=0).status_code == 422


def test_consent_decides_rows_and_fields(panel_both: Panel) -> None:
    panel = panel_both
    # alerts only: a row, without demographics, conditions or readings
    (row,) = panel.rows("dr-alerts")
    assert row["person_id"] == "p-a" and row["top_alert"]["id"] == panel.alerts["a"]
    assert row["age"] is None and row["sex_at_birth"] is None and row["conditions"] is None
    assert row["last_reading"] is None
    # vitals, demographics and conditions but no alerts: no row at all
    assert panel.rows("dr-vitals") == []
    assert panel.ids("cc-team") == ["p-e"]  # through the team's grant
    assert panel.ids("dr-glass") == ["p-b"]  # break-glass shows everything of that person
    assert panel.rows("dr-glass")[0]["age"] is not None
    # a clinician granted vitals but not glucose: the last reading is the heart rate
    c = ConsentBook(panel.store)
    c.grant("p-a", "dr-vitals", [Category.ALERTS], by=SYSTEM)
    (row,) = panel.rows("dr-vitals")
    assert datetime.fromisoformat(row["last_reading"]) == NOW - timedelta(minutes=50)
    # revoking removes the row at the next call
    c.revoke("p-a", panel.grants["alerts-only"], by=SYSTEM)
    assert panel.rows("dr-alerts") == []
    c.revoke("p-a", panel.grants["p-a"], by=SYSTEM)
    assert "p-a" not in panel.ids("dr-all")


@pytest.mark.parametrize("who", ["pat-a", "res", "adm"])
def test_only_staff(panel: Panel, who: str) -> None:
    r = panel.get(who)
    assert r.status_code == 403 and "p-" not in r.text
    assert panel.client.get("/api/triage").status_code == 401


def test_batched_visibility_agrees_with_decide(panel_both: Panel) -> None:
    """The panel's one-query consent answers equal ConsentBook.decide, person by person."""
    panel = panel_both
    identity, consents = Identity(panel.store), ConsentBook(panel.store)
    consents.grant("p-c", "dr-glass", [Category.VITALS], by=SYSTEM)  # glass + grant elsewhere
    expired = consents.grant("p-d", "dr-alerts", [Category.ALERTS], by=SYSTEM,
                             start_us=1, end_us=2)
    assert expired.state(10) == "expired"
    for name in ("dr-all", "cc-team", "dr-alerts", "dr-vitals", "dr-glass", "pat-a", "res",
                 "adm"):
        actor = identity.user(name).actor()
        batched = visible_categories(panel.store, actor)
        one_by_one = {pid: consents.decide(actor, pid).categories for pid in ORDER}
        assert batched == {pid: c for pid, c in one_by_one.items() if c}, name


def test_every_alert_is_active_or_counted_once(panel: Panel) -> None:
    """The totals add up to the active alerts the alert list shows the same caller."""
    rows = panel.rows("dr-all")
    listed = panel.client.get("/api/alerts", params={"limit": 1000}, headers={
        "Authorization": f"Bearer {panel.tokens['dr-all']}"}).json()
    assert sum(r["alerts"]["total"] for r in rows) == len(listed) == 8
