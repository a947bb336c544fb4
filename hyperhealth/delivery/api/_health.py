"""Liveness and readiness: the app answers and the store can be queried."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import Rule, rule
from hyperhealth.delivery.api._models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses=responses(503), summary="Health check")
@rule(Rule("public"))
def healthz(store: StoreDep) -> Health:
    """``ok`` when the store answers a query (503 with the reason when it does not)."""
    try:
        n = len(store.persons())
    except sa.exc.SQLAlchemyError as exc:
        raise ApiError(503, "Store unavailable", f"the store does not answer: {exc}",
                       where=store.safe_url, fix="check that the database is running") from None
    return Health(status="ok", store=store.dialect, persons=n)
