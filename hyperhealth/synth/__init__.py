"""Synthetic cohorts with coupled multi-day streams and saved ground truth (demo, evaluation).

>>> from hyperhealth.synth import generate_cohort
>>> cohort = generate_cohort(persons=2, days=1, seed=3)
>>> len(cohort.persons), cohort.start.isoformat()
(2, '2024-07-01T00:00:00+00:00')
"""

from hyperhealth.synth._cohort import DEFAULT_START, Cohort, generate_cohort
from hyperhealth.synth._truth import KINDS, GroundTruthEvent, load_ground_truth

__all__ = ["DEFAULT_START", "KINDS", "Cohort", "GroundTruthEvent", "generate_cohort",
           "load_ground_truth"]
