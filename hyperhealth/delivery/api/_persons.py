"""Persons: the list, one person, their streams and their profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hyperhealth.delivery.api._deps import StoreDep
from hyperhealth.delivery.api._errors import ApiError, responses
from hyperhealth.delivery.api._guard import Access, AccessDep, Rule, rule, visible_persons
from hyperhealth.delivery.api._models import PersonDetail, PersonSummary, ProfileOut, Stream
from hyperhealth.security._filter import filter_profile
from hyperhealth.security._model import Category, category_of
from hyperhealth.store import StreamInfo

router = APIRouter(prefix="/api/persons", tags=["persons"])


@router.get("", response_model=list[PersonSummary], summary="List persons")
@rule(Rule("user"))
def list_persons(store: StoreDep, access: AccessDep) -> list[PersonSummary]:
    """The persons whose demographics the caller may see, with their number of streams."""
    visible = set(visible_persons(store, access, Category.DEMOGRAPHICS))
    return [PersonSummary(id=p.id, birth_date=p.birth_date, sex_at_birth=p.sex_at_birth,
                          tz=p.tz, streams=len(store.streams(p.id)))
            for p in store.persons() if p.id in visible]


@router.get("/{person_id}", response_model=PersonDetail, responses=responses(404),
            summary="One person")
@rule(Rule("person", (Category.DEMOGRAPHICS,)))
def get_person(person_id: str, store: StoreDep, access: AccessDep) -> PersonDetail:
    """Demographics, links to source systems and the streams the caller may see. Direct
    identifiers are not served."""
    person = store.person(person_id)
    links = store.person_links(person_id) if access.allows(Category.IDENTITY) else []
    return PersonDetail.of(person, links, _streams(store, person_id, access))


@router.get("/{person_id}/streams", response_model=list[Stream], responses=responses(404),
            summary="A person's streams")
@rule(Rule("person"))
def get_streams(person_id: str, store: StoreDep, access: AccessDep) -> list[Stream]:
    """Which codes the person has (of the categories the caller may see), with unit, count and
    first/last time."""
    return [Stream.of(s) for s in _streams(store, person_id, access)]


@router.get("/{person_id}/profile", response_model=ProfileOut, responses=responses(404, 501),
            summary="A person's profile")
@rule(Rule("person"))
def get_profile(person_id: str, store: StoreDep, access: AccessDep) -> dict[str, Any]:
    """Conditions, medications, latest vitals and labs, coverage and daily summaries, cut down
    to the categories the caller's consent covers. Direct identifiers are never served here.
    """
    try:
        from hyperhealth.insights.profile import build_profile
    except ImportError as exc:
        raise ApiError(501, "Not available", f"the profile builder is not installed ({exc})",
                       where="hyperhealth.insights.profile",
                       fix="install a build of hyperhealth that includes insights") from None
    store.person(person_id)  # a clear 404 before any work
    profile = filter_profile(build_profile(store, person_id), access.categories)
    d: dict[str, Any] = profile.to_dict()
    person = d.get("person")
    if isinstance(person, dict):
        person.pop("identity", None)
    return d


def _streams(store: StoreDep, person_id: str, access: Access) -> list[StreamInfo]:
    return [s for s in store.streams(person_id) if access.allows(category_of(s.code))]
