"""Reading FHIR R4 JSON: Bundles, single resources and bulk NDJSON, each resource validated.

Malformed JSON or a truncated file aborts the file with its line and column; a resource that
fails validation is one bad record, reported with its place (bundle entry or NDJSON line) and
the failing field path, while the others go on.

>>> _field_path(("component", 0, "valueQuantity", "value"))
'component[0].valueQuantity.value'
>>> is_ndjson(Path("Observation.ndjson.gz"), "")
True
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hyperhealth.errors import InputError
from hyperhealth.ingest._base import open_text


@dataclass(frozen=True, slots=True)
class Unit:
    """One resource with where it sits (file and entry index or line) and its bundle, if any."""

    where: str
    resource: dict[str, Any]
    bundle: Bundle | None = None
    full_url: str = ""

    @property
    def ext_id(self) -> str:
        """The resource id, else the uuid of its ``urn:uuid:`` fullUrl (transaction bundles)."""
        return str(self.resource.get("id") or self.full_url.removeprefix("urn:uuid:"))


@dataclass(slots=True)
class Bundle:
    """Resolves references inside one Bundle: fullUrl and ``Type/id`` to the resource."""

    by_ref: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, entries: list[Any]) -> Bundle:
        refs: dict[str, dict[str, Any]] = {}
        for e in entries:
            res = e.get("resource") if isinstance(e, dict) else None
            if not isinstance(res, dict):
                continue
            rtype, rid = res.get("resourceType"), res.get("id")
            if isinstance(e.get("fullUrl"), str):
                refs[e["fullUrl"]] = res
            if isinstance(rtype, str) and isinstance(rid, str):
                refs[f"{rtype}/{rid}"] = res
        return cls(refs)

    def get(self, ref: str) -> dict[str, Any] | None:
        hit = self.by_ref.get(ref)
        if hit is None and "/" in ref and not ref.startswith("urn:"):
            parts = ref.split("/_history/")[0].rstrip("/").split("/")
            hit = self.by_ref.get("/".join(parts[-2:]))  # absolute URL -> Type/id
        return hit


def is_ndjson(path: Path, head: str) -> bool:
    """NDJSON by name (``.ndjson``, ``.jsonl``, optionally gzipped) or by a complete first line."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".ndjson", ".jsonl")):
        return True
    first, _, rest = head.partition("\n")
    if not rest.strip():
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def read_units(path: Path, head: str) -> Iterator[Unit]:
    """Every resource in the file, in order, with its location."""
    if is_ndjson(path, head):
        yield from _ndjson_units(path)
        return
    try:
        with open_text(path) as f:
            text = f.read()
    except EOFError as err:
        raise InputError("the compressed file ends early (truncated)", where=str(path),
                         hint="copy or download the file again") from err
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data" and err.colno == 1:  # one resource per line after all
            yield from _ndjson_units(path)
            return
        at_end = err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string")
        raise _json_error(path, err, err.lineno, at_end) from err
    yield from document_units(doc, str(path))


def document_units(doc: Any, where: str) -> Iterator[Unit]:
    """The resources of a parsed JSON document: a Bundle's entries or one resource."""
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise InputError("not a FHIR resource: the top level has no \"resourceType\"",
                         where=where, hint="give a FHIR R4 Bundle, a resource or NDJSON")
    if doc["resourceType"] != "Bundle":
        yield Unit(where, doc)
        return
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        raise InputError("Bundle.entry is not a list", where=where, field="entry",
                         hint="give a FHIR R4 Bundle")
    bundle = Bundle.of(entries)
    for i, e in enumerate(entries):
        res = e.get("resource") if isinstance(e, dict) else None
        if res is None:
            continue  # e.g. a DELETE request or a response without a body: nothing to import
        full_url = e.get("fullUrl")
        yield Unit(f"{where} entry {i}", res, bundle,
                   full_url if isinstance(full_url, str) else "")


def _ndjson_units(path: Path) -> Iterator[Unit]:
    lineno = 0
    try:
        with open_text(path) as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as err:
                    raise _json_error(path, err, lineno, not line.endswith("\n")) from err
                if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
                    raise InputError("line is not a FHIR resource (no \"resourceType\")",
                                     where=f"{path}:{lineno}",
                                     hint="bulk NDJSON holds one resource per line")
                yield Unit(f"{path}:{lineno}", doc)
    except EOFError as err:
        raise InputError("the compressed file ends early (truncated)",
                         where=f"{path}:{lineno + 1}",
                         hint="copy or download the file again") from err


def _json_error(path: Path, err: json.JSONDecodeError, line: int, at_end: bool) -> InputError:
    what = f"malformed JSON: {err.msg}"
    if at_end:
        what += " (the file ends in the middle of the JSON: truncated?)"
    return InputError(what, where=f"{path}:{line}:{err.colno}",
                      hint="fix the JSON there or export the file again")


@cache
def _model(rtype: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(rtype)


def validate(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Validate against the R4B model; returns ``(field path, message)`` for each problem."""
    rtype = res.get("resourceType")
    try:
        model = _model(str(rtype))
    except (KeyError, ValueError):
        return [("resourceType", f"{rtype!r} is not a FHIR resource type")]
    try:
        model.model_validate(res)
    except ValidationError as err:
        return [(_field_path(e["loc"]), e["msg"]) for e in err.errors()]
    return []


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
