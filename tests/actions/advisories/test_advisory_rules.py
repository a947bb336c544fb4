"""Each advisory rule: when it applies, when it does not, and how it changes with the person."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperhealth.actions.advisories import (
    SUPPORT_NOTE,
    Advisory,
    advisories_for,
    assess,
    environment_from_values,
)
from hyperhealth.actions.advisories._cold import band, wind_chill_c, wind_chill_f
from hyperhealth.actions.advisories._conditions import condition_groups, groups_of
from hyperhealth.actions.advisories._medications import drug_classes, heat_drugs
from hyperhealth.actions.advisories._pollen import nab_level
from hyperhealth.actions.advisories._uv import category as uv_category
from hyperhealth.actions.levels import Level
from hyperhealth.model import (
    Allergy,
    Condition,
    LifestyleEvent,
    LifestyleKind,
    Location,
    Medication,
    Person,
)
from hyperhealth.model import heat as H

NOW = datetime(2024, 7, 3, 14, 0, tzinfo=UTC)  # 14:00 in the person's zone (UTC)
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def person(age: int | None = 40, pid: str = "p1") -> Person:
    born = date(NOW.year - age, 1, 1) if age is not None else None
    return Person(pid, birth_date=born, tz="UTC")


def cond(code: str, display: str, **kw: object) -> Condition:
    return Condition("p1", code, display, onset=date(2015, 1, 1), **kw)  # type: ignore[arg-type]


ASTHMA = cond("195967001", "Asthma")
COPD = cond("13645005", "Chronic obstructive lung disease")
CHF = cond("88805009", "Chronic congestive heart failure (disorder)")
RHINITIS = cond("367498001", "Seasonal allergic rhinitis")


def med(code: str, display: str, status: str = "active") -> Medication:
    return Medication("p1", code, display, status=status, start=date(2020, 1, 1))


LASIX = med("315971", "Lasix 40mg")
LISINOPRIL = med("314076", "Lisinopril 10 MG Oral Tablet")
HCTZ = med("316049", "Hydrochlorothiazide 25 MG")


def run(hour: int = 18, minutes: int = 45, setting: str = "") -> LifestyleEvent:
    start = NOW.replace(hour=hour, minute=0)
    details: dict[str, float | str] = {"activity": "run", "intensity": "vigorous"}
    if setting:
        details["setting"] = setting
    return LifestyleEvent("p1", LifestyleKind.EXERCISE, start, start + timedelta(minutes=minutes),
                          details)


def env(**values: float) -> object:
    codes = {k.replace("_", "-") if k not in ("pm25", "pm10", "o3", "co", "no2", "so2") else k: v
             for k, v in values.items()}
    return environment_from_values(NOW, codes, location=Location(38.58, -121.49, "Monitor A"))


def advise(p: Person, environment: object, conditions: list[Condition] | None = None,
           meds: list[Medication] | None = None, acts: list[LifestyleEvent] | None = None,
           allergies: list[Allergy] | None = None) -> dict[str, Advisory]:
    got = advisories_for(p, conditions or [], meds or [], environment,  # type: ignore[arg-type]
                         acts or [], NOW, allergies=allergies or [])
    by_rule = {a.rule: a for a in got}
    assert len(by_rule) == len(got), "one advisory per rule"
    return by_rule


# -- air quality -------------------------------------------------------------------------------

def test_no_air_advisory_for_good_or_moderate_air() -> None:
    for pm in (5.0, 30.0):  # Good, Moderate
        assert "air-quality" not in advise(person(75), env(pm25=pm), [ASTHMA, CHF])


def test_usg_applies_only_to_the_pollutants_sensitive_groups() -> None:
    usg = env(pm25=40.0)  # AQI 112, Unhealthy for Sensitive Groups
    assert "air-quality" not in advise(person(40), usg)
    a = advise(person(40), usg, [ASTHMA])["air-quality"]
    assert a.level == Level.WARN and a.key == "pm25"
    assert any("Asthma (SNOMED CT 195967001" in w for w in a.why)
    assert advise(person(70), usg)["air-quality"].level == Level.WARN
    assert any("you are 70" in w for w in advise(person(70), usg)["air-quality"].why)
    assert advise(person(9), usg)["air-quality"].level == Level.WARN
    # unknown age: we cannot tell whether the person is a child or an older adult
    u = advise(person(None), usg)["air-quality"]
    assert u.level == Level.INFO and "age is not recorded" in u.text
    assert any("birth date not recorded" in m for m in u.missing)


def test_same_air_different_person_different_advice_and_why() -> None:
    smoke = env(pm25=185.0)  # AQI 260, Very Unhealthy
    healthy = advise(person(35), smoke)["air-quality"]
    lungs = advise(person(35), smoke, [COPD])["air-quality"]
    assert (healthy.level, lungs.level) == (Level.WARN, Level.URGENT)
    assert "Avoid long or strenuous activity outdoors" in healthy.text
    assert "Avoid all physical activity outdoors" in lungs.text
    assert healthy.why != lungs.why
    assert any("Chronic obstructive lung disease" in w for w in lungs.why)
    assert any("Nothing recorded about you" in w for w in healthy.why)
    same = ("aqi", "category", "responsible_pollutant", "sensitive_groups")
    assert [healthy.evidence[k] for k in same] == [lungs.evidence[k] for k in same]
    assert healthy.evidence["person_in_groups"] == {}
    assert [p["level_for_person"] for p in (healthy.evidence["pollutants"][0],
                                            lungs.evidence["pollutants"][0])] == ["warn", "urgent"]
    ev = lungs.evidence
    # (300 - 201) / (225.4 - 125.5) * (185.0 - 125.5) + 201 = 259.96 -> 260
    assert (ev["aqi"], ev["category"], ev["responsible_pollutant"]) == (260, "Very Unhealthy",
                                                                        "pm25")
    assert ev["pollutants"][0]["row"] == "125.5-225.4 ug/m3 -> 201-300"
    assert "EPA-454/B-24-002" in lungs.citation


def test_ozone_counts_people_active_outdoors() -> None:
    ozone = env(o3=80.0)  # 8-hour ozone 80 ppb: AQI 129, USG
    assert "air-quality" not in advise(person(30), ozone)
    a = advise(person(30), ozone, acts=[run()])["air-quality"]
    assert a.level == Level.WARN
    assert "If your run at 18:00-18:45 is outdoors" in a.text
    assert any("run today 18:00-18:45" in w for w in a.why)
    outdoors = advise(person(30), ozone, acts=[run(setting="outdoor")])["air-quality"]
    assert "For your run at 18:00-18:45, consider moving it indoors" in outdoors.text
    # an indoor session, or one that is already over, does not count
    assert "air-quality" not in advise(person(30), ozone, acts=[run(setting="indoor")])
    assert "air-quality" not in advise(person(30), ozone, acts=[run(hour=9)])
    assert any("genetic variants" in m for m in a.missing)  # not in any record


def test_carbon_monoxide_concerns_heart_disease_not_asthma() -> None:
    co = env(co=10.0)  # 8-hour CO 10 ppm: USG
    assert advise(person(50), co, [CHF])["air-quality"].level == Level.WARN
    assert "air-quality" not in advise(person(50), co, [ASTHMA])


def test_hazardous_and_beyond_the_index_are_urgent_for_everyone() -> None:
    for pm in (300.0, 400.0):
        a = advise(person(30), env(pm25=pm))["air-quality"]
        assert a.level == Level.URGENT
    assert "beyond the AQI" in advise(person(30), env(pm25=400.0))["air-quality"].title


def test_above_a_table_the_other_averaging_decides() -> None:
    # 1-hour SO2 stops at 304 ppb; above it the TAD uses the 24-hour rows (305-604 -> 201-300)
    a = advise(person(30), env(so2=400.0))["air-quality"]
    assert (a.evidence["responsible_pollutant"], a.evidence["category"]) == ("so2_24h",
                                                                            "Very Unhealthy")
    # 8-hour ozone stops at 200 ppb; above it the 1-hour rows (205-404 -> 201-300)
    o = advise(person(30), env(o3=250.0))["air-quality"]
    assert (o.evidence["responsible_pollutant"], o.evidence["category"]) == ("o3_1h",
                                                                            "Very Unhealthy")


def test_worst_pollutant_decides() -> None:
    a = advise(person(30), env(pm25=40.0, o3=110.0), [ASTHMA])["air-quality"]
    assert a.evidence["responsible_pollutant"] == "o3_8h"  # 110 ppb: 8-hour table top is 200
    assert a.evidence["category"] == "Very Unhealthy" and a.level == Level.URGENT
    assert {p["pollutant"] for p in a.evidence["pollutants"]} == {"o3_8h", "pm25"}


def test_only_an_overall_aqi() -> None:
    a = advise(person(30), env(aqi=160))["air-quality"]
    assert a.level == Level.INFO and a.evidence["category"] == "Unhealthy"
    assert any("pollutant behind it" in m for m in a.missing)


# -- heat ----------------------------------------------------------------------------------------

def test_heat_caution_only_for_people_at_risk() -> None:
    caution = env(air_temperature=29.0, relative_humidity=50.0)
    assert H.heat_level(H.heat_index(29.0, 50.0)).name == "Caution"  # type: ignore[union-attr]
    assert "heat" not in advise(person(40), caution)
    a = advise(person(40), caution, meds=[LASIX])["heat"]
    assert a.level == Level.INFO
    assert any("Lasix 40mg is a diuretic" in w for w in a.why)
    assert "do not stop or change them" in a.text
    assert advise(person(70), caution)["heat"].level == Level.INFO
    assert advise(person(40), caution, acts=[run()])["heat"].level == Level.INFO
    assert advise(person(None), caution)["heat"].missing  # says the age is unknown
    # a stopped medicine is no reason
    assert "heat" not in advise(person(40), caution, meds=[med("315971", "Lasix 40mg",
                                                               "stopped")])


def test_heat_levels_rise_with_risk() -> None:
    danger = env(air_temperature=40.0, relative_humidity=40.0)  # 48 Cel heat index
    assert advise(person(40), danger)["heat"].level == Level.WARN
    a = advise(person(40), danger, [CHF], [LISINOPRIL, HCTZ], [run()])["heat"]
    assert a.level == Level.URGENT
    assert any("combination may significantly increase" in w for w in a.why)
    assert any("Chronic congestive heart failure" in w for w in a.why)
    assert "moving it indoors or to a cooler time of day" in a.text
    assert a.evidence["nws_level"] == "Danger" and a.evidence["risky_combination"] is True
    assert "heat" not in advise(person(80), env(air_temperature=20.0, relative_humidity=50.0))


# -- cold ----------------------------------------------------------------------------------------

# NWS wind chill chart (weather.gov/safety/cold-wind-chill-chart), wind 5..60 mph
NWS_CHART = {
    40: [36, 34, 32, 30, 29, 28, 28, 27, 26, 26, 25, 25],
    0: [-11, -16, -19, -22, -24, -26, -27, -29, -30, -31, -32, -33],
    -15: [-28, -35, -39, -42, -44, -46, -48, -50, -51, -52, -54, -55],
    -45: [-63, -72, -77, -81, -84, -87, -89, -91, -93, -95, -97, -98],
}


def test_wind_chill_matches_the_nws_chart() -> None:
    for t, row in NWS_CHART.items():
        got = [round(wind_chill_f(t, v)) for v in range(5, 65, 5)]
        assert got == row, t
    assert wind_chill_f(30, 2) == 30  # calm air: the temperature
    # the metric form (Environment Canada) is the same index
    assert wind_chill_c(-20.0, 30.0) == pytest.approx(
        13.12 + 0.6215 * -20 - 11.37 * 30 ** 0.16 + 0.3965 * -20 * 30 ** 0.16, abs=0.05)


def test_eccc_bands() -> None:
    assert band(-9.4) is None and band(-9.6).upper == -10  # type: ignore[union-attr]
    assert [band(x).freeze for x in (-28, -39, -40, -48, -55)] == [  # type: ignore[union-attr]
        "10-30 minutes", "10-30 minutes", "5-10 minutes", "2-5 minutes", "under 2 minutes"]


def test_cold_rule() -> None:
    assert "cold" not in advise(person(40), env(air_temperature=-5.0))
    mild = env(air_temperature=-15.0)
    assert "cold" not in advise(person(40), mild)
    a = advise(person(70), mild)["cold"]
    assert a.level == Level.INFO and any("no wind reading" in m for m in a.missing)
    assert advise(person(40), mild, acts=[run()])["cold"].level == Level.INFO
    windy = environment_from_values(NOW, {"air-temperature": -20.0, "wind-speed": 40.0},
                                    units={"wind-speed": "km/h"})
    w = advise(person(40), windy)["cold"]
    assert w.level == Level.WARN and w.evidence["skin_can_freeze_in"] == "10-30 minutes"
    assert w.evidence["wind_chill_c"] == pytest.approx(wind_chill_c(-20.0, 40.0), abs=0.05)
    bitter = environment_from_values(NOW, {"air-temperature": -35.0, "wind-speed": 30.0},
                                     units={"wind-speed": "km/h"})
    assert advise(person(40), bitter)["cold"].level == Level.URGENT


# -- pollen --------------------------------------------------------------------------------------

def test_nab_levels() -> None:
    assert [nab_level("tree", c).name for c in (1, 14, 15, 89, 90, 1499, 1500)] == [  # type: ignore[union-attr]
        "Low", "Low", "Moderate", "Moderate", "High", "High", "Very High"]
    assert nab_level("weed", 0) is None and nab_level("grass", 200).name == "Very High"  # type: ignore[union-attr]


def test_pollen_only_for_allergic_conditions() -> None:
    grass = environment_from_values(NOW, {"pollen-grass": 25.0}, units={"pollen-grass": "/m3"})
    assert "pollen" not in advise(person(30), grass)
    assert advise(person(30), grass, [RHINITIS])["pollen"].level == Level.WARN
    assert advise(person(30), grass, [ASTHMA])["pollen"].level == Level.INFO
    allergy = Allergy("p1", "419263009", "Allergy to tree pollen")
    tree = environment_from_values(NOW, {"pollen-tree": 25.0}, units={"pollen-tree": "/m3"})
    a = advise(person(30), tree, allergies=[allergy])["pollen"]
    assert a.level == Level.INFO and any("allergy to tree pollen" in w for w in a.why)
    # a total count without the plant type cannot be rated
    r = assess(person(30), [RHINITIS], [], environment_from_values(NOW, {"pollen": 500.0}), [],
               NOW)
    assert not r.advisories and "per type" in r.not_checked["pollen"]


# -- UV ------------------------------------------------------------------------------------------

def test_uv_categories() -> None:
    assert [uv_category(x).name for x in (0, 2.49, 2.5, 5, 6, 7, 8, 10, 11, 14)] == [
        "Low", "Low", "Moderate", "Moderate", "High", "High", "Very High", "Very High",
        "Extreme", "Extreme"]


def test_uv_rule() -> None:
    assert "uv" not in advise(person(30), env(uv_index=2.0), acts=[run()])
    assert "uv" not in advise(person(30), env(uv_index=7.0))
    assert advise(person(30), env(uv_index=7.0), acts=[run()])["uv"].level == Level.INFO
    assert advise(person(30), env(uv_index=9.0))["uv"].level == Level.INFO
    assert advise(person(30), env(uv_index=9.0), acts=[run()])["uv"].level == Level.WARN


# -- missing inputs, records, output -----------------------------------------------------------

def test_no_environment_says_so() -> None:
    for e in (None, environment_from_values(NOW, {})):
        r = assess(person(30), [ASTHMA], [], e, [], NOW)  # type: ignore[arg-type]
        assert [a.rule for a in r.advisories] == ["environment-data"]
        assert r.advisories[0].level == Level.INFO
        assert "does not mean conditions are safe" in r.advisories[0].text
        assert set(r.not_checked) == {"air-quality", "heat", "cold", "pollen", "uv"}


def test_records_are_matched_by_code_icd10_and_name() -> None:
    assert condition_groups(cond("15777000", "Prediabetes")) == []
    assert [g for g, _ in condition_groups(cond("E11.9", "T2DM", system=ICD10))] == ["diabetes"]
    assert [g for g, _ in condition_groups(cond("I50.9", "HF", system=ICD10))] == [
        "heart_disease"]
    assert "pregnancy" not in dict(condition_groups(cond("1", "History of pregnancy")))
    resolved = cond("195967001", "Asthma", clinical_status="resolved")
    abated = cond("195967001", "Asthma", abatement=date(2020, 1, 1))
    assert groups_of([resolved, abated], NOW) == {}
    names = {m: [c.key for c, _ in drug_classes(med("0", m))] for m in (
        "24 HR metoprolol succinate 100 MG Extended Release Oral Tablet [Toprol]",
        "diphenhydrAMINE Hydrochloride 25 MG Oral Tablet", "Verapamil Hydrochloride 40 MG",
        "Fluoxetine 25MG", "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
        "18 MCG tiotropium 1 UNT Inhalation Powder", "insulin lispro")}
    assert list(names.values()) == [["beta_blocker"], ["anticholinergic"],
                                    ["calcium_channel_blocker"], ["ssri"], [], [], []]
    # the same drug as request and statement counts once
    assert len(heat_drugs([LASIX, LASIX], NOW)) == 1


def test_every_advisory_is_complete_and_serialisable() -> None:
    e = environment_from_values(NOW, {"pm25": 185.0, "air-temperature": 40.0,
                                      "relative-humidity": 40.0, "uv-index": 9.0,
                                      "pollen-grass": 300.0})
    got = advisories_for(person(70), [ASTHMA, RHINITIS], [LASIX], e, [run()], NOW)
    assert [a.rule for a in got] == ["air-quality", "heat", "pollen", "uv"]
    assert [a.level for a in got] == sorted((a.level for a in got), reverse=True)
    for a in got:
        assert a.citation and a.why and a.evidence and a.note == SUPPORT_NOTE
        d = json.loads(json.dumps(a.to_dict()))
        assert d["level"] in ("info", "warn", "urgent") and d["why"] == list(a.why)
        req = a.to_alert_request()
        assert req.rule == f"advisory:{a.rule}" and req.level == a.level
    with pytest.raises(Exception, match="time zone"):
        advisories_for(person(30), [], [], e, [], NOW.replace(tzinfo=None))


# -- properties ----------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(a=st.floats(0, 320), b=st.floats(0, 320), old=st.booleans())
def test_more_pollution_never_means_less_advice(a: float, b: float, old: bool) -> None:
    lo, hi = sorted((a, b))

    def level(pm: float) -> int:
        got = advise(person(70 if old else 30), env(pm25=pm)).get("air-quality")
        return int(got.level) if got else 0

    assert level(lo) <= level(hi)


@settings(max_examples=60, deadline=None)
@given(t=st.floats(-50, 10), v1=st.floats(5, 100), v2=st.floats(5, 100))
def test_wind_makes_it_colder(t: float, v1: float, v2: float) -> None:
    lo, hi = sorted((v1, v2))
    assert wind_chill_c(t, hi) <= wind_chill_c(t, lo) + 1e-9
    assert wind_chill_c(t, lo) <= t + 1e-9
