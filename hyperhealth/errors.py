"""The one exception tree of hyperhealth.

Every error meant for a person says what was wrong, where, and what to do about it.

>>> err = InputError("value 400 is outside 20-300", where="hr.csv:12", field="value",
...                  hint="check the unit")
>>> str(err)
'hr.csv:12 [value]: value 400 is outside 20-300 (check the unit)'
"""

from __future__ import annotations


class HyperhealthError(Exception):
    """Base class of every error raised on purpose by hyperhealth."""


class ConfigError(HyperhealthError):
    """The configuration (data dir, database URL, broker URL) is unusable."""


class StoreError(HyperhealthError):
    """The store could not be opened, migrated or written."""


class NotFound(HyperhealthError):
    """A person, record or resource that was asked for does not exist."""


class InputError(HyperhealthError):
    """One input record, field or file is wrong.

    ``where`` is a location a person can open (``file:line``, ``bundle entry 12``),
    ``field`` the offending field and ``hint`` what to do about it.
    """

    def __init__(self, message: str, *, where: str = "", field: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.field = field
        self.hint = hint

    def located(self, where: str) -> InputError:
        """Return a copy of this error at a (more precise) location."""
        return type(self)(self.message, where=where, field=self.field, hint=self.hint)

    def __str__(self) -> str:
        loc = self.where
        if self.field:
            loc = f"{loc} [{self.field}]" if loc else f"[{self.field}]"
        text = f"{loc}: {self.message}" if loc else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ImplausibleValue(InputError):
    """A measurement that cannot be physiological (or physical) and is rejected."""


class UnknownUnit(InputError):
    """A unit that cannot be converted to the code's canonical unit; never guessed."""


class UnknownFormat(InputError):
    """A file whose format no ingest adapter recognises."""


class AuthenticationError(HyperhealthError):
    """Credentials are missing, wrong, expired or revoked (HTTP 401)."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class AccessDenied(HyperhealthError):
    """The caller is known but may not do this (HTTP 403): no consent, wrong role, expired grant.

    The message names the missing permission, never the data it protects.
    """

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
