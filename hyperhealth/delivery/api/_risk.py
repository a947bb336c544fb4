"""Risk: every applicable equation for a person, and one equation for one set of inputs.

Wire with ``app.include_router(_risk.router)``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from hyperhealth.delivery.api._deps import StoreDep, parse_time, read_json_body
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import Rule, rule
from hyperhealth.security._model import Category

router = APIRouter(tags=["risk"])

#: a risk request is a small JSON object; 64 KiB is far more than any equation's inputs
RISK_BODY_LIMIT = 64 * 1024


@router.get("/api/persons/{person_id}/risk", responses=responses(404, 422),
            summary="A person's risk from every applicable equation")
@rule(Rule("person", (Category.VITALS, Category.LABS, Category.CONDITIONS, Category.MEDICATIONS)))
def person_risk(
    person_id: str,
    store: StoreDep,
    as_of: Annotated[str | None, Query(description="use records up to this ISO-8601 date-time "
                                       "(with offset) [default: now]")] = None,
    prs_percentile: Annotated[float | None, Query(
        ge=0, le=100, description="coronary polygenic-score percentile within the person's "
        "ancestry, shown as a risk-enhancer label")] = None,
    what_if: Annotated[bool, Query(description="include what-if scenarios")] = True,
) -> dict[str, Any]:
    """Each equation's status (computed, not applicable, incomplete, out of range), the inputs
    taken from the records with where each came from (what is missing or imputed, and the
    optional inputs that were not available under `inputs.optional_missing`), the estimates
    with limits and citations, the model used where an equation has several (`result.model`,
    PREVENT), what-if scenarios, and the QRISK3 licence disclaimer with every QRISK3 score.
    Estimates support, and do not replace, a clinician."""
    from hyperhealth.insights.risk import risk_for_person

    when = parse_time(as_of, "as_of")
    store.person(person_id)  # a clear 404 first
    pr = risk_for_person(store, person_id, as_of=when.astimezone(UTC) if when else None,
                         what_ifs=what_if, prs_percentile=prs_percentile)
    return pr.to_dict()


@router.post("/api/risk/{equation}", responses=responses(400, 404, 413, 422),
             summary="One equation for one set of inputs")
@rule(Rule("user"))
async def risk_calc(
    equation: str,
    request: Request,
    extrapolate: Annotated[bool, Query(description="compute outside the equation's ranges; "
                                       "the result is then flagged")] = False,
    what_if: Annotated[bool, Query(description="include what-if scenarios")] = True,
) -> dict[str, Any]:
    """The body is a JSON object of inputs (see `GET /api/risk` for names, units and ranges);
    an optional `context` object carries `ldl_c`, `total_c`, `hdl_c` for what-if scenarios.
    Out-of-range or missing inputs answer 422 with the field and how to fix it."""
    from hyperhealth.insights.risk import EQUATIONS, calculate
    from hyperhealth.insights.risk import what_if as run_what_if

    if equation.strip().lower().replace("-", "_") not in EQUATIONS:
        raise ApiError(404, "Not found", f"no equation {equation!r}",
                       where="path parameter equation",
                       fix=f"use one of: {', '.join(sorted(EQUATIONS))}")
    body = await read_json_body(request, RISK_BODY_LIMIT, "equation inputs")
    if not isinstance(body, dict):
        raise ApiError(422, "Invalid request", "the inputs must be a JSON object", where="body",
                       fix='send {"name": value, ...}')
    context = body.pop("context", None) or {}
    if not isinstance(context, dict):
        raise ApiError(422, "Invalid request", "context must be an object", where="body.context",
                       fix='send e.g. "context": {"ldl_c": 130}')
    result = calculate(equation, body, extrapolate=extrapolate)
    wi = run_what_if(equation, body, extra=context, extrapolate=extrapolate) if what_if else None
    return {"result": result.to_dict(), "what_if": wi.to_dict() if wi else None,
            "computed_at": datetime.now(UTC).isoformat()}


@router.get("/api/risk", summary="The equations, their inputs, units and ranges")
@rule(Rule("user"))
def list_equations() -> list[dict[str, Any]]:
    """Every equation with its inputs (unit, valid range, required), limits and citations."""
    from hyperhealth.insights.risk import EQUATIONS

    return [e.describe() for e in EQUATIONS.values()]
