"""The shape of the sharing protocol file as pydantic models, read through the one config
adapter: its tables, their keys and types, and the names they must refer to.

Names a table refers to (roles, categories, purposes, agencies, catalogue items) are
checked against the context ``declared`` builds from the file as written, so that a
clause naming a declared role is not blamed for a problem inside that role's table.
What spans several clauses (ids used twice, items covered twice, categories carried by
nothing) is ``gateway.config.protocol``'s, after the models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails

from connectors.source_models import NonEmpty
from gateway.config.protocol_purposes import PURPOSES
from gateway.core.catalogue import Catalogue
from gateway.core.config_models import ConfigModel, Fix, Invalid

#: What each kind of name is when it is not one the file may use.
_UNDECLARED = {
    "roles": "is not declared under [roles]",
    "categories": "is not declared under [categories]",
    "purposes": "is not declared under [purposes]",
    "agencies": "is not a registered agency",
}


def declared(doc: Mapping[str, Any], agency_ids: set[str], catalogue: Catalogue) -> dict[str, Any]:
    """The validation context: the names the file declares, the registered agencies and
    the catalogue its items are checked against."""

    def names(value: Any) -> set[str]:
        return set(value) if isinstance(value, dict) else set()

    governance = doc.get("governance")
    governance_roles = governance.get("roles") if isinstance(governance, dict) else None
    return {
        "roles": names(doc.get("roles")),
        "categories": names(doc.get("categories")),
        "purposes": names(doc.get("purposes")) & set(PURPOSES),
        "agencies": set(agency_ids),
        "governance": set(governance_roles) if isinstance(governance_roles, list) else set(),
        "catalogue": catalogue,
    }


def _names(kind: str, verb: str = "names") -> AfterValidator:
    """A name the file declares (or an agency registered) under ``kind``."""

    def check(value: str, info: ValidationInfo) -> str:
        known: set[str] = (info.context or {}).get(kind, set())
        if value not in known:
            raise Invalid(
                f"{verb} {value!r}, which {_UNDECLARED[kind]}",
                f"Use one of: {', '.join(sorted(known)) or '(none declared)'}.",
            )
        return value

    return AfterValidator(check)


Role = Annotated[str, _names("roles")]
DeclaredPurpose = Annotated[str, _names("purposes")]
Agency = Annotated[str, _names("agencies")]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise Invalid(f"is {value!r}, which is not a regular expression ({exc})") from exc
    return value


Regex = Annotated[NonEmpty, AfterValidator(_regex)]
TRUE_OR_FALSE = Fix("Write true or false.")
ROLES_FIX = "List the roles that may claim it, declared under [roles]."
HOURS_FIX = "Write how many hours a recorded reason lasts, from 0.1 to 720 (30 days)."
PATTERN_FIX = (
    "Write the regular expression an enquiry or referral reference must match, "
    "e.g. '^S42-[0-9]{4}-[0-9]{3,6}$'."
)
HINT_FIX = (
    "Describe the reference in words for the practitioner, e.g. "
    '"a Care Act s.42 enquiry number such as S42-2026-00123".'
)


class ClaimedPurpose(ConfigModel):
    """``[purposes.<name>]`` of a purpose a practitioner claims: from the token
    (asserted) or by a recorded reason (reasoned), which needs hours and a reference."""

    unknown_key_problem: ClassVar[str] = "is not a purpose key"

    description: Annotated[NonEmpty, Fix("Say what the purpose covers.")]
    established: Annotated[
        Literal["asserted", "reasoned"],
        Fix(
            'Write "asserted" (from the token) or "reasoned" (a recorded reason); '
            '"break_glass" (only under a break-glass grant) is for the emergency purpose alone.'
        ),
    ]
    roles: Annotated[list[Role], Fix(ROLES_FIX)]
    hours: Annotated[float | None, Field(gt=0, le=720), Fix(HOURS_FIX)] = None
    reference_pattern: Annotated[Regex | None, Fix(PATTERN_FIX)] = None
    reference_hint: Annotated[NonEmpty | None, Fix(HINT_FIX)] = None

    @model_validator(mode="after")
    def _reasoned_needs_a_reference(self) -> ClaimedPurpose:
        needed = (
            ("hours", HOURS_FIX),
            ("reference_pattern", PATTERN_FIX),
            ("reference_hint", HINT_FIX),
        )
        # Every key missing is reported, not only the first: one error per key.
        missing = [
            InitErrorDetails(
                type="value_error",
                loc=(key,),
                input=None,
                ctx={"error": Invalid("is missing", fix)},
            )
            for key, fix in needed
            if self.established == "reasoned" and getattr(self, key) is None
        ]
        if missing:
            raise ValidationError.from_exception_data(type(self).__name__, missing)
        return self


class AuditPurpose(ClaimedPurpose):
    """``[purposes.audit]``: claimable by information-governance roles only."""

    @model_validator(mode="after")
    def _governance_only(self, info: ValidationInfo) -> AuditPurpose:
        others = set(self.roles) - (info.context or {}).get("governance", set())
        if others:
            raise Invalid(
                f"names {', '.join(sorted(others))}",
                "Audit is for information-governance roles only: list roles named in "
                "[governance] roles.",
                key="roles",
            )
        return self


class EmergencyPurpose(ConfigModel):
    """``[purposes.emergency]``: established by break-glass alone, whose roles and hours
    are [break_glass]'s."""

    unknown_key_problem: ClassVar[str] = "is not a purpose key"

    @classmethod
    def unknown_key(cls, key: str) -> tuple[str, str]:
        """Roles are said once, under [break_glass]."""
        if key == "roles":
            return (
                "is given, but who may break glass is said under [break_glass]",
                "Remove it; list the roles in [break_glass] roles.",
            )
        return super().unknown_key(key)

    description: Annotated[NonEmpty, Fix("Say what the purpose covers.")]
    established: Annotated[
        Literal["break_glass"],
        Fix(
            "The emergency purpose is established by break-glass alone "
            '(established = "break_glass"), and only it.'
        ),
    ]


class PurposesTable(ConfigModel):
    """``[purposes]``: one table per purpose of use the gateway knows (``PURPOSES``)."""

    unknown_key_problem: ClassVar[str] = "is not a purpose of use the gateway knows"

    direct_care: ClaimedPurpose | None = None
    safeguarding: ClaimedPurpose | None = None
    emergency: EmergencyPurpose | None = None
    care_planning: ClaimedPurpose | None = None
    audit: AuditPurpose | None = None
    index_administration: ClaimedPurpose | None = None

    @model_validator(mode="after")
    def _some(self) -> PurposesTable:
        if not self.model_fields_set:
            raise Invalid("is empty")
        return self


class ConsentFormTable(ConfigModel):
    """``[consent_forms.<name>]``: a kind of evidence a consent record may cite."""

    unknown_key_problem: ClassVar[str] = "is not a consent form key"

    description: Annotated[NonEmpty, Fix("Say what the evidence is.")]
    pattern: Annotated[
        Regex,
        Fix("Write a regular expression the reference must contain, e.g. '\\bCF-[0-9]{4,}\\b'."),
    ]
    own_words: Annotated[bool, TRUE_OR_FALSE]


def _lead_guardian(value: str, info: ValidationInfo) -> str:
    practitioner, _, agency = value.rpartition("@")
    if not practitioner or agency not in (info.context or {}).get("agencies", set()):
        raise Invalid(f"names {value!r}, which is not a practitioner of a registered agency")
    return value


class BreakGlassTable(ConfigModel):
    """``[break_glass]``: who may break glass, for how long, for which reasons."""

    unknown_key_problem: ClassVar[str] = "is not a break-glass key"

    roles: Annotated[
        list[Role], Fix("List roles declared under [roles] that may break glass.")
    ] = []
    hours: Annotated[float, Field(gt=0, le=24), Fix("Write a number of hours from 0.1 to 24.")] = (
        4.0
    )
    reasons: Annotated[
        dict[str, NonEmpty],
        Field(min_length=1),
        Fix(
            "Write [break_glass.reasons] with the categories a practitioner must choose from, "
            'e.g. unconscious = "The person cannot be asked and needs urgent care."'
        ),
    ]


class GovernanceTable(ConfigModel):
    """``[governance]``: who signs and oversees, and who keeps the person index."""

    unknown_key_problem: ClassVar[str] = "is not a governance key"

    roles: Annotated[
        list[Role],
        Fix("List information-governance roles (caldicott_guardian, ...) declared under [roles]."),
    ] = []
    lead_guardians: Annotated[
        list[Annotated[str, AfterValidator(_lead_guardian)]],
        Fix(
            'List "practitioner@agency-id" of guardians who oversee every agency\'s '
            "governance data, or leave it out (each guardian then sees their own agency's)."
        ),
    ] = []
    index_roles: Annotated[
        list[Role],
        Fix(
            "List the roles declared under [roles] that keep the person index (link and "
            'unlink records, review uncertain matches), e.g. ["index_administrator"], or '
            "leave it out (then only `fame-gateway index` changes the index)."
        ),
    ] = []


def _described(table: str) -> Fix:
    return Fix(f'Write [{table}] with name = "description" lines.')


class ProtocolFile(ConfigModel):
    """The sharing protocol file; each ``[[clause]]`` is a ``ClauseTable``, read one by one
    so that problems name the clause."""

    unknown_key_problem: ClassVar[str] = "is not a protocol key"

    title: Annotated[NonEmpty, Fix("Write the protocol's title as the agencies signed it.")]
    version: Annotated[NonEmpty, Fix('Write the signed version, e.g. version = "2026.1".')]
    categories: Annotated[dict[str, str], Field(min_length=1), _described("categories")]
    roles: Annotated[dict[str, str], Field(min_length=1), _described("roles")]
    purposes: Annotated[
        PurposesTable,
        Fix(
            "Write one [purposes.<name>] table per purpose of use, with description, "
            "established and roles."
        ),
    ]
    break_glass: Annotated[
        BreakGlassTable, Fix("Write [break_glass] with roles, hours and [break_glass.reasons].")
    ]
    governance: Annotated[GovernanceTable, Fix("Write [governance] with roles.")] = (
        GovernanceTable()
    )
    consent_forms: Annotated[
        dict[str, ConsentFormTable],
        Field(min_length=1),
        Fix(
            "Write one [consent_forms.<name>] table per kind of evidence a consent may cite, "
            "with description, pattern (a regular expression its reference contains) and "
            "own_words (true when it records the person's own words)."
        ),
    ]
    clause: Annotated[
        list[dict[str, Any]], Field(min_length=1), Fix("Add one [[clause]] per agreed sharing.")
    ]


def _item_pattern(value: str, info: ValidationInfo) -> str:
    catalogue: Catalogue = (info.context or {})["catalogue"]
    if value.endswith(".*"):
        known = value[:-2] in catalogue.record_sets_by_name
    else:
        known = value in catalogue.items
    if not known:
        raise Invalid(
            f"names {value!r}, which is not a catalogue item or record set",
            "See `fame-gateway items` for the catalogue.",
        )
    return value


class ClauseTable(ConfigModel):
    """One ``[[clause]]``: which items of which agencies go to whom, for what."""

    unknown_key_problem: ClassVar[str] = "is not a clause key"

    id: Annotated[NonEmpty, Fix('Write the clause number, e.g. id = "ISP-3.1".')]
    title: Annotated[NonEmpty, Fix("Say in a few words what is shared.")]
    agencies: Annotated[list[Agency], Fix("List the owning agencies' ids.")]
    items: Annotated[
        list[Annotated[str, AfterValidator(_item_pattern)]],
        Fix('List items, e.g. ["medications.*", "alerts.severity"].'),
    ]
    category: Annotated[
        str, _names("categories", "is"), Fix("Use a category declared under [categories].")
    ]
    roles: Annotated[list[Role], Fix("List roles declared under [roles].")]
    purposes: Annotated[list[DeclaredPurpose], Fix("List purposes declared under [purposes].")]
    basis: Annotated[
        Literal["explicit", "implied", "statutory"],
        Fix('Write "explicit", "implied" or "statutory".'),
    ]
    sealed: Annotated[bool, TRUE_OR_FALSE] = False
    note: Annotated[str, Fix("Write a sentence.")] = ""
