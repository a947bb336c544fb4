"""FHIR export: a Synthea person and a wearable stream out as R4 and back in to the same profile."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

import hyperhealth.delivery.fhir as fhir_export
from hyperhealth.delivery.fhir import export_bundle, export_ndjson
from hyperhealth.ingest import _driver, ingest_paths
from hyperhealth.ingest.fhir import ingest_bundle
from hyperhealth.model import Observation
from hyperhealth.store import Store


@pytest.fixture(autouse=True)
def _present_adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Detect among the adapters present in this checkout (others are written in parallel)."""
    mods = tuple(m for m in _driver.ADAPTER_MODULES
                 if importlib.util.find_spec(f"hyperhealth.ingest.{m}") is not None)
    monkeypatch.setattr(_driver, "ADAPTER_MODULES", mods)


def _strip(rec: Any) -> dict[str, Any]:
    d = asdict(rec)
    for k in ("id", "person_id", "flags"):  # pseudonym differs; flags are recomputed on import
        d.pop(k, None)
    return d


def profile(store: Store, person_id: str) -> dict[str, Any]:
    """What must survive a round trip, read through the store's public functions."""
    return {
        "person": _strip(store.person(person_id)),
        **{kind: sorted(map(repr, map(_strip, getattr(store, kind)(person_id))))
           for kind in ("observations", "conditions", "medications", "allergies",
                        "encounters")},
    }


def test_exports_are_public() -> None:
    assert set(fhir_export.__all__) == {"export_bundle", "export_ndjson", "person_resources"}


def test_synthea_person_round_trip(sqlite_store: Store, shared_data: Path,
                                   tmp_path: Path) -> None:
    src = shared_data / "fhir" / "synthea" / \
        "Alexia_Senger_a5f5a550-b13e-4f92-b194-6d118f67fcdb.json"
    assert ingest_paths(sqlite_store, [src])[0].ok
    pid = sqlite_store.persons()[0].id
    bundle = export_bundle(sqlite_store, pid)

    Bundle.model_validate(bundle)  # the whole bundle is valid R4 (R4B models)
    assert bundle["type"] == "searchset" and bundle["total"] == len(bundle["entry"])
    assert all(e["fullUrl"].endswith(f"/{e['resource']['resourceType']}/{e['resource']['id']}")
               for e in bundle["entry"])
    patient = bundle["entry"][0]["resource"]
    assert patient["id"] == "2d95f315-808c-4b67-836b-e56bdba9dd21"
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in bundle["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    original = json.loads(src.read_text(encoding="utf-8"))["entry"]
    want_obs = sum(e["resource"]["resourceType"] == "Observation" for e in original)
    assert len(by_type["Observation"]) == want_obs  # panels recombined, one per resource
    panels = [o for o in by_type["Observation"] if "component" in o]
    bp = [o for o in panels if o["code"]["coding"][0]["code"] == "85354-9"]
    assert bp and all({c["code"]["coding"][0]["code"] for c in o["component"]}
                      == {"8480-6", "8462-4"} for o in bp)
    coded = [o for o in by_type["Observation"] if "valueCodeableConcept" in o]
    assert coded and all(o["valueCodeableConcept"]["coding"][0]["system"]
                         == "http://snomed.info/sct" for o in coded)

    fresh = Store(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    rep = ingest_bundle(fresh, bundle)
    assert rep.ok and not rep.rejects
    new_pid = fresh.find_person("fhir", patient["id"])
    assert new_pid is not None
    assert profile(fresh, new_pid) == profile(sqlite_store, pid)
    fresh.close()


def test_ndjson_round_trip_with_a_minute_stream(sqlite_store: Store, shared_data: Path,
                                                tmp_path: Path) -> None:
    synthea = sorted((shared_data / "fhir" / "synthea").glob("*.json"))[:3]
    assert all(r.ok for r in ingest_paths(sqlite_store, synthea))
    pid = sqlite_store.persons()[0].id
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    stream = [Observation(pid, "8867-4", t0 + timedelta(minutes=i), 60.0 + i % 40, "/min",
                          category="vital-signs", source="watch", device="w-1")
              for i in range(3 * 1440)]
    stream += [Observation(pid, c, t0, v, "mm[Hg]", category="vital-signs", source="cuff",
                           record_id="r1") for c, v in (("8480-6", 121.0), ("8462-4", 79.0))]
    with sqlite_store.transaction() as w:
        assert w.add_observations(stream) == len(stream)

    out = tmp_path / "bulk"
    counts = export_ndjson(sqlite_store, out)
    assert counts["Patient"] == 3
    assert {p.name for p in out.iterdir()} == {f"{t}.ndjson" for t in counts}
    for f in out.iterdir():
        lines = f.read_text(encoding="utf-8").splitlines()
        assert len(lines) == counts[f.stem]
        model = get_fhir_model_class(f.stem)
        for line in lines:
            model.model_validate_json(line)

    fresh = Store(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    reps = ingest_paths(fresh, [out])
    assert all(r.ok and not r.rejects for r in reps), [r.rejects[:2] for r in reps]
    assert len(fresh.persons()) == 3
    for person in sqlite_store.persons():
        fid = next(x for s, x in sqlite_store.person_links(person.id) if s == "fhir")
        new = fresh.find_person("fhir", fid)
        assert new is not None
        before, after = profile(sqlite_store, person.id), profile(fresh, new)
        for kind in ("person", "conditions", "medications", "allergies", "encounters"):
            assert after[kind] == before[kind], kind
        # device rows come back as FHIR rows: compare what a reading is
        def key(o: Observation) -> tuple[Any, ...]:
            return o.code, o.t, o.value, o.unit, o.value_text, o.value_code, o.category
        assert sorted(map(key, fresh.observations(new))) == \
            sorted(map(key, sqlite_store.observations(person.id)))
    # the cuff's systolic/diastolic pair went out as one panel
    obs = [json.loads(x) for x in (out / "Observation.ndjson").read_text().splitlines()]
    cuff = [o for o in obs if o.get("effectiveDateTime", "").startswith("2024-05-01T00:00:00")
            and "component" in o]
    assert len(cuff) == 1 and cuff[0]["code"]["coding"][0]["code"] == "85354-9"
    assert sorted(c["valueQuantity"]["value"] for c in cuff[0]["component"]) == [79.0, 121.0]
    fresh.close()
