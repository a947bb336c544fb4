"""The authorisation matrix: every route and page x every role x every consent state.

The expected answer of each cell comes from POLICY below, written from the issue's rules and
kept apart from the rules the code declares (``delivery/api/_guard.Rule``): the test proves the
two agree, that nothing is served where it should not be, and that list routes leave out persons
the caller may not see. A route the table does not know fails the test, so a new route cannot
ship without a decision.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from hyperhealth.delivery.api._guard import rule_of
from hyperhealth.model import Observation, Person
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import ALL_CATEGORIES, Category, Role
from hyperhealth.store import Store
from tests.delivery.alert_rows import raise_alert
from tests.signin import PASSWORD, app_for, login

A, B = "p-a", "p-b"  # the target person and someone else
HOUR_US = 3_600_000_000

# -- the policy, from the issue ----------------------------------------------------------------
# who may call: "public", "user" (any signed-in user; content filtered), "read" (consent for
# the person), "act" (consent, and patient/clinician/coordinator), "manage" (the patient
# themself or an admin), "glass" (clinicians), "admin", "device" (devices and integration
# admins), "staff" (clinicians and coordinators; content filtered)
POLICY: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "public",
    ("POST", "/api/auth/token"): "public",
    ("POST", "/api/auth/revoke"): "public",
    ("POST", "/api/auth/logout"): "user",
    ("GET", "/api/me"): "user",
    ("PUT", "/api/me/preferences"): "user",
    ("GET", "/api/persons"): "user",
    ("GET", "/api/persons/{person_id}"): "read",
    ("GET", "/api/persons/{person_id}/streams"): "read",
    ("GET", "/api/persons/{person_id}/profile"): "read",
    ("GET", "/api/persons/{person_id}/observations"): "read",
    ("GET", "/api/persons/{person_id}/export/fhir"): "read",
    ("GET", "/api/export/ndjson"): "staff",
    ("GET", "/api/persons/{person_id}/advisories"): "read",
    ("GET", "/api/persons/{person_id}/summary"): "read",
    ("GET", "/api/persons/{person_id}/trends"): "read",
    ("GET", "/api/triage"): "staff",
    ("GET", "/api/triage/live"): "staff",
    ("GET", "/api/persons/{person_id}/live"): "read",
    ("GET", "/api/persons/{person_id}/risk"): "read",
    ("POST", "/api/risk/{equation}"): "user",
    ("GET", "/api/risk"): "user",
    ("GET", "/api/alerts"): "user",
    ("GET", "/api/persons/{person_id}/alerts"): "read",
    ("GET", "/api/alerts/{alert_id}"): "read",
    ("POST", "/api/alerts/{alert_id}/acknowledge"): "act",
    ("POST", "/api/alerts/{alert_id}/resolve"): "act",
    ("POST", "/api/alerts/{alert_id}/annotate"): "act",
    ("POST", "/api/persons/{person_id}/snooze"): "act",
    ("POST", "/api/webhooks"): "admin",
    ("GET", "/api/persons/{person_id}/pgx"): "read",
    ("POST", "/api/persons/{person_id}/pgx/check-prescription"): "read",
    ("POST", "/api/ingest/device"): "device",
    ("POST", "/api/ingest/fhir"): "admin",
    ("POST", "/api/edge/alerts"): "device",
    ("GET", "/api/persons/{person_id}/consents"): "manage",
    ("POST", "/api/persons/{person_id}/consents"): "manage",
    ("DELETE", "/api/persons/{person_id}/consents/{grant_id}"): "manage",
    ("GET", "/api/persons/{person_id}/access-log"): "manage",
    ("POST", "/api/persons/{person_id}/break-glass"): "glass",
    ("GET", "/api/break-glass"): "admin",
    ("POST", "/api/break-glass/{session_id}/review"): "admin",
    ("GET", "/api/users"): "admin",
    ("POST", "/api/users"): "admin",
    ("GET", "/api/audit/verify"): "admin",
    # web pages
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "public",
    ("GET", "/"): "user",
    ("POST", "/language"): "public",
    ("GET", "/sharing"): "user",
    ("GET", "/persons"): "user",
    ("GET", "/clinic"): "staff",
    ("GET", "/settings"): "user",
    ("POST", "/settings"): "user",
    ("GET", "/persons/{person_id}"): "read",
    ("GET", "/static/vendor/plotly.min.js"): "public",
}
#: FastAPI's own documentation routes and the static files: no personal data, no rule needed
UNGUARDED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/static"}


@dataclass(frozen=True)
class Caller:
    name: str
    role: str  # anonymous, patient, clinician, care-coordinator, researcher, admin, device
    has_a: bool  # consent (or self, or break-glass) covers person A now


CALLERS = [
    Caller("anonymous", "anonymous", False),
    Caller("patient-a", "patient", True),
    Caller("patient-b", "patient", False),
    Caller("dr-granted", "clinician", True),
    Caller("dr-revoked", "clinician", False),
    Caller("dr-expired", "clinician", False),
    Caller("dr-glass", "clinician", True),
    Caller("dr-none", "clinician", False),
    Caller("cc-granted", "care-coordinator", True),
    Caller("cc-revoked", "care-coordinator", False),
    Caller("cc-expired", "care-coordinator", False),
    Caller("researcher", "researcher", False),
    Caller("admin", "admin", False),
    Caller("device-a", "device", False),
    Caller("device-b", "device", False),
]


def allowed(policy: str, c: Caller) -> bool:
    if policy == "public":
        return True
    if c.role == "anonymous":
        return False
    return {
        "user": True,
        "read": c.has_a,
        "act": c.has_a and c.role in ("patient", "clinician", "care-coordinator"),
        "manage": c.name == "patient-a" or c.role == "admin",
        "glass": c.role == "clinician",
        "admin": c.role == "admin",
        "device": c.role in ("device", "admin"),
        "staff": c.role in ("clinician", "care-coordinator"),
    }[policy]


# -- the world -----------------------------------------------------------------------------------
@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]
    alert_a: int
    grant_a: int
    session: int
    identity_words: list[str]


def _build(store: Store) -> World:
    with store.transaction() as w:
        w.upsert_person(Person(A, birth_date=date(1961, 4, 2), sex_at_birth="female",
                               identity={"name": "Aurelia Quintanilla-Brook",
                                         "phone": "+1-555-0142"}))
        w.upsert_person(Person(B, birth_date=date(1975, 9, 9), sex_at_birth="male"))
        w.register_device("dev-a", A)
        w.register_device("dev-b", B)
    from datetime import UTC, datetime, timedelta
    t = datetime.now(UTC) - timedelta(hours=2)
    with store.transaction() as w:
        w.add_observations([Observation(A, "8867-4", t + timedelta(minutes=i), 70.0 + i, "/min",
                                         source="test") for i in range(30)])
    identity, consents = Identity(store), ConsentBook(store)
    users = {"patient-a": (Role.PATIENT, A), "patient-b": (Role.PATIENT, B),
             "researcher": (Role.RESEARCHER, None), "admin": (Role.ADMIN, None)}
    for c in CALLERS:
        if c.role in ("clinician", "care-coordinator"):
            users[c.name] = (Role(c.role), None)
    for name, (role, pid) in users.items():
        identity.create_user(name, role, PASSWORD, person_id=pid)
    patient = identity.user("patient-a").actor()
    now = time.time_ns() // 1000
    grant_a = 0
    for name in users:
        if name.endswith("-granted"):
            grant_a = consents.grant(A, name, ALL_CATEGORIES, by=patient).pk
        elif name.endswith("-revoked"):
            g = consents.grant(A, name, ALL_CATEGORIES, by=patient)
            consents.revoke(A, g.pk, by=patient)
        elif name.endswith("-expired"):
            consents.grant(A, name, ALL_CATEGORIES, by=patient, start_us=now - 2 * HOUR_US,
                           end_us=now - HOUR_US)
    # everyone but the target may see B, so "no access to A" is not "no access at all"
    for name in users:
        if name.startswith(("dr-", "cc-")):
            consents.grant(B, name, ALL_CATEGORIES, by=identity.user("patient-b").actor())
    session = consents.break_glass(identity.user("dr-glass").actor(), A,
                                   "collapsed in clinic, unable to consent", minutes=30).pk
    alert_a = raise_alert(store, A)
    raise_alert(store, B)
    tokens = {name: login(store, name) for name in users}
    tokens["device-a"] = identity.register_device_secret("dev-a")
    tokens["device-b"] = identity.register_device_secret("dev-b")
    client = TestClient(app_for(store), raise_server_exceptions=False, follow_redirects=False)
    return World(client, tokens, alert_a, grant_a, session,
                 ["Aurelia Quintanilla-Brook", "+1-555-0142"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('authz') / 'hh.sqlite'}")
    w = _build(store)
    with w.client:
        yield w
    store.close()


def walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) of every route, through included routers (FastAPI >= 0.165 keeps
    ``include_router`` results as ``_IncludedRouter`` objects)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from walk(inner.routes, prefix + r.include_context.prefix)
        else:
            yield prefix + getattr(r, "path", ""), r


def _routes(world: World) -> list[tuple[str, str]]:
    out = []
    for path, r in walk(world.client.app.routes):  # type: ignore[attr-defined]
        if isinstance(r, APIRoute):
            for m in sorted(r.methods - {"HEAD"}):
                out.append((m, path))
    return out


def _url(world: World, path: str) -> str:
    return (path.replace("{person_id}", A).replace("{alert_id}", str(world.alert_a))
            .replace("{grant_id}", str(world.grant_a))
            .replace("{session_id}", str(world.session)).replace("{equation}", "pce"))


# -- the tests -------------------------------------------------------------------------------------
def test_every_route_has_a_rule_and_a_row(world: World) -> None:
    """A new route without a declared rule, or unknown to POLICY, fails here."""
    app = world.client.app
    missing_rule, missing_row = [], []
    for path, r in walk(app.routes):  # type: ignore[attr-defined]
        if not isinstance(r, APIRoute):
            assert path in UNGUARDED, f"unguarded route {path}: {r}"
            continue
        if rule_of(r.endpoint) is None:
            missing_rule.append(path)
        for m in r.methods - {"HEAD"}:
            if (m, path) not in POLICY:
                missing_row.append(f"{m} {path}")
    assert not missing_rule, f"routes without an access rule: {missing_rule}"
    assert not missing_row, f"routes the authorisation matrix does not cover: {missing_row}"
    stale = set(POLICY) - set(_routes(world))
    assert not stale, f"POLICY names routes that no longer exist: {stale}"


def _call(world: World, caller: Caller, method: str, path: str) -> Any:
    headers = {}
    if caller.name in world.tokens:
        headers["Authorization"] = f"Bearer {world.tokens[caller.name]}"
    url = _url(world, path)
    if method == "GET" and path.endswith("/observations"):
        url += "?code=8867-4"
    if method == "GET" and path.endswith("/live"):  # one poll, then the stream ends
        url += "?once=true"
    # a harmless body: authorisation is decided before the body is read, and the write
    # routes that an allowed caller reaches answer 4xx on it rather than change anything
    # important (the snooze and note routes do act, which is fine for the matrix)
    kw: dict[str, Any] = {}
    if method in ("POST", "PUT"):
        kw["json"] = {}
    if method == "DELETE":  # revoking would change the world for later cells
        url = url.rsplit("/", 1)[0] + "/999999"
    return world.client.request(method, url, headers=headers, **kw)


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.name)
def test_matrix(world: World, caller: Caller) -> None:
    """Each route, for this caller: refused exactly where POLICY refuses, and never a leak."""
    wrong = []
    for method, path in _routes(world):
        policy = POLICY[(method, path)]
        if path in ("/api/auth/logout", "/logout"):  # would end the caller's session
            continue
        r = _call(world, caller, method, path)
        refused = r.status_code in (401, 403) or (
            r.status_code == 303 and "/login" in r.headers.get("location", ""))
        expect_ok = allowed(policy, caller)
        if expect_ok == refused and not (policy == "public" and r.status_code == 401):
            wrong.append(f"{method} {path}: {r.status_code} (policy {policy}, "
                         f"{'allowed' if expect_ok else 'refused'} expected)")
        assert r.status_code < 500, f"{method} {path} as {caller.name}: {r.text[:300]}"
        if refused or not caller.has_a:
            for word in world.identity_words:  # direct identifiers never leak
                assert word not in r.text, f"{method} {path} leaked an identifier"
        own_account = path == "/api/me" and caller.name == "device-a"  # its owner's id
        if not caller.has_a and r.status_code == 200 and policy in ("user", "staff") \
                and not own_account:
            assert A not in r.text, f"{method} {path} lists person A to {caller.name}"
    assert not wrong, "\n".join(wrong)


def test_device_writes_only_for_itself(world: World) -> None:
    c, tok = world.client, world.tokens["device-a"]
    h = {"Authorization": f"Bearer {tok}"}
    r = c.post("/api/ingest/device", params={"device_id": "dev-b"}, headers=h, json=[])
    assert r.status_code == 403 and "itself" in r.json()["what"]
    r = c.post("/api/ingest/device", params={"person": B}, headers=h, json=[])
    assert r.status_code == 403
    r = c.get(f"/api/persons/{A}", headers=h)  # devices write; they do not read
    assert r.status_code == 403


def test_partial_grant_cuts_content(world: World, tmp_path: Any) -> None:
    """A grant of vitals only: heart rate is served, the rest of the record is not."""
    store: Store = world.client.app.state.store  # type: ignore[attr-defined]
    identity, consents = Identity(store), ConsentBook(store)
    identity.create_user("dr-vitals", Role.CLINICIAN, PASSWORD)
    consents.grant(A, "dr-vitals", [Category.VITALS], by=identity.user("patient-a").actor())
    h = {"Authorization": f"Bearer {login(store, 'dr-vitals')}"}
    c = world.client
    assert c.get(f"/api/persons/{A}/observations?code=8867-4", headers=h).status_code == 200
    assert c.get(f"/api/persons/{A}/observations?code=99504-3", headers=h).status_code == 403
    assert c.get(f"/api/persons/{A}", headers=h).status_code == 403  # no demographics
    assert c.get(f"/api/persons/{A}/alerts", headers=h).status_code == 403
    prof = c.get(f"/api/persons/{A}/profile", headers=h).json()
    assert prof["conditions"] == [] and prof["medications"] == [] and prof["genotypes"] == []
    bundle = c.get(f"/api/persons/{A}/export/fhir", headers=h).json()
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert kinds <= {"Patient", "Observation"}
    patient = next(e["resource"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    assert "name" not in patient and "telecom" not in patient


def test_revocation_takes_effect_on_the_next_request(world: World) -> None:
    store: Store = world.client.app.state.store  # type: ignore[attr-defined]
    identity, consents = Identity(store), ConsentBook(store)
    identity.create_user("dr-brief", Role.CLINICIAN, PASSWORD)
    patient = identity.user("patient-a").actor()
    g = consents.grant(A, "dr-brief", ALL_CATEGORIES, by=patient)
    h = {"Authorization": f"Bearer {login(store, 'dr-brief')}"}
    assert world.client.get(f"/api/persons/{A}/alerts", headers=h).status_code == 200
    hp = {"Authorization": f"Bearer {world.tokens['patient-a']}"}
    r = world.client.delete(f"/api/persons/{A}/consents/{g.pk}", headers=hp)
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    assert world.client.get(f"/api/persons/{A}/alerts", headers=h).status_code == 403
    # and the patient sees both the access and the refusal in their access log
    log = world.client.get(f"/api/persons/{A}/access-log", headers=hp).json()
    mine = [(e["outcome"]) for e in log if e["actor"] == "dr-brief"]
    assert mine[:2] == ["deny", "permit"]


def test_break_glass_is_flagged_and_reviewable(world: World) -> None:
    store: Store = world.client.app.state.store  # type: ignore[attr-defined]
    h = {"Authorization": f"Bearer {world.tokens['dr-glass']}"}
    assert world.client.get(f"/api/persons/{A}/alerts", headers=h).status_code == 200
    hp = {"Authorization": f"Bearer {world.tokens['patient-a']}"}
    log = world.client.get(f"/api/persons/{A}/access-log", headers=hp).json()
    assert any(e["actor"] == "dr-glass" and e["outcome"] == "break-glass" for e in log)
    ha = {"Authorization": f"Bearer {world.tokens['admin']}"}
    pending = world.client.get("/api/break-glass", headers=ha).json()
    assert [p["id"] for p in pending] == [world.session]
    assert pending[0]["reason"].startswith("collapsed")
    r = world.client.post(f"/api/break-glass/{world.session}/review", headers=ha,
                          json={"note": "checked with the ED record"})
    assert r.status_code == 200 and r.json()["reviewed_by"] == "admin"
    short = world.client.post(f"/api/persons/{B}/break-glass", headers=h,
                              json={"reason": "x", "minutes": 10})
    assert short.status_code == 422  # a reason is required
    del store
