"""Resting heart rate: heart-rate readings with no steps in the preceding minutes.

Following Mishra et al. (Nat Biomed Eng 2020) and the WearableDetection defaults, a reading is
resting when no step count above zero was recorded in the ``rest_minutes`` (10) before it. A
minute without a step record counts as no steps (wearables write only active minutes). Heart
rate from before the person's first step record gets no resting label (it cannot be told apart
from activity; people whose devices never send steps get no resting heart rate at all). This
rule gives the same answer however the readings are split into batches.
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
    >>> steps = Chunk(np.array([0, 4]) * MINUTE_US, np.array([0., 30.]))
    >>> resting(hr, steps, st).v.tolist()  # minute 5 is 1 minute after steps: not resting
    [70.0, 62.0, 61.0]
    >>> resting(hr, Chunk.empty(), {"first_step": 0}).v.tolist()  # no activity known
    [70.0, 90.0, 62.0, 61.0]
    """
    active = steps.t[steps.v > 0]
    if "first_step" not in state and len(steps):
        state["first_step"] = int(steps.t[0])
    first = state.get("first_step")
    if first is None or not len(hr):
        if len(active):
            state["last_active"] = int(active[-1])
        return Chunk.empty()
    last = state.get("last_active")
    if last is not None:
        active = np.concatenate(([int(last)], active))
    if len(active):
        state["last_active"] = int(active[-1])
    if not len(active):  # no step above zero yet: all of it is rest
        keep = hr.t >= first
        return Chunk(hr.t[keep], hr.v[keep])
    idx = np.searchsorted(active, hr.t, side="right") - 1
    prev = np.where(idx >= 0, active[np.maximum(idx, 0)], np.iinfo(np.int64).min // 2)
    # before the first step record ever seen, rest cannot be told from activity
    keep = (hr.t >= first) & (hr.t - prev >= rest_minutes * MINUTE_US)
    return Chunk(hr.t[keep], hr.v[keep])
