"""Envelope encryption of stored values, key rotation and the encrypted-column registry.

Each value gets a fresh random 256-bit data key (DEK); the value is encrypted with AES-256-GCM
under the DEK (NIST SP 800-38D, 96-bit random nonce, 128-bit tag), and the DEK is wrapped with
the keyring's active master key by AES Key Wrap (RFC 3394, NIST SP 800-38F). The stored text
carries everything needed to decrypt it::

    hh1:<master id>:<wrapped DEK>:<nonce>:<ciphertext+tag>      (base64url, no padding)

The associated data binds the ciphertext to its place, ``(table, column, row key ...)``: a value
copied to another row or column fails authentication. The master id is not part of it, so a
rotation re-wraps the DEK (``<master id>:<wrapped DEK>`` change) and leaves the ciphertext alone.

>>> from hyperhealth.security._keys import Keyring
>>> env = Envelope(Keyring.generate())
>>> blob = env.encrypt("Ada Lovelace", ("persons", "identity", "p-1"))
>>> is_encrypted(blob), blob.count(":")
(True, 4)
>>> env.decrypt(blob, ("persons", "identity", "p-1"))
b'Ada Lovelace'
>>> env.decrypt(blob, ("persons", "identity", "p-2"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
hyperhealth.security._crypto.DecryptError: persons.identity of row p-2 failed authentication: ...
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import sqlalchemy as sa

from hyperhealth.errors import HyperhealthError

if TYPE_CHECKING:
    from hyperhealth.security._keys import Keyring
    from hyperhealth.store import Store

PREFIX = "hh1:"
NONCE_BYTES = 12  # the 96-bit IV recommended by NIST SP 800-38D section 8.2
DEK_BYTES = 32

#: where a value lives: ``(table, column, *row key)``; bound to the ciphertext as associated data
Place = Sequence[str | int]


class DecryptError(HyperhealthError):
    """A stored value cannot be decrypted (wrong key, altered or misplaced); says where."""


def is_encrypted(x: object) -> bool:
    """Whether ``x`` is a blob written by :meth:`Envelope.encrypt`.

    >>> is_encrypted("hh1:m1:a:b:c"), is_encrypted({"name": "Ada"}), is_encrypted("Ada")
    (True, False, False)
    """
    return isinstance(x, str) and x.startswith(PREFIX)


def describe(place: Place) -> str:
    """``table.column of row k1, k2`` for messages (row keys are pseudonymous ids, not data)."""
    head = ".".join(str(p) for p in place[:2])
    return f"{head} of row {', '.join(str(p) for p in place[2:])}" if len(place) > 2 else head


def _aad(place: Place) -> bytes:
    # JSON of the parts as strings: unambiguous (no separator tricks) and the same whether a
    # row key arrives as int from the database or as int/str from the writer
    return b"hh1\x00" + json.dumps([str(p) for p in place], separators=(",", ":")).encode()


def _enc(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _dec(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Envelope:
    """Encrypts and decrypts values with the data keys wrapped by a :class:`Keyring`."""

    def __init__(self, keyring: Keyring) -> None:
        # imported here: importing the store without encryption stays cheap
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.keywrap import (
            InvalidUnwrap,
            aes_key_unwrap,
            aes_key_wrap,
        )

        self.keyring = keyring
        self._aesgcm = AESGCM
        self._wrap, self._unwrap = aes_key_wrap, aes_key_unwrap
        self._bad_tag, self._bad_wrap = InvalidTag, InvalidUnwrap

    def encrypt(self, value: bytes | str, aad: Place) -> str:
        """A new blob for ``value`` under a fresh data key wrapped by the active master key."""
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        dek = os.urandom(DEK_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        ct = self._aesgcm(dek).encrypt(nonce, data, _aad(aad))
        mid = self.keyring.active_id
        wrapped = self._wrap(self.keyring.master(mid), dek)
        return f"{PREFIX}{mid}:{_enc(wrapped)}:{_enc(nonce)}:{_enc(ct)}"

    def decrypt(self, blob: str, aad: Place) -> bytes:
        """The plaintext of ``blob`` written at ``aad``; :class:`DecryptError` says what failed."""
        mid, wrapped, nonce, ct = _parse(blob, aad)
        dek = self._open_dek(mid, wrapped, aad)
        try:
            return bytes(self._aesgcm(dek).decrypt(nonce, ct, _aad(aad)))
        except self._bad_tag:
            raise DecryptError(f"{describe(aad)} failed authentication: the value was altered, "
                               "or copied here from another row or column") from None

    def master_of(self, blob: str) -> str:
        """The id of the master key that wraps the data key of ``blob``."""
        return _parse(blob, ("?",))[0]

    def rewrap(self, blob: str, aad: Place = ("?",)) -> str:
        """``blob`` with its data key wrapped by the active master key; ciphertext unchanged."""
        mid, wrapped, _, _ = _parse(blob, aad)
        active = self.keyring.active_id
        if mid == active:
            return blob
        dek = self._open_dek(mid, wrapped, aad)
        rest = blob.split(":", 3)[3]  # nonce and ciphertext, byte for byte
        return f"{PREFIX}{active}:{_enc(self._wrap(self.keyring.master(active), dek))}:{rest}"

    def _open_dek(self, mid: str, wrapped: bytes, aad: Place) -> bytes:
        from hyperhealth.security._keys import KeyringError

        try:
            master = self.keyring.master(mid)
        except KeyringError as exc:
            raise DecryptError(f"{describe(aad)}: {exc}") from None
        try:
            return bytes(self._unwrap(master, wrapped))
        except self._bad_wrap:
            raise DecryptError(
                f"{describe(aad)}: the data key does not unwrap with master key {mid!r} "
                f"from {self.keyring.source}; the key file holds a different key under that "
                "id (restore the right key file) or the stored value was altered") from None


def _parse(blob: str, aad: Place) -> tuple[str, bytes, bytes, bytes]:
    parts = blob.split(":") if isinstance(blob, str) else []
    if len(parts) != 5 or parts[0] != PREFIX[:-1]:
        raise DecryptError(f"{describe(aad)} is not an hh1 blob (expected "
                           "hh1:<master>:<wrapped key>:<nonce>:<ciphertext>)")
    try:
        wrapped, nonce, ct = _dec(parts[2]), _dec(parts[3]), _dec(parts[4])
    except (binascii.Error, ValueError):
        raise DecryptError(f"{describe(aad)} is damaged (invalid base64)") from None
    if len(wrapped) != DEK_BYTES + 8 or len(nonce) != NONCE_BYTES or len(ct) < 16:
        raise DecryptError(f"{describe(aad)} is damaged (a part has the wrong length)")
    return parts[1], wrapped, nonce, ct


# -- values as the store keeps them ----------------------------------------------------------------
def _need(env: Envelope | None, aad: Place) -> Envelope:
    if env is None:
        raise DecryptError(
            f"{describe(aad)} is encrypted but the store was opened without keys; set "
            "HYPERHEALTH_KEY_FILE (or HYPERHEALTH_MASTER_KEYS) to the key file of this store")
    return env


def seal_json(env: Envelope | None, aad: Place, obj: Any) -> Any:
    """``obj`` as a blob for a JSON column, or ``obj`` itself when there are no keys."""
    if env is None:
        return obj
    return env.encrypt(json.dumps(obj, separators=(",", ":"), ensure_ascii=False), aad)


def open_json(env: Envelope | None, aad: Place, stored: Any) -> Any:
    """The value of a JSON column: decrypted if it is a blob, else as stored (older rows)."""
    if not is_encrypted(stored):
        return stored
    return json.loads(_need(env, aad).decrypt(stored, aad))


@overload
def seal_text(env: Envelope | None, aad: Place, text: str) -> str: ...
@overload
def seal_text(env: Envelope | None, aad: Place, text: None) -> None: ...
def seal_text(env: Envelope | None, aad: Place, text: str | None) -> str | None:
    """``text`` as a blob for a text column (``None`` stays ``None``)."""
    return text if env is None or text is None else env.encrypt(text, aad)


@overload
def open_text(env: Envelope | None, aad: Place, stored: str) -> str: ...
@overload
def open_text(env: Envelope | None, aad: Place, stored: None) -> None: ...
def open_text(env: Envelope | None, aad: Place, stored: str | None) -> str | None:
    """A text column's value: decrypted if it is a blob, else as stored (older rows)."""
    if stored is None or not is_encrypted(stored):
        return stored
    return _need(env, aad).decrypt(stored, aad).decode("utf-8")


Home = tuple[float, float, str]


def seal_identity(env: Envelope, person_id: str, identity: Mapping[str, str],
                  home: Home | None) -> str:
    """Direct identifiers and the home address (coordinates and postal code) in one blob."""
    return env.encrypt(json.dumps({"identity": dict(identity), "home": home},
                                  ensure_ascii=False), ("persons", "identity", person_id))


def open_identity(env: Envelope | None, person_id: str,
                  stored: str) -> tuple[dict[str, str], Home | None]:
    aad = ("persons", "identity", person_id)
    doc = json.loads(_need(env, aad).decrypt(stored, aad))
    home = doc.get("home")
    return dict(doc.get("identity") or {}), (
        (float(home[0]), float(home[1]), str(home[2])) if home else None)


# -- the encrypted columns -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    """A column whose values are blobs; ``key`` names the row columns bound into the AAD.

    ``person`` puts the owner's person id before the key (tables keyed by ``person_pk``);
    ``store_reads`` is true when :class:`~hyperhealth.store.Store` itself decrypts the column
    on read, so ``encrypt_existing`` may convert its old plaintext rows.
    """

    table: str
    column: str
    key: tuple[str, ...]
    person: bool = False
    store_reads: bool = True

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def place(self, row: Mapping[Any, Any], person_id: str | None = None) -> tuple[str, ...]:
        who = (person_id or "",) if self.person else ()
        return (self.table, self.column, *who, *(str(row[k]) for k in self.key))


COLUMNS: tuple[EncryptedColumn, ...] = (
    # name, address (home coordinates and postal code), MRN: Safe Harbor identifiers
    EncryptedColumn("persons", "identity", ("id",)),
    # free text: lifestyle details carry notes, settings and activity words
    EncryptedColumn("lifestyle_events", "details", ("kind", "start", "source", "record_id"),
                    person=True),
    # genotypes: where the VCF is and whose samples it holds (file names and sample ids
    # often carry names or lab numbers); keyed by file digest, as person_pk may become NULL
    EncryptedColumn("genotype_uploads", "path", ("sha256",)),
    EncryptedColumn("genotype_uploads", "samples", ("sha256",)),
    # written by other modules through Store.seal_json / seal_text (see their docstrings)
    EncryptedColumn("alert_events", "detail", ("alert_pk", "at_us", "actor", "action"),
                    store_reads=False),
    EncryptedColumn("users", "totp_secret", ("username",)),
)
BY_NAME = {c.name: c for c in COLUMNS}


def _table(name: str) -> sa.Table:
    from hyperhealth.store import _schema as S

    return S.metadata.tables[name]


def _like(mid: str | None = None) -> str:
    """A LIKE pattern for blobs (of one master); ``\\`` escapes LIKE's own wildcards."""
    if mid is None:
        return f"%{PREFIX}%"
    esc = mid.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{PREFIX}{esc}:%"


def _text(t: sa.Table, col: str) -> sa.ColumnElement[Any]:
    return sa.cast(t.c[col], sa.Text)


def _stored(t: sa.Table, col: str, value: str) -> sa.ColumnElement[bool]:
    """``col`` holds exactly ``value`` (a JSON column holds it as a JSON string)."""
    if isinstance(t.c[col].type, sa.JSON):
        return _text(t, col) == json.dumps(value)
    return t.c[col] == value


Progress = Callable[[str, int], None]  # (column name, values done in this batch)


@dataclass(frozen=True, slots=True)
class RotationReport:
    active: str
    rewrapped: dict[str, int]  # per column
    skipped: int  # changed by a writer between read and update; a rerun picks them up
    remaining: dict[str, int]  # per master id other than the active one


def rotate(store: Store, keyring: Keyring, *, new_key: bool = True, batch: int = 500,
           progress: Progress | None = None) -> RotationReport:
    """Make a new master key active and re-wrap every data key with it, batch by batch.

    Each batch commits on its own, so readers and writers go on meanwhile: a reader decrypts
    old and new blobs alike (both masters are in the keyring), a value written mid-rotation
    uses whichever key its writer had. Only ``<master>:<wrapped DEK>`` of a blob changes.
    ``new_key=False`` resumes (or repeats) without adding a key; running it twice does nothing
    the second time.
    """
    if new_key:
        keyring.add_master()
    env = Envelope(keyring)
    active = keyring.active_id
    done: dict[str, int] = {}
    skipped = 0
    for col in COLUMNS:
        t = _table(col.table)
        pk, c = t.c["pk"], t.c[col.column]
        last, n = -1, 0
        while True:
            with store.engine.begin() as conn:
                rows = conn.execute(
                    sa.select(pk, c).where(pk > last, _text(t, col.column).like(_like()),
                                           ~_text(t, col.column).like(_like(active), escape="\\"))
                    .order_by(pk).limit(batch)).all()
                for row_pk, blob in rows:
                    new = env.rewrap(blob, (col.table, col.column, f"pk {row_pk}"))
                    r = conn.execute(t.update().where(pk == row_pk, _stored(t, col.column, blob))
                                     .values({col.column: new}))
                    n += r.rowcount
                    skipped += 1 - r.rowcount
            if not rows:
                break
            last = int(rows[-1][0])
            if progress is not None:
                progress(col.name, len(rows))
        done[col.name] = n
    counts = key_status(store, keyring)
    remaining: dict[str, int] = {}
    for per in counts.values():
        for mid, k in per.items():
            if mid not in (active, "plaintext") and k:
                remaining[mid] = remaining.get(mid, 0) + k
    return RotationReport(active, done, skipped, remaining)


def key_status(store: Store, keyring: Keyring) -> dict[str, dict[str, int]]:
    """Per encrypted column: values per master id, ``plaintext`` ones and ``unknown`` masters."""
    out: dict[str, dict[str, int]] = {}
    with store.engine.connect() as conn:
        for col in COLUMNS:
            t = _table(col.table)
            txt = _text(t, col.column)
            cnt = sa.func.count()
            exprs = [cnt.filter(t.c[col.column].is_not(None)), cnt.filter(txt.like(_like()))]
            exprs += [cnt.filter(txt.like(_like(m), escape="\\")) for m in keyring.master_ids]
            total, enc, *per = conn.execute(sa.select(*exprs).select_from(t)).one()
            row = {"plaintext": int(total) - int(enc)}
            row.update({m: int(k) for m, k in zip(keyring.master_ids, per, strict=True)})
            row["unknown"] = int(enc) - sum(int(k) for k in per)
            out[col.name] = row
    return out


def retire(store: Store, keyring: Keyring, master_id: str) -> None:
    """Remove a master key from the key file once no stored value needs it."""
    from hyperhealth.security._keys import KeyringError

    if master_id == keyring.active_id:
        raise KeyringError(f"master key {master_id!r} is the active key; rotate to a new key "
                           "first (`hyperhealth keys rotate`)")
    keyring.master(master_id)  # says so if there is no such key
    left = sum(per.get(master_id, 0) for per in key_status(store, keyring).values())
    if left:
        raise KeyringError(f"{left} stored values still use master key {master_id!r}; run "
                           "`hyperhealth keys rotate --resume` first, then retire it")
    keyring.remove_master(master_id)


def encrypt_existing(store: Store, keyring: Keyring, *, columns: Sequence[str] | None = None,
                     batch: int = 500, progress: Progress | None = None) -> dict[str, int]:
    """Encrypt the plaintext values written before the store had keys; returns counts per column.

    Restartable: each batch commits, and only rows still in plaintext are touched (a row that a
    writer encrypted meanwhile is left alone). ``columns`` defaults to the columns the Store
    decrypts itself; add ``alert_events.detail`` or ``users.totp_secret`` once their readers
    open them (:meth:`Store.open_json`, :meth:`Store.open_text`).
    """
    from hyperhealth.store import _schema as S

    names = list(columns) if columns is not None else [c.name for c in COLUMNS if c.store_reads]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"not an encrypted column: {', '.join(unknown)}; choose from "
                         f"{', '.join(BY_NAME)}")
    env = Envelope(keyring)
    out: dict[str, int] = {}
    for name in names:
        col = BY_NAME[name]
        t = _table(col.table)
        pk, c = t.c["pk"], t.c[col.column]
        plain = sa.and_(c.is_not(None), ~_text(t, col.column).like(_like()))
        q = sa.select(t)
        if col.person:
            q = sa.select(t, S.persons.c.id.label("_person_id")).join(
                S.persons, S.persons.c.pk == t.c.person_pk)
        last, n = -1, 0
        while True:
            with store.engine.begin() as conn:
                rows = conn.execute(q.where(pk > last, plain).order_by(pk).limit(batch)
                                    ).mappings().all()
                for r in rows:
                    values = _encrypt_row(env, col, r)
                    n += conn.execute(t.update().where(pk == r["pk"], plain).values(values)
                                      ).rowcount
            if not rows:
                break
            last = int(rows[-1]["pk"])
            if progress is not None:
                progress(name, len(rows))
        out[name] = n
    return out


def _encrypt_row(env: Envelope, col: EncryptedColumn, r: Mapping[Any, Any]) -> dict[str, Any]:
    value = r[col.column]
    if col.name == "persons.identity":
        home = (r["home_lat"], r["home_lon"], r["home_label"]) \
            if r["home_lat"] is not None else None
        return {"identity": seal_identity(env, r["id"], value or {}, home),
                "home_lat": None, "home_lon": None, "home_label": ""}
    aad = col.place(r, r.get("_person_id"))
    if isinstance(_table(col.table).c[col.column].type, sa.JSON):
        return {col.column: seal_json(env, aad, value)}
    return {col.column: seal_text(env, aad, value)}
