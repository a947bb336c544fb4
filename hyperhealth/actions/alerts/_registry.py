"""The explicit list of rules, and their configuration (enabled, parameters).

Configuration comes from, in order of precedence: a clinician's setting for one person,
a setting for everyone (both stored in ``rule_settings``), the monitoring config file, and the
rule's cited defaults. A rule not listed here does not run: adding one is a reviewed change.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hyperhealth.actions.alerts._rule import Rule
from hyperhealth.actions.alerts.blood_pressure import BloodPressure
from hyperhealth.actions.alerts.device_silence import DeviceSilence
from hyperhealth.actions.alerts.glucose import Glucose
from hyperhealth.actions.alerts.heart_rate_rest import RestingRate
from hyperhealth.actions.alerts.night_signal import NightSignal
from hyperhealth.actions.alerts.rhr_cusum import RestingHrCusum
from hyperhealth.actions.alerts.sensor_faults import SensorFaults
from hyperhealth.actions.alerts.sleep_deficit import SleepDeficit
from hyperhealth.actions.alerts.spo2 import Desaturation
from hyperhealth.errors import ConfigError

RULES: dict[str, type[Rule]] = {
    cls.name: cls
    for cls in (
        RestingHrCusum,
        NightSignal,
        RestingRate,
        Desaturation,
        BloodPressure,
        Glucose,
        SleepDeficit,
        DeviceSilence,
        SensorFaults,
    )
}

#: rules small enough and urgent enough to run on an edge agent near the devices
URGENT_RULES = ("glucose", "blood-pressure", "spo2")


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; nested mappings merge key by key.

    >>> merge({"a": 1, "m": {"x": 1, "y": 2}}, {"m": {"y": 3}})
    {'a': 1, 'm': {'x': 1, 'y': 3}}
    """
    out = dict(base)
    for k, v in over.items():
        out[k] = (
            merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
        )
    return out


def check_params(rule: str, params: Mapping[str, Any], where: str = "") -> None:
    """Unknown rules or parameter names are errors, so a typo never silently does nothing."""
    if rule not in RULES:
        raise ConfigError(f"{where}unknown rule {rule!r}; known rules: {', '.join(sorted(RULES))}")
    allowed = set(RULES[rule].defaults) | {"enabled"}
    unknown = set(params) - allowed
    if unknown:
        raise ConfigError(
            f"{where}rule {rule!r} has no parameter(s) {', '.join(sorted(unknown))};"
            f" it accepts: {', '.join(sorted(allowed))}"
        )


class RuleConfig:
    """Which rules run, with which parameters; per-person overrides on top."""

    def __init__(
        self,
        file_params: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        only: tuple[str, ...] | None = None,
    ) -> None:
        file_params = file_params or {}
        for name, params in file_params.items():
            check_params(name, params, "monitoring config: ")
        self.base = {
            name: merge(cls.defaults, file_params.get(name, {})) for name, cls in RULES.items()
        }
        self.enabled = tuple(
            name
            for name in RULES
            if (only is None or name in only) and file_params.get(name, {}).get("enabled", True)
        )
        self.overrides: dict[str | None, dict[str, dict[str, Any]]] = {}  # person -> rule -> p

    @classmethod
    def from_file(cls, path: Path | None) -> RuleConfig:
        """``[rules.<name>]`` tables of a TOML file; no file, the cited defaults."""
        if path is None:
            return cls()
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read monitoring config {path}: {exc}") from exc
        return cls(doc.get("rules", {}))

    def rules(self) -> list[Rule]:
        return [RULES[name]() for name in self.enabled]

    def params(self, rule: str, person_id: str) -> dict[str, Any]:
        p = self.base[rule]
        for who in (None, person_id):
            over = self.overrides.get(who, {}).get(rule)
            if over:
                p = merge(p, over)
        return p
