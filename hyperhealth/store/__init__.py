"""The store: one schema on SQLite (embedded default) or PostgreSQL, migrated with Alembic."""

from hyperhealth.config import Settings
from hyperhealth.store._store import (
    CommitListener,
    Committed,
    DuplicateReadings,
    Series,
    Store,
    StreamInfo,
    Writer,
    new_person_id,
)


def open_store(settings: Settings | str | None = None, *, migrate: bool = True) -> Store:
    """Open (and migrate) the store named by settings, a URL, or the environment.

    With settings (given or from the environment) the keyring comes along: the key file or
    ``HYPERHEALTH_MASTER_KEYS``; an embedded store creates its key file on first use.
    """
    if isinstance(settings, str):
        return Store(settings, migrate=migrate)
    if settings is None:
        settings = Settings.load()
    from hyperhealth.security._keys import load_keyring

    keyring = load_keyring(settings.key_file, embedded=settings.embedded)
    return Store(settings.database_url, migrate=migrate, keyring=keyring)


__all__ = [
    "CommitListener",
    "Committed",
    "DuplicateReadings",
    "Series",
    "Store",
    "StreamInfo",
    "Writer",
    "new_person_id",
    "open_store",
]
