"""A person's alerts as the person page shows them: active ones first, evidence in words.

>>> evidence_rows({"mean_systolic_mm_hg": 141.26, "readings": 7, "at_rest": True})
[('Mean systolic', '141.26 mmHg'), ('Readings', '7'), ('At rest', 'yes')]
>>> evidence_rows({"since": "2024-05-01T08:00:00+00:00", "slope_mg_dl_per_min": -1.5})
[('Since', '2024-05-01 08:00 UTC'), ('Slope', '-1.5 mg/dL per min')]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from hyperhealth.actions.alerts import Alert, AlertBook
from hyperhealth.store import Store

#: unit suffixes of evidence keys (longest first) and how they read
_UNITS = (
    ("_mg_dl_per_min", "mg/dL per min"),
    ("_mg_dl", "mg/dL"),
    ("_mm_hg", "mmHg"),
    ("_pct", "%"),
    ("_per_minute", "/min"),
    ("_per_min", "/min"),
    ("_per_hour", "/h"),
    ("_hours", "h"),
    ("_minutes", "min"),
)
EVIDENCE_SHOWN = 8  # rows of evidence on the page; the API has all of it
RECENT = 10  # closed alerts listed below the active ones


@dataclass(frozen=True, slots=True)
class AlertView:
    alert: Alert
    evidence: list[tuple[str, str]]
    more: int  # evidence items not shown

    @property
    def level(self) -> str:
        return self.alert.level.label


def evidence_rows(evidence: Mapping[str, Any], limit: int = EVIDENCE_SHOWN
                  ) -> list[tuple[str, str]]:
    """``(label, value with unit)`` for the first ``limit`` items of an alert's evidence."""
    rows = []
    for key, value in list(evidence.items())[:limit]:
        unit = ""
        name = key
        for suffix, u in _UNITS:
            if key.endswith(suffix) and len(key) > len(suffix):
                name, unit = key[: -len(suffix)], u
                break
        label = name.replace("_", " ").strip().capitalize() or key
        text = _value(value)
        if unit and isinstance(value, int | float) and not isinstance(value, bool):
            text = f"{text}{unit}" if unit == "%" else f"{text} {unit}"
        rows.append((label, text))
    return rows


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{round(v, 2):g}"
    if isinstance(v, str):
        if len(v) >= 19 and v[4] == "-" and v[10] == "T":
            try:
                t = datetime.fromisoformat(v)
            except ValueError:
                return v
            if t.tzinfo is not None:
                return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return v
    if isinstance(v, dict | list):
        text = orjson.dumps(v).decode()
        return text if len(text) <= 120 else text[:117] + "..."
    return str(v)


def person_alerts(store: Store, person_id: str) -> dict[str, list[AlertView]]:
    """``active``: open and acknowledged, urgent first; ``recent``: resolved or held back by the
    daily budget, newest first."""
    book = AlertBook(store)

    def view(a: Alert) -> AlertView:
        return AlertView(a, evidence_rows(a.evidence), max(0, len(a.evidence) - EVIDENCE_SHOWN))

    active = book.find(person_id)
    recent = book.find(person_id, status=["resolved", "suppressed"], limit=200)
    recent.sort(key=lambda a: a.resolved or a.last_seen, reverse=True)
    return {"active": [view(a) for a in active], "recent": [view(a) for a in recent[:RECENT]]}
