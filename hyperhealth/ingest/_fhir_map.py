"""Mapping validated FHIR R4 resources to the model types.

Each ``map_*`` function takes one resource (a dict that passed R4B validation), the person it
belongs to and its location, and returns records; a resource that cannot be stored is reported
through ``ctx.reject`` and yields nothing.

>>> pick_coding({"coding": [{"system": "x", "code": "1"},
...                         {"system": "http://loinc.org", "code": "8867-4"}]}, LOINC)
('http://loinc.org', '8867-4', '')
>>> dosage_text({"asNeededBoolean": True, "doseAndRate": [{"doseQuantity": {"value": 1,
...              "unit": "tablet"}}], "timing": {"repeat": {"frequency": 2, "period": 1,
...              "periodUnit": "d"}}})
'1 tablet, 2 per 1 d, as needed'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hyperhealth.errors import InputError
from hyperhealth.ingest._base import IngestContext
from hyperhealth.ingest._fhir_read import Bundle
from hyperhealth.model import (
    LOINC,
    RXNORM,
    SNOMED,
    UCUM,
    Allergy,
    Condition,
    Encounter,
    Location,
    Medication,
    Observation,
    Person,
    Quality,
    metric_for,
)
from hyperhealth.model.codes import METRICS
from hyperhealth.model.time import parse_when
from hyperhealth.model.units import MOLAR_TO_MASS_CODE, canonical_unit
from hyperhealth.store import _schema as S
from hyperhealth.store import new_person_id

SOURCE = "fhir"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
GEOLOCATION = "http://hl7.org/fhir/StructureDefinition/geolocation"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
# value[x] types kept as text (the number-free ones); the others are rejected with a reason
_TEXT_VALUES = ("valueString", "valueBoolean", "valueDateTime", "valueTime")
_NOT_STORED = ("valueRange", "valueRatio", "valueSampledData", "valuePeriod")


# -- small helpers ---------------------------------------------------------------------------
def pick_coding(cc: Any, prefer: str = "") -> tuple[str, str, str] | None:
    """``(system, code, display)`` of a CodeableConcept, preferring the ``prefer`` system."""
    if not isinstance(cc, dict):
        return None
    codings = [c for c in cc.get("coding") or [] if c.get("code")]
    if not codings:
        return None
    best = next((c for c in codings if c.get("system") == prefer), codings[0])
    return best.get("system", ""), best["code"], best.get("display", "")


def concept_text(cc: Any) -> str:
    """A CodeableConcept's words: its text, else the first display, else the first code."""
    if not isinstance(cc, dict):
        return ""
    if cc.get("text"):
        return str(cc["text"])
    for c in cc.get("coding") or []:
        if c.get("display") or c.get("code"):
            return str(c.get("display") or c.get("code"))
    return ""


def status_code(cc: Any) -> str:
    hit = pick_coding(cc)
    return hit[1] if hit else ""


def when(text: str | None, field: str) -> datetime | date | None:
    if not text:
        return None
    try:
        return parse_when(text)
    except ValueError as err:
        raise InputError(f"{text!r} is not a FHIR date/dateTime", field=field,
                         hint="use YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with offset") from err
    except InputError as err:
        raise InputError(err.message, field=field, hint=err.hint) from err


def instant(text: str | None, field: str, tz: Callable[[], str]) -> tuple[datetime | None,
                                                                          Quality]:
    """A point in time; a bare date is midnight in the person's zone (flagged TZ_ASSUMED)."""
    v = when(text, field)
    if v is None or isinstance(v, datetime):
        return v, Quality.NONE
    local = datetime(v.year, v.month, v.day, tzinfo=ZoneInfo(tz()))
    return local.astimezone(UTC), Quality.TZ_ASSUMED


def person_tz(ctx: IngestContext, pid: str) -> str:
    """The zone for bare dates: ``--tz``, else the person's, read inside the transaction.

    (``IngestContext.tz_for`` reads through a second connection, which cannot see a person
    created earlier in the same, not yet committed, transaction.)
    """
    if ctx.options.tz:
        return ctx.options.tz
    p = S.persons
    tz = ctx.writer.conn.execute(sa.select(p.c.tz).where(p.c.id == pid)).scalar()
    return str(tz or "UTC")


def dosage_text(d: Any) -> str:
    """A Dosage in words: its text, else dose, frequency and "as needed"."""
    if not isinstance(d, dict):
        return ""
    if d.get("text"):
        return str(d["text"])
    parts = []
    for dr in d.get("doseAndRate") or []:
        q = dr.get("doseQuantity")
        if q and q.get("value") is not None:
            parts.append(f"{q['value']:g} {q.get('unit') or q.get('code') or ''}".strip())
            break
    rep = (d.get("timing") or {}).get("repeat") or {}
    if rep.get("frequency") and rep.get("period"):
        parts.append(f"{rep['frequency']} per {rep['period']:g} {rep.get('periodUnit', '')}"
                     .strip())
    if d.get("asNeededBoolean"):
        parts.append("as needed")
    return ", ".join(parts)


class Refs:
    """Resolves ``subject``/``patient`` references to people, within a bundle or by id."""

    def __init__(self, ctx: IngestContext) -> None:
        self.ctx = ctx

    def patient_id(self, ref: str, bundle: Bundle | None) -> str | None:
        """The Patient.id a reference points at (``urn:uuid:..`` in the bundle, ``Patient/x``)."""
        if bundle is not None:
            res = bundle.get(ref)
            if res is not None:
                if res.get("resourceType") != "Patient":
                    return None
                return str(res.get("id") or ref.removeprefix("urn:uuid:"))  # as Unit.ext_id
        tail = ref.split("/_history/")[0].rstrip("/").split("/")
        if len(tail) >= 2 and tail[-2] == "Patient" and tail[-1]:
            return tail[-1]
        return None

    def person(self, res: dict[str, Any], field: str, where: str,
               bundle: Bundle | None) -> str | None:
        ref = (res.get(field) or {}).get("reference")
        if not ref:
            self.ctx.reject(where, field, f"{field} has no reference to a Patient",
                            "give the Patient reference (Patient/<id> or the entry's fullUrl)")
            return None
        pid = self.patient_id(str(ref), bundle)
        if pid is None:
            self.ctx.reject(where, field, f"{field} {ref!r} does not resolve to a Patient",
                            "include the Patient in the bundle or refer to it as Patient/<id>")
            return None
        return self.ctx.person(SOURCE, pid, None)


# -- Patient --------------------------------------------------------------------------------
def person_template(res: dict[str, Any]) -> Person:
    """Demographics and identity of a Patient (the person id is a fresh pseudonym)."""
    ext = {e.get("url"): e for e in res.get("extension") or []}
    bd = when(res.get("birthDate"), "birthDate")
    dec, _ = instant(res.get("deceasedDateTime"), "deceasedDateTime", lambda: "UTC")
    return Person(
        id=new_person_id(),
        birth_date=bd if isinstance(bd, date) and not isinstance(bd, datetime) else None,
        sex_at_birth=res.get("gender") or "unknown",
        race=_omb_text(ext.get(US_CORE + "us-core-race")),
        ethnicity=_omb_text(ext.get(US_CORE + "us-core-ethnicity")),
        home=_home(res.get("address") or []),
        identity=_identity(res),
        deceased=dec,
    )


def _omb_text(ext: dict[str, Any] | None) -> str:
    """US Core race/ethnicity: the ``text`` sub-extension, else the OMB category displays."""
    if not ext:
        return ""
    subs = ext.get("extension") or []
    for s in subs:
        if s.get("url") == "text" and s.get("valueString"):
            return str(s["valueString"])
    return ", ".join(str((s.get("valueCoding") or {}).get("display", "")) for s in subs
                     if s.get("url") in ("ombCategory", "detailed")).strip(", ")


def _home(addresses: list[dict[str, Any]]) -> Location | None:
    homes = [a for a in addresses if a.get("use") == "home"] or addresses
    for a in homes:
        for e in a.get("extension") or []:
            if e.get("url") != GEOLOCATION:
                continue
            ll = {s.get("url"): s.get("valueDecimal") for s in e.get("extension") or []}
            if ll.get("latitude") is not None and ll.get("longitude") is not None:
                return Location(float(ll["latitude"]), float(ll["longitude"]),
                                str(a.get("postalCode") or ""))
    return None


def _identity(res: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    names = res.get("name") or []
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if name:
        given = " ".join(name.get("given") or [])
        family = str(name.get("family") or "")
        full = name.get("text") or " ".join(p for p in (given, family) if p)
        out.update({k: v for k, v in (("name", full), ("given", given), ("family", family))
                    if v})
    for ident in res.get("identifier") or []:
        codes = {c.get("code") for c in (ident.get("type") or {}).get("coding") or []}
        if "MR" in codes and ident.get("value"):
            out["mrn"] = str(ident["value"])
            break
    return out


def map_patient(res: dict[str, Any], ext_id: str, where: str,
                ctx: IngestContext) -> str | None:
    """Create or update the person of a Patient; returns the person id."""
    if not ext_id:
        ctx.reject(where, "id", "Patient has no id", "give every Patient an id")
        return None
    template = person_template(res)
    known = ctx.options.person or _linked(ctx, str(ext_id))
    if known:  # FHIR has no time zone: keep the one the person has
        template = replace(template, tz=person_tz(ctx, known))
    pid = ctx.person(SOURCE, str(ext_id), template)
    # the person may have been met before through a reference; the Patient's data wins
    ctx.writer.upsert_person(replace(template, id=pid))
    return pid


def _linked(ctx: IngestContext, ext_id: str) -> str | None:
    L, p = S.person_links, S.persons
    found = ctx.writer.conn.execute(
        sa.select(p.c.id).join(L, L.c.person_pk == p.c.pk)
        .where(L.c.source == SOURCE, L.c.external_id == ext_id)).scalar()
    return str(found) if found is not None else None


# -- Observation ----------------------------------------------------------------------------
def map_observation(res: dict[str, Any], pid: str, where: str,
                    ctx: IngestContext) -> list[Observation]:
    status = res.get("status")
    if status in ("cancelled", "entered-in-error"):
        ctx.reject(where, "status", f"the observation is {status}; not stored")
        return []
    code = pick_coding(res.get("code"), LOINC)
    if code is None:
        ctx.reject(where, "code", "the observation code has no coding",
                   "give a LOINC (or other system) coding")
        return []
    def tz() -> str:
        return person_tz(ctx, pid)

    period = res.get("effectivePeriod") or {}
    start = res.get("effectiveDateTime") or res.get("effectiveInstant") or period.get("start")
    t, flags = instant(start, "effective[x]", tz)
    t_end, _ = instant(period.get("end"), "effectivePeriod.end", tz)
    if t is None:
        ctx.reject(where, "effective[x]", "the observation has no effective time",
                   "give effectiveDateTime or effectivePeriod.start; issued, the time a result "
                   "was released, is not used in its place")
        return []
    base: dict[str, Any] = {"source": SOURCE, "record_id": str(res.get("id") or ""),
                            "t_end": t_end}
    cat = _category(res.get("category") or [])
    if cat:
        base["category"] = cat
    rows: list[Observation] = []
    components = res.get("component") or []
    if _has_value(res) or not components:
        rows += _value_row(res, code, concept_text(res.get("code")), pid, t, flags, base,
                           where, ctx)
    for i, comp in enumerate(components):
        ccode = pick_coding(comp.get("code"), LOINC)
        cwhere = f"{where} component[{i}]"
        if ccode is None:
            ctx.reject(cwhere, "code", "the component code has no coding")
        elif _has_value(comp):
            rows += _value_row(comp, ccode, concept_text(comp.get("code")), pid, t, flags,
                               base, cwhere, ctx)
    return rows


def _has_value(el: dict[str, Any]) -> bool:
    return any(k.startswith("value") for k in el)


def _category(cats: list[dict[str, Any]]) -> str:
    for cc in cats:
        hit = pick_coding(cc, "http://terminology.hl7.org/CodeSystem/observation-category")
        if hit:
            return hit[1]
    return ""


def _value_row(el: dict[str, Any], code: tuple[str, str, str], text: str, pid: str,
               t: datetime, flags: Quality, base: dict[str, Any], where: str,
               ctx: IngestContext) -> list[Observation]:
    system, c, display = code
    display = display or text
    fields = dict(base, system=system, display=display)
    if "valueQuantity" in el:
        q = el["valueQuantity"]
        if q.get("value") is None:
            ctx.reject(where, "valueQuantity.value", "the quantity has no value")
            return []
        unit = str((q.get("code") if q.get("system") == UCUM else None)
                   or q.get("unit") or q.get("code") or "")
        if c in MOLAR_TO_MASS_CODE and canonical_unit(unit) == "mmol/L" and system == LOINC:
            c = MOLAR_TO_MASS_CODE[c]  # the mass-concentration code; the value is converted
            fields["display"] = METRICS[c].display
        if q.get("comparator"):  # "<0.5": a bound, not a value; kept as text
            return [_text_row(pid, c, t, fields, f"{q['comparator']}{q['value']}", "",
                              canonical_unit(unit), flags)]
        o = ctx.observation(where, pid, c, t, float(q["value"]), unit, flags=flags, **fields)
        return [o] if o is not None else []
    if "valueInteger" in el:
        o = ctx.observation(where, pid, c, t, float(el["valueInteger"]), "", flags=flags,
                            **fields)
        return [o] if o is not None else []
    if "valueCodeableConcept" in el:
        cc = el["valueCodeableConcept"]
        hit = pick_coding(cc, SNOMED)
        return [_text_row(pid, c, t, fields, concept_text(cc), hit[1] if hit else "", "",
                          flags)]
    for key in _TEXT_VALUES:
        if key in el:
            v = el[key]
            txt = ("true" if v else "false") if isinstance(v, bool) else str(v)
            return [_text_row(pid, c, t, fields, txt, "", "", flags)]
    kind = next((k for k in _NOT_STORED if k in el), None)
    if kind is not None:
        ctx.reject(where, kind, f"{kind} values are not stored",
                   "send a valueQuantity, a coded or a text value")
    else:
        why = concept_text(el.get("dataAbsentReason"))
        ctx.reject(where, "value[x]", "the observation has no value"
                   + (f" (data absent: {why})" if why else ""))
    return []


def _text_row(pid: str, code: str, t: datetime, fields: dict[str, Any], text: str,
              value_code: str, unit: str, flags: Quality) -> Observation:
    m = metric_for(fields["system"], code)
    fields = dict(fields)
    if m is not None:
        fields.setdefault("category", m.category)
    return Observation(pid, code, t, None, unit, value_text=text, value_code=value_code,
                       flags=flags, **fields)


# -- other clinical records -----------------------------------------------------------------
def _coded(res: dict[str, Any], field: str, prefer: str, where: str,
           ctx: IngestContext) -> tuple[str, str, str] | None:
    hit = pick_coding(res.get(field), prefer)
    if hit is None:
        ctx.reject(where, field, f"{field} has no coding", "give a coded concept")
        return None
    sys_, code, display = hit
    return sys_, code, display or concept_text(res.get(field))


def _onset(res: dict[str, Any]) -> datetime | date | None:
    """onsetDateTime, else the start of onsetPeriod (Condition and AllergyIntolerance)."""
    return when(res.get("onsetDateTime") or (res.get("onsetPeriod") or {}).get("start"),
                "onset[x]")


def map_condition(res: dict[str, Any], pid: str, where: str,
                  ctx: IngestContext) -> list[Condition]:
    coded = _coded(res, "code", SNOMED, where, ctx)
    if coded is None:
        return []
    system, code, display = coded
    onset = _onset(res)
    abate = when(res.get("abatementDateTime") or (res.get("abatementPeriod") or {}).get("end"),
                 "abatement[x]")
    return [Condition(pid, code, display, system, onset, abate,
                      status_code(res.get("clinicalStatus")),
                      status_code(res.get("verificationStatus")), SOURCE,
                      str(res.get("id") or ""))]


def map_medication(res: dict[str, Any], pid: str, where: str, ctx: IngestContext,
                   bundle: Bundle | None) -> list[Medication]:
    statement = res["resourceType"] == "MedicationStatement"
    med: dict[str, Any] = res
    field = "medicationCodeableConcept"
    ref = (res.get("medicationReference") or {}).get("reference")
    if ref:  # a Medication resource in the bundle or contained in this resource
        found = _contained(res, ref) or (bundle.get(ref) if bundle else None)
        if found is None:
            ctx.reject(where, "medicationReference", f"{ref!r} is not in the bundle",
                       "include the Medication or use medicationCodeableConcept")
            return []
        med, field = found, "code"
    coded = _coded(med, field, RXNORM, where, ctx)
    if coded is None:
        return []
    system, code, display = coded
    if statement:
        period = res.get("effectivePeriod") or {}
        start = when(res.get("effectiveDateTime") or period.get("start"), "effective[x]")
        end = when(period.get("end"), "effectivePeriod.end")
        dosage = dosage_text((res.get("dosage") or [None])[0])
    else:
        start = when(res.get("authoredOn"), "authoredOn")
        validity = (res.get("dispenseRequest") or {}).get("validityPeriod") or {}
        end = when(validity.get("end"), "dispenseRequest.validityPeriod.end")
        dosage = dosage_text((res.get("dosageInstruction") or [None])[0])
    return [Medication(pid, code, display, system, "statement" if statement else "request",
                       str(res.get("status") or ""), start, end, dosage,
                       _reason(res, bundle), SOURCE, str(res.get("id") or ""))]


def _contained(res: dict[str, Any], ref: str) -> dict[str, Any] | None:
    if not ref.startswith("#"):
        return None
    return next((c for c in res.get("contained") or [] if c.get("id") == ref[1:]), None)


def _reason(res: dict[str, Any], bundle: Bundle | None) -> str:
    for cc in res.get("reasonCode") or []:
        if concept_text(cc):
            return concept_text(cc)
    for r in res.get("reasonReference") or []:
        target = bundle.get(str(r.get("reference"))) if bundle and r.get("reference") else None
        text = concept_text(target.get("code")) if target else ""
        if text or r.get("display"):
            return text or str(r["display"])
    return ""


def map_allergy(res: dict[str, Any], pid: str, where: str, ctx: IngestContext) -> list[Allergy]:
    coded = _coded(res, "code", SNOMED, where, ctx)
    if coded is None:
        return []
    system, code, display = coded
    onset = _onset(res)
    return [Allergy(pid, code, display, system, (res.get("category") or [""])[0],
                    str(res.get("criticality") or ""), status_code(res.get("clinicalStatus")),
                    onset, SOURCE, str(res.get("id") or ""))]


def map_encounter(res: dict[str, Any], pid: str, where: str,
                  ctx: IngestContext) -> list[Encounter]:
    def tz() -> str:
        return person_tz(ctx, pid)

    period = res.get("period") or {}
    start, _ = instant(period.get("start"), "period.start", tz)
    if start is None:
        ctx.reject(where, "period.start", "the encounter has no start time",
                   "give Encounter.period.start")
        return []
    end, _ = instant(period.get("end"), "period.end", tz)
    cls = res.get("class") or {}
    class_code = "" if cls.get("system") == NULL_FLAVOR else str(cls.get("code") or "")
    types = res.get("type") or []
    hit = pick_coding(types[0], SNOMED) if types else None
    system, code, display = hit if hit else (SNOMED, "", "")
    display = display or (concept_text(types[0]) if types else "")
    return [Encounter(pid, start, end, class_code, code, display, system,
                      str(res.get("status") or ""), _reason(res, None), SOURCE,
                      str(res.get("id") or ""))]
