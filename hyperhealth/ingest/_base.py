"""What every ingest adapter shares: the context it writes through and the report it fills.

An adapter reads one file and yields records (observations, conditions, ...). It resolves the
people it meets through :meth:`IngestContext.person` and reports a bad record through
:meth:`IngestContext.reject` instead of raising, so one bad record never stops a good file.
The driver (:func:`hyperhealth.ingest.ingest_paths`) writes a whole file in one transaction.
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol

from hyperhealth.errors import InputError
from hyperhealth.model import (
    Allergy,
    Condition,
    Encounter,
    Exposure,
    GenotypeUpload,
    LifestyleEvent,
    LocationVisit,
    Medication,
    Observation,
    Person,
    Quality,
    metric_for,
    normalise,
)
from hyperhealth.model.codes import METRICS
from hyperhealth.store import Writer

Record = (Observation | Condition | Medication | Allergy | Encounter | LifestyleEvent | Exposure
          | LocationVisit | GenotypeUpload)

#: report key for each record type
KIND = {
    Observation: "observations", Condition: "conditions", Medication: "medications",
    Allergy: "allergies", Encounter: "encounters", LifestyleEvent: "lifestyle_events",
    Exposure: "exposures", LocationVisit: "location_visits", GenotypeUpload: "genotype_uploads",
}


@dataclass(frozen=True, slots=True)
class Reject:
    """One record that was not stored: where it is, which field, why, and what to do."""

    where: str
    field: str
    reason: str
    hint: str = ""

    def __str__(self) -> str:
        f = f" [{self.field}]" if self.field else ""
        h = f" ({self.hint})" if self.hint else ""
        return f"{self.where}{f}: {self.reason}{h}"


@dataclass
class IngestReport:
    path: str
    format: str = ""
    persons: list[str] = field(default_factory=list)
    created_persons: int = 0
    read: Counter[str] = field(default_factory=Counter)  # records read, by kind
    added: Counter[str] = field(default_factory=Counter)  # records newly stored, by kind
    resources: Counter[str] = field(default_factory=Counter)  # FHIR resources imported, by type
    skipped: Counter[str] = field(default_factory=Counter)  # deliberately not imported, by type
    flagged: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""  # the file failed as a whole; nothing from it was stored
    already_imported: bool = False
    unrecognised: bool = False  # no adapter knows the format (an error for a file named explicitly)

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def duplicates(self) -> Counter[str]:
        """Records read that were already stored (rejected records are not duplicates)."""
        dup = self.read - self.added
        del dup["rejected"]
        return dup

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rejects"] = [asdict(r) for r in self.rejects]
        d["duplicates"] = dict(self.duplicates)
        for k in ("read", "added", "resources", "skipped"):
            d[k] = dict(getattr(self, k))  # asdict() turns a Counter into pair counts
        return d


@dataclass
class IngestOptions:
    """Options given by the caller (CLI flags, API parameters)."""

    person: str | None = None  # attach everything in the file to this person id
    tz: str | None = None  # zone for wall-clock times without an offset
    force: bool = False  # re-read a file whose content was imported before
    max_rejects_kept: int = 1000


class IngestContext:
    def __init__(self, writer: Writer, report: IngestReport, options: IngestOptions) -> None:
        self.writer = writer
        self.report = report
        self.options = options
        self._persons: dict[tuple[str, str], str] = {}
        self._tz: dict[str, str] = {}

    def person(self, source: str, external_id: str, template: Person | None = None) -> str:
        """The person for an id in the source; created (from ``template``) when new.

        With ``--person`` given, every record goes to that person and the source id is linked.
        """
        key = (source, external_id)
        pid = self._persons.get(key)
        if pid is not None:
            return pid
        if self.options.person:
            pid = self.options.person
            self.writer.store.person(pid)  # raises NotFound with a clear message
            if template is not None:
                self.writer.upsert_person(_replace_id(template, pid))
            self.writer.link_person(source, external_id, pid)
        else:
            pid, created = self.writer.resolve_person(source, external_id, template)
            self.report.created_persons += int(created)
            if template is not None and not created:
                self.writer.upsert_person(_replace_id(template, pid))
        self._persons[key] = pid
        if pid not in self.report.persons:
            self.report.persons.append(pid)
        return pid

    def tz_for(self, person_id: str) -> str:
        """The zone for naive times of this person: ``--tz``, else the person's zone."""
        if self.options.tz:
            return self.options.tz
        tz = self._tz.get(person_id)
        if tz is None:
            tz = self._tz[person_id] = self._stored_tz(person_id)
        return tz

    def _stored_tz(self, person_id: str) -> str:
        # read through this file's own transaction: a person it created is not yet visible
        # to the store's other connections
        import sqlalchemy as sa

        from hyperhealth.store import _schema

        p = _schema.persons
        tz = self.writer.conn.execute(sa.select(p.c.tz).where(p.c.id == person_id)).scalar()
        return str(tz) if tz is not None else self.writer.store.person(person_id).tz

    def reject(self, where: str, field: str, reason: str, hint: str = "") -> None:
        self.report.read["rejected"] += 1
        if len(self.report.rejects) < self.options.max_rejects_kept:
            self.report.rejects.append(Reject(where, field, reason, hint))

    def reject_error(self, err: InputError, where: str) -> None:
        self.reject(err.where or where, err.field, err.message, err.hint)

    def observation(
        self,
        where: str,
        person_id: str,
        code: str,
        t: datetime,
        value: float,
        unit: str,
        *,
        flags: Quality = Quality.NONE,
        **fields: Any,
    ) -> Observation | None:
        """A normalised, plausibility-checked observation, or ``None`` after a reject."""
        try:
            v, u, f = normalise(code, float(value), unit)
        except InputError as err:
            self.reject_error(err, where)
            return None
        except (TypeError, ValueError):
            self.reject(where, "value", f"{value!r} is not a number", "send a decimal number")
            return None
        m = metric_for(fields.get("system", "http://loinc.org"), code) or METRICS.get(code)
        if m is not None:
            fields.setdefault("category", m.category)
        if f & Quality.IMPLAUSIBLE:
            self.report.flagged += 1
        return Observation(person_id, code, t, v, u, flags=flags | f, **fields)


class Adapter(Protocol):
    """One source format. ``sniff`` decides from the name and the first bytes (decompressed)."""

    name: ClassVar[str]

    def sniff(self, path: Path, head: str) -> bool: ...

    def read(self, path: Path, ctx: IngestContext) -> Iterator[Record]: ...


def open_text(path: Path) -> IO[str]:
    """Open a text file, transparently gunzipping ``.gz``."""
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def read_head(path: Path, n: int = 4096) -> str:
    try:
        with open_text(path) as f:
            return f.read(n)
    except (OSError, UnicodeDecodeError, EOFError):
        return ""


def _replace_id(p: Person, pid: str) -> Person:
    from dataclasses import replace

    return replace(p, id=pid)
