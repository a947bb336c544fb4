"""US EPA AQI against TAD EPA-454/B-24-002 (May 2024): worked examples, every row boundary."""

from __future__ import annotations

import pytest

from hyperhealth.errors import InputError
from hyperhealth.model import METRICS
from hyperhealth.model import air_quality as aq

# TAD Table 6 (2024), written out independently of the module: pollutant -> rows of
# (C_lo, C_hi, I_lo, I_hi) in the canonical unit (ozone in ppb = TAD ppm x 1000).
TABLE_6 = {
    "pm25": [(0.0, 9.0, 0, 50), (9.1, 35.4, 51, 100), (35.5, 55.4, 101, 150),
             (55.5, 125.4, 151, 200), (125.5, 225.4, 201, 300), (225.5, 325.4, 301, 500)],
    "pm10": [(0, 54, 0, 50), (55, 154, 51, 100), (155, 254, 101, 150), (255, 354, 151, 200),
             (355, 424, 201, 300), (425, 604, 301, 500)],
    "o3_8h": [(0, 54, 0, 50), (55, 70, 51, 100), (71, 85, 101, 150), (86, 105, 151, 200),
              (106, 200, 201, 300)],
    "o3_1h": [(125, 164, 101, 150), (165, 204, 151, 200), (205, 404, 201, 300),
              (405, 604, 301, 500)],
    "co": [(0.0, 4.4, 0, 50), (4.5, 9.4, 51, 100), (9.5, 12.4, 101, 150), (12.5, 15.4, 151, 200),
           (15.5, 30.4, 201, 300), (30.5, 50.4, 301, 500)],
    "so2": [(0, 35, 0, 50), (36, 75, 51, 100), (76, 185, 101, 150), (186, 304, 151, 200)],
    "so2_24h": [(305, 604, 201, 300), (605, 1004, 301, 500)],
    "no2": [(0, 53, 0, 50), (54, 100, 51, 100), (101, 360, 101, 150), (361, 649, 151, 200),
            (650, 1249, 201, 300), (1250, 2049, 301, 500)],
}
BOUNDARIES = [(p, c, i) for p, rows in TABLE_6.items() for lo, hi, ilo, ihi in rows
              for c, i in ((lo, ilo), (hi, ihi))]


@pytest.mark.parametrize(("pollutant", "conc", "index"), BOUNDARIES,
                         ids=[f"{p}={c}" for p, c, _ in BOUNDARIES])
def test_every_row_boundary_maps_to_its_index(pollutant: str, conc: float, index: int) -> None:
    assert aq.sub_index(pollutant, conc) == index
    assert aq.category(index).lo <= index <= aq.category(index).hi


def test_table_matches_the_module() -> None:
    for key, rows in TABLE_6.items():
        got = [(float(b.c_lo), float(b.c_hi), b.i_lo, b.i_hi) for b in aq.SCALES[key].rows]
        assert got == [(float(a), float(b), c, d) for a, b, c, d in rows], key


def test_pm25_2024_breakpoints() -> None:
    # 89 FR 16202: "Good" ends at 9.0; under the 2012 table 12.0 was still Good (AQI 50)
    assert aq.sub_index("pm25", 9.0) == 50
    assert aq.sub_index("pm25", 9.1) == 51
    assert aq.sub_index("pm25", 12.0) == 56  # (100-51)/(35.4-9.1)*(12.0-9.1)+51 = 56.4
    assert aq.category(aq.sub_index("pm25", 12.0) or 0).name == "Moderate"
    assert aq.sub_index("pm25", 125.4) == 200  # was 186 under the 2012 table
    assert aq.sub_index("pm25", 125.5) == 201
    assert aq.sub_index("pm25", 225.5) == 301
    assert aq.sub_index("pm25", 325.4) == 500
    with pytest.raises(aq.AqiRangeError, match="above the top"):
        aq.sub_index("pm25", 325.5)


def test_tad_worked_examples() -> None:
    # TAD section IV worked example: 8-hour ozone 0.08753333 ppm truncates to 0.087 ppm,
    # row 0.086-0.105 ppm -> 151-200: (200-151)/(0.105-0.086)*(0.087-0.086)+151 = 153.6 -> 154
    assert aq.sub_index("o3_8h", 87.53333) == 154
    # TAD multi-pollutant example: O3 0.077 ppm (8 h), PM2.5 35.9 ug/m3, CO 8.4 ppm
    r = aq.aqi({"o3_8h": 77, "pm25": 35.9, "co": 8.4})
    assert r.sub_indices == {"o3_8h": 122, "pm25": 102, "co": 90}
    assert (r.aqi, r.pollutant, r.category.name) == (122, "o3_8h", "Unhealthy for Sensitive Groups")
    assert r.sensitive_groups[:2] == ("people with lung disease, such as asthma or COPD",
                                      "children")


def test_truncation_rules() -> None:
    assert str(aq.truncate("pm25", 9.09)) == "9.0"  # 0.1 ug/m3: still Good
    assert aq.sub_index("pm25", 9.09) == 50
    assert str(aq.truncate("pm10", 54.99)) == "54"  # integer
    assert aq.sub_index("pm10", 54.99) == 50
    assert str(aq.truncate("o3_8h", 54.9)) == "54"  # 3 decimals in ppm = integer ppb
    assert aq.sub_index("o3_8h", 54.9) == 50
    assert str(aq.truncate("co", 4.49)) == "4.4"  # 1 decimal
    assert aq.sub_index("co", 4.49) == 50
    assert aq.sub_index("so2", 35.99) == 50 and aq.sub_index("no2", 53.9) == 50  # integer ppb
    # shortest-repr decimal: 35.4 must stay 35.4, not 35.399999...
    assert str(aq.truncate("pm25", 35.4)) == "35.4"


def test_rounding_is_half_up() -> None:
    # PM2.5 row 9.1-35.4 -> 51-100: at 12.3, 49/26.3*3.2+51 = 56.96 -> 57
    assert aq.sub_index("pm25", 12.3) == 57
    # CO 6.95 truncates to 6.9: 49/4.9*2.4+51 = 75.0 exactly -> 75
    assert aq.sub_index("co", 6.95) == 75


def test_blank_cells_and_tops() -> None:
    assert aq.sub_index("o3_1h", 124.9) is None  # 1-hour O3 under 0.125 ppm defines no index
    assert aq.sub_index("so2_24h", 304) is None
    with pytest.raises(aq.AqiRangeError, match="o3_1h"):
        aq.sub_index("o3_8h", 201)  # 8-hour O3 does not define AQI >= 301
    with pytest.raises(aq.AqiRangeError, match="so2_24h"):
        aq.sub_index("so2", 305)  # 1-hour SO2 does not define AQI > 200
    # both ozone averages given: the larger is reported
    both = aq.aqi({"o3_8h": 90, "o3_1h": 190})
    assert both.sub_indices == {"o3_8h": 161, "o3_1h": 182} and both.pollutant == "o3_1h"
    assert aq.aqi({"o3_8h": 90, "o3_1h": 100}).sub_indices == {"o3_8h": 161}


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_concentrations_raise_clear_errors(bad: float) -> None:
    with pytest.raises(InputError) as e:
        aq.sub_index("pm25", bad)
    assert e.value.field == "pm25" and e.value.hint


def test_unknown_pollutant_and_empty_input() -> None:
    with pytest.raises(aq.AqiRangeError, match="not an AQI pollutant"):
        aq.sub_index("pm1", 3)
    with pytest.raises(aq.AqiRangeError, match="no pollutant"):
        aq.aqi({"o3_1h": 50})


def test_categories_and_colours() -> None:
    # TAD Table 1 names and Table 2 RGB
    want = [("Good", 0, 50, "#00E400"), ("Moderate", 51, 100, "#FFFF00"),
            ("Unhealthy for Sensitive Groups", 101, 150, "#FF7E00"),
            ("Unhealthy", 151, 200, "#FF0000"), ("Very Unhealthy", 201, 300, "#8F3F97"),
            ("Hazardous", 301, 500, "#7E0023")]
    assert [(c.name, c.lo, c.hi, c.hex) for c in aq.CATEGORIES] == want
    with pytest.raises(aq.AqiRangeError):
        aq.category(501)


def test_scales_use_the_canonical_units_and_codes() -> None:
    for s in aq.SCALES.values():
        assert METRICS[s.code].unit == s.unit, s.key
        assert s.sensitive_groups and s.averaging
    assert {aq.SCALES[k].code for k in aq.SCALE_FOR_CODE.values()} == set(aq.SCALE_FOR_CODE)
