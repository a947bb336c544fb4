"""The engine's filter of new readings: the plain-Python path for short streams (live batches)
must keep exactly what the numpy path keeps (replay), in the same order."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperhealth.engine import _engine as E

readings = st.lists(st.tuples(st.integers(0, 12), st.sampled_from([60.0, 61.5, 70.0, math.nan])),
                    max_size=16)


class _Stats:
    readings = 0
    late = 0


class _Host:
    """What ``Engine._fresh`` needs of its engine: the counters."""

    def __init__(self) -> None:
        self.stats = _Stats()

    _fresh_small = E.Engine._fresh_small


def _run(items: list[tuple[int, float]], wm: int | None, small: int,
         monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[float], int]:
    monkeypatch.setattr(E, "_SMALL", small)
    host = _Host()
    chunk = E.Engine._fresh(host, np.array([t for t, _ in items], np.int64),  # type: ignore[arg-type]
                            np.array([v for _, v in items], np.float64), wm)
    assert chunk.t.dtype == np.int64 and chunk.v.dtype == np.float64
    return chunk.t.tolist(), chunk.v.tolist(), host.stats.late


@settings(max_examples=300, deadline=None)
@given(items=readings, wm=st.one_of(st.none(), st.integers(-1, 12)))
def test_short_streams_keep_what_the_numpy_path_keeps(items: list[tuple[int, float]],
                                                      wm: int | None) -> None:
    with pytest.MonkeyPatch.context() as mp:
        plain = _run(items, wm, 16, mp)
        vector = _run(items, wm, -1, mp)
    assert plain == vector
    t, v, late = plain
    assert t == sorted(set(t)) and not any(math.isnan(x) for x in v)
    assert wm is None or all(x > wm for x in t)
    assert late == len(items) - len(t)
