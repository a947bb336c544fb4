"""Alert rules (one module per rule), their registry and the alert lifecycle."""

from hyperhealth.actions.alerts._lifecycle import Alert, AlertBook, Policy, alert_topic
from hyperhealth.actions.alerts._registry import RULES, URGENT_RULES, RuleConfig
from hyperhealth.actions.alerts._request import AlertRequest
from hyperhealth.actions.alerts._rule import Chunk, Clear, Rule, RuleContext, Subject

__all__ = [
    "RULES",
    "URGENT_RULES",
    "Alert",
    "AlertBook",
    "AlertRequest",
    "Chunk",
    "Clear",
    "Policy",
    "Rule",
    "RuleConfig",
    "RuleContext",
    "Subject",
    "alert_topic",
]
