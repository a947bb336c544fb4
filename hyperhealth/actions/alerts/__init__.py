"""Alert rules (one module per rule), their registry and the alert lifecycle."""

from hyperhealth.actions.alerts._request import AlertRequest

__all__ = ["AlertRequest"]
