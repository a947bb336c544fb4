"""Cut a result down to the data categories a caller's consent allows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hyperhealth.security._model import Category, category_of


def filter_profile(profile: Any, allowed: frozenset[Category]) -> Any:
    """A copy of an ``insights.profile.Profile`` without the categories not in ``allowed``.

    Direct identifiers and the home location are removed unless ``identity``/``location`` are
    allowed; genotypes need ``genomics``.
    """
    person = profile.person
    if Category.IDENTITY not in allowed:
        person = replace(person, identity={})
    if Category.LOCATION not in allowed:
        person = replace(person, home=None)

    def obs_ok(o: Any) -> bool:
        return category_of(o.code, getattr(o, "category", "")) in allowed

    return replace(
        profile,
        person=person,
        links=profile.links if Category.IDENTITY in allowed else [],
        conditions=profile.conditions if Category.CONDITIONS in allowed else [],
        allergies=profile.allergies if Category.CONDITIONS in allowed else [],
        medications=profile.medications if Category.MEDICATIONS in allowed else [],
        latest_vitals=[o for o in profile.latest_vitals if obs_ok(o)],
        latest_labs=[o for o in profile.latest_labs if obs_ok(o)],
        coverage=[c for c in profile.coverage if category_of(c.code) in allowed],
        daily={k: v for k, v in profile.daily.items() if category_of(k) in allowed},
        genotypes=profile.genotypes if Category.GENOMICS in allowed else [],
        environment=profile.environment if Category.LOCATION in allowed else {},
        lifestyle=profile.lifestyle if Category.NOTES in allowed else {},
    )
