"""Export a person (``Patient/$everything``-style Bundle) or everyone (Bulk Data NDJSON).

Observations are read from the store in chunks and written as they come, so minute-level
streams never sit in memory as one list; rows of one FHIR panel (same record id and time) are
put back together as one Observation with components.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from hyperhealth.delivery.fhir import _resources as R
from hyperhealth.model import Observation
from hyperhealth.model.codes import DIASTOLIC_BP, SYSTOLIC_BP
from hyperhealth.security._model import Category, category_of
from hyperhealth.store import Store
from hyperhealth.store import _schema as S
from hyperhealth.store._store import _OBS_COLS, _observation

DEFAULT_BASE = "http://localhost/fhir"
_CHUNK = 5000
_BP_PAIR = {SYSTOLIC_BP, DIASTOLIC_BP}


def patient_fhir_id(store: Store, person_id: str) -> str:
    """The Patient id to export: the person's FHIR id when they have exactly one, else theirs."""
    ids = [x for s, x in store.person_links(person_id) if s == "fhir" and R.valid_id(x)]
    return ids[0] if len(ids) == 1 else person_id


def iter_observations(store: Store, person_id: str) -> Iterator[Observation]:
    """A person's observations in time order, fetched in chunks (server-side on PostgreSQL)."""
    o = S.observations
    pk = store.person_pk(person_id)
    q = (sa.select(*[o.c[c] for c in _OBS_COLS]).where(o.c.person_pk == pk)
         .order_by(o.c.t, o.c.source, o.c.device, o.c.record_id, o.c.code))
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(q)
        for row in result:
            yield _observation(person_id, row)


def observation_resources(store: Store, person_id: str, subject: str) -> Iterator[Any]:
    """FHIR Observations for a person; rows of one panel record become one resource."""
    def key(o: Observation) -> tuple[Any, ...]:
        return o.t, o.source, o.device, o.record_id

    for (t, source, device, record_id), grp in itertools.groupby(
            iter_observations(store, person_id), key):
        rows = list(grp)
        panel = bool(record_id) and len(rows) > 1 and \
            (source == "fhir" or {r.code for r in rows} == _BP_PAIR)
        groups = [rows] if panel else [[r] for r in rows]
        for g in groups:
            if source == "fhir" and R.valid_id(record_id) and (panel or len(rows) == 1):
                fid = record_id
            else:
                fid = R.stable_id(person_id, source, device, record_id, t.isoformat(),
                                  "" if panel else g[0].code)
            yield R.observation(g, fid, subject)


def _record_id(person_id: str, rec: Any, *key: object) -> str:
    rid = getattr(rec, "record_id", "")
    if getattr(rec, "source", "") == "fhir" and R.valid_id(rid):
        return str(rid)
    return R.stable_id(person_id, type(rec).__name__, getattr(rec, "source", ""), rid, *key)


def person_resources(store: Store, person_id: str,
                     allowed: frozenset[Category] | None = None) -> Iterator[Any]:
    """Every resource of one person, as ``fhir.resources.R4B`` models (Patient first).

    ``allowed`` (from the caller's consent) keeps only resources of those data categories; the
    Patient then carries direct identifiers only when ``identity`` is allowed.
    """
    def ok(c: Category) -> bool:
        return allowed is None or c in allowed

    fid = patient_fhir_id(store, person_id)
    subject = f"Patient/{fid}"
    person = store.person(person_id)
    if not ok(Category.IDENTITY):
        person = replace(person, identity={}, home=None)
    yield R.patient(person, fid)
    if ok(Category.CONDITIONS):
        for c in store.conditions(person_id):
            yield R.condition(c, _record_id(person_id, c, c.code, c.onset), subject)
    if ok(Category.MEDICATIONS):
        for m in store.medications(person_id):
            yield R.medication(m, _record_id(person_id, m, m.code, m.start), subject)
    if ok(Category.CONDITIONS):
        for a in store.allergies(person_id):
            yield R.allergy(a, _record_id(person_id, a, a.code, a.onset), subject)
        for e in store.encounters(person_id):
            yield R.encounter(e, _record_id(person_id, e, e.start), subject)
    for obs in observation_resources(store, person_id, subject):
        if allowed is None or _observation_category(obs) in allowed:
            yield obs


def _observation_category(obs: Any) -> Category:
    codings = obs.code.coding or [] if obs.code else []
    cats = [cc.code for c in (obs.category or []) for cc in (c.coding or [])]
    return category_of(codings[0].code if codings else "", cats[0] if cats else "")


def export_bundle(store: Store, person_id: str, *, base_url: str = DEFAULT_BASE,
                  allowed: frozenset[Category] | None = None) -> dict[str, Any]:
    """A ``searchset`` Bundle with everything about one person, as FHIR R4 JSON (a dict).

    Each entry has a ``fullUrl`` under ``base_url``; every resource was built (and so
    validated) with ``fhir.resources.R4B``.
    """
    entries = [{"fullUrl": f"{base_url}/{r.get_resource_type()}/{r.id}",
                "resource": r.model_dump(mode="json", exclude_none=True),
                "search": {"mode": "match"}}
               for r in person_resources(store, person_id, allowed)]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
            "entry": entries}


def export_ndjson(store: Store, out_dir: Path) -> dict[str, int]:
    """Write ``<ResourceType>.ndjson`` files (FHIR Bulk Data style) for every person.

    Returns the number of resources written per type; types with none get no file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    with ExitStack() as stack:
        files: dict[str, IO[str]] = {}
        for person in store.persons():
            for res in person_resources(store, person.id):
                rtype = res.get_resource_type()
                f = files.get(rtype)
                if f is None:
                    f = files[rtype] = stack.enter_context(
                        open(out_dir / f"{rtype}.ndjson", "w", encoding="utf-8"))
                f.write(res.model_dump_json(exclude_none=True))
                f.write("\n")
                counts[rtype] += 1
    return dict(counts)
