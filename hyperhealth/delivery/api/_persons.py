"""Persons: the list, one person, their streams and their profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._models import PersonDetail, PersonSummary, ProfileOut, Stream

router = APIRouter(prefix="/api/persons", tags=["persons"])


@router.get("", response_model=list[PersonSummary], summary="List persons")
def list_persons(store: StoreDep) -> list[PersonSummary]:
    """Every person in the store with the number of streams (distinct codes) they have."""
    return [PersonSummary(id=p.id, birth_date=p.birth_date, sex_at_birth=p.sex_at_birth,
                          tz=p.tz, streams=len(store.streams(p.id)))
            for p in store.persons()]


@router.get("/{person_id}", response_model=PersonDetail, responses=responses(404),
            summary="One person")
def get_person(person_id: str, store: StoreDep) -> PersonDetail:
    """Demographics, links to source systems and streams. Direct identifiers are not served."""
    person = store.person(person_id)
    return PersonDetail.of(person, store.person_links(person_id), store.streams(person_id))


@router.get("/{person_id}/streams", response_model=list[Stream], responses=responses(404),
            summary="A person's streams")
def get_streams(person_id: str, store: StoreDep) -> list[Stream]:
    """Which codes the person has, with unit, count and first/last time."""
    return [Stream.of(s) for s in store.streams(person_id)]


@router.get("/{person_id}/profile", response_model=ProfileOut, responses=responses(404, 501),
            summary="A person's profile")
def get_profile(person_id: str, store: StoreDep) -> dict[str, Any]:
    """Conditions, medications, latest vitals and labs, coverage and daily summaries.

    Direct identifiers (``person.identity``) are removed until the security layer decides who
    may see them.
    """
    try:
        from hyperhealth.insights.profile import build_profile
    except ImportError as exc:
        raise ApiError(501, "Not available", f"the profile builder is not installed ({exc})",
                       where="hyperhealth.insights.profile",
                       fix="install a build of hyperhealth that includes insights") from None
    store.person(person_id)  # a clear 404 before any work
    d: dict[str, Any] = build_profile(store, person_id).to_dict()
    person = d.get("person")
    if isinstance(person, dict):
        person.pop("identity", None)
    return d
