"""The advisory: what one environment rule says to one person, why, and on what evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from hyperhealth.actions.levels import Level

if TYPE_CHECKING:
    from hyperhealth.actions.alerts import AlertRequest

#: version of the advisory rules as a whole; each rule also carries its own version
METHOD = "hyperhealth-advisories"
VERSION = "1"

#: shown with every advisory (our words)
SUPPORT_NOTE = ("This advice is general information to support your own decisions and your "
                "care team's; it does not replace advice from your clinician. If you feel "
                "unwell, contact your clinician or emergency services.")


@dataclass(frozen=True, slots=True)
class Advisory:
    """One piece of environment-aware advice for one person at one time.

    ``why`` lists the reasons it applies to *this* person (a condition, a medication, their age,
    a planned activity, and the measurement that triggered it); ``evidence`` holds the values,
    category, thresholds and where and when they were measured; ``missing`` names inputs that
    were not available and what that means for the advice.

    >>> from datetime import UTC
    >>> a = Advisory("p1", "uv", "1", Level.INFO, datetime(2024, 7, 1, 12, tzinfo=UTC),
    ...              "High UV", "Cover up.", ("UV index 7",), {"uv_index": 7}, "WHO 2002")
    >>> d = a.to_dict()
    >>> d["level"], d["time"], d["why"]
    ('info', '2024-07-01T12:00:00+00:00', ['UV index 7'])
    """

    person_id: str
    rule: str
    rule_version: str
    level: Level
    time: datetime
    title: str
    text: str
    why: tuple[str, ...]
    evidence: Mapping[str, Any]
    citation: str
    missing: tuple[str, ...] = ()
    key: str = ""
    note: str = SUPPORT_NOTE
    method: str = field(default=f"{METHOD}/{VERSION}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO-8601, level as its label)."""
        return {
            "person_id": self.person_id, "rule": self.rule, "rule_version": self.rule_version,
            "level": self.level.label, "time": self.time.isoformat(), "title": self.title,
            "text": self.text, "why": list(self.why), "evidence": _jsonable(self.evidence),
            "citation": self.citation, "missing": list(self.missing), "key": self.key,
            "note": self.note, "method": self.method,
        }

    def to_alert_request(self) -> AlertRequest:
        """The same finding as a request to the alert lifecycle (rule ``advisory:<rule>``)."""
        from hyperhealth.actions.alerts import AlertRequest

        return AlertRequest(
            person_id=self.person_id, rule=f"advisory:{self.rule}",
            rule_version=self.rule_version, level=self.level, time=self.time, title=self.title,
            explanation=" ".join((self.text, *self.why)), key=self.key,
            evidence=dict(self.evidence) | {"why": list(self.why), "missing": list(self.missing)},
            citation=self.citation)


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (datetime, date)):
        return x.isoformat()
    if isinstance(x, Enum):
        return x.value
    if isinstance(x, float) and x != x:  # NaN is not JSON
        return None
    return x
