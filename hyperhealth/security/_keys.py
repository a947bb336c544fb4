"""The keyring: master keys for envelope encryption, and the purpose keys for audit and pseudonyms.

Where the keys come from (first match wins, see :func:`load_keyring`):

1. ``HYPERHEALTH_MASTER_KEYS``: the key document itself (the JSON below) in the environment, for
   servers that receive secrets as environment variables;
2. the key file at ``HYPERHEALTH_KEY_FILE``, else ``<data-dir>/keys.json``; it must be readable by
   its owner only (mode 0600), and is refused otherwise;
3. for the embedded store only: a new key file created with mode 0600 (zero configuration).

The key document (``hyperhealth-keys/1``)::

    {"format": "hyperhealth-keys/1",
     "active": "m20240701-3fa9",
     "masters": [{"id": "m20240701-3fa9", "key": "<base64 of 32 random bytes>",
                  "created": "2024-07-01T09:00:00+00:00"}],
     "audit": "<base64 of 32 random bytes>",
     "pseudonym": "<base64 of 32 random bytes>"}

Master keys (AES-256) wrap the per-value data keys; ``active`` names the one that wraps new data
keys, the others stay until no value needs them (rotation). ``audit`` (the HMAC key of the audit
hash chain) and ``pseudonym`` (the key of per-person date shifts in the research export) are
independent random keys, not derived from a master key, so rotating masters never changes them:
a chain or a date shift computed before a rotation still verifies after it.

>>> kr = Keyring.generate()
>>> len(kr.master(kr.active_id)), len(kr.audit_key), len(kr.pseudonym_key)
(32, 32, 32)
>>> Keyring.from_json(kr.to_json()).audit_key == kr.audit_key
True
>>> import json
>>> json.loads(kr.to_json())["audit"] in repr(kr)  # repr never shows key material
False
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import stat
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hyperhealth.errors import ConfigError

FORMAT = "hyperhealth-keys/1"
KEY_BYTES = 32  # AES-256 (NIST SP 800-38D with a 256-bit key), HMAC-SHA256 key length
ENV_KEYS = "HYPERHEALTH_MASTER_KEYS"
ENV_KEY_FILE = "HYPERHEALTH_KEY_FILE"
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")  # no ':' (the blob separator)


class KeyringError(ConfigError):
    """The keys are missing, unreadable, too widely readable or malformed."""


def new_master_id() -> str:
    """A fresh master key id: the UTC date and a random suffix (``m20240701-3fa9``)."""
    return f"m{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(2)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key(text: Any, what: str, source: str) -> bytes:
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"{source}: {what} is not base64 of {KEY_BYTES} bytes; "
                           "restore it from your backup of the key file")
    return raw


class Keyring:
    """Master keys by id (one active) plus the audit and pseudonym keys.

    Keyrings loaded from a file notice keys added to that file by another process (a rotation
    run from the CLI while the API serves): asking for an unknown master id re-reads the file.
    """

    def __init__(self, masters: Mapping[str, bytes], active: str, *, audit: bytes,
                 pseudonym: bytes, created: Mapping[str, str] | None = None,
                 path: Path | None = None, source: str = "memory") -> None:
        if active not in masters:
            raise KeyringError(f"{source}: the active master key {active!r} is not among the "
                               f"master keys ({', '.join(masters) or 'none'})")
        self._masters = dict(masters)
        self._created = dict(created or {})
        self._active = active
        self._audit = audit
        self._pseudonym = pseudonym
        self.path = path
        self.source = source
        self._mtime = _mtime(path)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def generate(cls) -> Keyring:
        """A new in-memory keyring with one master key and fresh purpose keys."""
        mid = new_master_id()
        return cls({mid: secrets.token_bytes(KEY_BYTES)}, mid,
                   audit=secrets.token_bytes(KEY_BYTES),
                   pseudonym=secrets.token_bytes(KEY_BYTES),
                   created={mid: datetime.now(UTC).isoformat(timespec="seconds")})

    @classmethod
    def create(cls, path: str | Path) -> Keyring:
        """Create a key file with mode 0600 and fresh keys; an existing file is loaded instead.

        Two processes starting at once cannot both create it: the file appears atomically and
        only once (a hard link that fails when the name exists), and the loser loads it.
        """
        path = Path(path)
        kr = cls.generate()
        kr.path, kr.source = path, str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_private(path, kr.to_json())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return cls.load(path)
        finally:
            tmp.unlink(missing_ok=True)
        kr._mtime = _mtime(path)
        return kr

    @classmethod
    def load(cls, path: str | Path) -> Keyring:
        """Load a key file, refusing one that group or others can read."""
        path = Path(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyringError(f"key file {path} does not exist; create it with "
                               "`hyperhealth keys init` (or set HYPERHEALTH_KEY_FILE to the "
                               "right file)") from None
        if sys.platform != "win32" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(
                f"key file {path} is accessible to group or others (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); anyone who can read it can read the "
                f"encrypted data. Fix with: chmod 600 {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyringError(f"cannot read key file {path}: {exc.strerror}") from exc
        return cls.from_json(text, source=str(path), path=path)

    @classmethod
    def from_json(cls, text: str, *, source: str = "key document",
                  path: Path | None = None) -> Keyring:
        """Parse the key document (the key file's content or ``HYPERHEALTH_MASTER_KEYS``)."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyringError(f"{source}: not valid JSON (line {exc.lineno}, column "
                               f"{exc.colno}: {exc.msg})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyringError(f"{source}: not a hyperhealth key document (expected "
                               f'"format": "{FORMAT}")')
        masters: dict[str, bytes] = {}
        created: dict[str, str] = {}
        for i, m in enumerate(doc.get("masters") or []):
            mid = str(m.get("id", "")) if isinstance(m, dict) else ""
            if not _ID.match(mid):
                raise KeyringError(f"{source}: masters[{i}] has no valid id (letters, digits, "
                                   "'.', '_', '-'; at most 40)")
            masters[mid] = _key(m.get("key"), f"master key {mid!r}", source)
            created[mid] = str(m.get("created", ""))
        return cls(masters, str(doc.get("active", "")),
                   audit=_key(doc.get("audit"), "the audit key", source),
                   pseudonym=_key(doc.get("pseudonym"), "the pseudonym key", source),
                   created=created, path=path, source=source)

    def to_json(self) -> str:
        """The key document (contains every secret: write it only to a 0600 file)."""
        return json.dumps({
            "format": FORMAT, "active": self._active,
            "masters": [{"id": k, "key": _b64(v), "created": self._created.get(k, "")}
                        for k, v in self._masters.items()],
            "audit": _b64(self._audit), "pseudonym": _b64(self._pseudonym)}, indent=2) + "\n"

    def save(self) -> None:
        """Write the key file atomically (mode 0600); a generated keyring has no file."""
        if self.path is None:
            if self.source == "memory":
                return
            raise KeyringError(
                f"the keys come from {self.source}, which hyperhealth cannot change; write them "
                "to a file (mode 0600), set HYPERHEALTH_KEY_FILE to it and run the command "
                "again, then store the updated file in your secret store")
        tmp = _write_private(self.path, self.to_json())
        os.replace(tmp, self.path)
        self._mtime = _mtime(self.path)

    # -- keys ------------------------------------------------------------------------------
    @property
    def active_id(self) -> str:
        return self._active

    @property
    def master_ids(self) -> list[str]:
        return list(self._masters)

    def created(self, master_id: str) -> str:
        return self._created.get(master_id, "")

    def master(self, master_id: str) -> bytes:
        """The master key ``master_id``; re-reads the key file once if it is unknown."""
        key = self._masters.get(master_id)
        if key is None and self.refresh():
            key = self._masters.get(master_id)
        if key is None:
            raise KeyringError(
                f"master key {master_id!r} is not in the keyring ({self.source}: "
                f"{', '.join(self._masters)}); it was retired or the wrong key file is in use. "
                "Restore the key file (or HYPERHEALTH_MASTER_KEYS) that holds it")
        return key

    @property
    def audit_key(self) -> bytes:
        """The HMAC-SHA256 key of the audit hash chain (unchanged by master rotation)."""
        return self._audit

    @property
    def pseudonym_key(self) -> bytes:
        """The key of the per-person date shifts in research exports (unchanged by rotation)."""
        return self._pseudonym

    def add_master(self) -> str:
        """Add a fresh master key, make it active and save the file; returns its id."""
        self.refresh()
        mid = new_master_id()
        while mid in self._masters:
            mid = new_master_id()
        masters = dict(self._masters)
        masters[mid] = secrets.token_bytes(KEY_BYTES)
        created = dict(self._created)
        created[mid] = datetime.now(UTC).isoformat(timespec="seconds")
        old = (self._masters, self._created, self._active)
        self._masters, self._created, self._active = masters, created, mid
        try:
            self.save()
        except BaseException:
            self._masters, self._created, self._active = old
            raise
        return mid

    def remove_master(self, master_id: str) -> None:
        """Forget a master key (see ``security.retire``, which checks nothing still uses it)."""
        if master_id == self._active:
            raise KeyringError(f"master key {master_id!r} is the active key; rotate first")
        self.master(master_id)
        masters = {k: v for k, v in self._masters.items() if k != master_id}
        old = self._masters
        self._masters = masters
        try:
            self.save()
        except BaseException:
            self._masters = old
            raise

    def refresh(self) -> bool:
        """Re-read the key file if it changed on disk; ``True`` if it did."""
        if self.path is None or _mtime(self.path) == self._mtime:
            return False
        fresh = Keyring.load(self.path)
        self._masters, self._created, self._active = fresh._masters, fresh._created, \
            fresh._active
        self._mtime = fresh._mtime
        return True

    def __repr__(self) -> str:  # never the keys themselves
        return (f"Keyring(source={self.source!r}, active={self._active!r}, "
                f"masters={list(self._masters)!r}, key material hidden)")


def _mtime(path: Path | None) -> tuple[int, int, int] | None:
    """What tells a changed file: every save is a new inode (``os.replace``), and file times
    tick only as often as the kernel's coarse clock."""
    try:
        st = path.stat() if path is not None else None
    except OSError:
        return None
    return None if st is None else (st.st_ino, st.st_mtime_ns, st.st_size)


def _write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a new 0600 file next to ``path`` (synced); returns its name."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def load_keyring(key_file: str | Path, *, embedded: bool,
                 environ: Mapping[str, str] | None = None) -> Keyring | None:
    """The keyring named by the environment or the key file.

    Order: ``HYPERHEALTH_MASTER_KEYS`` (the key document itself), then ``key_file`` (callers
    pass ``Settings.key_file``: ``HYPERHEALTH_KEY_FILE`` or ``<data-dir>/keys.json``). If
    neither exists, an ``embedded`` (SQLite) store gets a new key file; a server store gets
    ``None`` rather than a key that only this machine would hold.
    """
    env = os.environ if environ is None else environ
    text = env.get(ENV_KEYS, "").strip()
    if text:
        return Keyring.from_json(text, source=f"${ENV_KEYS}")
    path = Path(key_file)
    if path.exists():
        return Keyring.load(path)
    if embedded:
        return Keyring.create(path)
    return None
