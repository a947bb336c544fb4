"""Envelope encryption and the keyring, without a store."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from hyperhealth.errors import ConfigError
from hyperhealth.security._crypto import DecryptError, Envelope, is_encrypted
from hyperhealth.security._keys import Keyring, KeyringError, load_keyring

HERE = ("persons", "identity", "p-1")
SECRET = "Ada Lovelace, 12 St James's Square"


@pytest.fixture
def env() -> Envelope:
    return Envelope(Keyring.generate())


def _swap(part: str) -> str:
    """``part`` with its middle character changed (still valid base64url)."""
    i = len(part) // 2
    return part[:i] + ("A" if part[i] != "A" else "B") + part[i + 1:]


# -- round trip and format ------------------------------------------------------------------
@pytest.mark.parametrize("value", [SECRET, "", "ünïcødé ✓", b"\x00\xffraw bytes"])
def test_round_trip(env: Envelope, value: str | bytes) -> None:
    blob = env.encrypt(value, HERE)
    assert is_encrypted(blob)
    expect = value.encode() if isinstance(value, str) else value
    assert env.decrypt(blob, HERE) == expect


def test_blob_is_versioned_compact_text_naming_the_master(env: Envelope) -> None:
    blob = env.encrypt(SECRET, HERE)
    prefix, mid, wrapped, nonce, ct = blob.split(":")
    assert prefix == "hh1" and mid == env.keyring.active_id
    assert SECRET not in blob and "Ada" not in blob
    # 40-byte AES-KW output, 12-byte nonce, plaintext + 16-byte tag, base64url without padding
    assert (len(wrapped), len(nonce)) == (54, 16)
    assert len(ct) == -(-(len(SECRET.encode()) + 16) * 4 // 3)


def test_each_value_gets_a_fresh_data_key(env: Envelope) -> None:
    a, b = env.encrypt(SECRET, HERE), env.encrypt(SECRET, HERE)
    assert a != b
    assert a.split(":")[2] != b.split(":")[2]  # different wrapped data keys
    assert a.split(":")[4] != b.split(":")[4]


# -- associated data and tampering --------------------------------------------------------------
@pytest.mark.parametrize("other", [("persons", "identity", "p-2"),
                                   ("lifestyle_events", "details", "p-1"),
                                   ("persons", "identity", "p-1", "extra")])
def test_ciphertext_moved_to_another_place_fails(env: Envelope, other: tuple[str, ...]) -> None:
    blob = env.encrypt(SECRET, HERE)
    with pytest.raises(DecryptError, match="failed authentication") as err:
        env.decrypt(blob, other)
    assert f"{other[0]}.{other[1]}" in str(err.value)
    assert "Ada" not in str(err.value)


def test_aad_parts_cannot_be_regrouped(env: Envelope) -> None:
    blob = env.encrypt(SECRET, ("t", "c", "a|b", "c"))
    with pytest.raises(DecryptError):
        env.decrypt(blob, ("t", "c", "a", "b|c"))


@pytest.mark.parametrize("part", [2, 3, 4])
def test_tampered_blob_fails_without_showing_plaintext(env: Envelope, part: int) -> None:
    parts = env.encrypt(SECRET, HERE).split(":")
    parts[part] = _swap(parts[part])
    with pytest.raises(DecryptError) as err:
        env.decrypt(":".join(parts), HERE)
    msg = str(err.value)
    assert "persons.identity of row p-1" in msg
    assert "Ada" not in msg and SECRET not in msg


def test_truncated_or_foreign_text_is_reported(env: Envelope) -> None:
    blob = env.encrypt(SECRET, HERE)
    with pytest.raises(DecryptError, match="not an hh1 blob"):
        env.decrypt(blob.rsplit(":", 1)[0], HERE)
    with pytest.raises(DecryptError, match="damaged"):
        env.decrypt(blob[:-30], HERE)


def test_wrong_key_under_the_same_id_is_named(env: Envelope) -> None:
    blob = env.encrypt(SECRET, HERE)
    other = Keyring.generate()
    impostor = Keyring({env.keyring.active_id: other.master(other.active_id)},
                       env.keyring.active_id, audit=other.audit_key,
                       pseudonym=other.pseudonym_key, source="other.json")
    with pytest.raises(DecryptError, match=r"does not unwrap with master key.*other\.json"):
        Envelope(impostor).decrypt(blob, HERE)


def test_unknown_master_says_what_to_restore(env: Envelope) -> None:
    blob = env.encrypt(SECRET, HERE)
    with pytest.raises(DecryptError, match=f"master key '{env.keyring.active_id}' is not in"):
        Envelope(Keyring.generate()).decrypt(blob, HERE)


def test_rewrap_changes_only_the_wrapped_key(env: Envelope) -> None:
    blob = env.encrypt(SECRET, HERE)
    old = env.keyring.active_id
    new = env.keyring.add_master()
    again = env.rewrap(blob)
    assert again.split(":")[1] == new and blob.split(":")[1] == old
    assert again.split(":")[3:] == blob.split(":")[3:]  # nonce and ciphertext untouched
    assert again.split(":")[2] != blob.split(":")[2]
    assert env.decrypt(again, HERE) == env.decrypt(blob, HERE) == SECRET.encode()
    assert env.rewrap(again) == again


# -- keyring ------------------------------------------------------------------------------------
def test_created_key_file_is_private_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keys.json"
    kr = Keyring.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["format"] == "hyperhealth-keys/1" and doc["active"] == kr.active_id
    again = Keyring.load(path)
    assert again.master(kr.active_id) == kr.master(kr.active_id)
    assert (again.audit_key, again.pseudonym_key) == (kr.audit_key, kr.pseudonym_key)
    assert len({kr.audit_key, kr.pseudonym_key, kr.master(kr.active_id)}) == 3
    # a second create (another process starting at the same time) gets the same keys
    assert Keyring.create(path).master(kr.active_id) == kr.master(kr.active_id)
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]  # no temp files left


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keys.json"
    Keyring.create(path)
    os.chmod(path, mode)
    with pytest.raises(KeyringError, match=f"mode {mode:04o}.*chmod 600 {path}"):
        Keyring.load(path)
    with pytest.raises(ConfigError):
        load_keyring(path, embedded=True, environ={})
    os.chmod(path, 0o600)
    assert Keyring.load(path).active_id


def test_missing_key_file_points_to_init(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="hyperhealth keys init"):
        Keyring.load(tmp_path / "nope.json")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(format="x"), "not a hyperhealth key document"),
    (lambda d: d.update(active="m-none"), "active master key 'm-none' is not among"),
    (lambda d: d.update(audit="c2hvcnQ="), "audit key is not base64 of 32 bytes"),
    (lambda d: d["masters"][0].update(key="!!"), "master key .* is not base64"),
    (lambda d: d["masters"][0].update(id="a:b"), r"masters\[0\] has no valid id"),
])
def test_malformed_key_document_is_explained(edit: object, message: str) -> None:
    doc = json.loads(Keyring.generate().to_json())
    edit(doc)  # type: ignore[operator]
    with pytest.raises(KeyringError, match=message):
        Keyring.from_json(json.dumps(doc), source="$HYPERHEALTH_MASTER_KEYS")
    with pytest.raises(KeyringError, match="not valid JSON"):
        Keyring.from_json("{", source="x")


def test_environment_takes_precedence_and_cannot_be_saved(tmp_path: Path) -> None:
    kr = Keyring.generate()
    got = load_keyring(tmp_path / "keys.json", embedded=True,
                       environ={"HYPERHEALTH_MASTER_KEYS": kr.to_json()})
    assert got is not None and got.source == "$HYPERHEALTH_MASTER_KEYS"
    assert got.master(kr.active_id) == kr.master(kr.active_id)
    assert not (tmp_path / "keys.json").exists()
    with pytest.raises(KeyringError, match="HYPERHEALTH_KEY_FILE"):
        got.add_master()
    assert got.master_ids == [kr.active_id]  # a failed save changes nothing


def test_embedded_store_gets_keys_without_configuration(tmp_path: Path) -> None:
    assert load_keyring(tmp_path / "keys.json", embedded=False, environ={}) is None
    kr = load_keyring(tmp_path / "keys.json", embedded=True, environ={})
    assert kr is not None and (tmp_path / "keys.json").exists()
    again = load_keyring(tmp_path / "keys.json", embedded=True, environ={})
    assert again is not None and again.audit_key == kr.audit_key


def test_rotation_keeps_purpose_keys_and_other_processes_see_new_masters(
        tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    writer = Keyring.create(path)
    reader = Keyring.load(path)  # another process, loaded before the rotation
    audit, pseudonym = writer.audit_key, writer.pseudonym_key
    old = writer.active_id
    new = writer.add_master()
    assert writer.active_id == new and set(writer.master_ids) == {old, new}
    assert (writer.audit_key, writer.pseudonym_key) == (audit, pseudonym)
    blob = Envelope(writer).encrypt(SECRET, HERE)
    assert Envelope(reader).decrypt(blob, HERE) == SECRET.encode()  # re-read the file
    assert reader.active_id == new
    loaded = Keyring.load(path)
    assert (loaded.audit_key, loaded.pseudonym_key) == (audit, pseudonym)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(KeyringError, match="is the active key"):
        writer.remove_master(new)
    writer.remove_master(old)
    assert Keyring.load(path).master_ids == [new]


def test_repr_hides_key_material() -> None:
    kr = Keyring.generate()
    doc = json.loads(kr.to_json())
    for secret in (doc["audit"], doc["pseudonym"], doc["masters"][0]["key"]):
        assert secret not in repr(kr)
