"""The one severity scale for alerts and advisories.

>>> Level.URGENT > Level.WARN > Level.INFO
True
>>> Level.parse("warn")
<Level.WARN: 2>
"""

from __future__ import annotations

import enum

from hyperhealth.errors import InputError


class Level(enum.IntEnum):
    """How soon to look: ``INFO`` (when convenient), ``WARN`` (today), ``URGENT`` (now)."""

    INFO = 1
    WARN = 2
    URGENT = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str | int | Level) -> Level:
        """A level from its name (any case) or number; a clear error otherwise."""
        if isinstance(text, Level):
            return text
        if isinstance(text, int):
            try:
                return cls(text)
            except ValueError:
                pass
        else:
            member = cls.__members__.get(text.strip().upper())
            if member is not None:
                return member
        raise InputError(f"unknown alert level {text!r}", field="level",
                         hint="use one of: info, warn, urgent")
