"""What every rule returns, and small text helpers shared by the rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hyperhealth.actions.advisories._advisory import Advisory
from hyperhealth.actions.advisories._context import Activity, PersonContext


@dataclass(frozen=True, slots=True)
class RuleResult:
    """A rule's answer: an advisory or none, and why not (``unchecked``) when the environment
    input it needs is missing."""

    advisory: Advisory | None = None
    unchecked: str = ""  # non-empty: the rule could not be checked, and why
    notes: tuple[str, ...] = field(default_factory=tuple)


def join(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'.

    >>> join(["a"]), join(["a", "b"]), join(["a", "b", "c"])
    ('a', 'a and b', 'a, b and c')
    """
    xs = list(items)
    if len(xs) <= 1:
        return "".join(xs)
    return ", ".join(xs[:-1]) + " and " + xs[-1]


def activity_advice(ctx: PersonContext, acts: list[Activity], action: str) -> str:
    """'If your run at 18:00-18:40 is outdoors, consider <action>.'"""
    if not acts:
        return ""
    tz = ctx.tz
    known = [a for a in acts if a.setting == "outdoor"]
    unsure = [a for a in acts if a.setting != "outdoor"]
    parts = []
    if known:
        parts.append(f"For your {join(a.label(tz) for a in known)}, consider {action}.")
    if unsure:
        parts.append(f"If your {join(a.label(tz) for a in unsure)} "
                     f"{'is' if len(unsure) == 1 else 'are'} outdoors, consider {action}.")
    return " ".join(parts)


def activity_why(ctx: PersonContext, acts: list[Activity]) -> list[str]:
    return [f"Planned or logged: {a.describe(ctx.tz)}." for a in acts]
