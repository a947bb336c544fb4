"""RHR-Diff / CuSum on the Stanford COVID-19 Fitbit recordings: the streaming engine agrees with
a straightforward batch implementation written here from the method's description
(Mishra et al., Nat Biomed Eng 2020; parameters as in docs/methods.md)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperhealth.actions.alerts import AlertBook, RuleConfig
from hyperhealth.engine import Engine
from hyperhealth.ingest import IngestOptions, ingest_file
from hyperhealth.model.codes import HEART_RATE, STEPS
from hyperhealth.store import Store

FITBIT = "wearables/stanford-covid-fitbit"
PARTICIPANTS = ("AS2MVDL", "A3OU183", "AURCTAK")


def reference_alarms(hr: pd.Series, steps: pd.Series, *, rest_min: int = 10,
                     baseline_days: int = 28, min_days: int = 7, k: float = 0.5,
                     h: float = 5.0) -> list[pd.Timestamp]:
    """Alarm times, computed in one pass over the whole recording with pandas."""
    hr = hr[~hr.index.duplicated(keep="first")].sort_index()
    active = steps[steps > 0].index.sort_values()
    first_step = steps.index.min()
    # resting: no step > 0 within the preceding rest_min minutes (inclusive of the same instant)
    last = pd.Series(active, index=active).reindex(hr.index, method="ffill")
    gap = (hr.index - last).fillna(pd.Timedelta(days=36500))
    rest = hr[(gap >= pd.Timedelta(minutes=rest_min)) & (hr.index >= first_step)]
    hourly = rest.groupby(rest.index.floor("h")).mean()
    base: list[tuple[pd.Timestamp, float]] = []
    cusum, alarm, alarms = 0.0, False, []
    for hour, x in hourly.items():
        base = [(t, v) for t, v in base if t > hour - pd.Timedelta(days=baseline_days)]
        if len(base) >= 2 and (hour - base[0][0]) >= pd.Timedelta(days=min_days):
            vals = np.array([v for _, v in base])
            mu, sd = vals.mean(), vals.std(ddof=1)
            if sd > 0 and math.isfinite(sd):
                cusum = max(0.0, cusum + (x - mu) / sd - k)
                if not alarm and cusum >= h:
                    alarm = True
                    alarms.append(hour + pd.Timedelta(hours=1) - pd.Timedelta(microseconds=1))
                elif alarm and cusum == 0.0:
                    alarm = False
        if not alarm:
            base.append((hour, float(x)))
    return alarms


@pytest.mark.parametrize("pid", PARTICIPANTS)
def test_streaming_cusum_matches_the_batch_reference(shared_data: Path, tmp_path: Path,
                                                     pid: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'hh.sqlite'}")
    for kind in ("hr", "steps"):
        ingest_file(store, shared_data / FITBIT / f"{pid}_{kind}.csv.gz", IngestOptions())
    (person,) = store.persons()  # the file's participant
    pid = person.id
    engine = Engine(store, RuleConfig(only=("rhr-cusum",)))
    engine.replay([pid], window_days=3)
    ours = sorted(a.opened for a in AlertBook(store).find(
        pid, status=["open", "resolved", "acknowledged", "suppressed"]))
    hr, st = store.series(pid, HEART_RATE), store.series(pid, STEPS)
    idx = pd.to_datetime(hr.t_us, unit="us", utc=True)
    sidx = pd.to_datetime(st.t_us, unit="us", utc=True)
    ref = reference_alarms(pd.Series(hr.value, idx), pd.Series(st.value, sidx))
    assert [t.isoformat() for t in ours] == [t.isoformat() for t in ref]
    assert ref, "each of these recordings has CuSum alarms; an empty comparison proves nothing"
    store.close()
