"""What every risk equation shares: declared inputs with ranges and units, validation, results.

An equation declares each input with its unit, the range the equation was derived in (``valid``)
and the range a value can physically take (``hard``). A value outside ``hard`` is always an
:class:`~hyperhealth.errors.InputError`; a value outside ``valid`` is an error too unless the
caller asks for extrapolation, and then the result lists it under ``extrapolated``. No number
leaves an equation silently outside the range it was built for.

>>> spec = InputSpec("age", "number", "age", unit="years", valid=(40, 79), hard=(0, 130))
>>> check_value(spec, 55, "pce")
(55.0, '')
>>> check_value(spec, 85, "pce")
Traceback (most recent call last):
...
hyperhealth.errors.InputError: pce [age]: 85 years is outside 40-79 years, the range ...
>>> check_value(spec, 85, "pce", extrapolate=True)[1]
'age 85 years is outside 40-79 years'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hyperhealth.errors import InputError

Kind = Literal["number", "bool", "choice"]

#: shown with every result: the project's own words
SUPPORT_NOTE = ("An estimate from a published equation to support a conversation with a "
                "clinician; it does not replace one.")

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


@dataclass(frozen=True, slots=True)
class Citation:
    """A publication (or guideline) a coefficient, range or category comes from."""

    text: str
    doi: str = ""
    pmid: str = ""

    def __str__(self) -> str:
        ids = "; ".join(x for x in (f"doi:{self.doi}" if self.doi else "",
                                    f"PMID {self.pmid}" if self.pmid else "") if x)
        return f"{self.text} ({ids})" if ids else self.text


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input of an equation.

    ``valid``: the range the equation was derived/validated in (outside: error or flagged
    extrapolation). ``hard``: values outside cannot be real (always an error).
    ``alt_units``: other units accepted as ``{"value": x, "unit": u}``, with the factor that
    converts them to ``unit`` (value_in_unit = x * factor).
    """

    name: str
    kind: Kind
    description: str
    unit: str = ""
    valid: tuple[float, float] | None = None
    hard: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    required: bool = True
    default: Any = None
    alt_units: Mapping[str, float] = field(default_factory=dict)
    range_source: str = ""

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["alt_units"] = dict(self.alt_units)
        return d


@dataclass(frozen=True, slots=True)
class Estimate:
    """One number an equation gives: a risk (proportion), a score (points) or a rate."""

    outcome: str
    label: str
    value: float
    unit: str  # "proportion" | "points" | "mL/min/1.73m2"
    horizon_years: int | None = None
    category: str = ""
    note: str = ""

    @property
    def display(self) -> str:
        if self.unit == "proportion":
            return f"{100 * self.value:.1f} %"
        if self.unit == "points":
            return f"{self.value:g} points"
        return f"{self.value:.1f} {self.unit}"


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The model an equation chose among several from the inputs it was given (PREVENT: base,
    one add-on or full), as data, so that a page can show it without parsing ``method``."""

    id: str
    label: str
    optional_used: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "optional_used": list(self.optional_used)}


@dataclass(frozen=True, slots=True)
class RiskResult:
    """The outcome of one equation for one set of inputs, with its provenance."""

    equation: str
    name: str
    version: str
    estimates: tuple[Estimate, ...]
    inputs: Mapping[str, Any]
    extrapolated: tuple[str, ...]
    warnings: tuple[str, ...]
    limits: str
    citations: tuple[Citation, ...]
    disclaimer: str = ""
    method: str = ""
    note: str = SUPPORT_NOTE
    #: set only by equations with several models; absent from :meth:`to_dict` otherwise
    model: ModelChoice | None = None

    def estimate(self, outcome: str, horizon_years: int | None = None) -> Estimate:
        for e in self.estimates:
            if e.outcome == outcome and (horizon_years is None
                                         or e.horizon_years == horizon_years):
                return e
        raise KeyError((outcome, horizon_years))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "equation": self.equation, "name": self.name, "version": self.version,
            "estimates": [dict(asdict(e), display=e.display) for e in self.estimates],
            "inputs": dict(self.inputs), "extrapolated": list(self.extrapolated),
            "warnings": list(self.warnings), "limits": self.limits,
            "citations": [dict(asdict(c), text=str(c)) for c in self.citations],
            "disclaimer": self.disclaimer, "method": self.method, "note": self.note,
        }
        if self.model is not None:  # last, where the API and CLI used to append it
            d["model"] = self.model.to_dict()
        return d


class Equation:
    """Base class: subclasses set the class attributes and implement :meth:`_compute`."""

    id: str = ""
    name: str = ""
    version: str = "1"
    inputs: tuple[InputSpec, ...] = ()
    citations: tuple[Citation, ...] = ()
    limits: str = ""
    disclaimer: str = ""

    def spec(self, name: str) -> InputSpec:
        for s in self.inputs:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    def calculate(self, values: Mapping[str, Any], *, extrapolate: bool = False) -> RiskResult:
        """Validate ``values`` against the declared inputs and compute the estimates."""
        clean, flagged = validate(self, values, extrapolate=extrapolate)
        estimates, warnings = self._compute(clean)
        return RiskResult(
            equation=self.id, name=self.name, version=self.version,
            estimates=tuple(estimates), inputs=clean, extrapolated=tuple(flagged),
            warnings=tuple(warnings), limits=self.limits, citations=self.citations,
            disclaimer=self.disclaimer, method=f"hyperhealth.insights.risk.{self.id} "
            f"v{self.version}")

    def _compute(self, v: Mapping[str, Any]) -> tuple[list[Estimate], list[str]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version,
                "inputs": [s.describe() for s in self.inputs], "limits": self.limits,
                "citations": [str(c) for c in self.citations],
                "disclaimer": self.disclaimer}


def _fmt(x: float) -> str:
    return f"{x:g}"


def _range_text(r: tuple[float, float], unit: str) -> str:
    u = f" {unit}" if unit else ""
    return f"{_fmt(r[0])}-{_fmt(r[1])}{u}"


def _number(spec: InputSpec, raw: Any, where: str) -> float:
    value = raw
    if isinstance(raw, Mapping):
        if "value" not in raw:
            raise InputError("a value given as an object needs 'value' (and 'unit')",
                             where=where, field=spec.name,
                             hint=f'write e.g. {{"value": 5.2, "unit": "{spec.unit}"}}')
        unit = str(raw.get("unit", spec.unit) or spec.unit)
        value = raw["value"]
        if unit != spec.unit:
            factor = spec.alt_units.get(unit)
            if factor is None:
                known = ", ".join([spec.unit, *spec.alt_units])
                raise InputError(f"unit {unit!r} is not accepted for {spec.name}",
                                 where=where, field=spec.name, hint=f"use one of: {known}")
            value = _to_float(spec, value, where) * factor
    return _to_float(spec, value, where)


def _to_float(spec: InputSpec, value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise InputError(f"{spec.name} must be a number, not {value!r}", where=where,
                         field=spec.name, hint=f"give a number in {spec.unit or 'its unit'}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{spec.name} must be a number, not {value!r}", where=where,
                         field=spec.name,
                         hint=f"give a number in {spec.unit or 'its unit'}") from None
    if not math.isfinite(x):
        raise InputError(f"{spec.name} must be a finite number, not {value!r}", where=where,
                         field=spec.name, hint="give a measured value")
    return x


def _bool(spec: InputSpec, raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise InputError(f"{spec.name} must be true or false, not {raw!r}", where=where,
                     field=spec.name, hint="use true/false (or 1/0)")


def check_value(spec: InputSpec, raw: Any, where: str, *,
                extrapolate: bool = False) -> tuple[Any, str]:
    """The value in the spec's unit and type, and a flag text when it is extrapolated."""
    if spec.kind == "bool":
        return _bool(spec, raw, where), ""
    if spec.kind == "choice":
        text = str(raw).strip().lower()
        if text not in spec.choices:
            raise InputError(f"{spec.name} must be one of {', '.join(spec.choices)}, not "
                             f"{raw!r}", where=where, field=spec.name,
                             hint=f"use one of: {', '.join(spec.choices)}")
        return text, ""
    x = _number(spec, raw, where)
    u = f" {spec.unit}" if spec.unit else ""
    if spec.hard is not None and not spec.hard[0] <= x <= spec.hard[1]:
        raise InputError(f"{_fmt(x)}{u} is not a possible value of {spec.name} (possible: "
                         f"{_range_text(spec.hard, spec.unit)})", where=where, field=spec.name,
                         hint=f"check the value and its unit ({spec.unit or 'no unit'})")
    if spec.valid is not None and not spec.valid[0] <= x <= spec.valid[1]:
        msg = f"{_fmt(x)}{u} is outside {_range_text(spec.valid, spec.unit)}"
        if not extrapolate:
            raise InputError(f"{msg}, the range the equation was derived in", where=where,
                             field=spec.name, hint="pass extrapolate=True to compute anyway; "
                             "the result is then flagged")
        return x, f"{spec.name} {msg}"
    return x, ""


def validate(eq: Equation, values: Mapping[str, Any], *,
             extrapolate: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Check every input of ``eq``; unknown names are refused (a typo must not go unnoticed)."""
    known = set(eq.input_names)
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown input(s) {', '.join(unknown)}", where=eq.id,
                         field=unknown[0], hint=f"{eq.id} takes: {', '.join(eq.input_names)}")
    clean: dict[str, Any] = {}
    flagged: list[str] = []
    for spec in eq.inputs:
        raw = values.get(spec.name)
        if raw is None:
            if spec.required:
                u = f" in {spec.unit}" if spec.unit else ""
                raise InputError(f"{spec.name} is missing", where=eq.id, field=spec.name,
                                 hint=f"give {spec.description}{u}")
            clean[spec.name] = spec.default
            continue
        clean[spec.name], flag = check_value(spec, raw, eq.id, extrapolate=extrapolate)
        if flag:
            flagged.append(flag)
    return clean, flagged


def logistic(x: float) -> float:
    """1 / (1 + e^-x), written to stay finite for large |x|.

    >>> logistic(0.0)
    0.5
    """
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# unit conversions used by several equations -------------------------------------------------
#: mg/dL of cholesterol per mmol/L (molar mass 386.65 g/mol); PREVENT's supplement uses the
#: inverse, 0.02586 mmol/L per mg/dL (Khan 2023, Supplemental Methods)
CHOL_MG_DL_PER_MMOL_L = 38.67
#: creatinine: 1 mg/dL = 88.4 umol/L (molar mass 113.12 g/mol), as in CKD-EPI (Inker 2021)
CREATININE_UMOL_PER_MG_DL = 88.4

CHOL_UNITS: Mapping[str, float] = {"mmol/L": CHOL_MG_DL_PER_MMOL_L}


# inputs shared by several equations; ``hard`` bounds are plausibility limits (a value outside
# cannot be a measurement of a living adult), ``valid`` comes from each equation's publication
def age_input(valid: tuple[float, float], source: str) -> InputSpec:
    return InputSpec("age", "number", "age", unit="years", valid=valid, hard=(0, 130),
                     range_source=source)


SEX_INPUT = InputSpec("sex", "choice", "sex (female or male)", choices=("female", "male"))


def sbp_input(valid: tuple[float, float] | None, source: str) -> InputSpec:
    # hard bounds: the project's data-quality reject limits for systolic BP (model/codes.py)
    return InputSpec("sbp", "number", "systolic blood pressure", unit="mm[Hg]", valid=valid,
                     hard=(1, 300), range_source=source)


def cholesterol_input(name: str, what: str, valid: tuple[float, float] | None,
                      source: str) -> InputSpec:
    return InputSpec(name, "number", what, unit="mg/dL", valid=valid, hard=(1, 2000),
                     alt_units=CHOL_UNITS, range_source=source)


def flag_input(name: str, what: str, *, required: bool = True) -> InputSpec:
    return InputSpec(name, "bool", what, required=required, default=False)
