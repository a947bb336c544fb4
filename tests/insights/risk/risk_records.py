"""A person with known records for the risk tests (imported by the test modules)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hyperhealth.model import (
    Condition,
    LifestyleEvent,
    LifestyleKind,
    Medication,
    Observation,
    Person,
)
from hyperhealth.store import Store

AS_OF = datetime(2024, 6, 1, tzinfo=UTC)
PID = "p-risk"


def lab(code: str, value: float, unit: str, days_ago: int, rid: str) -> Observation:
    return Observation(PID, code, AS_OF - timedelta(days=days_ago), value, unit,
                       category="laboratory", source="test", record_id=rid)


def fill(store: Store, *, with_mi: bool = False) -> None:
    """A 58-year-old man: hypertension on lisinopril, type 2 diabetes on metformin, a current
    smoker, lipids in mmol/L, creatinine in umol/L, 28 days of home BP plus older clinic BP."""
    with store.transaction() as w:
        w.upsert_person(Person(PID, birth_date=date(1966, 3, 10), sex_at_birth="male",
                               race="White", tz="UTC"))
        obs = [
            lab("2093-3", 5.5, "mmol/L", 30, "tc-new"),   # the latest total cholesterol
            lab("2093-3", 250, "mg/dL", 400, "tc-old"),
            lab("2085-9", 1.2, "mmol/L", 30, "hdl"),
            lab("18262-6", 130, "mg/dL", 30, "ldl"),
            lab("2160-0", 97.24, "umol/L", 30, "cr"),     # = 1.1 mg/dL
            lab("4548-4", 7.1, "%", 30, "a1c"),
            lab("2093-3", 4.0, "mmol/L", -10, "tc-future"),  # after as_of: not used
            Observation(PID, "39156-5", AS_OF - timedelta(days=60), 29.0, "kg/m2",
                        category="vital-signs", source="test", record_id="bmi"),
            Observation(PID, "8280-0", AS_OF - timedelta(days=60), 104.0, "cm",
                        category="vital-signs", source="test", record_id="waist"),
            Observation(PID, "72166-2", AS_OF - timedelta(days=60), None,
                        value_text="Current every day smoker", value_code="449868002",
                        category="social-history", source="test", record_id="smk"),
        ]
        # clinic readings two years ago, then 40 days of home readings (only the last 28 count)
        obs += [Observation(PID, "8480-6", AS_OF - timedelta(days=700 + i), 150.0, "mm[Hg]",
                            source="fhir", record_id=f"clinic{i}") for i in range(3)]
        obs += [Observation(PID, "8480-6", AS_OF - timedelta(days=d, hours=h),
                            130.0 + (d % 2) * 4, "mm[Hg]", source="device",
                            device="cuff-1") for d in range(1, 41) for h in (8, 20)]
        w.add_observations(obs)
        conds = [Condition(PID, "38341003", "Hypertension", onset=date(2015, 1, 1),
                           source="test", record_id="htn"),
                 Condition(PID, "44054006", "Diabetes", onset=date(2018, 1, 1),
                           source="test", record_id="dm")]
        if with_mi:
            conds.append(Condition(PID, "22298006", "Myocardial Infarction",
                                   onset=date(2020, 1, 1), clinical_status="resolved",
                                   source="test", record_id="mi"))
        w.add_conditions(conds)
        w.add_medications([
            Medication(PID, "314076", "lisinopril 10 MG Oral Tablet", start=date(2015, 2, 1),
                       source="test", record_id="lis"),
            Medication(PID, "860975", "24 HR Metformin hydrochloride 500 MG Extended Release "
                       "Oral Tablet", start=date(2018, 2, 1), source="test", record_id="met"),
            Medication(PID, "106258", "Hydrocortisone 10 MG/ML Topical Cream",
                       start=date(2023, 1, 1), source="test", record_id="cream"),
            Medication(PID, "312961", "Simvastatin 20 MG Oral Tablet", status="stopped",
                       start=date(2016, 1, 1), end=date(2017, 1, 1), source="test",
                       record_id="sim"),
        ])
        w.add_lifestyle_events([
            LifestyleEvent(PID, LifestyleKind.EXERCISE, AS_OF - timedelta(days=d, hours=7),
                           AS_OF - timedelta(days=d, hours=6, minutes=20), {"activity": "walk"},
                           source="test", record_id=f"walk{d}") for d in range(1, 20)])
