"""Where hyperhealth keeps its data and which services it talks to.

Settings come from arguments first, then environment variables, then defaults:

- ``HYPERHEALTH_DATA_DIR``: the data directory (default ``./.hyperhealth``); the embedded
  SQLite store lives there as ``hyperhealth.sqlite``.
- ``HYPERHEALTH_DATABASE_URL``: a SQLAlchemy URL (``postgresql+psycopg://...``) that replaces the
  embedded store.
- ``HYPERHEALTH_MQTT_URL``: the MQTT broker (``mqtt://host:1883``) for device ingestion.
- ``HYPERHEALTH_KEY_FILE``: the key file of encryption at rest (default ``<data-dir>/keys.json``;
  ``HYPERHEALTH_MASTER_KEYS`` replaces it, see ``hyperhealth.security._keys``).

>>> s = Settings.load(data_dir="/tmp/hh-doc", environ={})
>>> s.database_url
'sqlite:////tmp/hh-doc/hyperhealth.sqlite'
>>> s.mqtt_url
'mqtt://127.0.0.1:1883'
>>> str(s.key_file)
'/tmp/hh-doc/keys.json'
>>> s.embedded
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = ".hyperhealth"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str
    mqtt_url: str
    key_file: Path = Path(DEFAULT_DATA_DIR, "keys.json")

    @property
    def embedded(self) -> bool:
        """Whether the store is the embedded SQLite file (not a server database)."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def load(
        cls,
        *,
        data_dir: str | Path | None = None,
        database_url: str | None = None,
        mqtt_url: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if environ is None else environ
        ddir = Path(data_dir or env.get("HYPERHEALTH_DATA_DIR") or DEFAULT_DATA_DIR).absolute()
        url = database_url or env.get("HYPERHEALTH_DATABASE_URL") or ""
        if not url:
            url = f"sqlite:///{ddir / 'hyperhealth.sqlite'}"
        return cls(
            data_dir=ddir,
            database_url=url,
            mqtt_url=mqtt_url or env.get("HYPERHEALTH_MQTT_URL") or DEFAULT_MQTT_URL,
            key_file=Path(env.get("HYPERHEALTH_KEY_FILE") or ddir / "keys.json").absolute(),
        )
