"""The US EPA Air Quality Index (AQI) from pollutant concentrations, with the 2024 breakpoints.

Source of every number here (breakpoints, truncation, rounding, averaging periods, category
names and colours): US EPA, *Technical Assistance Document for the Reporting of Daily Air
Quality - the Air Quality Index (AQI)*, EPA-454/B-24-002, May 2024 (the "TAD"), Tables 1, 2
and 6 and section IV; sensitive groups: see :data:`SENSITIVE_GROUPS`. The PM2.5 rows follow
the revision in the PM NAAQS final rule, 89 FR 16202 (2024): "Good" now ends at 9.0 ug/m3 and
the upper PM2.5 rows were re-drawn (Unhealthy 55.5-125.4, Very Unhealthy 125.5-225.4,
Hazardous 225.5-325.4). The TAD merges the former two Hazardous rows (301-400, 401-500) into one
row 301-500 for every pollutant.

Concentrations are given in the project's canonical units (``model/codes.py``): PM2.5 and PM10
in ug/m3, O3, NO2 and SO2 in ppb, CO in ppm. The TAD tabulates ozone in ppm truncated to three
decimals; that is the same as whole ppb, which is how the ozone rows are written here.

Each concentration is first truncated (TAD section IV), then the index is the piecewise-linear
interpolation ``I = (I_hi - I_lo) / (C_hi - C_lo) * (C - C_lo) + I_lo`` rounded to the nearest
integer; the AQI is the highest sub-index, and its pollutant is the responsible one.

>>> aqi({"pm25": 35.9, "o3_8h": 77, "co": 8.4}).aqi
122
>>> r = aqi({"pm25": 35.9, "o3_8h": 77, "co": 8.4})
>>> r.pollutant, r.category.name, r.category.hex
('o3_8h', 'Unhealthy for Sensitive Groups', '#FF7E00')
>>> sub_index("pm25", 9.0), sub_index("pm25", 9.1)   # the 2024 "Good" upper bound
(50, 51)
>>> sub_index("pm25", -1)
Traceback (most recent call last):
...
hyperhealth.model.air_quality.AqiRangeError: [pm25]: a concentration cannot be negative ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from hyperhealth.errors import InputError

METHOD = "epa-aqi-2024"
CITATION = ("US EPA, Technical Assistance Document for the Reporting of Daily Air Quality - the "
            "Air Quality Index (AQI), EPA-454/B-24-002, May 2024, Table 6; PM2.5 breakpoints as "
            "revised by the PM NAAQS final rule, 89 FR 16202 (2024)")


class AqiRangeError(InputError):
    """A concentration that the AQI table cannot index (negative, or beyond its rows)."""


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """One row of TAD Table 6 for one pollutant: ``c_lo..c_hi`` maps onto ``i_lo..i_hi``."""

    c_lo: Decimal
    c_hi: Decimal
    i_lo: int
    i_hi: int


@dataclass(frozen=True, slots=True)
class Category:
    """An AQI category with its TAD colour (Table 1 name, Table 2 RGB)."""

    name: str
    lo: int
    hi: int
    colour: str
    rgb: tuple[int, int, int]

    @property
    def hex(self) -> str:
        return "#{:02X}{:02X}{:02X}".format(*self.rgb)


#: TAD Table 1 (names, index ranges, colour names) and Table 2 (standard RGB formulas)
CATEGORIES: tuple[Category, ...] = (
    Category("Good", 0, 50, "green", (0, 228, 0)),
    Category("Moderate", 51, 100, "yellow", (255, 255, 0)),
    Category("Unhealthy for Sensitive Groups", 101, 150, "orange", (255, 126, 0)),
    Category("Unhealthy", 151, 200, "red", (255, 0, 0)),
    Category("Very Unhealthy", 201, 300, "purple", (143, 63, 151)),
    Category("Hazardous", 301, 500, "maroon", (126, 0, 35)),
)


@dataclass(frozen=True, slots=True)
class Scale:
    """How one pollutant (at one averaging period) is indexed."""

    key: str
    code: str  # the exposure code in model/codes.py
    display: str
    unit: str  # canonical unit of the input
    averaging: str
    decimals: int  # truncation: digits kept after the decimal point
    rows: tuple[Breakpoint, ...]
    sensitive_groups: tuple[str, ...]  # keys of SENSITIVE_GROUPS
    # below the first row there is no index for this averaging (1-hour O3 under 125 ppb):
    # the other averaging period decides, so this is not an error
    defined_from: Decimal = Decimal(0)
    above_hint: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def _rows(*rows: tuple[str, str, int, int]) -> tuple[Breakpoint, ...]:
    return tuple(Breakpoint(Decimal(a), Decimal(b), i, j) for a, b, i, j in rows)


# Sensitive groups per pollutant (keys; our own wording in SENSITIVE_GROUPS). The TAD's
# pollutant-specific sensitive groups (EPA 454/B-18-007, 2018, Table 3; the May 2024 TAD's
# Table 4 could not be retrieved) were checked against public reproductions of the TAD's health
# and cautionary statements: particle pollution - people with heart or lung disease, older
# adults, children, people of lower socioeconomic status; ozone - people with lung disease such
# as asthma, children, older adults, people active outdoors including outdoor workers, people
# with certain genetic variants, people with diets limited in certain nutrients; CO - people with
# heart disease such as angina; NO2 - people with asthma, children, older adults. SO2 is kept as
# people with asthma, children, older adults; an older reproduction names children and people
# with asthma or other lung disease instead (see docs/validation.md).
SENSITIVE_GROUPS: dict[str, str] = {
    "heart_disease": "people with heart disease",
    "lung_disease": "people with lung disease, such as asthma or COPD",
    "asthma": "people with asthma",
    "older_adults": "older adults",
    "children": "children",
    "lower_ses": "people of lower socioeconomic status",
    "active_outdoors": "people who are active outdoors, including outdoor workers",
    "genetic_variants": "people with certain genetic variants",
    "nutrient_poor_diet": "people whose diets are limited in certain nutrients",
}
_PM_GROUPS = ("heart_disease", "lung_disease", "older_adults", "children", "lower_ses")
_O3_GROUPS = ("lung_disease", "children", "older_adults", "active_outdoors", "genetic_variants",
              "nutrient_poor_diet")
_CO_GROUPS = ("heart_disease",)
_SO2_GROUPS = ("asthma", "children", "older_adults")
_NO2_GROUPS = ("asthma", "children", "older_adults")

#: TAD Table 6 (2024), one entry per pollutant and averaging period
SCALES: dict[str, Scale] = {s.key: s for s in (
    Scale("pm25", "pm25", "PM2.5", "ug/m3", "24-hour mean", 1, _rows(
        ("0.0", "9.0", 0, 50), ("9.1", "35.4", 51, 100), ("35.5", "55.4", 101, 150),
        ("55.5", "125.4", 151, 200), ("125.5", "225.4", 201, 300),
        ("225.5", "325.4", 301, 500)), _PM_GROUPS),
    Scale("pm10", "pm10", "PM10", "ug/m3", "24-hour mean", 0, _rows(
        ("0", "54", 0, 50), ("55", "154", 51, 100), ("155", "254", 101, 150),
        ("255", "354", 151, 200), ("355", "424", 201, 300), ("425", "604", 301, 500)),
        _PM_GROUPS),
    Scale("o3_8h", "o3", "Ozone (8-hour)", "[ppb]", "8-hour mean", 0, _rows(
        ("0", "54", 0, 50), ("55", "70", 51, 100), ("71", "85", 101, 150),
        ("86", "105", 151, 200), ("106", "200", 201, 300)), _O3_GROUPS,
        above_hint="8-hour ozone does not define AQI values of 301 and above; use the 1-hour "
                   "value (o3_1h)"),
    Scale("o3_1h", "o3", "Ozone (1-hour)", "[ppb]", "1-hour mean", 0, _rows(
        ("125", "164", 101, 150), ("165", "204", 151, 200), ("205", "404", 201, 300),
        ("405", "604", 301, 500)), _O3_GROUPS, defined_from=Decimal(125)),
    Scale("co", "co", "Carbon monoxide", "[ppm]", "8-hour mean", 1, _rows(
        ("0.0", "4.4", 0, 50), ("4.5", "9.4", 51, 100), ("9.5", "12.4", 101, 150),
        ("12.5", "15.4", 151, 200), ("15.5", "30.4", 201, 300), ("30.5", "50.4", 301, 500)),
        _CO_GROUPS),
    Scale("so2", "so2", "Sulfur dioxide (1-hour)", "[ppb]", "1-hour mean", 0, _rows(
        ("0", "35", 0, 50), ("36", "75", 51, 100), ("76", "185", 101, 150),
        ("186", "304", 151, 200)), _SO2_GROUPS,
        above_hint="1-hour SO2 does not define AQI values above 200; use the 24-hour mean "
                   "(so2_24h)"),
    Scale("so2_24h", "so2", "Sulfur dioxide (24-hour)", "[ppb]", "24-hour mean", 0, _rows(
        ("305", "604", 201, 300), ("605", "1004", 301, 500)), _SO2_GROUPS,
        defined_from=Decimal(305)),
    Scale("no2", "no2", "Nitrogen dioxide", "[ppb]", "1-hour mean", 0, _rows(
        ("0", "53", 0, 50), ("54", "100", 51, 100), ("101", "360", 101, 150),
        ("361", "649", 151, 200), ("650", "1249", 201, 300), ("1250", "2049", 301, 500)),
        _NO2_GROUPS),
)}

#: the scale used for a plain exposure code (O3 readings are taken as 8-hour means)
SCALE_FOR_CODE = {"pm25": "pm25", "pm10": "pm10", "o3": "o3_8h", "co": "co", "so2": "so2",
                  "no2": "no2"}


@dataclass(frozen=True, slots=True)
class AqiResult:
    """The overall AQI, the responsible pollutant and every sub-index that went into it."""

    aqi: int
    pollutant: str
    category: Category
    sub_indices: Mapping[str, int]
    method: str = METHOD
    citation: str = CITATION

    @property
    def sensitive_groups(self) -> tuple[str, ...]:
        """Who is most at risk from the responsible pollutant (TAD sensitive groups, our
        wording); the keys are ``SCALES[pollutant].sensitive_groups``."""
        return tuple(SENSITIVE_GROUPS[k] for k in SCALES[self.pollutant].sensitive_groups)


def _scale(pollutant: str) -> Scale:
    s = SCALES.get(pollutant)
    if s is None:
        raise AqiRangeError(f"{pollutant!r} is not an AQI pollutant", field=pollutant,
                            hint="use one of " + ", ".join(SCALES))
    return s


def truncate(pollutant: str, value: float) -> Decimal:
    """The concentration truncated as the TAD prescribes for this pollutant.

    >>> str(truncate("pm25", 35.49)), str(truncate("pm10", 154.9)), str(truncate("co", 4.46))
    ('35.4', '154', '4.4')
    >>> str(truncate("o3_8h", 70.9))   # = 0.070 ppm, three decimals in ppm
    '70'
    """
    s = _scale(pollutant)
    # str() gives the shortest decimal that round-trips, so 9.1 stays 9.1 (not 9.0999...)
    d = Decimal(str(float(value)))
    return d.quantize(Decimal(1).scaleb(-s.decimals), rounding=ROUND_DOWN)


def sub_index(pollutant: str, value: float) -> int | None:
    """The AQI sub-index for one pollutant; ``None`` where that averaging defines none.

    ``None`` is returned for 1-hour ozone under 125 ppb and 24-hour SO2 under 305 ppb, where the
    TAD leaves the table blank and the other averaging period decides. Negative, non-finite or
    beyond-the-table values raise :class:`AqiRangeError`.

    >>> sub_index("o3_8h", 87.53333)   # truncated to 87 ppb (0.087 ppm)
    154
    >>> sub_index("o3_1h", 100) is None
    True
    """
    s = _scale(pollutant)
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        raise AqiRangeError(f"{value!r} is not a number", field=pollutant,
                            hint="send a finite concentration")
    if v < 0:
        raise AqiRangeError(f"a concentration cannot be negative ({value:g} {s.unit})",
                            field=pollutant, hint="check the sensor or the unit")
    c = truncate(pollutant, v)
    if c < s.defined_from:
        return None
    for bp in s.rows:
        if bp.c_lo <= c <= bp.c_hi:
            i = (Decimal(bp.i_hi - bp.i_lo) / (bp.c_hi - bp.c_lo)) * (c - bp.c_lo) + bp.i_lo
            return int(i.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    top = s.rows[-1]
    raise AqiRangeError(
        f"{c} {s.unit} is above the top of the {s.display} AQI table ({top.c_hi} {s.unit} = "
        f"AQI {top.i_hi})", field=pollutant,
        hint=s.above_hint or "the value is beyond the AQI; report it as such, or check the unit")


def category(index: int) -> Category:
    """The category of an AQI value (0-500).

    >>> category(50).name, category(51).name, category(301).colour
    ('Good', 'Moderate', 'maroon')
    """
    for c in CATEGORIES:
        if c.lo <= index <= c.hi:
            return c
    raise AqiRangeError(f"AQI {index} is outside the 0-500 scale", field="aqi",
                        hint="AQI values are whole numbers from 0 to 500")


def aqi(concentrations: Mapping[str, float]) -> AqiResult:
    """The AQI over the given pollutants (keys of :data:`SCALES`) and the responsible one.

    Pollutants whose averaging defines no index at that level (see :func:`sub_index`) are left
    out; at least one must give an index. Ties go to the first pollutant given.
    """
    subs: dict[str, int] = {}
    for key, value in concentrations.items():
        i = sub_index(key, value)
        if i is not None:
            subs[key] = i
    if not subs:
        raise AqiRangeError("no pollutant gives an AQI value", field="aqi",
                            hint="give at least one of " + ", ".join(SCALES))
    best = max(subs, key=lambda k: subs[k])
    # Both ozone averages may be given; the TAD reports the larger, as done here.
    return AqiResult(subs[best], best, category(subs[best]), subs)
