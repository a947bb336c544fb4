"""Inputs of a risk equation taken from a person's records, each with where it came from.

Rules (also in ``docs/methods.md``, section Risk):

- labs: the latest result of each LOINC code (``_codes.LAB_CODES``) up to ``as_of``, converted
  to the equation's unit (cholesterol mmol/L x 38.67, creatinine umol/L / 88.4, urine
  albumin/creatinine mg/mmol x 8.84); a result in another unit is not used and is reported;
- PREVENT's optional inputs (they choose its model): HbA1c and UACR from the latest results
  as above, when inside the add-on models' range; the Social Deprivation Index decile cannot be
  looked up (no ZIP-to-SDI table) and is listed as missing unless given. What is absent is
  listed under ``optional_missing`` (the equation still computes) and in ``notes``;
- systolic BP: the mean of every reading in the ``BP_WINDOW`` (28 days) up to the latest reading;
  home-device readings are used when the window has any, else clinic readings. The window is a
  project choice (about four weeks of twice-daily home readings), not a clinical threshold;
  QRISK3's SBP variability is the SD of the readings of the last 5 years, as in its definition;
- eGFR: computed with CKD-EPI 2021 (creatinine-cystatin C when both are measured) from the
  latest creatinine; a stored eGFR is used only when no creatinine is available, named with its
  equation;
- conditions and medications: SNOMED CT and RxNorm codes (``_codes``); a condition that is
  recorded as resolved still counts for history items (stroke, MI), not for states (diabetes,
  atrial fibrillation); no matching record means "no" and is listed as such;
- smoking: the latest tobacco smoking status (LOINC 72166-2);
- BMI: the latest BMI, else the latest weight over the latest height squared.

Every value lists the records it came from; what could not be found is listed under
``missing`` with what to record, and values that are assumed are listed under ``imputed``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hyperhealth.errors import InputError
from hyperhealth.insights.risk import _codes as K
from hyperhealth.insights.risk._base import (
    CHOL_MG_DL_PER_MMOL_L,
    CREATININE_UMOL_PER_MG_DL,
    Equation,
)
from hyperhealth.insights.risk._ckd_epi import egfr_creatinine, egfr_creatinine_cystatin
from hyperhealth.insights.risk._prevent import OPTIONAL as PREVENT_OPTIONAL
from hyperhealth.insights.risk._prevent import UACR_MG_G_PER_MG_MMOL
from hyperhealth.insights.risk._registry import get_equation
from hyperhealth.model import Condition, Medication, Observation, Person
from hyperhealth.model.units import canonical_unit
from hyperhealth.store import Store

#: systolic BP is averaged over the readings of this window up to the latest reading
BP_WINDOW = timedelta(days=28)
#: QRISK3's SBP variability: SD of the readings of the last 5 years (its sbps5 definition)
SBP_SD_WINDOW = timedelta(days=5 * 365)
#: exercise logged over this window decides "usually >= 30 min of activity a day" (FINDRISC)
ACTIVITY_WINDOW = timedelta(days=28)

_ACTIVE = ("active", "recurrence", "relapse")
_LABELS = {"diabetes_any": "diabetes", "diabetes_type1": "type 1 diabetes",
           "diabetes_type2": "type 2 diabetes", "af": "atrial fibrillation",
           "ckd_stage_3_5": "chronic kidney disease stage 3-5", "sle": "lupus (SLE)",
           "high_glucose": "prediabetes or high blood glucose", "stroke_tia": "stroke or TIA"}
_HISTORY = frozenset({"stroke_tia", "myocardial_infarction", "coronary_disease",
                      "peripheral_artery_disease", "high_glucose"})
_MED_ACTIVE = ("active", "intended", "on-hold")


@dataclass(frozen=True, slots=True)
class InputSource:
    """One input value and where it came from."""

    name: str
    value: Any
    how: str  # measured | computed | recorded | no record | imputed
    detail: str
    records: tuple[str, ...] = ()
    when: str = ""


@dataclass(frozen=True, slots=True)
class MissingInput:
    name: str
    reason: str
    hint: str


@dataclass(frozen=True, slots=True)
class AssembledInputs:
    """Inputs for one equation from one person's profile."""

    person_id: str
    equation: str
    as_of: datetime
    values: dict[str, Any]
    used: tuple[InputSource, ...]
    missing: tuple[MissingInput, ...]
    imputed: tuple[InputSource, ...]
    extra: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: optional inputs not found (PREVENT's HbA1c, UACR, SDI decile): computed without them
    optional_missing: tuple[MissingInput, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "equation": self.equation,
                "as_of": self.as_of.isoformat(), "values": dict(self.values),
                "used": [asdict(u) for u in self.used],
                "missing": [asdict(m) for m in self.missing],
                "imputed": [asdict(i) for i in self.imputed], "extra": dict(self.extra),
                "notes": list(self.notes),
                "optional_missing": [asdict(m) for m in self.optional_missing],
                "complete": self.complete}


def _ref(o: Observation) -> str:
    rid = o.record_id or o.t.isoformat()
    return f"Observation {o.code} {rid} ({o.source or 'unknown source'})"


def _day(t: datetime | date | None) -> str:
    if t is None:
        return ""
    return (t.date() if isinstance(t, datetime) else t).isoformat()


class Facts:
    """Everything about one person that any equation may need, gathered once."""

    def __init__(self, store: Store, person_id: str, as_of: datetime | None = None) -> None:
        self.person: Person = store.person(person_id)
        self.as_of = as_of or datetime.now(UTC)
        self.found: dict[str, InputSource] = {}
        self.missing: dict[str, MissingInput] = {}
        self.notes: list[str] = []
        end = self.as_of + timedelta(microseconds=1)
        codes = [*K.LAB_CODES, *K.EGFR_CODES, K.BMI, K.WEIGHT, K.HEIGHT, *K.WAIST_CODES,
                 K.SMOKING_STATUS]
        self.latest: dict[str, Observation] = {}
        for o in store.latest_observations(person_id, codes):
            if o.t < end:
                self.latest[o.code] = o
            else:  # newer than as_of: the latest one before it
                older = store.observations(person_id, o.code, end=end)
                if older:
                    self.latest[o.code] = older[-1]
        self.systolic = [o for o in store.observations(person_id, K.SYSTOLIC, end=end)
                         if o.value is not None]
        self.conditions = [c for c in store.conditions(person_id)
                           if c.verification_status not in ("refuted", "entered-in-error")]
        self.medications = store.medications(person_id)
        self.exercise = [e for e in store.lifestyle_events(person_id, self.as_of
                                                           - ACTIVITY_WINDOW, end)
                         if str(e.kind) == "exercise"]
        self._demographics()
        self._labs()
        self._egfr()
        self._bp()
        self._body()
        self._smoking()
        self._conditions()
        self._medications()
        self._activity()

    # -- helpers -------------------------------------------------------------------------------
    def put(self, name: str, value: Any, how: str, detail: str,
            records: Iterable[str] = (), when: str = "") -> None:
        self.found[name] = InputSource(name, value, how, detail, tuple(records), when)

    def miss(self, name: str, reason: str, hint: str) -> None:
        self.missing[name] = MissingInput(name, reason, hint)

    # -- person --------------------------------------------------------------------------------
    def _demographics(self) -> None:
        p = self.person
        if p.birth_date is None:
            self.miss("age", "no birth date", "record the person's birth date")
        else:
            d = self.as_of.date()
            age = d.year - p.birth_date.year - ((d.month, d.day)
                                                < (p.birth_date.month, p.birth_date.day))
            self.put("age", age, "computed", f"age on {d.isoformat()} from birth date "
                     f"{p.birth_date.isoformat()}", ["Person.birth_date"])
        if p.sex_at_birth in ("female", "male"):
            self.put("sex", p.sex_at_birth, "recorded", "sex at birth", ["Person.sex_at_birth"])
        else:
            self.miss("sex", f"sex at birth is {p.sex_at_birth!r}",
                      "the equations are sex-specific: record female or male sex at birth")
        if p.deceased is not None:
            self.notes.append(f"the person is recorded as deceased on {_day(p.deceased)}")
        race = p.race.strip().lower()
        group = ("african_american" if "black" in race or "african" in race
                 else "white" if race == "white" else "other" if race else "")
        if group:
            self.put("race", group, "recorded", f"race {p.race!r} -> PCE group {group}",
                     ["Person.race"])
        else:
            self.miss("race", "no race recorded", "the Pooled Cohort Equations need a race "
                      "group (white, african_american or other)")
        # QRISK3 (UK categories): only unambiguous ones are mapped
        eth = {"white": "white_or_not_stated", "": "white_or_not_stated",
               "chinese": "chinese", "indian": "indian", "pakistani": "pakistani",
               "bangladeshi": "bangladeshi"}.get(race)
        if eth is None and race in ("american indian or alaska native",
                                    "native hawaiian or other pacific islander", "other"):
            eth = "other"
        if eth is not None:
            self.put("ethnicity", eth, "recorded", f"race {p.race!r} -> QRISK3 group {eth}",
                     ["Person.race"])
        else:
            self.miss("ethnicity", f"race {p.race!r} does not map to one QRISK3 group",
                      "QRISK3 distinguishes e.g. Black Caribbean and Black African, Indian, "
                      "Pakistani, Bangladeshi, Chinese and other Asian: give the group")

    # -- labs ----------------------------------------------------------------------------------
    def _labs(self) -> None:
        best: dict[str, Observation] = {}
        for code, name in K.LAB_CODES.items():
            o = self.latest.get(code)
            if o is not None and o.value is not None and (name not in best
                                                          or o.t > best[name].t):
                best[name] = o
        conv = {"total_c": ("mg/dL", {"mmol/L": CHOL_MG_DL_PER_MMOL_L}),
                "hdl_c": ("mg/dL", {"mmol/L": CHOL_MG_DL_PER_MMOL_L}),
                "ldl_c": ("mg/dL", {"mmol/L": CHOL_MG_DL_PER_MMOL_L}),
                "creatinine": ("mg/dL", {"umol/L": 1 / CREATININE_UMOL_PER_MG_DL}),
                "cystatin_c": ("mg/L", {}), "hba1c": ("%", {}),
                "uacr": ("mg/g", {"mg/mmol": UACR_MG_G_PER_MG_MMOL, "mg/g{creat}": 1.0,
                                  "ug/mg": 1.0})}
        for name, (unit, alt) in conv.items():
            o = best.get(name)
            if o is None:
                self.miss(name, "no result on record", f"record a {name.replace('_', ' ')} "
                          "result")
                continue
            u = canonical_unit(o.unit).replace("µ", "u").replace("μ", "u")
            assert o.value is not None
            if u in ("", unit):
                value = float(o.value)
            elif u in alt:
                value = float(o.value) * alt[u]
            else:
                self.miss(name, f"latest result is in {o.unit!r}, which is not converted",
                          f"give the result in {unit}")
                continue
            conv_note = f" ({o.value:g} {o.unit})" if u not in ("", unit) else ""
            self.put(name, value, "measured", f"latest {o.display or o.code} "
                     f"{value:.4g} {unit}{conv_note} on {_day(o.t)}", [_ref(o)], _day(o.t))

    def _egfr(self) -> None:
        age, sex = self.found.get("age"), self.found.get("sex")
        cr, cys = self.found.get("creatinine"), self.found.get("cystatin_c")
        if cr is not None and age is not None and sex is not None and age.value >= 18:
            female = sex.value == "female"
            if cys is not None:
                e = egfr_creatinine_cystatin(age.value, female, cr.value, cys.value)
                how = "CKD-EPI 2021 creatinine-cystatin C"
                recs = (*cr.records, *cys.records)
            else:
                e = egfr_creatinine(age.value, female, cr.value)
                how = "CKD-EPI 2021 creatinine"
                recs = cr.records
            self.put("egfr", round(e, 2), "computed", f"{how} from creatinine of {cr.when}",
                     recs, cr.when)
            return
        stored = [self.latest[c] for c in K.EGFR_CODES if c in self.latest
                  and self.latest[c].value is not None]
        if stored:
            o = max(stored, key=lambda x: x.t)
            self.put("egfr", float(o.value or 0), "measured", f"stored eGFR ({K.EGFR_CODES[o.code]}"
                     f") on {_day(o.t)}; no creatinine to recompute it with CKD-EPI 2021",
                     [_ref(o)], _day(o.t))
            return
        self.miss("egfr", "no creatinine or eGFR on record", "record a serum creatinine")

    # -- blood pressure --------------------------------------------------------------------------
    def _bp(self) -> None:
        if not self.systolic:
            self.miss("sbp", "no systolic blood pressure on record",
                      "record blood pressure (home cuff or clinic)")
            return
        last = self.systolic[-1].t
        window = [o for o in self.systolic if o.t > last - BP_WINDOW]
        home = [o for o in window if o.device]
        use = home or window
        mean = statistics.fmean(float(o.value or 0) for o in use)
        kind = "home-device" if home else "clinic/record"
        devices = sorted({o.device for o in use if o.device})
        recs = [f"{len(use)} systolic readings ({kind}) {_day(use[0].t)} to {_day(last)}"
                + (f", devices {', '.join(devices)}" if devices else "")]
        self.put("sbp", round(mean, 1), "computed", f"mean of {len(use)} {kind} systolic "
                 f"readings in the {BP_WINDOW.days} days up to {_day(last)}", recs, _day(last))
        five = [float(o.value or 0) for o in self.systolic if o.t > self.as_of - SBP_SD_WINDOW]
        if len(five) >= 2:
            sd = statistics.stdev(five)
            self.put("sbp_sd", round(sd, 2), "computed", f"SD of {len(five)} systolic readings "
                     f"in the 5 years up to {_day(self.as_of)}"
                     + (" (home readings included; QRISK3 was derived with clinic readings)"
                        if any(o.device for o in self.systolic) else ""),
                     [f"{len(five)} systolic readings"], _day(last))
        else:
            self.miss("sbp_sd", "fewer than two systolic readings in the last 5 years",
                      "QRISK3 needs the SD of at least two recent systolic readings")

    # -- body size -------------------------------------------------------------------------------
    def _body(self) -> None:
        bmi, w, h = (self.latest.get(c) for c in (K.BMI, K.WEIGHT, K.HEIGHT))
        if w is not None and h is not None and w.value and h.value and (bmi is None
                                                                      or w.t > bmi.t):
            value = w.value / (h.value / 100) ** 2
            self.put("bmi", round(value, 2), "computed", f"weight {w.value:g} kg on {_day(w.t)}"
                     f" / height {h.value:g} cm on {_day(h.t)} squared", [_ref(w), _ref(h)],
                     _day(w.t))
        elif bmi is not None and bmi.value:
            self.put("bmi", float(bmi.value), "measured", f"latest BMI on {_day(bmi.t)}",
                     [_ref(bmi)], _day(bmi.t))
        else:
            self.miss("bmi", "no BMI, or weight and height, on record",
                      "record weight and height")
        waist = [self.latest[c] for c in K.WAIST_CODES if c in self.latest]
        if waist and waist[0].value is not None:
            o = max(waist, key=lambda x: x.t)
            u = canonical_unit(o.unit)
            cm = float(o.value or 0) * (2.54 if u == "[in_i]" else 1.0)
            if u in ("cm", "[in_i]", ""):
                self.put("waist_cm", round(cm, 1), "measured", f"latest waist circumference on "
                         f"{_day(o.t)}", [_ref(o)], _day(o.t))
            else:
                self.miss("waist_cm", f"waist circumference in {o.unit!r}", "give it in cm")
        else:
            self.miss("waist_cm", "no waist circumference on record",
                      "measure the waist below the ribs (LOINC 8280-0)")

    # -- smoking ---------------------------------------------------------------------------------
    def _smoking(self) -> None:
        o = self.latest.get(K.SMOKING_STATUS)
        status = K.SMOKING_ANSWERS.get(o.value_code, "unknown") if o is not None else "unknown"
        if o is None or status == "unknown":
            self.miss("smoker", "no tobacco smoking status on record" if o is None else
                      f"smoking status {o.value_text!r} is not known",
                      "record the smoking status (LOINC 72166-2)")
            return
        self.put("smoking_status", status, "recorded", f"latest smoking status "
                 f"{o.value_text!r} on {_day(o.t)}", [_ref(o)], _day(o.t))
        self.put("smoker", status.startswith("current"), "recorded",
                 f"latest smoking status {o.value_text!r} on {_day(o.t)}", [_ref(o)], _day(o.t))

    # -- conditions and medications ----------------------------------------------------------------
    def _conditions(self) -> None:
        for name in K.CONDITIONS:
            hits = [c for c in self.conditions if c.code in K.CONDITIONS[name]
                    and (name in _HISTORY or _active(c, self.as_of))]
            if hits:
                self.put(name, True, "recorded", "; ".join(f"{c.display} ({c.code}) since "
                         f"{_day(c.onset) or '?'}" for c in hits),
                         [f"Condition {c.code} {c.record_id} ({c.source})" for c in hits])
            else:
                label = _LABELS.get(name, name.replace("_", " "))
                self.put(name, False, "no record", f"no {label} condition on record "
                         f"({len(self.conditions)} conditions checked)")

    def _medications(self) -> None:
        classes: dict[str, list[tuple[Medication, str]]] = {}
        ever: dict[str, list[tuple[Medication, str]]] = {}
        for m in self.medications:
            hit = K.med_class(m.code, m.display)
            if hit is None:
                continue
            ever.setdefault(hit[0], []).append((m, hit[1]))
            if m.status in _MED_ACTIVE and _not_ended(m, self.as_of):
                classes.setdefault(hit[0], []).append((m, hit[1]))
        for cls in ("antihypertensive", "statin", "diabetes_drug", "atypical_antipsychotic",
                    "oral_corticosteroid", "erectile_dysfunction_drug"):
            for target, src, label in ((f"on_{cls}", classes, "active"),
                                       (f"ever_{cls}", ever, "any")):
                hits = src.get(cls, [])
                if hits:
                    self.put(target, True, "recorded", f"{label} {cls.replace('_', ' ')}: "
                             + "; ".join(f"{m.display} ({m.code}, matched by {how})"
                                         for m, how in hits),
                             [f"{'Medication' + m.kind.title()} {m.code} {m.record_id} "
                              f"({m.source})" for m, _ in hits])
                else:
                    self.put(target, False, "no record", f"no {label} {cls.replace('_', ' ')} "
                             f"on record ({len(self.medications)} medications checked)")

    def _activity(self) -> None:
        if not self.exercise:
            self.miss("daily_activity_30min", "no exercise logged in the last "
                      f"{ACTIVITY_WINDOW.days} days", "answer: at least 30 minutes of "
                      "physical activity on most days?")
            return
        per_day: dict[date, float] = {}
        for e in self.exercise:
            minutes = ((e.end - e.start).total_seconds() / 60) if e.end else 0.0
            per_day[e.start.date()] = per_day.get(e.start.date(), 0.0) + minutes
        days = ACTIVITY_WINDOW.days
        active_days = sum(1 for m in per_day.values() if m >= 30)
        usual = active_days > days / 2
        self.put("daily_activity_30min", usual, "computed",
                 f"{active_days} of the last {days} days have >= 30 min of logged exercise "
                 "('usually' read as more than half of the days)",
                 [f"{len(self.exercise)} exercise events"], _day(self.as_of))


def _active(c: Condition, as_of: datetime) -> bool:
    if c.clinical_status not in _ACTIVE:
        return False
    if c.abatement is None:
        return True
    end = c.abatement if isinstance(c.abatement, datetime) else datetime(
        c.abatement.year, c.abatement.month, c.abatement.day, tzinfo=UTC)
    return end > as_of


def _not_ended(m: Medication, as_of: datetime) -> bool:
    if m.end is None:
        return True
    end = m.end if isinstance(m.end, datetime) else datetime(m.end.year, m.end.month,
                                                              m.end.day, tzinfo=UTC)
    return end > as_of


# -- per equation --------------------------------------------------------------------------------
_QRISK_FLAGS = {"af": "af", "rheumatoid_arthritis": "rheumatoid_arthritis",
                "ckd_stage_3_5": "ckd_stage_3_5", "severe_mental_illness":
                "severe_mental_illness", "sle": "sle", "migraine": "migraine",
                "diabetes_type1": "diabetes_type1", "diabetes_type2": "diabetes_type2",
                "atypical_antipsychotic": "on_atypical_antipsychotic",
                "corticosteroids": "on_oral_corticosteroid"}


class _Builder:
    def __init__(self, facts: Facts) -> None:
        self.f = facts
        self.values: dict[str, Any] = {}
        self.used: list[InputSource] = []
        self.imputed: list[InputSource] = []
        self.missing: list[MissingInput] = []
        self.extra: dict[str, Any] = {}
        self.given: dict[str, Any] = {}
        self.optional_missing: list[MissingInput] = []
        self.notes: list[str] = []

    def take(self, name: str, fact: str | None = None) -> Any:
        fact = fact or name
        src = self.f.found.get(fact)
        if src is None:
            self.missing.append(self.f.missing.get(fact) or MissingInput(
                name, "not found in the records", f"give {name}"))
            return None
        self.values[name] = src.value
        self.used.append(src if src.name == name else InputSource(
            name, src.value, src.how, src.detail, src.records, src.when))
        return src.value

    def take_optional(self, name: str, valid: tuple[float, float] | None, unit: str) -> None:
        """An input the equation computes without: used when found and inside ``valid``."""
        src = self.f.found.get(name)
        if src is None:
            self.optional_missing.append(self.f.missing.get(name) or MissingInput(
                name, "not found in the records", f"give {name}"))
            return
        if valid is not None and not valid[0] <= src.value <= valid[1]:
            self.optional_missing.append(MissingInput(
                name, f"{src.detail}: outside {valid[0]:g}-{valid[1]:g} {unit}, the range the "
                "equation was derived in, so not used", "check the result and its unit"))
            return
        self.values[name] = src.value
        self.used.append(src)

    def derive(self, name: str, value: Any, how: str, detail: str,
               sources: Iterable[InputSource]) -> None:
        recs = tuple(r for s in sources for r in s.records)
        self.values[name] = value
        self.used.append(InputSource(name, value, how, detail, recs))

    def impute(self, name: str, value: Any, detail: str) -> None:
        self.values[name] = value
        self.imputed.append(InputSource(name, value, "imputed", detail))

    def get(self, fact: str) -> InputSource | None:
        return self.f.found.get(fact)


def _diabetes(b: _Builder, name: str = "diabetes") -> None:
    dx, drug = b.get("diabetes_any"), b.get("on_diabetes_drug")
    assert dx is not None and drug is not None
    value = bool(dx.value or drug.value)
    detail = dx.detail if dx.value else (drug.detail if drug.value else
                                         f"{dx.detail}; {drug.detail}")
    b.derive(name, value, "recorded" if value else "no record", detail, [dx, drug])


def _bp_treated(b: _Builder, name: str = "bp_treated") -> None:
    b.take(name, "on_antihypertensive")


def assemble_inputs(store: Store, person_id: str, equation: str, *,
                    as_of: datetime | None = None, given: Mapping[str, Any] | None = None,
                    facts: Facts | None = None) -> AssembledInputs:
    """The inputs of ``equation`` for ``person_id``, from their records up to ``as_of``.

    ``given``: answers the person or a clinician supplies (e.g. ``daily_vegetables``,
    ``family_history``, ``townsend``); they take the place of what the records say and are
    listed as given. ``facts`` lets a caller that runs several equations gather the records
    once.
    """
    eq = get_equation(equation)
    f = facts or Facts(store, person_id, as_of)
    b = _Builder(f)
    given = dict(given or {})
    unknown = sorted(set(given) - set(eq.input_names))
    if unknown:
        raise InputError(f"unknown input(s) {', '.join(unknown)} for {eq.id}", field=unknown[0],
                         hint=f"{eq.id} takes: {', '.join(eq.input_names)}")
    b.given = given
    eid = eq.id
    b.take("age")
    b.take("sex")
    if eid in ("pce", "pce_revised"):
        b.take("race")
        for n in ("total_c", "hdl_c", "sbp"):
            b.take(n)
        _bp_treated(b)
        b.take("smoker")
        _diabetes(b)
    elif eid == "prevent":
        for n in ("total_c", "hdl_c", "sbp"):
            b.take(n)
        _bp_treated(b)
        b.take("statin", "on_statin")
        _diabetes(b)
        b.take("smoker")
        b.take("egfr")
        b.take("bmi")
        _prevent_optional(b, eq)
    elif eid == "qrisk3":
        _qrisk3(b)
    elif eid == "findrisc":
        b.take("bmi")
        b.take("waist_cm")
        b.take("daily_activity_30min")
        b.missing.append(MissingInput("daily_vegetables", "not in the records",
                                      "answer: vegetables, fruit or berries every day?"))
        b.take("antihypertensive_ever", "ever_antihypertensive")
        b.take("high_glucose_ever", "high_glucose")
        b.extra["family_history"] = "not in the records (FamilyMemberHistory is not imported)"
    elif eid == "ckd_epi_2021_cr":
        b.take("creatinine")
    elif eid == "ckd_epi_2021_cr_cys":
        b.take("creatinine")
        b.take("cystatin_c")
    elif eid == "cha2ds2_vasc":
        b.take("heart_failure")
        b.take("hypertension")
        _diabetes(b)
        b.take("stroke_tia")
        mi, pad = b.get("myocardial_infarction"), b.get("peripheral_artery_disease")
        assert mi is not None and pad is not None
        vd = bool(mi.value or pad.value)
        b.derive("vascular_disease", vd, "recorded" if vd else "no record",
                 f"{mi.detail}; {pad.detail}", [mi, pad])
    for lab in ("total_c", "hdl_c", "ldl_c"):
        src = f.found.get(lab)
        if src is not None:
            b.extra[lab] = src.value
    for name, value in given.items():
        b.values[name] = value
        b.used = [u for u in b.used if u.name != name]
        b.imputed = [u for u in b.imputed if u.name != name]
        b.missing = [m for m in b.missing if m.name != name]
        b.optional_missing = [m for m in b.optional_missing if m.name != name]
        b.used.append(InputSource(name, value, "given", "given by the person or a clinician"))
    if eid == "prevent":
        b.notes.append(_prevent_note(b))
    return AssembledInputs(person_id, eq.id, f.as_of, b.values, tuple(b.used),
                           tuple(b.missing), tuple(b.imputed), b.extra,
                           (*f.notes, *b.notes), tuple(b.optional_missing))


def _prevent_optional(b: _Builder, eq: Equation) -> None:
    """HbA1c and UACR from the latest results; the SDI decile cannot be looked up."""
    for name in ("hba1c", "uacr"):
        spec = eq.spec(name)
        b.take_optional(name, spec.valid, spec.unit)
    b.optional_missing.append(MissingInput(
        "sdi_decile", "the Social Deprivation Index decile of the home area cannot be looked "
        "up: hyperhealth has no ZIP-code-to-SDI table", "give the decile (1-10) of the "
        "Robert Graham Center SDI for the home ZIP code, if known"))


def _prevent_note(b: _Builder) -> str:
    labels = {"hba1c": "HbA1c", "uacr": "urine albumin/creatinine", "sdi_decile": "SDI decile"}
    parts = [f"{labels[n]} {'used' if n in b.values else 'not available'}"
             for n in PREVENT_OPTIONAL]
    return ("PREVENT's optional inputs choose its model (none: base model; one: the base "
            "model adding it; two or three: the full model): " + "; ".join(parts) + ".")


def _qrisk3(b: _Builder) -> None:
    b.take("ethnicity")
    st = b.get("smoking_status")
    if st is None:
        b.take("smoking", "smoking_status")  # reports it missing
    else:
        cat = {"never": "non_smoker", "former": "ex_smoker", "current_light": "light"}.get(
            st.value)
        if cat is not None:
            b.derive("smoking", cat, st.how, st.detail, [st])
        else:
            cat = "moderate" if st.value == "current_heavy" else "light"
            b.impute("smoking", cat, f"{st.detail}: cigarettes a day not recorded; the "
                     f"{cat} category was used (the score is higher for heavier smoking)")
    b.take("bmi")
    tc, hdl = b.get("total_c"), b.get("hdl_c")
    if tc is not None and hdl is not None:
        b.derive("cholesterol_hdl_ratio", round(tc.value / hdl.value, 3), "computed",
                 f"total cholesterol {tc.value:g} / HDL {hdl.value:g} mg/dL", [tc, hdl])
    else:
        for n, s in (("total_c", tc), ("hdl_c", hdl)):
            if s is None:
                b.take(n)  # reports which one is missing
    b.take("sbp")
    b.take("sbp_sd")
    b.impute("townsend", 0.0, "Townsend deprivation score of the home area unknown; 0 (the "
             "national average) was used")
    for name, fact in _QRISK_FLAGS.items():
        b.take(name, fact)
    htn, trt = b.get("hypertension"), b.get("on_antihypertensive")
    assert htn is not None and trt is not None
    value = bool(htn.value and trt.value)
    b.derive("treated_hypertension", value, "recorded" if value else "no record",
             f"{htn.detail}; {trt.detail}", [htn, trt])
    ed, ed_drug = b.get("erectile_dysfunction"), b.get("on_erectile_dysfunction_drug")
    assert ed is not None and ed_drug is not None
    b.derive("erectile_dysfunction", bool(ed.value or ed_drug.value),
             "recorded" if ed.value or ed_drug.value else "no record",
             f"{ed.detail}; {ed_drug.detail}", [ed, ed_drug])
    b.impute("family_history_chd", False, "family history of premature heart disease is not in "
             "the records (FamilyMemberHistory is not imported); 'no' was assumed")
