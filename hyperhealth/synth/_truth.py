"""Ground-truth events: what the generator injected, so detectors can be scored against it.

>>> from datetime import datetime, UTC
>>> e = GroundTruthEvent("synth-1", "device_gap", datetime(2024, 7, 1, 9, tzinfo=UTC),
...                      datetime(2024, 7, 1, 13, tzinfo=UTC), {"hours": 4.0})
>>> GroundTruthEvent.from_json(e.to_json()) == e
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hyperhealth.errors import InputError

#: the kinds of injected events, with what each means
KINDS: Mapping[str, str] = {
    "infection": "resting heart rate raised for several days around a symptom day",
    "hypoglycaemia": "simulated blood glucose below 70 mg/dL for at least 15 minutes",
    "hypertensive_crisis": "a home blood-pressure reading of at least 180/120 mmHg",
    "device_gap": "the watch sent nothing (heart rate, steps, SpO2) for some hours",
    "wildfire_smoke": "PM2.5 far above normal at a home city",
    "heat_wave": "air temperature several degrees above normal at a home city for days",
}


@dataclass(frozen=True, slots=True)
class GroundTruthEvent:
    """One injected event: who (``person_id``, or ``None`` for a city-wide episode), what,
    when (``start`` inclusive, ``end`` exclusive, UTC) and the parameters used."""

    person_id: str | None
    kind: str
    start: datetime
    end: datetime
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "kind": self.kind,
                "start": self.start.isoformat(), "end": self.end.isoformat(),
                "params": dict(self.params)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> GroundTruthEvent:
        return cls(d["person_id"], d["kind"], datetime.fromisoformat(d["start"]),
                   datetime.fromisoformat(d["end"]), dict(d.get("params", {})))


def save_ground_truth(events: Sequence[GroundTruthEvent], path: str | Path,
                      meta: Mapping[str, Any] | None = None) -> None:
    """Write the events as JSON (``{"meta": ..., "events": [...]}``)."""
    doc = {"meta": dict(meta or {}), "kinds": dict(KINDS),
           "events": [e.to_json() for e in events]}
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def load_ground_truth(path: str | Path) -> list[GroundTruthEvent]:
    """Read events written by :func:`save_ground_truth`."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        return [GroundTruthEvent.from_json(d) for d in doc["events"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a ground-truth file: {exc}", where=str(p),
                         hint="use a file written by Cohort.save_ground_truth") from exc
