"""Alerts raised by edge agents: ``POST /api/edge/alerts``.

An edge agent (``hyperhealth edge``) runs the urgent rules near the devices and forwards the
alerts it raised, once each, before the readings behind them. The server applies them through the
alert lifecycle, where they merge with what the server's own engine derives from the same
readings (:mod:`hyperhealth.engine.edge._merge`). Each alert carries an idempotency key: sending
the same request again (after a lost answer) changes nothing.

Status: 200 when every alert was applied, merged or a duplicate, 207 when some were refused
(unknown person or rule), 422 when all were; the body has one result per alert, in order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, ProblemItem, responses
from hyperhealth.delivery.api._guard import AccessDep, Rule, rule
from hyperhealth.delivery.api._ingest import read_device_body
from hyperhealth.errors import AccessDenied
from hyperhealth.security._model import Role

router = APIRouter(prefix="/api/edge", tags=["edge"])

Text = Annotated[str, Field(max_length=4000)]


class EdgeAlertIn(BaseModel):
    """One alert an edge raised (the rule's request, as the edge's engine produced it)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=200,
                             description="idempotency key: the same key is applied once")]
    person: Annotated[str, Field(min_length=1, max_length=64)]
    rule: Annotated[str, Field(min_length=1, max_length=64)]
    key: Annotated[str, Field(max_length=120)] = ""
    rule_version: Annotated[str, Field(min_length=1, max_length=16)]
    level: Literal["info", "warn", "urgent"]
    time: AwareDatetime = Field(description="data time of the finding")
    title: Text
    explanation: Text
    evidence: dict[str, Any] = Field(default_factory=dict)
    citation: Text = ""
    raised: AwareDatetime | None = Field(default=None, description="when the edge raised it")
    local_alert: int | None = Field(default=None, description="the alert's id at the edge")


class EdgeAlertsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edge: Annotated[str, Field(min_length=1, max_length=100, description="the edge's id")]
    alerts: Annotated[list[EdgeAlertIn], Field(max_length=1000)]


class EdgeAlertOut(BaseModel):
    id: str
    outcome: Literal["applied", "merged", "duplicate", "refused"] = Field(
        description="applied: opened or updated an alert; merged: the server already had this "
                    "episode; duplicate: this key was applied before; refused: see reason")
    alert_id: int | None = None
    reason: str = ""


class EdgeAlertsOut(BaseModel):
    edge: str
    results: list[EdgeAlertOut]
    summary: str


@router.post("/alerts", response_model=EdgeAlertsOut,
             responses={207: {"model": EdgeAlertsOut}, 422: {"model": EdgeAlertsOut},
                        **responses(400, 413, 415)},
             summary="Alerts raised by an edge agent")
@rule(Rule("device", write=True))
async def edge_alerts(request: Request, store: StoreDep, access: AccessDep) -> JSONResponse:
    """Apply alerts raised at an edge through the alert lifecycle (gzip bodies accepted).

    A device credential may send alerts only for the person the device belongs to.
    """
    from starlette.concurrency import run_in_threadpool

    from hyperhealth.actions.levels import Level
    from hyperhealth.engine.edge._merge import EdgeAlert, apply_edge_alerts

    doc = await read_device_body(request, request.app.state.device_body_limit,
                                 "edge alert batch")
    try:
        batch = EdgeAlertsIn.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        items = [ProblemItem(what=e["msg"], where="body." + ".".join(str(x) for x in e["loc"]))
                 for e in errors[:20]]
        raise ApiError(422, "Invalid alerts", f"{len(errors)} problem(s) in the alert batch",
                       where=items[0].where, errors=items,
                       fix='send {"edge": "<id>", "alerts": [...]} as in docs/formats.md') \
            from None
    alerts = [EdgeAlert(id=a.id, person=a.person, rule=a.rule, rule_version=a.rule_version,
                        level=Level.parse(a.level), time=a.time, title=a.title,
                        explanation=a.explanation, key=a.key, evidence=a.evidence,
                        citation=a.citation, raised=a.raised) for a in batch.alerts]
    own = access.user.person_id if access.user.role is Role.DEVICE else None
    foreign = sorted({a.person for a in alerts if own is not None and a.person != own})
    if foreign:
        raise AccessDenied(f"this device belongs to another person than {len(foreign)} "
                           "person(s) named in the batch",
                           hint="an edge agent sends alerts only for its own person")
    results = await run_in_threadpool(apply_edge_alerts, store, batch.edge, alerts)
    refused = sum(r.outcome == "refused" for r in results)
    status = 422 if results and refused == len(results) else 207 if refused else 200
    counts = {o: sum(r.outcome == o for r in results)
              for o in ("applied", "merged", "duplicate", "refused")}
    summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n) or "no alerts"
    out = EdgeAlertsOut(edge=batch.edge, summary=summary,
                        results=[EdgeAlertOut(**r.to_dict()) for r in results])
    return JSONResponse(out.model_dump(mode="json"), status_code=status)
