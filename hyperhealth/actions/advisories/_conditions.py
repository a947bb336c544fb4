"""Which of a person's recorded conditions and allergies put them in an at-risk group.

Records are matched three ways, most specific first: the SNOMED CT code (the codes listed here
are the ones that appear, with these displays, in the Synthea FHIR bundles in
``../shared/data/fhir/synthea`` and in ``hyperhealth/synth``), an ICD-10 / ICD-10-CM category
prefix (WHO ICD-10 chapter structure), and words in the display text (for codes not listed, e.g.
other SNOMED subtypes). Only records that are current at the time asked about count: a clinical
status of active, recurrence or relapse, not refuted or entered in error, and no abatement
before that time.

>>> from hyperhealth.model import Condition
>>> [g for g, _ in condition_groups(Condition("p", "195967001", "Asthma"))]
['lung_disease', 'asthma']
>>> [g for g, _ in condition_groups(Condition("p", "15777000", "Prediabetes"))]
[]
>>> [g for g, _ in condition_groups(Condition("p", "J44.9", "COPD, unspecified",
...                                           system="http://hl7.org/fhir/sid/icd-10-cm"))]
['lung_disease']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from hyperhealth.model import SNOMED, Allergy, Condition


@dataclass(frozen=True, slots=True)
class Group:
    """An at-risk group defined by diagnoses: codes, ICD-10 prefixes and display words."""

    key: str
    label: str  # our words, used in "why" texts
    snomed: frozenset[str]
    icd10: tuple[str, ...]
    words: tuple[str, ...]  # regular expressions, matched case-insensitively on the display
    not_words: tuple[str, ...] = ()


_ASTHMA_SCT = {"195967001": "Asthma", "233678006": "Childhood asthma"}
GROUPS: tuple[Group, ...] = (
    Group("lung_disease", "a lung disease",
          frozenset({*_ASTHMA_SCT, "13645005", "185086009", "87433001"}),
          ("J41", "J42", "J43", "J44", "J45", "J46"),
          (r"\basthma", r"chronic obstructive", r"\bcopd\b", r"emphysema",
           r"chronic bronchitis")),
    Group("asthma", "asthma", frozenset(_ASTHMA_SCT), ("J45", "J46"), (r"\basthma",)),
    Group("heart_disease", "a heart disease",
          frozenset({"88805009", "53741008", "22298006", "399211009", "49436004"}),
          ("I20", "I21", "I22", "I23", "I24", "I25", "I42", "I48", "I50"),
          (r"heart failure", r"coronary", r"myocardial infarction", r"\bangina",
           r"atrial fibrillation", r"cardiomyopathy", r"heart disease")),
    Group("hypertension", "high blood pressure", frozenset({"38341003"}),
          ("I10", "I11", "I12", "I13", "I15", "I16"), (r"hypertensi",),
          (r"ocular", r"pulmonary", r"intracranial", r"gestational", r"pregnan")),
    Group("diabetes", "diabetes",
          frozenset({"44054006", "46635009", "368581000119106", "127013003"}),
          ("E10", "E11", "E13"), (r"\bdiabet",), (r"insipidus",)),
    Group("kidney_disease", "a kidney disease", frozenset({"431855005", "127013003"}),
          ("N18",), (r"chronic kidney disease", r"renal disease", r"renal failure",
                     r"kidney failure")),
    Group("mental_health", "a mental health condition", frozenset({"370143000"}),
          tuple(f"F{n}" for n in range(20, 40)),
          (r"depressi(ve|on) disorder", r"major depression", r"schizophreni", r"bipolar",
           r"psychosis", r"psychotic")),
    Group("pregnancy", "pregnancy", frozenset({"72892002"}),
          (*(f"O{n}" for n in range(10)), "Z33"), (r"\bpregnan",),
          (r"history of", r"miscarriage", r"ectopic")),
    Group("allergic_rhinitis", "allergic rhinitis (hay fever)",
          frozenset({"367498001", "446096008", "232353008"}), ("J30",),
          (r"allergic rhinitis", r"hay fever", r"pollinosis")),
)
GROUP_BY_KEY = {g.key: g for g in GROUPS}

_ACTIVE = {"active", "recurrence", "relapse", ""}
_NOT_TRUE = {"refuted", "entered-in-error"}


def _is_icd10(system: str) -> bool:
    return "icd-10" in system.lower() or "icd10" in system.lower()


def _is_snomed(system: str) -> bool:
    return system == SNOMED or "snomed" in system.lower()


def _matches(g: Group, system: str, code: str, display: str) -> str | None:
    """How the record matched the group (for the "why" text), or ``None``."""
    text = display.lower()
    if any(re.search(w, text) for w in g.not_words):
        return None
    if _is_snomed(system) and code in g.snomed:
        return f"SNOMED CT {code}"
    if _is_icd10(system) and code.upper().replace(".", "").startswith(g.icd10):
        return f"ICD-10 {code}"
    if any(re.search(w, text) for w in g.words):
        return f"{_system_name(system)} {code}".strip() + ", matched by name"
    return None


def _system_name(system: str) -> str:
    if _is_snomed(system):
        return "SNOMED CT"
    if _is_icd10(system):
        return "ICD-10"
    return system.rsplit("/", 1)[-1]


def condition_groups(c: Condition) -> list[tuple[str, str]]:
    """``(group key, how it matched)`` for every group the condition belongs to."""
    out = []
    for g in GROUPS:
        how = _matches(g, c.system, c.code, c.display)
        if how is not None:
            out.append((g.key, how))
    return out


def _before(t: datetime | date | None, now: datetime) -> bool:
    if t is None:
        return False
    if isinstance(t, datetime):
        return t <= now
    return t <= now.date()


def is_current(c: Condition, now: datetime) -> bool:
    """Active (or recurrent), not refuted, not abated by ``now``, and begun by ``now``."""
    if c.clinical_status.lower() not in _ACTIVE or c.verification_status.lower() in _NOT_TRUE:
        return False
    if _before(c.abatement, now):
        return False
    return c.onset is None or _before(c.onset, now)


@dataclass(frozen=True, slots=True)
class GroupReason:
    """Why a person is in a group: the record, in words."""

    group: str
    text: str


def groups_of(conditions: Iterable[Condition], now: datetime) -> dict[str, list[GroupReason]]:
    """Group key -> the current conditions that put the person in it."""
    out: dict[str, list[GroupReason]] = {}
    for c in conditions:
        if not is_current(c, now):
            continue
        for key, how in condition_groups(c):
            since = f", since {_day(c.onset)}" if c.onset is not None else ""
            out.setdefault(key, []).append(GroupReason(key, f"{c.display} ({how}{since})"))
    return out


def _day(t: datetime | date) -> str:
    return (t.date() if isinstance(t, datetime) else t).isoformat()


#: pollen types the NAB reports separately, with the words that name them in allergy records
POLLEN_TYPES: dict[str, tuple[str, ...]] = {
    "tree": (r"\btree", r"\bbirch", r"\boak\b", r"\bcedar", r"\bmaple", r"\bolive"),
    "grass": (r"\bgrass", r"timothy", r"\brye\b", r"bermuda"),
    "weed": (r"\bweed", r"ragweed", r"mugwort", r"plantain"),
}


def pollen_allergies(allergies: Iterable[Allergy], now: datetime) -> list[tuple[str | None, str]]:
    """``(pollen type or None when not named, record text)`` for current pollen allergies.

    >>> from hyperhealth.model import Allergy
    >>> from datetime import UTC
    >>> pollen_allergies([Allergy("p", "419263009", "Allergy to tree pollen")],
    ...                  datetime(2024, 5, 1, tzinfo=UTC))
    [('tree', 'Allergy to tree pollen (SNOMED CT 419263009)')]
    """
    out: list[tuple[str | None, str]] = []
    for a in allergies:
        text = a.display.lower()
        if "pollen" not in text and "ragweed" not in text:
            continue
        if a.clinical_status.lower() not in _ACTIVE or (a.onset is not None
                                                        and not _before(a.onset, now)):
            continue
        kind = next((k for k, words in POLLEN_TYPES.items()
                     if any(re.search(w, text) for w in words)), None)
        out.append((kind, f"{a.display} ({_system_name(a.system)} {a.code})"))
    return out
