"""The de-identified research export: consented persons only, no direct identifiers, keyed
pseudonyms, generalised quasi-identifiers, keyed per-person date shifts and a k-anonymity gate.

What each of the 18 HIPAA Safe Harbor identifiers (45 CFR 164.514(b)(2)(i)(A)-(R)) becomes is
listed in :data:`SAFE_HARBOR` and copied into every manifest. The export is built from an
allow-list: only the columns named below are ever read into the output, so a new identifier
stored in ``Person.identity`` (or anywhere else) cannot leak by being forgotten.

Dates. Safe Harbor keeps no element of a date but the year (164.514(b)(2)(i)(C)). Time series
research needs intervals, so the default ``dates="shift"`` moves every date of a person by the
same whole number of days, derived from HMAC-SHA256 of the person id under the export key (a
magnitude between ``min_shift_days`` and ``max_shift_days``, either sign, a multiple of 7 when
``keep_weekday``). That keeps intervals, time of day and (optionally) weekdays, but a shifted full
date is still a date element: such a release is *not* Safe Harbor. It follows Safe Harbor for
every other identifier and needs an expert determination (164.514(b)(1)) before it is treated as
de-identified. ``dates="year"`` keeps only years and is a Safe Harbor release.

>>> key = b"k" * 32
>>> pseudonym(key, "p-1") == pseudonym(key, "p-1") != pseudonym(b"x" * 32, "p-1")
True
>>> d = shift_days(key, "p-1")
>>> 30 <= abs(d) <= 365 and d % 7 == 0
True
>>> zip3("03601"), zip3("95814-1234"), zip3("SW1A 1AA")
('000', '958', '')
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import sqlalchemy as sa

from hyperhealth.errors import HyperhealthError, InputError
from hyperhealth.model import Person
from hyperhealth.model.time import age_on, when_value
from hyperhealth.security._kanon import AGE_90_PLUS, Plan, anonymise, attempts
from hyperhealth.security._model import Category, Purpose, category_of
from hyperhealth.store import Store
from hyperhealth.store import _schema as S

FORMAT_VERSION = 1

# -- Safe Harbor: the rule, the ZIP3 list, the age cap ------------------------------------------
#: 45 CFR 164.514(b)(2)(i)(A)-(R), and what this export does with each
SAFE_HARBOR: tuple[tuple[str, str, str], ...] = (
    ("A", "Names",
     "Person.identity is never read; persons.csv has only a keyed pseudonym and the "
     "generalised quasi-identifiers"),
    ("B", "Geographic subdivisions smaller than a state",
     "street address, city, county, home label and coordinates, location visits, exposures, "
     "environmental observations and the time zone are not exported; the ZIP code becomes its "
     "first 3 digits, or 000 where the 3-digit area has 20,000 people or fewer "
     "(RESTRICTED_ZIP3), and only for persons who granted the location category"),
    ("C", "All elements of dates (except year); ages over 89",
     "birth date becomes birth year, withheld as '90+' for people aged 90 or over; every other "
     "date is shifted by a keyed per-person offset (dates='shift', not Safe Harbor: see the "
     "rule) or reduced to its year (dates='year')"),
    ("D", "Telephone numbers", "identity not read"),
    ("E", "Fax numbers", "identity not read"),
    ("F", "Email addresses", "identity not read"),
    ("G", "Social security numbers", "identity not read"),
    ("H", "Medical record numbers",
     "identity (mrn) and person links (FHIR Patient ids and other source ids) not read"),
    ("I", "Health plan beneficiary numbers", "identity not read"),
    ("J", "Account numbers", "identity not read"),
    ("K", "Certificate/license numbers", "identity not read"),
    ("L", "Vehicle identifiers and serial numbers, including license plate numbers",
     "identity not read"),
    ("M", "Device identifiers and serial numbers",
     "the device column of observations and the devices table are not exported"),
    ("N", "Web Universal Resource Locators (URLs)",
     "source names, record ids and all free text (displays, dosage text, reasons, text values) "
     "are not exported"),
    ("O", "Internet Protocol (IP) address numbers",
     "the audit log and ingestion records are not read"),
    ("P", "Biometric identifiers, including finger and voice prints",
     "genotypes and uploads are not exported"),
    ("Q", "Full face photographic images and any comparable images",
     "not stored; nothing binary is exported"),
    ("R", "Any other unique identifying number, characteristic, or code",
     "store person ids are replaced by HMAC-SHA256 pseudonyms under a key the data holder keeps "
     "(a re-identification code as 164.514(c) allows: not derived from information about the "
     "person and not translatable without the key); record and source ids are dropped"),
)

#: 3-digit ZIP areas of 20,000 people or fewer, to be released as "000". HHS Office for Civil
#: Rights, "Guidance Regarding Methods for De-identification of Protected Health Information in
#: Accordance with the HIPAA Privacy Rule" (26 Nov 2012), section 2.4 (When can ZIP codes be
#: included in de-identified information?): the 17 areas from 2000 Census data.
HHS_2000_RESTRICTED_ZIP3 = frozenset({
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
    "879", "884", "890", "893"})
#: areas the same rule gives with 2010 Census ZCTA populations and that the 2000 list lacks
#: (Microsoft "Tools for Health Data Anonymization", zip code de-identification design note,
#: 2010 Census: 036 059 102 203 205 369 556 692 821 823 878 879 884 893). The guidance asks for
#: the current Census data; writing 000 for more areas is always allowed, so both are applied.
CENSUS_2010_EXTRA_ZIP3 = frozenset({"205", "369"})
RESTRICTED_ZIP3 = HHS_2000_RESTRICTED_ZIP3 | CENSUS_2010_EXTRA_ZIP3
#: ages above 89 collapse into one category (45 CFR 164.514(b)(2)(i)(C))
AGE_CAP = 90

#: person columns that may be released, all of them treated as quasi-identifiers
PERSON_QIS = ("birth_year", "sex", "zip3", "race", "ethnicity")
#: categories that never leave through this export, whatever a grant says
NEVER_EXPORTED = frozenset({Category.IDENTITY, Category.NOTES, Category.GENOMICS,
                            Category.ALERTS})
#: observation categories never exported: environmental readings at a person's places could be
#: matched against public weather and air-quality records to find the place and the date shift
NEVER_EXPORTED_OBSERVATIONS = frozenset({Category.LOCATION})
#: the consent convention for research: a grant to the team "research" for purpose research
RESEARCH_GRANTEE = ("team", "research")

_ZIP = re.compile(r"^\s*(\d{5})(?:-?\d{4})?\s*$")
_ZIP_KEYS = ("postal_code", "postalCode", "zip", "zip_code", "zipcode")
_US = {"us", "usa", "united states", "united states of america"}
_DAY_US = 86_400_000_000
_OBS_COLUMNS = ("person", "code", "system", "category", "t", "t_end", "value", "unit",
                "value_code", "flags")
_COND_COLUMNS = ("person", "code", "system", "onset", "abatement", "clinical_status",
                 "verification_status")
_MED_COLUMNS = ("person", "code", "system", "kind", "status", "start", "end")
_GZIP_LEVEL = 6
_PART = 50_000  # rows converted at once (bounded memory for long histories)


class ExportRefused(HyperhealthError):
    """The release was refused (k not reached, nobody consented); nothing was written.

    ``report`` holds what was found (k per generalisation tried, class sizes) for the caller.
    """

    def __init__(self, message: str, *, hint: str = "",
                 report: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.report = dict(report or {})

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


# -- keyed transforms ---------------------------------------------------------------------------
def _mac(key: bytes, label: bytes, person_id: str) -> bytes:
    # a label per use keeps the pseudonym and the date shift independent of each other
    return hmac.new(key, label + b"\x00" + person_id.encode(), hashlib.sha256).digest()


def pseudonym(key: bytes, person_id: str) -> str:
    """The person's id in the export: 80 bits of HMAC-SHA256(key, id), hex, prefixed ``r-``."""
    return "r-" + _mac(key, b"pseudonym", person_id)[:10].hex()


def shift_days(key: bytes, person_id: str, *, min_days: int = 30, max_days: int = 365,
               keep_weekday: bool = True) -> int:
    """The person's date shift in days: ``min_days <= |shift| <= max_days``, either sign, a
    multiple of 7 when ``keep_weekday``; the same for the same key and id.

    A shift is never 0 (that would release the real dates); the lower bound keeps it from being
    a day or two, which a known admission date would give away.

    >>> shift_days(b"k" * 32, "p-1", min_days=1, max_days=1, keep_weekday=False) in (-1, 1)
    True
    """
    step = 7 if keep_weekday else 1
    lo = max(1, -(-min_days // step))  # ceil
    hi = max_days // step
    if hi < lo:
        raise InputError(f"no shift of {min_days}-{max_days} days is a multiple of {step}",
                         field="max_shift_days", hint="widen the range of the date shift")
    h = int.from_bytes(_mac(key, b"date-shift", person_id)[:8], "big")
    magnitude = lo + (h >> 1) % (hi - lo + 1)
    return step * magnitude * (1 if h & 1 else -1)


def key_id(key: bytes) -> str:
    """A short fingerprint of the key (tells two exports with the same key apart from others;
    reveals nothing of the key)."""
    return hmac.new(key, b"hyperhealth research key id", hashlib.sha256).hexdigest()[:12]


# -- generalisation of person attributes --------------------------------------------------------
def zip3(postal_code: str) -> str:
    """A US ZIP code as its first 3 digits, ``000`` for restricted areas, ``""`` if not a ZIP."""
    m = _ZIP.match(postal_code or "")
    if not m:
        return ""
    z = m.group(1)[:3]
    return "000" if z in RESTRICTED_ZIP3 else z


def person_zip(p: Person) -> str:
    """The person's ZIP code as stored: an identity field, else a home label that is a ZIP."""
    ident = p.identity
    country = str(ident.get("country", "")).strip().lower()
    if country and country not in _US:
        return ""
    for k in _ZIP_KEYS:
        if ident.get(k):
            return str(ident[k])
    if p.home is not None and _ZIP.match(p.home.label or ""):
        return p.home.label
    return ""


def birth_year(p: Person, as_of: date) -> str:
    """Birth year, ``90+`` for people who are (or would be) 90 or over on ``as_of``.

    The age on ``as_of`` is used for the deceased too: it collapses more birth years than the
    age at death would, never fewer.
    """
    if p.birth_date is None:
        return ""
    if age_on(p.birth_date, as_of) >= AGE_CAP:
        return AGE_90_PLUS
    return str(p.birth_date.year)


# -- consent ------------------------------------------------------------------------------------
def research_grants(store: Store, now_us: int) -> dict[int, frozenset[Category]]:
    """Persons (by store key) with an active research grant, and the categories granted.

    A research grant is a consent row with purpose ``research``, grantee_kind ``team`` and
    grantee ``research``; active means not revoked, started and not ended at ``now_us``.
    """
    c = S.consents
    q = sa.select(c.c.person_pk, c.c.categories).where(
        c.c.purpose == Purpose.RESEARCH.value, c.c.grantee_kind == RESEARCH_GRANTEE[0],
        c.c.grantee == RESEARCH_GRANTEE[1], c.c.revoked_us.is_(None), c.c.start_us <= now_us,
        sa.or_(c.c.end_us.is_(None), c.c.end_us > now_us))
    out: dict[int, set[Category]] = {}
    with store.engine.connect() as conn:
        for pk, cats in conn.execute(q):
            have = out.setdefault(int(pk), set())
            for v in cats or ():
                try:
                    have.add(Category(v))
                except ValueError:  # a retired category grants nothing
                    continue
    return {pk: frozenset(v - NEVER_EXPORTED) for pk, v in out.items() if v - NEVER_EXPORTED}


# -- the export ---------------------------------------------------------------------------------
@dataclass
class ExportResult:
    """What was written. ``person_ids`` are the store ids of the released persons, for the
    audit trail of the data holder only; they are in no file of the export."""

    out_dir: Path
    manifest: dict[str, Any]
    seconds: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)
    person_ids: list[str] = field(default_factory=list)


@dataclass
class _Subject:
    pk: int
    person: Person
    cats: frozenset[Category]
    pseudonym: str
    shift: int  # days


def research_export(
    store: Store,
    out_dir: str | Path,
    *,
    key: bytes,
    k: int = 5,
    quasi_identifiers: Sequence[str] = PERSON_QIS,
    suppress: bool = False,
    max_suppressed: float = 0.05,
    dates: Literal["shift", "year"] = "shift",
    min_shift_days: int = 30,
    max_shift_days: int = 365,
    keep_weekday: bool = True,
    as_of: datetime | None = None,
) -> ExportResult:
    """Write the de-identified research export of every person with an active research grant.

    ``out_dir`` must not exist (or be empty); files are written to a temporary folder beside it
    and renamed into place at the end, so a refused or failed export leaves nothing. Raises
    :class:`ExportRefused` when nobody has consented or ``k`` cannot be reached, and
    :class:`~hyperhealth.errors.InputError` for unusable arguments.
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    _check_args(out, key, k, quasi_identifiers, max_suppressed, dates)
    qis = [q for q in PERSON_QIS if q in quasi_identifiers]
    now = (as_of or datetime.now(UTC)).astimezone(UTC)
    now_us = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)

    grants = research_grants(store, now_us)
    with store.engine.connect() as conn:
        n_store = conn.execute(sa.select(sa.func.count()).select_from(S.persons)).scalar_one()
    consent = {"purpose": Purpose.RESEARCH.value, "grantee_kind": RESEARCH_GRANTEE[0],
               "grantee": RESEARCH_GRANTEE[1], "evaluated_at": now.isoformat(),
               "persons_in_store": n_store, "persons_with_research_consent": len(grants),
               "never_exported_categories": sorted(c.value for c in NEVER_EXPORTED),
               "observation_categories_never_exported": sorted(
                   c.value for c in NEVER_EXPORTED_OBSERVATIONS)}
    if not grants:
        raise ExportRefused(
            f"no person in the store ({n_store} persons) has an active research consent",
            hint="a research grant is a consent with purpose 'research' to the team 'research'",
            report={"consent": consent})
    subjects = _subjects(store, grants, key, min_shift_days, max_shift_days, keep_weekday)

    rows = [_person_row(s, qis, now.date()) for s in subjects]
    plan = anonymise([{q: r[q] for q in qis} for r in rows], qis, k=k, suppress=suppress,
                     max_suppressed=max_suppressed)
    if not plan.ok:
        tried = attempts(rows, qis, k=k)
        best = max(a.k for a in tried)
        fewest = min(a.below_k for a in tried)
        raise ExportRefused(
            f"k-anonymity over {', '.join(qis)} reaches at most k={best} for "
            f"{len(subjects)} consented persons; k={k} is required (with suppression, at "
            f"least {fewest} persons, {fewest / len(subjects):.0%}, would be left out)",
            hint="lower --k only if the release allows it, use fewer --qi columns, or allow "
                 "suppression of small classes with --suppress and --max-suppressed",
            report={"k_required": k, "k_best": best, "quasi_identifiers": qis,
                    "attempts": [a.to_dict() for a in tried], "consent": consent})

    gone = set(plan.suppressed)
    released = [s for i, s in enumerate(subjects) if i not in gone]
    return _write(store, out, released, plan.rows, plan, qis, key=key, k=k,
                  suppress=suppress, max_suppressed=max_suppressed, dates=dates,
                  shift={"min_days": min_shift_days, "max_days": max_shift_days,
                         "keep_weekday": keep_weekday},
                  consent=consent, t_start=t_start)


def _check_args(out: Path, key: bytes, k: int, qis: Sequence[str], max_suppressed: float,
                dates: str) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) < 16:
        raise InputError("the export key must be at least 16 bytes", field="key",
                         hint="make one with: python -c \"import secrets; "
                              "print(secrets.token_hex(32))\" > research.key")
    if k < 1:
        raise InputError(f"k must be at least 1, not {k}", field="k",
                         hint="k is the smallest group of persons allowed to share the "
                              "quasi-identifier values; 5 or more is usual")
    bad = [q for q in qis if q not in PERSON_QIS]
    if bad:
        raise InputError(f"unknown quasi-identifier(s) {', '.join(bad)}", field="qi",
                         hint=f"choose from: {', '.join(PERSON_QIS)}")
    if not 0 <= max_suppressed < 1:
        raise InputError(f"max_suppressed {max_suppressed} is not a share in [0, 1)",
                         field="max_suppressed", hint="e.g. 0.05 for at most 5% of persons")
    if dates not in ("shift", "year"):
        raise InputError(f"dates mode {dates!r} is not 'shift' or 'year'", field="dates",
                         hint="'year' is Safe Harbor; 'shift' keeps intervals")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not an empty folder", where=str(out),
                         hint="choose a new folder; an export never overwrites another")


def _subjects(store: Store, grants: Mapping[int, frozenset[Category]], key: bytes,
              min_days: int, max_days: int, keep_weekday: bool) -> list[_Subject]:
    p = S.persons
    with store.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(p.c.pk, p.c.id).where(p.c.pk.in_(list(grants)))).all())
    by_id = {x.id: x for x in store.persons()}
    out = [_Subject(pk, by_id[pid], grants[pk], pseudonym(key, pid),
                    shift_days(key, pid, min_days=min_days, max_days=max_days,
                               keep_weekday=keep_weekday))
           for pk, pid in ids.items()]
    # ordered by pseudonym: the store's order (by id) would be a hint to it
    return sorted(out, key=lambda s: s.pseudonym)


def _person_row(s: _Subject, qis: Sequence[str], as_of: date) -> dict[str, str]:
    p, demo, loc = s.person, Category.DEMOGRAPHICS in s.cats, Category.LOCATION in s.cats
    values = {
        "birth_year": birth_year(p, as_of) if demo else "",
        "sex": p.sex_at_birth if demo else "",
        # home ZIP is home location: released only with the location category
        "zip3": zip3(person_zip(p)) if loc else "",
        "race": p.race if demo else "",
        "ethnicity": p.ethnicity if demo else "",
    }
    return {q: values[q] for q in qis}


# -- dates ----------------------------------------------------------------------------------------
def _date_text(value: datetime | date | None, days: int, mode: str) -> str:
    if value is None:
        return ""
    moved = value + timedelta(days=days) if mode == "shift" else value
    if mode == "year":
        return str(moved.year)
    if isinstance(moved, datetime):
        return moved.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moved.isoformat()


def _times(us: np.ndarray, mode: str) -> np.ndarray:
    if mode == "year":
        return np.datetime_as_string(us.astype("datetime64[us]").astype("datetime64[Y]"))
    return np.char.add(np.datetime_as_string(us.astype("datetime64[us]"), unit="s"), "Z")


# -- writing -------------------------------------------------------------------------------------
class _Sink:
    """A CSV file (optionally gzip) that counts its rows and hashes what it wrote."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        # closed in close(): the sink outlives any one with-block
        self.fh: Any = (
            gzip.open(path, "wt", compresslevel=_GZIP_LEVEL, newline="",  # noqa: SIM115
                      encoding="utf-8") if path.suffix == ".gz"
            else open(path, "w", newline="", encoding="utf-8"))  # noqa: SIM115
        self.w = csv.writer(self.fh, lineterminator="\n")
        self.w.writerow(columns)
        self.rows = 0

    def writemany(self, rows: Sequence[Sequence[Any]]) -> None:
        self.w.writerows(rows)
        self.rows += len(rows)

    def close(self) -> dict[str, Any]:
        self.fh.close()
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return {"rows": self.rows, "sha256": h.hexdigest(), "bytes": self.path.stat().st_size}


def _write(store: Store, out: Path, subjects: list[_Subject], person_rows: list[dict[str, str]],
           plan: Plan, qis: list[str], *, key: bytes, k: int, suppress: bool,
           max_suppressed: float, dates: str, shift: dict[str, Any], consent: dict[str, Any],
           t_start: float) -> ExportResult:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))  # mode 0700
    try:
        files: dict[str, dict[str, Any]] = {}
        sink = _Sink(tmp / "persons.csv", ["person", *qis, "deceased"])
        sink.writemany([
            [s.pseudonym, *(r[q] for q in qis),
             _date_text(s.person.deceased, s.shift, dates)
             if Category.DEMOGRAPHICS in s.cats else ""]
            for s, r in zip(subjects, person_rows, strict=True)])
        files["persons.csv"] = sink.close()
        sink = _Sink(tmp / "observations.csv.gz", _OBS_COLUMNS)
        withheld = _observations(store, subjects, sink, dates)
        files["observations.csv.gz"] = sink.close()
        for name, table, columns, cat in (
                ("conditions.csv", S.conditions, _COND_COLUMNS, Category.CONDITIONS),
                ("medications.csv", S.medications, _MED_COLUMNS, Category.MEDICATIONS)):
            sink = _Sink(tmp / name, columns)
            _clinical(store, table, [s for s in subjects if cat in s.cats], sink, dates)
            files[name] = sink.close()
        manifest = _manifest(plan, qis, key=key, k=k, suppress=suppress,
                             max_suppressed=max_suppressed, dates=dates, shift=shift,
                             consent=consent, files=files, withheld=withheld)
        (tmp / "manifest.json").write_bytes(
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        if out.exists():
            out.rmdir()  # checked empty before any work
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    paths = {name: out / name for name in (*files, "manifest.json")}
    return ExportResult(out, manifest, time.perf_counter() - t_start, paths,
                        sorted(s.person.id for s in subjects))


def _observations(store: Store, subjects: list[_Subject], sink: _Sink, dates: str) -> int:
    """Stream every observation of ``subjects`` into ``sink``; returns rows withheld by consent
    categories. One query per person, in pseudonym order (the store's order would hint at the
    store ids); each reads one range of the (person, code, t) key."""
    o = S.observations
    cat_of: dict[tuple[str, str], str] = {}  # plain strings: hashing enum members is slow
    withheld = 0
    cols = (o.c.code, o.c.system, o.c.category, o.c.t, o.c.t_end, o.c.value, o.c.unit,
            o.c.value_code, o.c.flags)
    with store.engine.connect() as conn:
        for s in subjects:
            allowed = {c.value for c in s.cats - NEVER_EXPORTED_OBSERVATIONS}
            q = sa.select(*cols).where(o.c.person_pk == s.pk).order_by(o.c.code, o.c.t)
            result = conn.execution_options(stream_results=True, yield_per=_PART).execute(q)
            for part in result.partitions(_PART):
                keep: list[tuple[Any, str]] = []
                for r in part:
                    ck = (r[0], r[2])
                    cat = cat_of.get(ck)
                    if cat is None:
                        cat = cat_of[ck] = category_of(r[0], r[2]).value
                    if cat in allowed:
                        keep.append((r, cat))
                withheld += len(part) - len(keep)
                if keep:
                    sink.writemany(_obs_rows(keep, s, dates))
    return withheld


def _obs_rows(keep: list[tuple[Any, str]], s: _Subject, dates: str) -> list[Sequence[Any]]:
    n = len(keep)
    off = s.shift * _DAY_US if dates == "shift" else 0
    t = _times(np.fromiter((r[3] for r, _ in keep), np.int64, n) + off, dates)
    has_end = np.fromiter((r[4] is not None for r, _ in keep), bool, n)
    t_end = np.where(has_end, _times(np.fromiter(
        (r[4] if r[4] is not None else 0 for r, _ in keep), np.int64, n) + off, dates), "")
    me = s.pseudonym
    return [(me, r[0], r[1], cat, ts, te, "" if r[5] is None else r[5], r[6], r[7], r[8])
            for (r, cat), ts, te in zip(keep, t.tolist(), t_end.tolist(), strict=True)]


def _clinical(store: Store, table: sa.Table, subjects: list[_Subject], sink: _Sink,
              dates: str) -> None:
    by_pk = {s.pk: s for s in subjects}
    if not by_pk:
        return
    c = table.c
    if table is S.conditions:
        cols = [c.person_pk, c.code, c.system, c.onset, c.abatement, c.clinical_status,
                c.verification_status]
        date_cols = (3, 4)
    else:
        cols = [c.person_pk, c.code, c.system, c.kind, c.status, c.start, c.end]
        date_cols = (5, 6)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*cols).where(c.person_pk.in_(list(by_pk)))).all()
    out = []
    for r in rows:
        s = by_pk[r[0]]
        vals: list[Any] = [s.pseudonym, *r[1:]]
        for i in date_cols:
            vals[i] = _date_text(when_value(r[i]), s.shift, dates)
        out.append(vals)
    out.sort(key=lambda v: (v[0], v[1], v[date_cols[0]]))  # not the store's insertion order
    sink.writemany(out)


def _manifest(plan: Plan, qis: list[str], *, key: bytes, k: int, suppress: bool,
              max_suppressed: float, dates: str, shift: dict[str, Any],
              consent: dict[str, Any], files: dict[str, dict[str, Any]],
              withheld: int) -> dict[str, Any]:
    import hyperhealth

    if dates == "shift":
        rule = {"followed": "Safe Harbor identifiers removed (45 CFR 164.514(b)(2)(i)(A)-(R)) "
                            "except that dates are shifted per person instead of reduced to "
                            "the year",
                "safe_harbor": False,
                "note": "a shifted full date is still a date element; this release needs an "
                        "expert determination (45 CFR 164.514(b)(1)) before it is treated as "
                        "de-identified. Use dates='year' for a Safe Harbor release."}
    else:
        rule = {"followed": "Safe Harbor (45 CFR 164.514(b)(2)): all 18 identifiers removed; "
                            "dates reduced to the year",
                "safe_harbor": True,
                "note": "Safe Harbor also requires that the releasing entity has no actual "
                        "knowledge that the rest could identify a person (164.514(b)(2)(ii))."}
    return {
        "format": "hyperhealth research export", "format_version": FORMAT_VERSION,
        "software": {"name": "hyperhealth", "version": hyperhealth.__version__},
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rule": rule,
        "safe_harbor_identifiers": [{"id": i, "identifier": name, "handling": how}
                                    for i, name, how in SAFE_HARBOR],
        "zip3": {"restricted_to_000": sorted(RESTRICTED_ZIP3),
                 "source": "HHS OCR de-identification guidance (2012) section 2.4, 2000 Census; "
                           "plus 205 and 369 from 2010 Census ZCTAs"},
        "age_cap": {"at_or_over": AGE_CAP, "released_as": AGE_90_PLUS},
        "k_anonymity": {
            "k_required": k, "k_achieved": plan.k, "quasi_identifiers": qis,
            "generalisations_applied": plan.steps,
            "suppression_allowed": suppress, "max_suppressed_share": max_suppressed,
            "suppressed_persons": len(plan.suppressed),
            "class_size_distribution": {str(a): b for a, b in plan.distribution.items()},
            "scope": "person-level quasi-identifiers only; longitudinal data, conditions and "
                     "medications are not part of the equivalence classes"},
        "dates": {"mode": dates,
                  **({"shift": {**shift, "unit": "whole days, same for every date of a person",
                                "method": "HMAC-SHA256(key, person id)"}}
                     if dates == "shift" else {})},
        "pseudonyms": {"method": "HMAC-SHA256(key, person id), 80 bits, prefix r-",
                       "key_id": key_id(key)},
        "consent": consent,
        "counts": {"persons": files["persons.csv"]["rows"],
                   "observations": files["observations.csv.gz"]["rows"],
                   "observations_withheld_by_consent": withheld,
                   "conditions": files["conditions.csv"]["rows"],
                   "medications": files["medications.csv"]["rows"]},
        "files": files,
    }
