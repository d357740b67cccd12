"""``fame-gateway index``: import an agency's people, link, unlink, review the queue.

Every change is recorded on the link (method, score, who, when), in the link history,
and in the disclosure audit's hash chain, under the operator named by ``--actor``
(default: the login name of whoever runs the command).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import hashlib
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gateway.config.settings import Settings, load_settings
from gateway.core.errors import GatewayError

if TYPE_CHECKING:
    from gateway.governance.linkage import ImportSummary, Linkage, LinkEvent
    from gateway.governance.linkage_reviews import ReviewItem

#: Review statuses ``index review list --status`` takes (as the review queue keeps them).
STATUSES = ("pending", "accepted", "rejected", "superseded", "all")

T = TypeVar("T")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config))


def _actor(args: argparse.Namespace) -> str:
    actor = (args.actor or "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        raise GatewayError(
            "cannot tell who is running this command; name yourself with --actor"
        ) from None


def _known_agency(settings: Settings, agency_id: str) -> None:
    known = sorted(agency.id for agency in settings.agencies)
    if agency_id not in known:
        raise GatewayError(
            f"unknown agency {agency_id!r}: registered agencies are {', '.join(known)}. "
            f"Register it first: `fame-gateway agency new --kind KIND {agency_id}`, then "
            "`fame-gateway agency check FILE` until it passes"
        )


def _run(
    settings: Settings,
    args: argparse.Namespace,
    work: Callable[[Linkage], Awaitable[tuple[T, Sequence[LinkEvent]]]],
) -> T:
    """Run ``work`` over the state database, then chain its events in the audit."""
    # Imported here, as the rest of the command line does: other commands start faster.
    from gateway.audit.index_events import operator_rows
    from gateway.audit.log import AuditLog
    from gateway.core.times import utc_now
    from gateway.governance.linkage import Linkage
    from gateway.governance.migrate import require_current_schema, upgrade_schema
    from gateway.governance.state_db import StateDatabase

    async def run() -> T:
        state = StateDatabase(settings.state_database)
        audit = AuditLog(state, settings.audit_signing_key_file)
        try:
            # As the gateway itself does: the demo makes its own schema, production only checks.
            if settings.demo:
                await upgrade_schema(state.engine)
            else:
                await require_current_schema(state.engine)
            audit.open()
            result, events = await work(Linkage(state))
            if events:
                command = " ".join(sys.argv[1:]) or args.index_command
                rows = operator_rows(
                    events,
                    _actor(args),
                    str(uuid.uuid4()),
                    hashlib.sha256(command.encode()).hexdigest(),
                    utc_now(),
                )
                await audit.append(rows)
            return result
        finally:
            await audit.close()
            await state.dispose()

    return asyncio.run(run())


def _import(args: argparse.Namespace) -> int:
    from gateway.governance import matching
    from gateway.governance.index_file import read_index_file

    settings = _settings(args)
    _known_agency(settings, args.agency)
    records = read_index_file(Path(args.file), args.agency).records
    actor = _actor(args)

    async def work(linkage: Linkage) -> tuple[ImportSummary, Sequence[LinkEvent]]:
        summary = await linkage.import_records(records, actor)
        return summary, summary.events

    summary = _run(settings, args, work)
    print(f"imported {len(records)} record(s) of {args.agency} from {args.file}")
    print(f"  linked on a valid NHS number      {summary.count('linked', 'deterministic'):>6}")
    print(
        f"  linked on a score >= {matching.LINK_THRESHOLD:<4}         "
        f"{summary.count('linked', 'probabilistic'):>6}"
    )
    print(f"  queued for review                 {summary.count('queued'):>6}")
    print(f"  new people                        {summary.count('new_person'):>6}")
    print(f"  already linked                    {summary.count('already_linked'):>6}")
    if summary.invalid_nhs_numbers:
        print(
            f"{len(summary.invalid_nhs_numbers)} invalid NHS number(s), not used for linking "
            "(those records were matched on their other details):"
        )
        for line, value, problem in summary.invalid_nhs_numbers:
            print(f"  line {line}: {value!r} {problem}")
    if summary.count("queued"):
        print("review the queue with `fame-gateway index review list`")
    return 0


def _link(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _known_agency(settings, args.agency)
    actor = _actor(args)

    async def work(linkage: Linkage) -> tuple[LinkEvent, Sequence[LinkEvent]]:
        event = await linkage.link(
            args.person_id, args.agency, args.local_id, actor, args.team, args.note
        )
        return event, [event]

    event = _run(settings, args, work)
    team = f" (team {event.team})" if event.team else ""
    print(f"linked {event.agency_id} record {event.local_id}{team} to {event.person_id}")
    return 0


def _unlink(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _known_agency(settings, args.agency)
    actor = _actor(args)
    reason = args.reason.strip()
    if not reason:
        raise GatewayError("say why the link is removed: --reason TEXT")

    async def work(linkage: Linkage) -> tuple[list[LinkEvent], Sequence[LinkEvent]]:
        events = await linkage.unlink(args.person_id, args.agency, args.local_id, actor, reason)
        return events, events

    events = _run(settings, args, work)
    teams = ", ".join(e.team for e in events if e.team) or "no team"
    print(
        f"unlinked {args.agency} record {args.local_id} from {args.person_id} "
        f"({len(events)} link(s): {teams})"
    )
    return 0


def _describe(item: ReviewItem) -> str:
    r = item.record
    born = r.date_of_birth.isoformat() if r.date_of_birth else "no date of birth"
    lines = [
        f"{item.id}  {item.status}  score {item.score:.1f}  queued {item.created_at:%Y-%m-%d}",
        f"    record    {r.agency_id} {r.local_id}: {r.given_name or '?'} "
        f"{r.family_name or '?'}, {born}, {' '.join(r.postcodes) or 'no postcode'}"
        + (f", NHS {r.nhs_valid}" if r.nhs_valid else ""),
        f"    candidate {item.candidate_person_id}",
        f"    why       {item.explanation}",
    ]
    if item.decided_by:
        lines.append(f"    decided   by {item.decided_by} -> {item.decided_person_id}")
    return "\n".join(lines)


def _review(args: argparse.Namespace) -> int:
    settings = _settings(args)
    action = args.review_action
    actor = _actor(args)
    if action == "list":

        async def listing(linkage: Linkage) -> tuple[list[ReviewItem], Sequence[LinkEvent]]:
            return await linkage.reviews(args.status), []

        items = _run(settings, args, listing)
        for item in items:
            print(_describe(item))
        print(f"{len(items)} review(s) {args.status}")
        return 0
    if not args.id:
        raise GatewayError(f"say which review to {action}: index review {action} ID")

    async def deciding(linkage: Linkage) -> tuple[LinkEvent, Sequence[LinkEvent]]:
        decide = linkage.accept if action == "accept" else linkage.reject
        event = await decide(args.id, actor, args.note)
        return event, [event]

    event = _run(settings, args, deciding)
    if action == "accept":
        print(f"accepted: {event.agency_id} record {event.local_id} linked to {event.person_id}")
    else:
        print(
            f"rejected: {event.agency_id} record {event.local_id} is a new person, "
            f"{event.person_id}"
        )
    return 0


def add_index_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``index import|link|unlink|review`` to the command line."""
    index = commands.add_parser("index", help="the person index: import, link, unlink, review")
    sub = index.add_subparsers(dest="index_command", required=True)
    actor_help = "who is making the change, recorded on it (default: your login name)"
    importing = sub.add_parser(
        "import",
        help="link an agency's people from its CSV file (agency_id,local_id,nhs_number,"
        "given_name,family_name,date_of_birth,postcodes,team): link what can be linked, "
        "queue the uncertain for review, make new people of the rest",
    )
    importing.add_argument("file", metavar="FILE")
    importing.add_argument("--agency", required=True, help="the registered agency's id")
    importing.set_defaults(run=_import)
    link = sub.add_parser("link", help="link an agency's record to a person by hand")
    unlink = sub.add_parser("unlink", help="remove the link of an agency's record to a person")
    for parser in (link, unlink):
        parser.add_argument("person_id", metavar="PERSON_ID")
        parser.add_argument("agency", metavar="AGENCY")
        parser.add_argument("local_id", metavar="LOCAL_ID")
    link.add_argument("--team", help="the team holding the record")
    link.add_argument("--note", help="why; kept in the link history")
    link.set_defaults(run=_link)
    unlink.add_argument("--reason", required=True, help="why; kept in the link history")
    unlink.set_defaults(run=_unlink)
    review = sub.add_parser("review", help="the queue of uncertain matches")
    review.add_argument(
        "review_action", choices=("list", "accept", "reject"), nargs="?", default="list"
    )
    review.add_argument("id", nargs="?", metavar="ID", help="the review to accept or reject")
    review.add_argument("--status", choices=STATUSES, default="pending", help="for list")
    review.add_argument("--note", help="for accept or reject; kept on the review")
    review.set_defaults(run=_review)
    for parser in (importing, link, unlink, review):
        parser.add_argument("--actor", help=actor_help)
