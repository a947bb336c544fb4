"""Audit entries as FHIR R4 AuditEvent resources (validated by ``fhir.resources.R4B``).

Codes follow the FHIR R4 AuditEvent page (hl7.org/fhir/R4/auditevent.html): REST operations are
``audit-event-type#rest`` with a ``restful-interaction`` subtype; log-in/out is DICOM 110114
"User Authentication" with subtype 110122/110123; exports are DICOM 110106 "Export". Outcome
codes 0/4/8 are the ``audit-event-outcome`` value set (0 success, 4 minor failure such as a
refused request, 8 serious failure such as a server error). Purposes are HL7 v3 ActReason codes.

>>> action_code("update"), action_code("login"), action_code("export")
('U', 'E', 'R')
>>> outcome_code("deny")
'4'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent

from hyperhealth.security._audit import Action, AuditRecord, Outcome, canonical_json
from hyperhealth.security._model import Purpose, Role

TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
REST_INTERACTION = "http://hl7.org/fhir/restful-interaction"
PERSON_SYSTEM = "urn:hyperhealth:person"  # as in the FHIR export of persons
USER_SYSTEM = "urn:hyperhealth:user"
DEVICE_SYSTEM = "urn:hyperhealth:device"
ROLE_SYSTEM = "urn:hyperhealth:role"
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

_ACTION = {Action.CREATE: "C", Action.READ: "R", Action.UPDATE: "U", Action.DELETE: "D",
           Action.SEARCH: "E", Action.EXPORT: "R", Action.LOGIN: "E", Action.LOGOUT: "E",
           Action.EXECUTE: "E"}
_OUTCOME = {Outcome.PERMIT: "0", Outcome.BREAK_GLASS: "0", Outcome.DENY: "4",
            Outcome.ERROR: "8"}
_REST = {Action.CREATE: "create", Action.READ: "read", Action.UPDATE: "update",
         Action.DELETE: "delete", Action.SEARCH: "search-type", Action.EXECUTE: "operation"}
_PURPOSE = {Purpose.TREATMENT: ("TREAT", "treatment"), Purpose.RESEARCH: ("HRESCH", "research"),
            Purpose.EMERGENCY: ("ETREAT", "emergency treatment")}


def action_code(action: str) -> str:
    """FHIR AuditEvent.action (C/R/U/D/E) of one of our actions."""
    return _ACTION.get(Action(action), "E")


def outcome_code(outcome: str) -> str:
    return _OUTCOME[Outcome(outcome)]


def _event_type(action: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    a = Action(action)
    if a in (Action.LOGIN, Action.LOGOUT):
        sub = ("110122", "Login") if a is Action.LOGIN else ("110123", "Logout")
        return ({"system": DCM, "code": "110114", "display": "User Authentication"},
                [{"system": DCM, "code": sub[0], "display": sub[1]}])
    if a is Action.EXPORT:
        return {"system": DCM, "code": "110106", "display": "Export"}, []
    return ({"system": TERMINOLOGY + "audit-event-type", "code": "rest",
             "display": "RESTful Operation"},
            [{"system": REST_INTERACTION, "code": _REST[a]}])


def _purpose(purpose: str) -> list[dict[str, Any]]:
    if not purpose:
        return []
    try:
        code, display = _PURPOSE[Purpose(purpose)]
    except ValueError:
        return [{"text": purpose}]
    return [{"coding": [{"system": TERMINOLOGY + "v3-ActReason", "code": code,
                         "display": display}], "text": purpose}]


def _network(source: str) -> dict[str, str] | None:
    """Agent network of a client address (type 2: IP address); None for "cli", "engine"."""
    try:
        ipaddress.ip_address(source)
    except ValueError:
        return None
    return {"address": source, "type": "2"}


def audit_event(rec: AuditRecord) -> AuditEvent:
    """One stored entry as a validated AuditEvent."""
    etype, subtype = _event_type(rec.action)
    purpose = _purpose(rec.purpose)
    device = rec.role == Role.DEVICE
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": TERMINOLOGY + "extra-security-role-type",
                             "code": "datacollector" if device else "humanuser"}]},
        "role": [{"coding": [{"system": ROLE_SYSTEM, "code": rec.role}], "text": rec.role}],
        "who": {"identifier": {"system": DEVICE_SYSTEM if device else USER_SYSTEM,
                               "value": rec.actor}, "display": rec.actor},
        "requestor": True,
    }
    if purpose:
        agent["purposeOfUse"] = purpose
    network = _network(rec.source)
    if network:
        agent["network"] = network
    entities: list[dict[str, Any]] = []
    if rec.person_id:
        what: dict[str, Any] = {"identifier": {"system": PERSON_SYSTEM, "value": rec.person_id}}
        if _FHIR_ID.fullmatch(rec.person_id):
            what["reference"] = f"Patient/{rec.person_id}"
        entities.append({"what": what,
                         "type": {"system": TERMINOLOGY + "audit-entity-type", "code": "1",
                                  "display": "Person"},
                         "role": {"system": TERMINOLOGY + "object-role", "code": "1",
                                  "display": "Patient"}})
    details = [{"type": "seq", "valueString": str(rec.seq)},
               {"type": "hash", "valueString": rec.hash}]
    if rec.detail:
        details.append({"type": "detail", "valueString": canonical_json(rec.detail).decode()})
    entities.append({"what": {"display": rec.resource},
                     "type": {"system": TERMINOLOGY + "audit-entity-type", "code": "2",
                              "display": "System Object"},
                     "detail": details})
    body: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"hh-audit-{rec.seq}",
        "type": etype,
        "action": action_code(rec.action),
        "recorded": rec.time.isoformat(),
        "outcome": outcome_code(rec.outcome),
        "agent": [agent],
        "source": {"site": "hyperhealth",
                   "observer": {"display": "hyperhealth" if network else
                                f"hyperhealth ({rec.source})"},
                   "type": [{"system": TERMINOLOGY + "security-source-type", "code": "4",
                             "display": "Application Server"}]},
        "entity": entities,
    }
    if subtype:
        body["subtype"] = subtype
    if rec.outcome != Outcome.PERMIT:
        body["outcomeDesc"] = rec.outcome
    if purpose:
        body["purposeOfEvent"] = purpose
    return AuditEvent.model_validate(body)


def to_fhir(records: Iterable[AuditRecord]) -> list[dict[str, Any]]:
    """AuditEvent resources as JSON-ready dicts."""
    return [audit_event(r).model_dump(mode="json", exclude_none=True) for r in records]
