"""Alerts: the triage list, one alert with its history, acting on alerts, snooze, webhooks.

Who acts is the signed-in user (the guard checks their consent for the person's alerts); a
``by`` in a request body is ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, model_validator

from hyperhealth.actions.alerts import Alert, AlertBook
from hyperhealth.actions.levels import Level
from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import Access, AccessDep, Rule, rule, visible_persons
from hyperhealth.errors import InputError, NotFound
from hyperhealth.security._model import Category, Role
from hyperhealth.store import Store

router = APIRouter(tags=["alerts"])

LevelName = Literal["info", "warn", "urgent"]
StatusName = Literal["open", "acknowledged", "resolved", "suppressed"]

#: the longest snooze (a product limit, so a forgotten snooze cannot silence alerts for long)
MAX_SNOOZE = timedelta(days=7)
MAX_LIMIT = 1000

_UNVERIFIED = "The action is recorded under the signed-in user."
#: who may act on alerts they can see
_ACTORS = frozenset({Role.PATIENT, Role.CLINICIAN, Role.CARE_COORDINATOR})


# -- models ---------------------------------------------------------------------------------------
class AlertOut(BaseModel):
    """An alert as stored, with the evidence a clinician needs to check it."""

    id: int
    person_id: str
    rule: str = Field(description="the rule (detector) that raised it")
    key: str = Field(description="which condition of the rule (e.g. 'low', 'high')")
    rule_version: str
    level: LevelName = Field(description="info: when convenient; warn: today; urgent: now")
    status: StatusName = Field(description="open, acknowledged, resolved, or suppressed (over "
                                           "the person's daily budget of non-urgent alerts)")
    title: str
    explanation: str = Field(description="what was found, in plain language")
    evidence: dict[str, Any] = Field(description="values, baseline, threshold and the like")
    citation: str = Field(description="the source of the threshold or method")
    opened: datetime = Field(description="data time of the first finding")
    last_seen: datetime = Field(description="data time of the newest finding")
    resolved: datetime | None
    acknowledged_by: str | None
    acknowledged: datetime | None
    notifications: int = Field(description="notifications sent for it so far")
    escalation: int = Field(description="0 none, 1 re-notified, 2 care team told")

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        return cls.model_validate(a.to_dict())


class AlertEvent(BaseModel):
    at: datetime
    actor: str = Field(description="'engine' or the user who acted")
    action: str = Field(description="opened, held, acknowledged, annotated, resolved, ...")
    detail: dict[str, Any]


class AlertDetail(AlertOut):
    history: list[AlertEvent] = Field(description="every change, oldest first")


class ActionIn(BaseModel):
    by: str | None = Field(default=None, max_length=200,
                           description="ignored (kept for old clients). " + _UNVERIFIED)
    note: str = Field(default="", max_length=4000)


class NoteIn(ActionIn):
    note: str = Field(min_length=1, max_length=4000, description="the annotation")


class SnoozeIn(BaseModel):
    """Give ``until`` or ``minutes``, not both."""

    level: LevelName = Field(description="hold notifications of this level and the levels "
                                         "below it")
    until: datetime | None = Field(default=None, description="ISO-8601 with an offset")
    minutes: int | None = Field(default=None, ge=1,
                                le=int(MAX_SNOOZE.total_seconds() // 60))
    by: str | None = Field(default=None, max_length=200,
                           description="ignored (kept for old clients). " + _UNVERIFIED)

    @model_validator(mode="after")
    def _one_end(self) -> SnoozeIn:
        if (self.until is None) == (self.minutes is None):
            raise ValueError("give either until or minutes (one of them)")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("until has no time zone; add Z or an offset such as +02:00")
        return self


class SnoozeOut(BaseModel):
    person_id: str
    level: LevelName
    until: datetime
    by: str


class WebhookIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, description="http(s) URL that receives "
                                                              "POSTs of alert notifications")
    person_id: str | None = Field(default=None,
                                  description="only this person's alerts (default: everyone's)")
    min_level: LevelName = "warn"
    care_team: bool = Field(default=False, description="receives escalations of unacknowledged "
                                                       "urgent alerts instead of the alerts")


class WebhookOut(BaseModel):
    id: int
    url: str
    person_id: str | None
    min_level: LevelName
    care_team: bool
    secret: str = Field(description="shown only in this answer: the HMAC-SHA256 key of the "
                                    "X-Hyperhealth-Signature header; store it now")


# -- routes ---------------------------------------------------------------------------------------
StatusQ = Annotated[list[StatusName] | None, Query(
    description="repeat for several (status=open&status=acknowledged); default: open and "
                "acknowledged")]
MinLevelQ = Annotated[LevelName, Query(description="leave out alerts below this level")]
LimitQ = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many alerts")]


def _find(store: Store, person_id: str | None, status: list[StatusName] | None,
          min_level: LevelName, limit: int, persons: list[str] | None = None) -> list[AlertOut]:
    alerts = AlertBook(store).find(person_id, status=status, min_level=Level.parse(min_level),
                                   limit=limit, persons=persons)
    return [AlertOut.of(a) for a in alerts]


@router.get("/api/alerts", response_model=list[AlertOut], responses=responses(404, 422),
            summary="Alerts, most urgent first")
@rule(Rule("user"))
def list_alerts(
    store: StoreDep,
    access: AccessDep,
    person: Annotated[str | None, Query(description="only this person's alerts")] = None,
    status: StatusQ = None,
    min_level: MinLevelQ = "info",
    limit: LimitQ = 200,
) -> list[AlertOut]:
    """A triage list of the alerts the caller may see: by level (urgent first), then by the
    newest finding."""
    visible = visible_persons(store, access, Category.ALERTS)
    if person is not None and person not in visible:
        return []
    return _find(store, person, status, min_level, limit, persons=visible)


@router.get("/api/persons/{person_id}/alerts", response_model=list[AlertOut],
            responses=responses(404, 422), summary="A person's alerts")
@rule(Rule("person", (Category.ALERTS,)))
def person_alerts(person_id: str, store: StoreDep, status: StatusQ = None,
                  min_level: MinLevelQ = "info", limit: LimitQ = 200) -> list[AlertOut]:
    """The person's alerts by level (urgent first), then by the newest finding."""
    return _find(store, person_id, status, min_level, limit)


@router.get("/api/alerts/{alert_id}", response_model=AlertDetail, responses=responses(404),
            summary="One alert with its history")
@rule(Rule("alert", (Category.ALERTS,)))
def get_alert(alert_id: int, store: StoreDep) -> AlertDetail:
    book = AlertBook(store)
    try:
        alert, history = book.get(alert_id), book.history(alert_id)
    except NotFound:
        raise _no_alert(alert_id) from None
    return AlertDetail(**AlertOut.of(alert).model_dump(),
                       history=[AlertEvent.model_validate(e) for e in history])


_ACT = f"""\
{{what}}

{_UNVERIFIED}
"""


@router.post("/api/alerts/{alert_id}/acknowledge", response_model=AlertOut,
             responses=responses(404, 409, 422), summary="Acknowledge an open alert",
             description=_ACT.format(what="Someone has seen the alert and takes care of it; an "
                                          "urgent alert is then no longer escalated."))
@rule(Rule("alert", (Category.ALERTS,), write=True, roles=_ACTORS))
def acknowledge(alert_id: int, body: ActionIn, store: StoreDep, access: AccessDep) -> AlertOut:
    return _act(store, alert_id, lambda b: b.acknowledge(alert_id, _by(access), body.note))


@router.post("/api/alerts/{alert_id}/resolve", response_model=AlertOut,
             responses=responses(404, 409, 422), summary="Resolve an alert",
             description=_ACT.format(what="Close the alert (open, acknowledged or suppressed); "
                                          "subscribers are notified."))
@rule(Rule("alert", (Category.ALERTS,), write=True, roles=_ACTORS))
def resolve(alert_id: int, body: ActionIn, store: StoreDep, access: AccessDep) -> AlertOut:
    return _act(store, alert_id, lambda b: b.resolve(alert_id, _by(access), body.note))


@router.post("/api/alerts/{alert_id}/annotate", response_model=AlertOut,
             responses=responses(404, 422), summary="Add a note to an alert",
             description=_ACT.format(what="The note is kept in the alert's history."))
@rule(Rule("alert", (Category.ALERTS,), write=True, roles=_ACTORS))
def annotate(alert_id: int, body: NoteIn, store: StoreDep, access: AccessDep) -> AlertOut:
    return _act(store, alert_id, lambda b: b.annotate(alert_id, _by(access), body.note))


@router.post("/api/persons/{person_id}/snooze", response_model=SnoozeOut,
             responses=responses(404, 422), summary="Snooze a person's notifications",
             description=(
                 "While snoozed, alerts of `level` and below are still recorded and listed, but "
                 "no notification is sent for them (MQTT, webhooks); they are not sent later "
                 f"either. At most {MAX_SNOOZE.days} days; a new snooze replaces the previous "
                 "one.\n\n" + _UNVERIFIED))
@rule(Rule("person", (Category.ALERTS,), write=True, roles=_ACTORS))
def snooze(person_id: str, body: SnoozeIn, store: StoreDep, access: AccessDep) -> SnoozeOut:
    now = datetime.now(UTC)
    until = body.until.astimezone(UTC) if body.until is not None else \
        now + timedelta(minutes=body.minutes or 0)
    if until <= now:
        raise ApiError(422, "Invalid request", f"until ({until.isoformat()}) is not in the future",
                       where="body.until", fix="give a later time, or minutes instead")
    if until - now > MAX_SNOOZE + timedelta(minutes=1):
        raise ApiError(422, "Invalid request",
                       f"a snooze can last at most {MAX_SNOOZE.days} days",
                       where="body.until", fix="give an earlier time; snooze again later if "
                                               "needed")
    by = _by(access)
    AlertBook(store).snooze(person_id, Level.parse(body.level), until, by)
    return SnoozeOut(person_id=person_id, level=body.level, until=until, by=by)


@router.post("/api/webhooks", response_model=WebhookOut, status_code=201,
             responses=responses(404, 422), summary="Register a webhook",
             description=(
                 "Alert notifications are POSTed to `url` as JSON (the alert, `reason` and "
                 "`notification_id`) with the headers `X-Hyperhealth-Signature: sha256=<hex "
                 "HMAC-SHA256 of the body with the secret>` and `Idempotency-Key: <notification "
                 "id>` (a receiver drops a repeat it has seen). Failures are retried with "
                 "exponential back-off. The secret is returned only in this answer."))
@rule(Rule("admin", write=True))
def add_webhook(body: WebhookIn, store: StoreDep) -> WebhookOut:
    wid, secret = AlertBook(store).add_webhook(
        body.url, person_id=body.person_id, min_level=Level.parse(body.min_level),
        care_team=body.care_team)
    return WebhookOut(id=wid, url=body.url, person_id=body.person_id, min_level=body.min_level,
                      care_team=body.care_team, secret=secret)


# -- helpers --------------------------------------------------------------------------------------
def _by(access: Access) -> str:
    return access.user.username


def _act(store: Store, alert_id: int, fn: Any) -> AlertOut:
    try:
        return AlertOut.of(fn(AlertBook(store)))
    except NotFound:
        raise _no_alert(alert_id) from None
    except InputError as exc:
        if exc.field != "status":
            raise
        raise ApiError(409, "Conflict", exc.message, where=f"alert {alert_id}",
                       fix=exc.hint or f"see GET /api/alerts/{alert_id} for its status") from None


def _no_alert(alert_id: int) -> ApiError:
    return ApiError(404, "Not found", f"no alert {alert_id}", where="path parameter alert_id",
                    fix="GET /api/alerts lists the alerts")
