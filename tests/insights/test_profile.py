"""The profile's coverage, gaps and daily summaries, computed independently in the test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hyperhealth.insights.profile import build_profile
from hyperhealth.model import Condition, Medication, Observation, Person
from hyperhealth.store import Store

T0 = datetime(2024, 3, 1, 5, 0, tzinfo=UTC)  # midnight in New York (EST, UTC-5)


def test_gaps_daily_summaries_and_missing_inputs(store: Store) -> None:
    minutes = [i for i in range(3 * 1440) if not (600 <= i < 780)]  # a 3-hour silence
    with store.transaction() as w:
        w.upsert_person(Person(id="p-1", tz="America/New_York", birth_date=date(1960, 1, 1),
                               sex_at_birth="female"))
        w.add_observations([Observation("p-1", "8867-4", T0 + timedelta(minutes=i),
                                        60.0 + i % 20, "/min", category="vital-signs")
                            for i in minutes])
        w.add_observations([Observation("p-1", "55423-8", T0 + timedelta(minutes=i), 10.0,
                                        "{steps}", category="activity")
                            for i in range(0, 3 * 1440, 30)])  # sparse by design
        w.add_conditions([Condition("p-1", "38341003", "Hypertension"),
                          Condition("p-1", "195662009", "Acute pharyngitis",
                                    clinical_status="resolved")])
        w.add_medications([Medication("p-1", "314076", "lisinopril 10 MG Oral Tablet"),
                           Medication("p-1", "1", "old drug", status="stopped")])
    p = build_profile(store, "p-1", days=3)
    hr = next(c for c in p.coverage if c.code == "8867-4")
    assert hr.continuous and len(hr.gaps) == 1
    assert hr.gaps[0].start == T0 + timedelta(minutes=599)
    assert hr.gaps[0].end == T0 + timedelta(minutes=780)
    steps = next(c for c in p.coverage if c.code == "55423-8")
    assert not steps.continuous and steps.gaps == []  # silence in a count stream = no steps
    # days are the person's days: 3 full local days, each with its own readings
    assert [d.day for d in p.daily["8867-4"]] == [date(2024, 3, 1), date(2024, 3, 2),
                                                   date(2024, 3, 3)]
    assert [d.n for d in p.daily["8867-4"]] == [1440 - 180, 1440, 1440]
    assert [d.total for d in p.daily["55423-8"]] == [480.0, 480.0, 480.0]
    assert p.daily["8867-4"][1].mean == sum(60.0 + i % 20 for i in range(1440, 2880)) / 1440
    assert [c.display for c in p.active_conditions] == ["Hypertension"]
    assert [m.display for m in p.active_medications] == ["lisinopril 10 MG Oral Tablet"]
    assert any("home location" in m for m in p.missing)
    assert any("8480-6" in m for m in p.missing)
    d = p.to_dict()
    assert d["coverage"][0]["first"].startswith("2024-03-01")
