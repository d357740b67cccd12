"""The purpose of use of a request: established, never merely claimed.

The protocol says, per purpose, which roles may claim it and how it comes to
apply. An *asserted* purpose comes from the identity provider's token
(``purpose_of_use``: one name or a list); the ``Fame-Purpose-Of-Use`` header may
choose among the purposes the token allows, never add one. A *reasoned*
purpose (safeguarding) and *break-glass* (emergency) apply per person, only
under a grant recorded with a reason; asking for them by header is refused
with the way to establish them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from gateway.config.protocol import Establishment, SharingProtocol
from gateway.core.errors import GatewayError


class PurposeError(GatewayError):
    """The purpose asked for cannot apply to this request; says why and how to establish it.

    ``status`` is 400 for a purpose the protocol does not define, 403 for one this
    requester may not claim or that is established otherwise.
    """

    def __init__(self, message: str, code: str, status: int) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


def one_purpose_header(values: Sequence[str]) -> str | None:
    """The one ``Fame-Purpose-Of-Use`` header, if sent; several are refused, not guessed at."""
    if len(values) > 1:
        raise PurposeError(
            "send one Fame-Purpose-Of-Use header, not several", "PURPOSE_AMBIGUOUS", 400
        )
    return values[0] if values else None


def token_purposes(claim: object) -> tuple[str, ...] | None:
    """The purposes a token's ``purpose_of_use`` claim allows; None when it has no claim."""
    if claim is None:
        return None
    if isinstance(claim, str):
        return tuple(claim.split())
    if isinstance(claim, list) and all(isinstance(p, str) for p in claim):
        return tuple(claim)
    raise PurposeError(
        "the token's purpose_of_use claim is not a purpose name or a list of them; ask your "
        "identity provider's administrator to fix the claim",
        "PURPOSE_CLAIM_INVALID",
        400,
    )


def assertable(
    protocol: SharingProtocol, roles: Collection[str], allowed: Sequence[str] | None
) -> tuple[str, ...]:
    """The asserted purposes these roles may claim, within the token's, in protocol order."""
    return tuple(
        name
        for name, purpose in protocol.purposes.items()
        if purpose.established is Establishment.ASSERTED
        and purpose.roles & set(roles)
        and (allowed is None or name in allowed)
    )


def establish(
    protocol: SharingProtocol,
    roles: Collection[str],
    claim: object,
    header: str | None,
    default: str,
) -> str:
    """The purpose a request is made for, or PurposeError saying why not and what to do."""
    allowed = token_purposes(claim)
    requested = (header or "").strip() or None
    if requested is None and allowed:
        requested = allowed[0]
    possible = assertable(protocol, roles, allowed)
    if requested is None:
        if default in possible:
            return default
        if len(possible) == 1:
            return possible[0]
        raise PurposeError(
            "say which purpose of use this request is for in the Fame-Purpose-Of-Use header; "
            f"you may claim: {', '.join(possible) or 'none'}",
            "PURPOSE_REQUIRED",
            400,
        )
    purpose = protocol.purposes.get(requested)
    if purpose is None:
        raise PurposeError(
            f"the purpose of use {requested!r} is not one the sharing protocol defines; use one "
            f"of: {', '.join(protocol.purposes)}",
            "PURPOSE_UNKNOWN",
            400,
        )
    if purpose.established is Establishment.BREAK_GLASS:
        raise PurposeError(
            f"{requested} applies only under a break-glass grant: break glass for the person "
            "(mutation breakGlass, with a reason category and what is happening); your queries "
            "about them are then made for emergency care until the grant ends",
            "PURPOSE_NOT_ESTABLISHED",
            403,
        )
    if purpose.established is Establishment.REASONED:
        raise PurposeError(
            f"{requested} is established per person by recording the enquiry or referral it "
            "serves (mutation claimSafeguarding, with its reference and what is happening); "
            f"your queries about that person are then made for {requested} until it expires",
            "PURPOSE_NOT_ESTABLISHED",
            403,
        )
    if not purpose.roles & set(roles):
        raise PurposeError(
            f"your role may not claim {requested}; the protocol allows it to: "
            f"{', '.join(sorted(purpose.roles))}",
            "PURPOSE_FORBIDDEN",
            403,
        )
    if allowed is not None and requested not in allowed:
        raise PurposeError(
            f"your identity provider's token allows {', '.join(allowed)}, not {requested}; a "
            "header may choose among the token's purposes, never add one",
            "PURPOSE_FORBIDDEN",
            403,
        )
    return requested
