"""The store: one schema on SQLite (embedded default) or PostgreSQL, migrated with Alembic."""

from hyperhealth.config import Settings
from hyperhealth.store._store import (
    CommitListener,
    Committed,
    Series,
    Store,
    StreamInfo,
    Writer,
    new_person_id,
)


def open_store(settings: Settings | str | None = None, *, migrate: bool = True) -> Store:
    """Open (and migrate) the store named by settings, a URL, or the environment."""
    if settings is None:
        settings = Settings.load()
    url = settings if isinstance(settings, str) else settings.database_url
    return Store(url, migrate=migrate)


__all__ = [
    "CommitListener",
    "Committed",
    "Series",
    "Store",
    "StreamInfo",
    "Writer",
    "new_person_id",
    "open_store",
]
