"""Accounts and consent for the demo cohort: a patient, a clinician in a care team, an admin.

Passwords are random per run and written once to ``<data-dir>/demo-accounts.json`` (mode 0600)
and to the terminal; nothing about the accounts is hard-coded except their names.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import orjson

from hyperhealth.errors import InputError
from hyperhealth.security._consent import ConsentBook
from hyperhealth.security._identity import Identity
from hyperhealth.security._model import Category, Purpose, Role
from hyperhealth.store import Store

TEAM = "demo-care"
FILE = "demo-accounts.json"
#: what demo patients share with their care team: everything but direct identifiers, places and
#: free text, so the dashboard shows how consent cuts a record down
SHARED = sorted(set(Category) - {Category.IDENTITY, Category.LOCATION, Category.NOTES})


def create_demo_accounts(store: Store, data_dir: Path, *, patient: str | None = None
                         ) -> dict[str, Any]:
    """Create the demo accounts (once) and the consents; return what to show the user.

    ``patient`` is the person the patient account signs in as (default: the first)."""
    path = data_dir / FILE
    if path.exists():
        return {"accounts": orjson.loads(path.read_bytes()), "file": str(path), "new": False}
    identity, consents = Identity(store), ConsentBook(store)
    persons = [p.id for p in store.persons()]
    accounts: list[dict[str, Any]] = []

    def add(username: str, role: Role, person_id: str | None = None,
            teams: tuple[str, ...] = ()) -> None:
        password = secrets.token_urlsafe(15)  # 20 characters
        try:
            identity.create_user(username, role, password, person_id=person_id, teams=teams,
                                 display_name=username)
        except InputError:  # left from an earlier demo whose account file was removed
            identity.set_password(username, password)
        accounts.append({"username": username, "role": role.value, "password": password,
                         "person_id": person_id, "totp_secret": identity.totp_secret(username)})

    patient = patient or persons[0]
    add("demo.patient", Role.PATIENT, patient)
    add("dr.demo", Role.CLINICIAN, teams=(TEAM,))
    add("demo.admin", Role.ADMIN)
    patient_of = {pid: Identity(store).user("demo.patient").actor() if pid == patient
                  else None for pid in persons}
    admin = identity.user("demo.admin").actor()
    for pid in persons:
        by = patient_of[pid] or admin  # an admin records the other persons' signed consents
        consents.grant(pid, TEAM, SHARED, by=by, grantee_kind="team")
        consents.grant(pid, "research", SHARED, by=by, grantee_kind="team",
                       purpose=Purpose.RESEARCH)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(accounts, option=orjson.OPT_INDENT_2))
    return {"accounts": accounts, "file": str(path), "new": True}


def demo_code(data_dir: Path, username: str) -> tuple[str, int]:
    """The current one-time code of a demo account and the seconds it stays valid.

    Only for the accounts ``hyperhealth demo`` made (their secrets are in its 0600 file); real
    staff use an authenticator app enrolled with the secret they were given.
    """
    import time

    import pyotp

    path = data_dir / FILE
    if not path.exists():
        raise InputError(f"{path} does not exist", field="data-dir",
                         hint="run 'hyperhealth demo' first (with the same --data-dir)")
    rows = {r["username"]: r for r in orjson.loads(path.read_bytes())}
    secret = (rows.get(username) or {}).get("totp_secret")
    if not secret:
        staff = sorted(u for u, r in rows.items() if r.get("totp_secret"))
        raise InputError(f"{username!r} is not a demo account with a second factor",
                         field="username", hint=f"use one of: {', '.join(staff)}")
    totp = pyotp.TOTP(secret)
    return totp.now(), int(totp.interval - time.time() % totp.interval)
