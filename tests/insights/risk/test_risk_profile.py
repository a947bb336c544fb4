"""Inputs assembled from a person's records, every applicable equation, what-if, on both
store backends; and the Synthea bundles as FHIR data carries them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from risk_records import AS_OF, PID, fill, lab

from hyperhealth.errors import InputError
from hyperhealth.insights.risk import (
    assemble_inputs,
    calculate,
    prs_enhancer,
    risk_for_person,
    what_if,
)
from hyperhealth.model import Person
from hyperhealth.store import Store


def used(a: object, name: str) -> object:
    for u in a.used:  # type: ignore[attr-defined]
        if u.name == name:
            return u
    raise KeyError(name)


def test_assemble_pce_from_records(store: Store) -> None:
    fill(store)
    a = assemble_inputs(store, PID, "pce", as_of=AS_OF)
    assert a.complete, a.missing
    v = a.values
    assert v["age"] == 58 and v["sex"] == "male" and v["race"] == "white"
    assert v["total_c"] == pytest.approx(5.5 * 38.67)   # converted from mmol/L, the latest
    assert v["hdl_c"] == pytest.approx(1.2 * 38.67)
    assert v["smoker"] is True and v["diabetes"] is True and v["bp_treated"] is True
    # home readings of the 28 days up to the latest reading: 27 full days + part of day 28
    home = [130.0 + (d % 2) * 4 for d in range(1, 41) for h in (8, 20)
            if timedelta(days=d, hours=h) < timedelta(days=1, hours=8) + timedelta(days=28)]
    assert v["sbp"] == pytest.approx(round(sum(home) / len(home), 1))
    sbp = used(a, "sbp")
    assert "home-device" in sbp.detail and "cuff-1" in sbp.records[0]  # type: ignore[attr-defined]
    tc = used(a, "total_c")
    assert tc.records == ("Observation 2093-3 tc-new (test)",)  # type: ignore[attr-defined]
    assert "lisinopril" in used(a, "bp_treated").detail  # type: ignore[attr-defined]
    res = calculate("pce", v)
    assert 0 < res.estimate("ascvd", 10).value < 1


def test_assemble_prevent_egfr_statin_and_missing(store: Store) -> None:
    fill(store)
    a = assemble_inputs(store, PID, "prevent", as_of=AS_OF)
    assert a.complete
    egfr = used(a, "egfr")
    assert "CKD-EPI 2021 creatinine" in egfr.detail  # type: ignore[attr-defined]
    expected = calculate("ckd_epi_2021_cr", {"age": 58, "sex": "male", "creatinine": 1.1})
    assert a.values["egfr"] == pytest.approx(expected.estimate("egfr").value, abs=0.01)
    assert a.values["statin"] is False  # simvastatin was stopped in 2017
    assert a.values["bmi"] == 29.0


def test_assemble_qrisk3_imputes_and_says_so(store: Store) -> None:
    fill(store)
    a = assemble_inputs(store, PID, "qrisk3", as_of=AS_OF)
    assert a.complete, a.missing
    v = a.values
    assert v["ethnicity"] == "white_or_not_stated"
    assert v["cholesterol_hdl_ratio"] == pytest.approx(5.5 / 1.2, abs=1e-3)
    assert v["diabetes_type2"] is True and v["treated_hypertension"] is True
    assert v["corticosteroids"] is False  # a topical cream is not a steroid tablet
    imputed = {i.name for i in a.imputed}
    assert imputed == {"smoking", "townsend", "family_history_chd"}
    assert v["smoking"] == "light"
    assert v["sbp_sd"] > 0
    r = calculate("qrisk3", v)
    assert "ClinRisk" in r.disclaimer


def test_assemble_findrisc_activity_and_given_answers(store: Store) -> None:
    fill(store)
    a = assemble_inputs(store, PID, "findrisc", as_of=AS_OF)
    assert [m.name for m in a.missing] == ["daily_vegetables"]
    assert a.values["daily_activity_30min"] is True  # 19 of 28 days with 40 minutes
    assert a.values["waist_cm"] == 104.0
    b = assemble_inputs(store, PID, "findrisc", as_of=AS_OF,
                        given={"daily_vegetables": True, "family_history": "first_degree"})
    assert b.complete and used(b, "daily_vegetables").how == "given"  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="unknown input"):
        assemble_inputs(store, PID, "findrisc", as_of=AS_OF, given={"vegetables": True})


def test_missing_inputs_name_what_to_record(sqlite_store: Store) -> None:
    with sqlite_store.transaction() as w:
        w.upsert_person(Person("p-empty", sex_at_birth="unknown"))
    a = assemble_inputs(sqlite_store, "p-empty", "pce", as_of=AS_OF)
    names = {m.name for m in a.missing}
    assert {"age", "sex", "race", "total_c", "hdl_c", "sbp", "smoker"} <= names
    assert all(m.hint for m in a.missing)


def test_risk_for_person_runs_each_applicable_equation(store: Store) -> None:
    fill(store)
    pr = risk_for_person(store, PID, as_of=AS_OF, given={"daily_vegetables": False},
                         prs_percentile=95)
    status = {r.equation: r.status for r in pr.runs}
    assert status["pce"] == status["pce_revised"] == status["prevent"] == "computed"
    assert status["qrisk3"] == "computed"
    assert status["findrisc"] == "not applicable"   # has diabetes
    assert status["cha2ds2_vasc"] == "not applicable"  # no atrial fibrillation
    assert status["ckd_epi_2021_cr"] == "computed"
    assert status["ckd_epi_2021_cr_cys"] == "not applicable"
    pce = pr.run("pce")
    assert pce.what_if is not None and pce.what_if.scenario("stop_smoking").applicable
    assert pce.enhancer is not None and pce.enhancer.present
    d = pr.to_dict()
    assert d["runs"][0]["inputs"]["used"]


def test_established_cvd_excludes_primary_prevention(store: Store) -> None:
    fill(store, with_mi=True)
    pr = risk_for_person(store, PID, as_of=AS_OF)
    for eid in ("pce", "pce_revised", "prevent", "qrisk3"):
        run = pr.run(eid)
        assert run.status == "not applicable" and "myocardial infarction" in run.reason


def test_what_if_changes_only_what_the_equation_has() -> None:
    base = {"age": 60, "sex": "female", "total_c": 240, "hdl_c": 45, "sbp": 150,
            "bp_treated": True, "statin": False, "diabetes": False, "smoker": True,
            "egfr": 80, "bmi": 32}
    w = what_if("prevent", base, extra={"ldl_c": 160})
    # each change lowers the 10-year outcome it acts on in PREVENT (BMI is a heart-failure
    # term only; in women over ~59 the published total-CVD slope in non-HDL-C is negative,
    # so cholesterol is checked on ASCVD)
    for name, outcome in (("stop_smoking", "total_cvd"), ("sbp_minus_10", "total_cvd"),
                          ("statin", "ascvd"), ("lower_cholesterol", "ascvd"),
                          ("weight_minus_5pct", "heart_failure")):
        s = w.scenario(name)
        assert s.applicable, name
        now = next(e for e in s.now if e.outcome == outcome and e.horizon_years == 10)
        after = next(e for e in s.after if e.outcome == outcome and e.horizon_years == 10)
        assert after.value < now.value, name
    assert w.scenario("lower_cholesterol").changed == {"total_c": (240.0, 240.0 - 38.67)}
    assert w.scenario("statin").changed == {"statin": (False, True),
                                            "total_c": (240.0, 240.0 - 48.0)}
    no_ldl = what_if("prevent", base).scenario("statin")
    assert not no_ldl.applicable and "LDL" in no_ldl.reason
    act = w.scenario("more_activity")
    assert not act.applicable and "no physical-activity input" in act.reason
    assert "associations" in w.note and w.limits
    pce = what_if("pce", {k: base[k] for k in ("age", "sex", "total_c", "hdl_c", "sbp",
                                               "bp_treated", "diabetes", "smoker")}
                  | {"race": "white"})
    assert not pce.scenario("statin").applicable
    assert not pce.scenario("weight_minus_5pct").applicable


def test_what_if_qrisk3_ratio_needs_the_lipids() -> None:
    q = {"age": 60, "sex": "male", "ethnicity": "white_or_not_stated", "smoking": "heavy",
         "bmi": 30, "cholesterol_hdl_ratio": 5.0, "sbp": 150, "sbp_sd": 8, "townsend": 0}
    w = what_if("qrisk3", q)
    assert w.scenario("stop_smoking").changed == {"smoking": ("heavy", "ex_smoker")}
    assert not w.scenario("lower_cholesterol").applicable
    w2 = what_if("qrisk3", q, extra={"total_c": 250, "hdl_c": 50})
    s = w2.scenario("lower_cholesterol")
    assert s.applicable and s.after[0].value < s.now[0].value


def test_what_if_out_of_range_after_the_change_is_reported() -> None:
    v = {"age": 55, "sex": "male", "race": "white", "total_c": 213, "hdl_c": 50, "sbp": 95,
         "bp_treated": False, "smoker": False, "diabetes": False}
    s = what_if("pce", v).scenario("sbp_minus_10")
    assert not s.applicable and "outside" in s.reason


def test_prs_enhancer_does_not_change_the_number() -> None:
    e = prs_enhancer(93, ascvd_10y=0.06, equation="pce")
    assert e.present and e.band.startswith("borderline") and "statin" in e.detail
    assert not prs_enhancer(50, ascvd_10y=0.06, equation="pce").present
    with pytest.raises(InputError):
        prs_enhancer(120)


def test_synthea_people(tmp_path: Path, shared_data: Path) -> None:
    """Synthea bundles as FHIR data carries them: codes map, and results come with records."""
    from hyperhealth.ingest import ingest_paths

    bundles = sorted((shared_data / "fhir" / "synthea").glob("*.json"))
    store = Store(f"sqlite:///{tmp_path / 'hh.sqlite'}")
    try:
        ingest_paths(store, bundles[:20])
        computed = 0
        for p in store.persons():
            last = store.streams(p.id)
            as_of = max(s.last for s in last) if last else AS_OF
            pr = risk_for_person(store, p.id, as_of=as_of, what_ifs=False)
            for r in pr.runs:
                if r.status == "computed":
                    computed += 1
                    assert r.inputs is not None and all(u.detail for u in r.inputs.used)
                elif r.status == "incomplete":
                    assert r.inputs is not None and r.inputs.missing
        assert computed > 10
    finally:
        store.close()


def test_assemble_prevent_optional_inputs_choose_the_model(store: Store) -> None:
    """HbA1c and UACR come from the latest results with their records; the SDI decile
    cannot be looked up; what is absent is listed and the equation still computes."""
    fill(store)
    a = assemble_inputs(store, PID, "prevent", as_of=AS_OF)
    assert a.complete and a.values["hba1c"] == 7.1 and "uacr" not in a.values
    assert used(a, "hba1c").records == ("Observation 4548-4 a1c (test)",)  # type: ignore[attr-defined]
    why = {m.name: m.reason for m in a.optional_missing}
    assert list(why) == ["uacr", "sdi_decile"]
    assert why["uacr"] == "no result on record" and "ZIP" in why["sdi_decile"]
    assert any("HbA1c used" in n and "SDI decile not available" in n for n in a.notes)
    assert "base model adding HbA1c" in calculate("prevent", a.values).method
    assert [m["name"] for m in a.to_dict()["optional_missing"]] == ["uacr", "sdi_decile"]

    # a urine albumin/creatinine ratio in mg/mmol: converted, and two add-ons make it full
    with store.transaction() as w:
        w.add_observations([lab("14959-1", 3.0, "mg/mmol", 10, "acr")])
    b = assemble_inputs(store, PID, "prevent", as_of=AS_OF)
    assert b.values["uacr"] == pytest.approx(3.0 * 8.84)
    assert "(3 mg/mmol)" in used(b, "uacr").detail  # type: ignore[attr-defined]
    assert [m.name for m in b.optional_missing] == ["sdi_decile"]
    assert "full model" in calculate("prevent", b.values).method

    # the decile given by the person: nothing optional is missing any more
    c = assemble_inputs(store, PID, "prevent", as_of=AS_OF, given={"sdi_decile": 4})
    assert c.optional_missing == () and used(c, "sdi_decile").how == "given"  # type: ignore[attr-defined]

    # a result outside the add-on models' range is not used, and says why
    with store.transaction() as w:
        w.add_observations([lab("4548-4", 17.0, "%", 5, "a1c-high")])
    d = assemble_inputs(store, PID, "prevent", as_of=AS_OF)
    assert "hba1c" not in d.values
    assert "outside 4.5-15 %" in next(m.reason for m in d.optional_missing if m.name == "hba1c")
    run = risk_for_person(store, PID, as_of=AS_OF).run("prevent")
    assert run.status == "computed" and run.result is not None
    assert "base model adding UACR" in run.result.method
