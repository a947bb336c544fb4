"""The contract between the engine and a rule (a detector plugin).

A rule sees, for one person, the readings that are new since it last ran (time-ordered numpy
arrays per code), its own saved state and its parameters. It *requests* alerts and *clears* them;
the lifecycle decides what is stored and who is told. Rules never send anything themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

import numpy as np

from hyperhealth.actions.alerts._request import AlertRequest
from hyperhealth.actions.levels import Level
from hyperhealth.model.time import from_us

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

#: derived streams the engine computes once per person and hands to rules like any code
RESTING_HR = "engine:resting-heart-rate"  # heart rate with no steps in the preceding minutes
SLEEP_MINUTES = "engine:sleep-minutes"  # one value per sleep period, at its end


class Chunk:
    """New readings of one code for one person: ``t`` in µs since the epoch (UTC), sorted.

    Made of numpy arrays, or of plain lists (a live batch has a reading or two per stream,
    where numpy's cost per call is most of the time): those become arrays when a rule first
    reads ``t`` or ``v``; a rule that works in plain Python takes :meth:`lists` instead.

    >>> c = Chunk([60_000_000, 120_000_000], [61.0, 64.0])
    >>> c.lists(), c.last_t(), len(c)
    (([60000000, 120000000], [61.0, 64.0]), 120000000, 2)
    >>> c.v.dtype, c.lists()[1]
    (dtype('float64'), [61.0, 64.0])
    """

    __slots__ = ("_t", "_v")

    def __init__(self, t: np.ndarray | list[int], v: np.ndarray | list[float]) -> None:
        self._t, self._v = t, v

    @property
    def t(self) -> np.ndarray:
        if isinstance(self._t, list):
            self._t = np.array(self._t, np.int64)
        return self._t

    @property
    def v(self) -> np.ndarray:
        if isinstance(self._v, list):
            self._v = np.array(self._v, np.float64)
        return self._v

    def lists(self) -> tuple[list[int], list[float]]:
        """Times and values as Python lists."""
        t, v = self._t, self._v
        return (t if isinstance(t, list) else t.tolist(), v if isinstance(v, list) else v.tolist())

    def last_t(self) -> int:
        return int(self._t[-1])

    def __len__(self) -> int:
        return len(self._t)

    @staticmethod
    def empty() -> Chunk:
        return Chunk(np.empty(0, np.int64), np.empty(0, np.float64))


@dataclass(frozen=True, slots=True)
class Clear:
    """The condition behind ``(person, rule, key)`` is over (values back in range, with the
    rule's hysteresis); the lifecycle resolves the open alert, if any."""

    person_id: str
    rule: str
    key: str
    time: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Subject:
    """What a rule may know about the person besides the readings."""

    id: str
    tz: str = "UTC"
    birth_date: date | None = None
    sex_at_birth: str = "unknown"


@dataclass(slots=True)
class RuleContext:
    """One rule run for one person: inputs, state to update, and the findings it produced."""

    subject: Subject
    data: Mapping[str, Chunk]
    state: dict[str, Any]
    params: Mapping[str, Any]
    now_us: int  # the engine's clock: wall time live, newest data time in replay
    findings: list[AlertRequest | Clear] = field(default_factory=list)

    def chunk(self, code: str) -> Chunk:
        return self.data.get(code) or Chunk.empty()


class Rule:
    """Base class for detector plugins: one module per rule, registered in ``_registry``.

    ``defaults`` are the parameters with the values of the cited source; a configuration file
    and a clinician (per person) can override them. ``codes`` are the streams the rule reads;
    the engine only calls it when one of them has new readings (or on a clock tick, for rules
    with ``on_tick = True``).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    codes: ClassVar[tuple[str, ...]]
    citation: ClassVar[str]
    defaults: ClassVar[Mapping[str, Any]] = {}
    on_tick: ClassVar[bool] = False

    def evaluate(self, ctx: RuleContext) -> None:
        raise NotImplementedError

    # helpers shared by the rules ---------------------------------------------------------
    def request(
        self,
        ctx: RuleContext,
        *,
        level: Level,
        t_us: int,
        title: str,
        explanation: str,
        key: str = "",
        evidence: Mapping[str, Any] | None = None,
        citation: str | None = None,
    ) -> None:
        ctx.findings.append(
            AlertRequest(
                person_id=ctx.subject.id,
                rule=self.name,
                rule_version=self.version,
                level=level,
                time=from_us(int(t_us)),
                title=title,
                explanation=explanation,
                key=key,
                evidence=dict(evidence or {}),
                citation=self.citation if citation is None else citation,
            )
        )

    def clear(self, ctx: RuleContext, *, t_us: int, reason: str, key: str = "") -> None:
        ctx.findings.append(Clear(ctx.subject.id, self.name, key, from_us(int(t_us)), reason))


def iso(t_us: int) -> str:
    """ISO-8601 UTC text of a µs time, for evidence.

    >>> iso(0)
    '1970-01-01T00:00:00+00:00'
    """
    return from_us(int(t_us)).isoformat()


def local_hour(t: np.ndarray, tz: str) -> np.ndarray:
    """Hour of day (0-23) of µs UTC times in time zone ``tz``.

    >>> local_hour(np.array([0]), "America/New_York").tolist()
    [19]
    """
    import pandas as pd

    idx = pd.DatetimeIndex(np.asarray(t, np.int64).astype("datetime64[us]"), tz="UTC")
    return np.asarray(idx.tz_convert(tz).hour)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges ``[start, end)`` where ``mask`` is true.

    >>> runs(np.array([0, 1, 1, 0, 1], bool))
    [(1, 3), (4, 5)]
    """
    if not len(mask):
        return []
    m = np.concatenate(([False], mask.astype(bool), [False]))
    d = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b)) for a, b in zip(d[::2], d[1::2], strict=True)]
