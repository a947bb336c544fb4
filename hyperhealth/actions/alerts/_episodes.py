"""Sustained-condition episodes with hysteresis, carried across chunks of readings.

An episode *starts* when the condition has held for ``min_on`` (consecutive readings, no gap
longer than ``max_gap``) and *ends* when it has been false for ``min_off``. A reading stands
for ``step`` of time (its sampling interval), so three 5-minute CGM readings cover 15 minutes.
The work is done per run of equal condition, not per reading, so long chunks stay cheap.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Transition:
    started: bool  # True: the episode started; False: it ended
    t_us: int  # data time of the reading that completed the required duration
    extreme: float  # most extreme value seen in the episode so far (for evidence)
    since_us: int  # when the condition (or its absence) began


def track(
    state: dict[str, Any],
    t: np.ndarray,
    v: np.ndarray,
    cond: np.ndarray,
    *,
    min_on_us: int,
    min_off_us: int,
    step_us: int,
    max_gap_us: int,
    lower: bool,
) -> list[Transition]:
    """Advance the episode ``state`` (a JSON-able dict) over one chunk; return transitions.

    ``lower`` says which way is worse (True: the smallest value is the extreme).

    >>> st: dict = {}
    >>> t = np.arange(6) * 300_000_000  # every 5 minutes
    >>> v = np.array([80., 65, 62, 60, 75, 90])
    >>> [x.started for x in track(st, t, v, v < 70, min_on_us=900_000_000,
    ...  min_off_us=900_000_000, step_us=300_000_000, max_gap_us=900_000_000, lower=True)]
    [True]
    >>> st["on"], st["extreme"]
    (True, 60.0)
    """
    out: list[Transition] = []
    on = bool(state.get("on", False))
    since = state.get("since")  # start of the pending run (condition when off, absence when on)
    last = state.get("last")
    extreme = state.get("extreme")  # of the condition's values in the pending/active episode

    def worst(values: np.ndarray, prior: float | None) -> float:
        x = float(values.min() if lower else values.max())
        if prior is None:
            return x
        return min(x, prior) if lower else max(x, prior)

    for a, b in _segments(cond):
        if last is not None and int(t[a]) - int(last) > max_gap_us:
            since = None  # a gap breaks any pending duration
        c = bool(cond[a])
        if c == on:
            since = None  # the pending flip did not last
            if c:
                extreme = worst(v[a:b], extreme)
        else:
            if c and since is None:
                extreme = None  # a new candidate episode
            # readings inside the run must be close enough too: count from the last gap
            cut = a
            inner = np.flatnonzero(np.diff(t[a:b]) > max_gap_us)
            if len(inner):
                cut, since = a + int(inner[-1]) + 1, None
            start = int(t[cut]) if since is None else int(since)
            need = min_on_us if c else min_off_us
            hit = np.flatnonzero(t[cut:b] + step_us - start >= need)
            if len(hit):
                i = cut + int(hit[0])
                if c:
                    extreme = worst(v[cut : i + 1], extreme)
                out.append(
                    Transition(c, int(t[i]), float(extreme if extreme is not None else v[i]), start)
                )
                on, since = c, None
                extreme = worst(v[i:b], extreme) if c else None
            else:
                since = start
                if c:
                    extreme = worst(v[cut:b], extreme)
        last = int(t[b - 1])
    state.update(on=on, since=since, last=last, extreme=extreme)
    return out


def _segments(cond: np.ndarray) -> list[tuple[int, int]]:
    """Runs of equal ``cond`` as ``[start, end)`` index ranges covering the whole array."""
    if not len(cond):
        return []
    edges = np.flatnonzero(cond[1:] != cond[:-1]) + 1
    bounds = np.concatenate(([0], edges, [len(cond)]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
