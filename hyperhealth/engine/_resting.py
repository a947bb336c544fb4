"""Resting heart rate: heart-rate readings with no steps in the preceding minutes.

Following Mishra et al. (Nat Biomed Eng 2020) and the WearableDetection defaults, a reading is
resting when no step count above zero was recorded in the ``rest_minutes`` (10) before it. A
minute without a step record counts as no steps (wearables write only active minutes). People
whose devices never sent steps get no resting heart rate: it cannot be told apart from activity.
Steps and heart rate from one device arrive in the same message; a step record arriving after
the heart rate it would have disqualified does not reclassify it (documented in methods).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperhealth.actions.alerts._rule import MINUTE_US, Chunk


def resting(hr: Chunk, steps: Chunk, state: dict[str, Any], rest_minutes: int = 10) -> Chunk:
    """The resting subset of ``hr``, given ``steps``; ``state`` carries the last active minute.

    >>> st = {}
    >>> hr = Chunk(np.array([0, 5, 20, 30]) * MINUTE_US, np.array([70., 90, 62, 61]))
    >>> steps = Chunk(np.array([4]) * MINUTE_US, np.array([30.]))
    >>> resting(hr, steps, st).v.tolist()  # minute 5 is 1 minute after steps, so not resting
    [70.0, 62.0, 61.0]
    """
    active = steps.t[steps.v > 0]
    if len(steps):
        state["has_steps"] = True
    if not state.get("has_steps"):
        return Chunk.empty()
    last = state.get("last_active")
    if last is not None:
        active = np.concatenate(([int(last)], active))
    if len(active):
        state["last_active"] = int(active[-1])
    if not len(hr):
        return Chunk.empty()
    if not len(active):
        return hr
    idx = np.searchsorted(active, hr.t, side="right") - 1
    prev = np.where(idx >= 0, active[np.maximum(idx, 0)], np.iinfo(np.int64).min // 2)
    keep = hr.t - prev >= rest_minutes * MINUTE_US
    return Chunk(hr.t[keep], hr.v[keep])
