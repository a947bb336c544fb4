"""The patient's data-sharing page: who may see which of my data, grant and revoke, and who
accessed it.

``GET /sharing`` (Rule ``user``) shows a patient their own person's grants (active, not yet
started, expired, revoked) and the access history, read with the same functions the JSON API
serves (``ConsentBook.grants``, ``AuditLog.accesses``). Granting and revoking happen in the
browser through that API (``POST``/``DELETE /api/persons/{id}/consents``, same-origin, session
cookie), which re-checks that the caller is the patient; ``static/sharing.js`` then reloads the
two lists from this page. Everyone else gets a short page saying that sharing is the patient's
decision (admins: where the API is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hyperhealth.delivery.api._deps import get_store
from hyperhealth.delivery.api._guard import AccessDep, Rule, rule
from hyperhealth.delivery.web import _i18n
from hyperhealth.delivery.web._i18n import N_, gettext
from hyperhealth.errors import NotFound
from hyperhealth.security._audit import AuditLog, AuditRecord
from hyperhealth.security._consent import BREAK_GLASS_MAX_MINUTES, ConsentBook, Grant
from hyperhealth.security._model import Actor, Category, Role

router = APIRouter(include_in_schema=False)

#: newest entries of the access history shown (the API serves up to 5000)
ACCESS_LOG_ROWS = 200

#: the 14 consent categories in the words of a patient: (label, what it covers)
CATEGORY_LABELS: dict[Category, tuple[str, str]] = {
    Category.DEMOGRAPHICS: (N_("Basic details"),
                            N_("age, sex and time zone; not your name")),
    Category.IDENTITY: (N_("Name and contact details"),
                        N_("name, address, phone number")),
    Category.VITALS: (N_("Vital signs"),
                      N_("heart rate, heart rate variability, blood pressure, oxygen "
                         "saturation, temperature, weight")),
    Category.CGM: (N_("Glucose"),
                   N_("continuous glucose monitor and finger-stick readings")),
    Category.ACTIVITY: (N_("Physical activity"), N_("steps, energy burned, exercise")),
    Category.SLEEP: (N_("Sleep"), N_("sleep duration and stages")),
    Category.LABS: (N_("Laboratory results"), N_("HbA1c, cholesterol and other tests")),
    Category.CONDITIONS: (N_("Diagnoses and allergies"),
                          N_("health problems, allergies, visits")),
    Category.MEDICATIONS: (N_("Medicines"), N_("what you take and took")),
    Category.GENOMICS: (N_("Genetic data"),
                        N_("genotype, what your genes mean for medicines, genetic risk "
                           "scores")),
    Category.LOCATION: (N_("Places and local environment"),
                        N_("places visited, home area, air quality and weather there")),
    Category.MENTAL_HEALTH: (N_("Mood and mental health"),
                             N_("mood, stress, mental-health conditions")),
    Category.NOTES: (N_("Notes"), N_("your lifestyle notes and notes on alerts")),
    Category.ALERTS: (N_("Alerts and advice"),
                      N_("alerts and advice worked out from the data above")),
}

ROLE_LABELS: dict[str, str] = {
    Role.PATIENT: N_("patient"), Role.CLINICIAN: N_("clinician"),
    Role.CARE_COORDINATOR: N_("care coordinator"), Role.RESEARCHER: N_("researcher"),
    Role.ADMIN: N_("administrator"), Role.DEVICE: N_("device"),
}

PURPOSE_LABELS: dict[str, str] = {"treatment": N_("Your care"), "research": N_("Research")}

STATE_LABELS: dict[str, str] = {"active": N_("Active"), "pending": N_("Not started yet"),
                                "expired": N_("Expired"), "revoked": N_("Revoked")}

OUTCOME_LABELS: dict[str, str] = {"permit": N_("Allowed"), "deny": N_("Refused"),
                                  "break-glass": N_("Emergency access, flagged for review"),
                                  "error": N_("Failed")}

#: what an access to a route did, in plain words (routes as the guard records them)
WHAT: dict[str, str] = {
    "GET /api/persons/{person_id}": N_("Viewed basic details"),
    "GET /api/persons/{person_id}/streams": N_("Viewed the list of measurements"),
    "GET /api/persons/{person_id}/profile": N_("Viewed the health record summary"),
    "GET /api/persons/{person_id}/observations": N_("Viewed readings"),
    "GET /api/persons/{person_id}/export/fhir": N_("Exported the record (FHIR)"),
    "GET /api/persons/{person_id}/advisories": N_("Viewed environment advice"),
    "GET /api/persons/{person_id}/risk": N_("Viewed risk estimates"),
    "GET /api/persons/{person_id}/alerts": N_("Viewed alerts"),
    "GET /api/alerts/{alert_id}": N_("Viewed an alert"),
    "POST /api/alerts/{alert_id}/acknowledge": N_("Acknowledged an alert"),
    "POST /api/alerts/{alert_id}/resolve": N_("Resolved an alert"),
    "POST /api/alerts/{alert_id}/annotate": N_("Added a note to an alert"),
    "POST /api/persons/{person_id}/snooze": N_("Paused notifications"),
    "GET /api/persons/{person_id}/pgx": N_("Viewed pharmacogenomic results"),
    "POST /api/persons/{person_id}/pgx/check-prescription":
        N_("Checked a prescription against the genetic results"),
    "GET /api/persons/{person_id}/consents": N_("Viewed the sharing settings"),
    "POST /api/persons/{person_id}/consents": N_("Granted access"),
    "DELETE /api/persons/{person_id}/consents/{grant_id}": N_("Revoked access"),
    "GET /api/persons/{person_id}/access-log": N_("Viewed the access history"),
    "POST /api/persons/{person_id}/break-glass": N_("Opened emergency access"),
    "GET /persons/{person_id}": N_("Opened the health page"),
}
#: when the route is not in WHAT: by the recorded action
ACTION_LABELS: dict[str, str] = {
    "read": N_("Viewed data"), "search": N_("Searched data"), "create": N_("Added data"),
    "update": N_("Changed data"), "delete": N_("Removed data"), "export": N_("Exported data"),
}
OTHER_ACCESS = N_("Other access")


@dataclass(frozen=True)
class GrantRow:
    """One grant as the page shows it."""

    id: int
    state: str
    state_label: str
    who: str
    who_detail: str
    categories: list[str]
    purpose: str
    period: str
    ended: str
    can_revoke: bool


@dataclass(frozen=True)
class AccessRow:
    """One entry of the access history as the page shows it."""

    when: str
    when_iso: str
    who: str
    role: str
    what: str
    resource: str
    outcome: str
    outcome_label: str
    emergency: bool


def role_label(role: str) -> str:
    """A role in the active language (``care-coordinator`` -> "care coordinator")."""
    return gettext(ROLE_LABELS[role]) if role in ROLE_LABELS else role


def _time(us: int, tz: str) -> tuple[str, str]:
    """(date and time to the minute in ``tz`` and the active language, ISO instant)."""
    from babel.dates import get_datetime_format

    t = datetime.fromtimestamp(us / 1_000_000, UTC)
    locale = _i18n.FORMAT_LOCALE.get(_i18n.current_language(), "en")
    day = _i18n.format_date(t, "medium", tz=tz)
    clock = _i18n.format_time(t, "short", tz=tz)
    joined = str(get_datetime_format("medium", locale=locale))
    return joined.replace("{1}", day).replace("{0}", clock), t.isoformat()


def _date(us: int, tz: str) -> str:
    return _i18n.format_date(datetime.fromtimestamp(us / 1_000_000, UTC), "medium", tz=tz)


def grant_rows(grants: list[Grant], tz: str, names: dict[str, str]) -> list[GrantRow]:
    """The page's view of ``grants`` (in the active language, times in ``tz``); ``names``
    maps usernames to display names."""
    now = datetime.now(UTC).timestamp() * 1_000_000
    rows = []
    for g in grants:
        state = g.state(int(now))
        start = _date(g.start_us, tz)
        if g.end_us is None:
            period = gettext("From %(start)s until you revoke it", start=start)
        else:
            period = gettext("From %(start)s to %(end)s", start=start,
                             end=_date(g.end_us, tz))
        ended = ""
        if g.revoked_us is not None:
            ended = gettext("Revoked on %(date)s by %(name)s",
                            date=_time(g.revoked_us, tz)[0], name=g.revoked_by or "")
        if g.grantee_kind == "team":
            who, detail = g.grantee, gettext("care team")
        else:
            display = names.get(g.grantee, "")
            who = display or g.grantee
            detail = g.grantee if display else ""
        cats = [gettext(CATEGORY_LABELS[c][0]) for c in Category if c in g.categories]
        rows.append(GrantRow(
            id=g.pk, state=state, state_label=gettext(STATE_LABELS[state]), who=who,
            who_detail=detail, categories=cats,
            purpose=gettext(PURPOSE_LABELS.get(str(g.purpose), str(g.purpose))),
            period=period, ended=ended, can_revoke=state in ("active", "pending")))
    return rows


def what_label(record: AuditRecord) -> str:
    """What an access did, in plain words."""
    if record.resource in WHAT:
        return gettext(WHAT[record.resource])
    return gettext(ACTION_LABELS.get(record.action, OTHER_ACCESS))


def access_rows(records: list[AuditRecord], tz: str) -> list[AccessRow]:
    rows = []
    for r in records:
        when, iso = _time(r.t_us, tz)
        rows.append(AccessRow(
            when=when, when_iso=iso, who=r.actor, role=role_label(r.role),
            what=what_label(r), resource=r.resource, outcome=r.outcome,
            outcome_label=gettext(OUTCOME_LABELS.get(r.outcome, r.outcome)),
            emergency=r.outcome == "break-glass"))
    return rows


def _display_names(request: Request, grants: list[Grant]) -> dict[str, str]:
    identity = request.app.state.identity
    out: dict[str, str] = {}
    for name in {g.grantee for g in grants if g.grantee_kind == "user"}:
        try:
            out[name] = identity.user(name).display_name or ""
        except NotFound:
            out[name] = ""
    return out


def sharing_context(request: Request, actor: Actor) -> dict[str, Any]:
    """Everything ``sharing.html`` shows to ``actor`` (in the request's language)."""
    _i18n.activate_for(request)
    ctx: dict[str, Any] = {
        "is_admin": actor.role is Role.ADMIN, "person_id": None,
        "categories": [{"value": c.value, "label": gettext(label), "hint": gettext(hint)}
                       for c, (label, hint) in CATEGORY_LABELS.items()],
        "purposes": [{"value": k, "label": gettext(v)} for k, v in PURPOSE_LABELS.items()],
    }
    if actor.role is not Role.PATIENT or not actor.person_id:
        return ctx
    store = get_store(request)
    try:
        person = store.person(actor.person_id)
    except NotFound:
        return ctx
    grants = ConsentBook(store).grants(person.id)
    log: AuditLog = request.app.state.audit
    ctx.update({
        "person_id": person.id, "tz": person.tz,
        "grants": grant_rows(grants, person.tz, _display_names(request, grants)),
        "accesses": access_rows(log.accesses(person.id, limit=ACCESS_LOG_ROWS), person.tz),
        "access_limit": ACCESS_LOG_ROWS,
        "glass_hours": _i18n.format_number(BREAK_GLASS_MAX_MINUTES / 60),
    })
    return ctx


def _render(request: Request, actor: Actor, name: str, ctx: dict[str, Any]) -> HTMLResponse:
    pages = getattr(request.app.state, "pages", None)
    if pages is not None:  # the site's renderer: user, language, units for base.html
        response: HTMLResponse = pages.render(request, actor, name, ctx)
        return response
    from hyperhealth.delivery.web._render import templates

    return templates().TemplateResponse(request, name, {"user": actor, **ctx})


@router.get("/sharing", response_class=HTMLResponse)
@rule(Rule("user"))
def sharing_page(request: Request, access: AccessDep) -> HTMLResponse:
    """A patient's grants, a form to grant access, and who accessed their data."""
    actor = access.user
    return _render(request, actor, "sharing.html", sharing_context(request, actor))


__all__ = ["CATEGORY_LABELS", "ROLE_LABELS", "role_label", "router", "sharing_context"]
