"""Information governance in the client view: the protocol as data and exact-identifier
search. Consent, grants and guardians' oversight have modules of their own
(``resolvers.consent``, ``resolvers.break_glass``, ``resolvers.oversight``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import graphene

from gateway.config.protocol import Basis, SharingProtocol
from gateway.governance.person_index import IndexEntry
from gateway.pipeline.context import RequestContext
from resolvers.errors import governance_error as _error
from resolvers.scalars import Date


class BasisEnum(graphene.Enum):  # type: ignore[misc]
    """Why an item may be shared."""

    EXPLICIT = "explicit"
    IMPLIED = "implied"
    STATUTORY = "statutory"


class ProtocolClause(graphene.ObjectType):  # type: ignore[misc]
    """A clause of the sharing protocol."""

    id = graphene.ID(required=True)
    title = graphene.String(required=True)
    agencies = graphene.List(graphene.NonNull(graphene.ID), required=True)
    items = graphene.List(graphene.NonNull(graphene.String), required=True)
    category = graphene.String(required=True)
    roles = graphene.List(graphene.NonNull(graphene.String), required=True)
    purposes = graphene.List(graphene.NonNull(graphene.String), required=True)
    basis = graphene.Field(BasisEnum, required=True)
    sealed = graphene.Boolean(
        required=True, description="No one outside the owning agency sees it."
    )
    note = graphene.String(required=True)


class Described(graphene.ObjectType):  # type: ignore[misc]
    """A name the protocol defines, and what it means."""

    name = graphene.String(required=True)
    description = graphene.String(required=True)


class BreakGlassTerms(graphene.ObjectType):  # type: ignore[misc]
    """Who may break glass, for how long a grant lasts, and the reasons to choose from."""

    roles = graphene.List(graphene.NonNull(graphene.String), required=True)
    hours = graphene.Float(required=True)
    reasons = graphene.List(
        graphene.NonNull(Described),
        required=True,
        description="The reason categories breakGlass takes (reasonCategory).",
    )


class ConsentFormType(graphene.ObjectType):  # type: ignore[misc]
    """A kind of evidence a consent record's reference may cite."""

    class Meta:
        name = "ConsentForm"

    name = graphene.String(required=True)
    description = graphene.String(required=True)
    pattern = graphene.String(
        required=True, description="A regular expression the reference must contain a match of."
    )
    own_words = graphene.Boolean(
        required=True, description="The person's own words: may lift an objection."
    )


class SharingProtocolType(graphene.ObjectType):  # type: ignore[misc]
    """The Information Sharing Protocol in force, as data."""

    class Meta:
        name = "SharingProtocol"

    title = graphene.String(required=True)
    version = graphene.String(required=True)
    clauses = graphene.List(graphene.NonNull(ProtocolClause), required=True)
    break_glass = graphene.Field(BreakGlassTerms, required=True)
    governance_roles = graphene.List(graphene.NonNull(graphene.String), required=True)
    consent_forms = graphene.List(graphene.NonNull(ConsentFormType), required=True)


class IndexEntryType(graphene.ObjectType):  # type: ignore[misc]
    """A person-index entry: enough to confirm identity, with no detail."""

    class Meta:
        name = "IndexEntry"

    person_id = graphene.ID(required=True)
    given_name = graphene.String()
    family_name = graphene.String()
    date_of_birth = Date()
    agencies = graphene.List(
        graphene.NonNull(graphene.ID),
        required=True,
        description="The agencies currently involved with the person, without detail.",
    )


def protocol_as_data(protocol: SharingProtocol) -> dict[str, Any]:
    """The protocol shaped for the SharingProtocol type."""
    return {
        "title": protocol.title,
        "version": protocol.version,
        "clauses": [
            {
                "id": c.id,
                "title": c.title,
                "agencies": sorted(c.agencies),
                "items": sorted(c.items),
                "category": c.category,
                "roles": sorted(c.roles),
                "purposes": sorted(c.purposes),
                "basis": c.basis.value,
                "sealed": c.sealed,
                "note": c.note,
            }
            for c in protocol.clauses
        ],
        "break_glass": {
            "roles": sorted(protocol.break_glass_roles),
            "hours": protocol.break_glass_hours,
            "reasons": [
                {"name": name, "description": description}
                for name, description in protocol.break_glass_reasons.items()
            ],
        },
        "governance_roles": sorted(protocol.governance_roles),
        "consent_forms": [
            {
                "name": form.name,
                "description": form.description,
                "pattern": form.pattern,
                "own_words": form.own_words,
            }
            for form in protocol.consent_forms.values()
        ],
    }


def _entry_out(entry: IndexEntry) -> dict[str, Any]:
    return {
        "person_id": entry.person_id,
        "given_name": entry.given_name,
        "family_name": entry.family_name,
        "date_of_birth": entry.date_of_birth,
        "agencies": list(entry.agencies),
    }


class GovernanceQuery(graphene.ObjectType):  # type: ignore[misc]
    """Queries about sharing rather than about people's records."""

    sharing_protocol = graphene.Field(
        SharingProtocolType, required=True, description="The sharing protocol in force."
    )
    find_people = graphene.List(
        graphene.NonNull(IndexEntryType),
        required=True,
        nhs_number=graphene.String(),
        surname=graphene.String(),
        date_of_birth=Date(),
        postcode=graphene.String(),
        description=(
            "Find a person by exact identifiers only: an NHS number, or surname, date of "
            "birth and postcode together. Partial details find no one. The answer is the "
            "index entry alone."
        ),
    )

    @staticmethod
    def resolve_sharing_protocol(_root: None, info: Any) -> dict[str, Any]:
        """The protocol as data."""
        return protocol_as_data(info.context.gateway.settings.protocol)

    @staticmethod
    async def resolve_find_people(
        _root: None,
        info: Any,
        nhs_number: str | None = None,
        surname: str | None = None,
        date_of_birth: dt.date | None = None,
        postcode: str | None = None,
    ) -> list[dict[str, Any]]:
        """Exact-identifier search; refuses partial details outright."""
        if nhs_number is None and not (surname and date_of_birth and postcode):
            raise _error(
                "findPeople needs an NHS number, or surname, date of birth and postcode together",
                "BAD_USER_INPUT",
            )
        context: RequestContext = info.context
        entries = await context.gateway.index.find_exact(
            nhs_number=nhs_number,
            family_name=surname,
            date_of_birth=date_of_birth,
            postcode=postcode,
        )
        # Each person found is audited as a lookup; if that fails, nothing is answered.
        context.looked_up(entry.person_id for entry in entries)
        return [_entry_out(entry) for entry in entries]


__all__ = ["Basis", "GovernanceQuery"]
