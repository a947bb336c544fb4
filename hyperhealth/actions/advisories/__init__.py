"""Environment-aware advice: air quality, heat, cold, pollen and UV, made personal.

Each :class:`Advisory` says what to do in plain words, *why* it applies to this person (their
conditions, medicines, age and planned activity, and the measurement behind it), the evidence
(values, category, thresholds, where and when measured), the source, and what was missing. It
supports, and does not replace, a clinician's advice. Methods and sources: ``docs/methods.md``,
section "Environment advisories".

- :func:`advisories_for` is pure: person, records, environment, activities, time in; advice out.
- :func:`advisories_for_person` reads all of that from a store.
- :func:`assess` / :func:`assess_person` also say which hazards could not be checked.
"""

from hyperhealth.actions.advisories._advisory import SUPPORT_NOTE, Advisory
from hyperhealth.actions.advisories._engine import (
    RULES,
    AdvisoryReport,
    advisories_for,
    advisories_for_person,
    assess,
    assess_person,
)
from hyperhealth.actions.advisories._environment import environment_from_values

__all__ = ["RULES", "SUPPORT_NOTE", "Advisory", "AdvisoryReport", "advisories_for",
           "advisories_for_person", "assess", "assess_person", "environment_from_values"]
