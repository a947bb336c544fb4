"""The REST API (FastAPI). ``create_app(store)`` builds it; importing has no side effects."""

from hyperhealth.delivery.api._app import create_app
from hyperhealth.delivery.api._errors import ApiError, Problem

__all__ = ["ApiError", "Problem", "create_app"]
