"""k-anonymity over the quasi-identifiers of a person table, with a ladder of generalisations.

A table is k-anonymous when every combination of quasi-identifier values it contains is shared by
at least k rows (Sweeney L. k-anonymity: a model for protecting privacy. Int J Uncertain
Fuzziness Knowl-Based Syst 2002;10(5):557-570, doi:10.1142/S0218488502001648). The groups of
rows that share a combination are the equivalence classes; k is the size of the smallest.

:func:`anonymise` tries the generalisation steps of :data:`LADDER` in order (each one keeps the
ones before it) until the smallest class has at least ``k`` rows. Suppressing (leaving out) the
rows of classes that are too small is used only when the caller allows it, and only up to a
stated share of the rows.

>>> rows = [{"sex": "female", "birth_year": "1981"}, {"sex": "female", "birth_year": "1983"},
...         {"sex": "male", "birth_year": "1982"}, {"sex": "male", "birth_year": "1984"}]
>>> k_of(rows, ["sex", "birth_year"])
1
>>> plan = anonymise(rows, ["sex", "birth_year"], k=2)
>>> plan.k, plan.steps
(2, ['birth_year: 5-year bands'])
>>> [r["birth_year"] for r in plan.rows]
['1980-1984', '1980-1984', '1980-1984', '1980-1984']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

#: the value written where a quasi-identifier is withheld
WITHHELD = "*"
#: the birth-year value of people aged 90 or over (Safe Harbor, 45 CFR 164.514(b)(2)(i)(C))
AGE_90_PLUS = "90+"

Row = dict[str, str]


def year_band(value: str, width: int) -> str:
    """A birth year as a band of ``width`` years aligned on multiples of ``width``.

    >>> year_band("1983", 5), year_band("1983", 10), year_band("90+", 10), year_band("", 5)
    ('1980-1984', '1980-1989', '90+', '')
    """
    if not value.isdigit():
        return value  # "90+", withheld or unknown stay as they are
    lo = int(value) // width * width
    return f"{lo}-{lo + width - 1}"


@dataclass(frozen=True)
class Step:
    """One generalisation: ``column`` rewritten by ``apply`` (applied to the original value)."""

    name: str
    column: str
    apply: Callable[[str], str]
    also: tuple[str, ...] = ()  # further columns rewritten the same way


def _withhold(_value: str) -> str:
    return WITHHELD


#: generalisations in the order they are tried: the ones that cost research the least first.
#: Each step keeps all earlier ones; a later step on the same column replaces an earlier one.
LADDER: tuple[Step, ...] = (
    Step("birth_year: 5-year bands", "birth_year", lambda v: year_band(v, 5)),
    Step("birth_year: 10-year bands", "birth_year", lambda v: year_band(v, 10)),
    Step("race and ethnicity withheld", "race", _withhold, also=("ethnicity",)),
    Step("zip3 withheld", "zip3", _withhold),
    Step("birth_year: 20-year bands", "birth_year", lambda v: year_band(v, 20)),
    Step("sex withheld", "sex", _withhold),
)


def classes(rows: Sequence[Mapping[str, str]], qis: Sequence[str]) -> Counter[tuple[str, ...]]:
    """The equivalence classes: each combination of quasi-identifier values and its row count."""
    return Counter(tuple(r[q] for q in qis) for r in rows)


def k_of(rows: Sequence[Mapping[str, str]], qis: Sequence[str]) -> int:
    """The size of the smallest equivalence class (0 for no rows)."""
    c = classes(rows, qis)
    return min(c.values()) if c else 0


def distribution(rows: Sequence[Mapping[str, str]], qis: Sequence[str]) -> dict[int, int]:
    """How many classes there are of each size: ``{class size: number of classes}``.

    >>> distribution([{"a": "x"}, {"a": "x"}, {"a": "y"}], ["a"])
    {1: 1, 2: 1}
    """
    return dict(sorted(Counter(classes(rows, qis).values()).items()))


@dataclass
class Plan:
    """The outcome of :func:`anonymise`: the released rows and how they were reached."""

    rows: list[Row]
    k: int  # achieved on the released rows
    k_required: int
    steps: list[str]  # generalisations applied, in order
    suppressed: list[int] = field(default_factory=list)  # indexes into the input rows
    distribution: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.k >= self.k_required


@dataclass
class Attempt:
    """One rung of the ladder as tried: its steps, the k it gave and the rows below k."""

    steps: list[str]
    k: int
    below_k: int

    def to_dict(self) -> dict[str, object]:
        return {"steps": self.steps, "k": self.k, "persons_in_classes_below_k": self.below_k}


def _generalise(rows: Sequence[Mapping[str, str]], steps: Sequence[Step]) -> list[Row]:
    out = [dict(r) for r in rows]
    for s in steps:
        for col in (s.column, *s.also):
            for new, old in zip(out, rows, strict=True):
                new[col] = s.apply(old[col])
    return out


def anonymise(rows: Sequence[Mapping[str, str]], qis: Sequence[str], *, k: int,
              suppress: bool = False, max_suppressed: float = 0.05,
              ladder: Sequence[Step] = LADDER) -> Plan:
    """Generalise ``rows`` along ``ladder`` until every class over ``qis`` has ``k`` rows.

    Steps on columns that are not quasi-identifiers are skipped. With ``suppress`` the first
    rung where removing the rows of too-small classes removes at most ``max_suppressed`` of all
    rows is accepted, with those rows left out. When no rung reaches ``k`` the plan of the last
    rung is returned with ``ok`` false; :func:`attempts` lists every rung for the message.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    usable = [s for s in ladder if s.column in qis]
    n = len(rows)
    best: Plan | None = None
    for level in range(len(usable) + 1):
        steps = usable[:level]
        g = _generalise(rows, steps)
        c = classes(g, qis)
        names = [s.name for s in steps]
        got = min(c.values()) if c else 0
        if got >= k:
            return Plan(g, got, k, names, [], distribution(g, qis))
        small = {key for key, size in c.items() if size < k}
        drop = [i for i, r in enumerate(g) if tuple(r[q] for q in qis) in small]
        if suppress and drop and len(drop) < n and len(drop) <= max_suppressed * n:
            gone = set(drop)
            kept = [r for i, r in enumerate(g) if i not in gone]
            return Plan(kept, k_of(kept, qis), k, names, drop, distribution(kept, qis))
        best = Plan(g, got, k, names, [], distribution(g, qis))
    assert best is not None
    return best


def attempts(rows: Sequence[Mapping[str, str]], qis: Sequence[str], *, k: int,
             ladder: Sequence[Step] = LADDER) -> list[Attempt]:
    """Every rung of the ladder with the k it gives (for the message of a refused release).

    >>> [a.k for a in attempts([{"s": "f"}, {"s": "m"}], ["s"], k=2,
    ...                        ladder=[Step("s withheld", "s", _withhold)])]
    [1, 2]
    """
    usable = [s for s in ladder if s.column in qis]
    out = []
    for level in range(len(usable) + 1):
        g = _generalise(rows, usable[:level])
        c = classes(g, qis)
        out.append(Attempt([s.name for s in usable[:level]], min(c.values()) if c else 0,
                           sum(size for size in c.values() if size < k)))
    return out
