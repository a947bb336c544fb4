"""Which persons an edge agent serves and which devices are theirs.

The edge evaluates a person's readings only if it knows the person: their id (the same id as on
the server), the time zone the rules use for local days, and the devices that are theirs. It is
configured with a map file (TOML or JSON) so it can start and evaluate without the server:

.. code-block:: toml

    edge_id = "ward-3"                 # optional; otherwise generated once and kept

    [[persons]]
    id = "p-3f2a9c01b2d4"
    tz = "Europe/Madrid"
    devices = ["cgm-17", "watch-9"]
    birth_date = "1961-04-02"          # optional
    sex_at_birth = "female"            # optional (FHIR administrative gender)

A message that names a mapped person registers its device to them, as on the server. Messages of
persons or devices the edge does not know are kept and forwarded but not evaluated here.

>>> m = parse_map({"persons": [{"id": "p-1", "tz": "Europe/Madrid", "devices": ["cgm-1"]}]})
>>> m.persons[0].devices, m.owner("cgm-1"), m.owner("other")
(('cgm-1',), 'p-1', None)
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hyperhealth.errors import ConfigError
from hyperhealth.model import Person

_SEXES = ("female", "male", "other", "unknown")


@dataclass(frozen=True, slots=True)
class EdgePerson:
    id: str
    tz: str = "UTC"
    devices: tuple[str, ...] = ()
    birth_date: date | None = None
    sex_at_birth: str = "unknown"

    def person(self) -> Person:
        return Person(id=self.id, birth_date=self.birth_date, sex_at_birth=self.sex_at_birth,
                      tz=self.tz)


@dataclass(frozen=True, slots=True)
class EdgeMap:
    persons: tuple[EdgePerson, ...] = ()
    edge_id: str | None = None
    _owners: Mapping[str, str] = field(default_factory=dict, repr=False)

    def owner(self, device_id: str) -> str | None:
        """The mapped person of a device, or ``None``."""
        return self._owners.get(device_id)


def load_map(path: Path) -> EdgeMap:
    """Read a map file (``.toml`` or ``.json``); errors name the file and the entry."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the edge map {path}: {exc}") from exc
    try:
        doc = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if str(path).endswith('.json') else 'TOML'}"
                          f" ({exc})") from exc
    return parse_map(doc, where=str(path))


def parse_map(doc: Mapping[str, Any], where: str = "edge map") -> EdgeMap:
    """An :class:`EdgeMap` from a parsed document (see the module docstring)."""
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: expected a table with [[persons]] entries")
    unknown = set(doc) - {"edge_id", "persons"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                          "expected edge_id and [[persons]]")
    edge_id = doc.get("edge_id")
    if edge_id is not None and (not isinstance(edge_id, str) or not 0 < len(edge_id) <= 100):
        raise ConfigError(f"{where}: edge_id must be text of 1-100 characters")
    items = doc.get("persons", [])
    if not isinstance(items, list):
        raise ConfigError(f"{where}: persons must be a list of tables ([[persons]])")
    persons: list[EdgePerson] = []
    owners: dict[str, str] = {}
    for i, item in enumerate(items):
        at = f"{where}: persons[{i}]"
        p = _person(item, at)
        for dev in p.devices:
            if dev in owners and owners[dev] != p.id:
                raise ConfigError(f"{at}: device {dev!r} is already mapped to {owners[dev]!r}; "
                                  "a device belongs to one person")
            owners[dev] = p.id
        persons.append(p)
    ids = [p.id for p in persons]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise ConfigError(f"{where}: person(s) listed twice: {', '.join(dup)}")
    return EdgeMap(tuple(persons), edge_id, owners)


def _person(item: Any, at: str) -> EdgePerson:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{at}: expected a table with id, tz and devices")
    unknown = set(item) - {"id", "tz", "devices", "birth_date", "sex_at_birth"}
    if unknown:
        raise ConfigError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}; allowed: id, tz, "
                          "devices, birth_date, sex_at_birth")
    pid = item.get("id")
    if not isinstance(pid, str) or not 0 < len(pid) <= 64:
        raise ConfigError(f"{at}: id must be the person's hyperhealth id (1-64 characters)")
    tz = item.get("tz", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"{at}: tz {tz!r} is not an IANA time zone (e.g. Europe/Madrid)"
                          ) from None
    devices = item.get("devices", [])
    if not isinstance(devices, list) or not all(
            isinstance(d, str) and 0 < len(d) <= 200 for d in devices):
        raise ConfigError(f"{at}: devices must be a list of device ids (1-200 characters)")
    born = item.get("birth_date")
    birth: date | None = None
    if born is not None:
        try:
            birth = born if isinstance(born, date) else date.fromisoformat(str(born))
        except ValueError:
            raise ConfigError(f"{at}: birth_date {born!r} is not a date (YYYY-MM-DD)") from None
    sex = item.get("sex_at_birth", "unknown")
    if sex not in _SEXES:
        raise ConfigError(f"{at}: sex_at_birth must be one of {', '.join(_SEXES)}")
    return EdgePerson(pid, tz, tuple(dict.fromkeys(devices)), birth, sex)
