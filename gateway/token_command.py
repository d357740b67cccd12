"""``fame-gateway token`` and ``fame-gateway demo-keys``: tokens and issuer keys for a
gateway in demo mode.

``token NAME`` mints for one of the demo's sample practitioners. ``token --agency ID
--subject ID --name NAME --role ROLE [--team TEAM]`` mints for any practitioner of a
registered agency whose issuer's signing key the gateway holds (a private key beside its
JWKS file), so that an agency registered while the gateway runs can be tried by its own
practitioners. ``demo-keys`` makes that key pair for an issuer that has none yet.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.config.settings import Settings
from gateway.core.errors import GatewayError


@dataclass(frozen=True)
class PractitionerClaims:
    """Who a token is for, as the agency's identity provider would say it."""

    agency: str
    subject: str
    name: str | None
    roles: tuple[str, ...]
    team: str | None
    purposes: tuple[str, ...] | None = None


def claims_from_args(args: argparse.Namespace) -> PractitionerClaims | None:
    """The practitioner named by ``--agency ...`` options; None when a sample
    practitioner's name was given instead. Refuses a mixture, or missing options."""
    options = {
        "--agency": args.agency,
        "--subject": args.subject,
        "--name": args.name,
        "--role": args.role,
        "--team": args.team,
        "--purpose": args.purpose,
    }
    given = [option for option, value in options.items() if value]
    if args.practitioner is not None:
        if given:
            raise GatewayError(
                f"give either a sample practitioner ({args.practitioner}) or a practitioner "
                f"of a registered agency with --agency and its options ({', '.join(given)} "
                "given), not both"
            )
        return None
    missing = [option for option in ("--agency", "--subject", "--role") if not options[option]]
    if missing:
        raise GatewayError(
            "say whom the token is for: a sample practitioner (fame-gateway token sw-patel), "
            "or a practitioner of a registered agency with --agency ID --subject LOGIN "
            "--name NAME --role ROLE [--team TEAM]; missing: " + ", ".join(missing)
        )
    return PractitionerClaims(
        agency=args.agency,
        subject=args.subject,
        name=args.name,
        roles=tuple(args.role),
        team=args.team,
        purposes=tuple(args.purpose) if args.purpose else None,
    )


def practitioner_token(settings: Settings, who: PractitionerClaims) -> tuple[str, list[str]]:
    """A token for a practitioner of a registered agency, and notes for the operator.

    Refuses an agency that is not registered and a role or purpose the protocol does not
    know, naming those it does; a team in none of the agency's services is allowed (a
    team may be a service of its own) but noted, since it relates to nobody else's people.
    """
    registered = sorted(agency.id for agency in settings.agencies)
    if who.agency not in registered:
        raise GatewayError(
            f"{who.agency!r} is not a registered agency (registered: {', '.join(registered)}); "
            "register it first: `fame-gateway agency new`, `agency check`, then "
            "`fame-gateway reload`"
        )
    protocol = settings.protocol
    _known("role", who.roles, protocol.roles)
    _known("purpose", who.purposes or (), protocol.purposes)
    notes: list[str] = []
    services = settings.agency(who.agency).services
    teams = sorted(team for service in services.services for team in service.teams)
    if who.team is not None and teams and services.service_of(who.team) is None:
        notes.append(
            f"note: team {who.team!r} is in none of {who.agency}'s services, so this "
            f"practitioner relates only to people that team itself holds; its services' "
            f"teams are: {', '.join(teams)}"
        )
    from gateway.config.tokens import mint_token  # joserfc: only when a token is minted

    token = mint_token(
        settings,
        subject=who.subject,
        agency=who.agency,
        team=who.team,
        roles=who.roles,
        name=who.name,
        purposes=who.purposes,
    )
    return token, notes


def _known(what: str, given: Sequence[str], known: Iterable[str]) -> None:
    names = sorted(known)
    unknown = [value for value in given if value not in names]
    if unknown:
        raise GatewayError(
            f"the sharing protocol has no {what} {', '.join(map(repr, unknown))}; "
            f"use one of: {', '.join(names)}"
        )


def make_demo_keys(settings: Settings) -> list[str]:
    """Lines reporting the key pairs made for issuers that had none."""
    from gateway.config.tokens import new_issuer_keys

    written = new_issuer_keys(settings)
    if not written:
        return ["every issuer with a jwks_file has its keys already; nothing was made"]
    return [f"wrote {path}" for path in written] + [
        "run `fame-gateway reload` so that a running gateway trusts the new keys"
    ]


def add_token_arguments(token: argparse.ArgumentParser) -> None:
    """The ``token`` command's arguments: a sample practitioner, or ``--agency ...``."""
    token.add_argument(
        "practitioner", nargs="?", help="a sample practitioner of the demo, e.g. sw-patel"
    )
    token.add_argument("--agency", help="a registered agency whose signing key the gateway holds")
    token.add_argument("--subject", help="the practitioner's login id (the token's sub)")
    token.add_argument("--name", help="the practitioner's name, as the audit shows it")
    token.add_argument(
        "--role", action="append", help="a role the protocol lists (repeat for several)"
    )
    token.add_argument("--team", help="the team, as the agency's services name it")
    token.add_argument(
        "--purpose",
        action="append",
        help="a purpose of use the token vouches for (repeat; default: the roles' own)",
    )
