"""What the practitioner's page says, in plain words, about an item withheld from an answer
and about an agency that could not answer.

The answer itself carries codes (``extensions.withheld[].reason``, an error's
``extensions.code``, ``extensions.sources[agency].status``); a practitioner needs to
know what each means for them and what, if anything, they can do about it. The texts
live here, once, and the page receives them as data: a new reason or agency error
gets its words here, and a test fails until it has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connectors.base import AgencyTimeout, AgencyUnavailable, CircuitOpen, ConnectorError
from gateway.decide.policy import Reason

#: The reason a gateway with ``withheld_detail = "quiet"`` gives for every withheld item.
QUIET_REASON = "WITHHELD"


@dataclass(frozen=True)
class PlainReason:
    """Why an item was withheld, said to the practitioner it was withheld from.

    ``action`` names what the page offers next to it: ``consent`` (record the person's
    consent), ``break_glass`` (emergency access), ``safeguarding`` (claim safeguarding),
    or ``""`` when nothing the practitioner can do would change it.
    """

    title: str
    text: str
    action: str = ""


#: Every withholding reason of the policy, and the quiet one.
WITHHELD_REASONS: Mapping[str, PlainReason] = {
    Reason.NO_CONSENT.value: PlainReason(
        "Needs the person's consent",
        "The sharing protocol shares this only with the person's explicit consent, and no "
        "consent is recorded for your agency or role. If the person agrees, record their "
        "consent and it applies at once.",
        "consent",
    ),
    Reason.OBJECTION.value: PlainReason(
        "The person has objected",
        "The person has objected to this being shared with you. Only the person can lift "
        "their objection; withdrawing it needs evidence in their own words.",
        "consent",
    ),
    Reason.SEALED.value: PlainReason(
        "Sealed: never leaves the agency",
        "The sharing protocol seals this item: it never leaves the agency that holds it, "
        "not even in an emergency. Ask that agency directly if you need it.",
    ),
    Reason.NOT_IN_PROTOCOL.value: PlainReason(
        "Not in the sharing protocol",
        "The agencies have not agreed to share this item, so it is never shared. Ask the "
        "agency that holds it directly if you need it.",
    ),
    Reason.NO_RELATIONSHIP.value: PlainReason(
        "No current involvement",
        "Neither you nor your team is currently involved with this person at the agency "
        "concerned, so its records are not shared with you. In an emergency you may "
        "break glass, with a reason that a Caldicott guardian reviews.",
        "break_glass",
    ),
    Reason.ROLE_NOT_PERMITTED.value: PlainReason(
        "Not shared with your role",
        "The sharing protocol does not share this item with practitioners in your role.",
    ),
    Reason.PURPOSE_NOT_PERMITTED.value: PlainReason(
        "Not shared for this purpose",
        "The sharing protocol does not share this item for the purpose of your request. "
        "If you are acting on a safeguarding concern, claim safeguarding with the enquiry "
        "or referral reference.",
        "safeguarding",
    ),
    QUIET_REASON: PlainReason(
        "Withheld",
        "The sharing protocol withholds this item from you; this gateway is set not to "
        "say why. Your information governance lead can explain a decision.",
    ),
}


@dataclass(frozen=True)
class PlainStatus:
    """How an agency fared, said to the practitioner: a short label and what it means."""

    label: str
    text: str


#: Every way an agency's part of an answer can fail (the connectors' error codes).
SOURCE_STATUSES: Mapping[str, PlainStatus] = {
    AgencyUnavailable.code: PlainStatus(
        "Unavailable",
        "The agency's system could not be reached. Its records are missing from this "
        "picture, not absent: try again later, or contact the agency.",
    ),
    AgencyTimeout.code: PlainStatus(
        "Unavailable",
        "The agency's system did not answer in time. Its records are missing from this "
        "picture, not absent: try again in a moment.",
    ),
    ConnectorError.code: PlainStatus(
        "Unavailable",
        "The agency's system answered with an error. Its records are missing from this "
        "picture, not absent: try again later, or contact the agency.",
    ),
    CircuitOpen.code: PlainStatus(
        "Unavailable",
        "The agency's system has failed repeatedly in the last few moments, so the gateway "
        "is not asking it for now. Its records are missing from this picture, not absent: "
        "try again shortly.",
    ),
}
