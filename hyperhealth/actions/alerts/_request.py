"""What a rule hands to the alert lifecycle: a *request* for an alert, with its evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hyperhealth.actions.levels import Level


@dataclass(frozen=True, slots=True)
class AlertRequest:
    """A rule's finding about one person at one time.

    ``key`` identifies the condition within the rule (e.g. ``"low"`` or a drug name) so the
    lifecycle can de-duplicate and resolve per person, rule and key. ``evidence`` holds the values,
    baseline, threshold and anything else a clinician needs to check the finding; ``citation`` names
    the source of the threshold (guideline, DOI or PMID).
    """

    person_id: str
    rule: str
    rule_version: str
    level: Level
    time: datetime
    title: str
    explanation: str
    key: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    citation: str = ""
