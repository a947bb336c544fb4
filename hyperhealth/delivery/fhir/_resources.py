"""One FHIR R4 resource (a ``fhir.resources.R4B`` model, hence validated) per stored record.

The mapping is the reverse of :mod:`hyperhealth.ingest._fhir_map`, so an export imports back to
the same profile.

>>> valid_id("2d95f315-808c-4b67"), valid_id("hr.csv:12")
(True, False)
>>> value_system("8517006"), value_system("LA6576-8"), value_system("MNY")
('http://snomed.info/sct', 'http://loinc.org', '')
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.condition import Condition as FhirCondition
from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation as FhirObservation
from fhir.resources.R4B.patient import Patient

from hyperhealth.model import (
    LOINC,
    SNOMED,
    UCUM,
    Allergy,
    Condition,
    Encounter,
    Medication,
    Observation,
    Person,
)
from hyperhealth.model.codes import BP_PANEL, DIASTOLIC_BP, SYSTOLIC_BP
from hyperhealth.model.time import when_text

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
GEOLOCATION = "http://hl7.org/fhir/StructureDefinition/geolocation"
PERSON_ID_SYSTEM = "urn:hyperhealth:person"
CATEGORY_SYSTEM = TERMINOLOGY + "observation-category"
OWN_CATEGORY_SYSTEM = "urn:hyperhealth:observation-category"
# the codes of the FHIR observation-category code system (R4, terminology.hl7.org)
_FHIR_CATEGORIES = {"social-history", "vital-signs", "imaging", "laboratory", "procedure",
                    "survey", "exam", "therapy", "activity"}
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_COMPARATOR = re.compile(r"(<=|>=|<|>)(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")
# SNOMED CT identifiers: digits whose last is a Verhoeff check digit and whose partition
# identifier (2nd and 3rd digit from the right) is 00/10 for concepts (SNOMED CT Technical
# Implementation Guide, section 6.7 "SCTID")
# Verhoeff (1969): multiplication table of the dihedral group D5 and the position permutation
_D5 = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
       [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
       [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
       [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
       [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_PERM = [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]


def _perm(pos: int, digit: int) -> int:
    for _ in range(pos % 8):
        digit = _PERM[digit]
    return digit


def verhoeff_ok(digits: str) -> bool:
    """True when the last digit is the Verhoeff check digit of the others.

    >>> verhoeff_ok("8517006"), verhoeff_ok("8517007")
    (True, False)
    """
    c = 0
    for pos, ch in enumerate(reversed(digits)):
        c = _D5[c][_perm(pos, int(ch))]
    return c == 0


def value_system(code: str) -> str:
    """The code system of a stored coded answer, where its form shows it (else unknown)."""
    if code.isdigit() and 6 <= len(code) <= 18 and code[-3:-1] in ("00", "10") \
            and verhoeff_ok(code):
        return SNOMED
    if re.fullmatch(r"LA\d{1,8}-\d", code):
        return LOINC
    return ""


def valid_id(text: str) -> bool:
    return bool(_ID.fullmatch(text))


def stable_id(*parts: object) -> str:
    """A resource id derived from a record's natural key (same record, same id)."""
    return "hh-" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def _coding(system: str, code: str, display: str = "") -> dict[str, Any]:
    c = {"system": system, "code": code, "display": display}
    return {k: v for k, v in c.items() if v}


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    cc: dict[str, Any] = {"coding": [_coding(system, code, display)]} if code else {}
    if display:
        cc["text"] = display
    return cc


def _status(system: str, code: str) -> dict[str, Any] | None:
    return {"coding": [_coding(TERMINOLOGY + system, code)]} if code else None


def _when(v: datetime | date | None) -> str | None:
    return when_text(v) or None


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [], {})}


# -- Patient --------------------------------------------------------------------------------
def patient(p: Person, fhir_id: str) -> Patient:
    ident = dict(p.identity)
    ext: list[dict[str, Any]] = []
    for kind, text in (("race", p.race), ("ethnicity", p.ethnicity)):
        if text:
            ext.append({"url": f"{US_CORE}us-core-{kind}",
                        "extension": [{"url": "text", "valueString": text}]})
    identifiers: list[dict[str, Any]] = [{"system": PERSON_ID_SYSTEM, "value": p.id}]
    if ident.get("mrn"):
        identifiers.append({"type": {"coding": [_coding(TERMINOLOGY + "v2-0203", "MR")]},
                            "value": ident["mrn"]})
    name = _clean({"use": "official", "text": ident.get("name"), "family": ident.get("family"),
                   "given": ident["given"].split(" ") if ident.get("given") else None})
    address = None
    if p.home is not None:
        address = [_clean({"use": "home", "postalCode": p.home.label, "extension": [{
            "url": GEOLOCATION, "extension": [{"url": "latitude", "valueDecimal": p.home.lat},
                                              {"url": "longitude", "valueDecimal": p.home.lon}]
        }]})]
    return Patient.model_validate(_clean({
        "resourceType": "Patient", "id": fhir_id, "extension": ext, "identifier": identifiers,
        "name": [name] if len(name) > 1 else None, "gender": p.sex_at_birth,
        "birthDate": _when(p.birth_date), "deceasedDateTime": _when(p.deceased),
        "address": address}))


# -- Observation ----------------------------------------------------------------------------
def _value(o: Observation) -> dict[str, Any]:
    """The value[x] element of a stored row."""
    if o.value is not None:
        q: dict[str, Any] = {"value": o.value}
        if o.unit:
            q.update(unit=o.unit, system=UCUM, code=o.unit)
        return {"valueQuantity": q}
    m = _COMPARATOR.fullmatch(o.value_text)
    if m and o.unit:
        return {"valueQuantity": {"comparator": m[1], "value": float(m[2]), "unit": o.unit,
                                  "system": UCUM, "code": o.unit}}
    if o.value_code:
        return {"valueCodeableConcept": _concept(value_system(o.value_code), o.value_code,
                                                 o.value_text)}
    if o.value_text:
        return {"valueString": o.value_text}
    return {"dataAbsentReason": {"coding": [_coding(TERMINOLOGY + "data-absent-reason",
                                                     "unknown")]}}


def _code(o: Observation) -> dict[str, Any]:
    return _concept(o.system, o.code, o.display)


def observation(rows: Sequence[Observation], fhir_id: str, subject: str) -> FhirObservation:
    """One Observation from one row, or a panel with components from rows of one record."""
    first = rows[0]
    body: dict[str, Any] = {
        "resourceType": "Observation", "id": fhir_id, "status": "final",
        "subject": {"reference": subject},
    }
    if first.category:
        system = CATEGORY_SYSTEM if first.category in _FHIR_CATEGORIES else OWN_CATEGORY_SYSTEM
        body["category"] = [{"coding": [_coding(system, first.category)]}]
    if first.t_end is not None:
        body["effectivePeriod"] = {"start": when_text(first.t), "end": when_text(first.t_end)}
    else:
        body["effectiveDateTime"] = when_text(first.t)
    if first.device:
        body["device"] = {"display": first.device}
    if len(rows) == 1:
        body["code"] = _code(first)
        body.update(_value(first))
    else:
        codes = {r.code for r in rows}
        body["code"] = _concept(LOINC, BP_PANEL, "Blood pressure panel with all children "
                                "optional") if codes <= {SYSTOLIC_BP, DIASTOLIC_BP} \
            else {"text": "Panel"}
        body["component"] = [{"code": _code(r), **_value(r)} for r in rows]
    return FhirObservation.model_validate(body)


# -- other clinical records -----------------------------------------------------------------
def condition(c: Condition, fhir_id: str, subject: str) -> FhirCondition:
    return FhirCondition.model_validate(_clean({
        "resourceType": "Condition", "id": fhir_id, "subject": {"reference": subject},
        "clinicalStatus": _status("condition-clinical", c.clinical_status),
        "verificationStatus": _status("condition-ver-status", c.verification_status),
        "code": _concept(c.system, c.code, c.display), "onsetDateTime": _when(c.onset),
        "abatementDateTime": _when(c.abatement)}))


def medication(m: Medication, fhir_id: str, subject: str) -> MedicationRequest | \
        MedicationStatement:
    common = {"id": fhir_id, "subject": {"reference": subject}, "status": m.status or "unknown",
              "medicationCodeableConcept": _concept(m.system, m.code, m.display),
              "reasonCode": [{"text": m.reason}] if m.reason else None}
    dosage = [{"text": m.dosage}] if m.dosage else None
    if m.kind == "statement":
        period = _clean({"start": _when(m.start), "end": _when(m.end)})
        return MedicationStatement.model_validate(_clean({
            "resourceType": "MedicationStatement", **common, "dosage": dosage,
            "effectivePeriod": period if m.end is not None else None,
            "effectiveDateTime": _when(m.start) if m.end is None else None}))
    return MedicationRequest.model_validate(_clean({
        "resourceType": "MedicationRequest", **common, "intent": "order",
        "authoredOn": _when(m.start), "dosageInstruction": dosage,
        "dispenseRequest": {"validityPeriod": {"end": _when(m.end)}} if m.end else None}))


def allergy(a: Allergy, fhir_id: str, subject: str) -> AllergyIntolerance:
    return AllergyIntolerance.model_validate(_clean({
        "resourceType": "AllergyIntolerance", "id": fhir_id, "patient": {"reference": subject},
        "clinicalStatus": _status("allergyintolerance-clinical", a.clinical_status),
        "code": _concept(a.system, a.code, a.display),
        "category": [a.category] if a.category else None, "criticality": a.criticality,
        "onsetDateTime": _when(a.onset)}))


def encounter(e: Encounter, fhir_id: str, subject: str) -> FhirEncounter:
    cls = _coding(TERMINOLOGY + "v3-ActCode", e.class_code) if e.class_code \
        else _coding(TERMINOLOGY + "v3-NullFlavor", "UNK")  # class is required in R4
    return FhirEncounter.model_validate(_clean({
        "resourceType": "Encounter", "id": fhir_id, "subject": {"reference": subject},
        "status": e.status or "unknown", "class": cls,
        "type": [_concept(e.system, e.code, e.display)] if (e.code or e.display) else None,
        "period": _clean({"start": _when(e.start), "end": _when(e.end)}),
        "reasonCode": [{"text": e.reason}] if e.reason else None}))
