"""The disclosure audit: who saw what about whom, on what basis, and what was withheld.

Append-only and hash-chained in the state database. For every request an
``intent`` record is committed before any agency is called, then, before the
response leaves, one ``disclosure`` record per person id asked about and one
``lookup`` record per person whose index entry was shown, committed to disk. If any
cannot be written the request fails closed. Values are never written: only item names,
clauses, bases and reasons.

The intent's commit does not wait for the disk: it is visible at once and kept through
a crash of the gateway's process, and the request's disclosure commit, which does wait,
puts it on disk before anything is disclosed (the database's log keeps commits in
order). A power cut while a request is in flight can lose that request's intent, and
nothing was disclosed by it. Waiting for the disk twice cost every request a second
flush, about a millisecond on a virtual disk, before any agency could be called.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select, update

from gateway.audit.chain import load_signing_key, record_hash, signed_message
from gateway.audit.index_events import requester_rows
from gateway.audit.records import (
    DISCLOSURE,
    INTENT,
    LOOKUP,
    disclosed_groups,
    requester_columns,
    withheld_groups,
)
from gateway.config.protocol import Basis
from gateway.core import tracing
from gateway.core.times import utc_now
from gateway.decide.policy import Decision, Grant
from gateway.decide.requester import Requester
from gateway.governance.state import audit_head, audit_signatures, disclosures
from gateway.governance.state_db import StateDatabase
from gateway.governance.state_sqlite import driver, insert_many
from gateway.governance.state_writer import Durability, WriteLockBusy
from gateway.pipeline.context import RequestContext


class AuditUnavailable(Exception):
    """The audit could not be written; nothing may be disclosed."""


@dataclass(frozen=True)
class _Append:
    """Records waiting to be written, and who waits for their numbers."""

    rows: Sequence[dict[str, Any]]
    future: asyncio.Future[list[int]]
    durability: Durability


_STATUTORY = Basis.STATUTORY


class AuditLog:
    """Appends to the hash chain; one append at a time per process and across processes.

    With a signing key, every append that waits for the disk also signs the new head, so
    that records cut from the end of the chain show even when the head row is rewritten;
    intents, which do not wait, are covered by the next signed head.
    """

    def __init__(self, state: StateDatabase | str, signing_key_file: Path | None = None) -> None:
        # Given a URL rather than the gateway's state database, the log owns its own.
        self._owned = isinstance(state, str)
        self._state = StateDatabase(state) if isinstance(state, str) else state
        self._key_file = signing_key_file
        self._key: Ed25519PrivateKey | None = None
        self._pending: list[_Append] = []
        #: Appends that wait for the disk, held back for one transaction while the
        #: intents that arrived with them are written first.
        self._held_back: list[_Append] = []
        #: The transaction under way, if any: one at a time, the next holding all that
        #: arrived meanwhile.
        self._writing: asyncio.Future[list[int]] | None = None

    def open(self) -> None:
        """Load the signing key, if one is configured."""
        if self._key_file is not None:
            self._key = load_signing_key(self._key_file)

    async def close(self) -> None:
        """Finish the appends under way and release the audit's connections."""
        while self._writing is not None:
            # Its completion starts the next transaction, if appends are waiting.
            await asyncio.wait([self._writing])
        if self._owned:
            await self._state.dispose()

    async def append(self, rows: Sequence[dict[str, Any]], *, alone: bool = False) -> list[int]:
        """Chain and store records; returns their sequence numbers once committed.

        With no transaction under way, the records go to the state database at once (no
        turn of the event loop first). Appends that arrive while one is being written
        are written together in the next (group commit): under load the chain costs one
        transaction, one head update and one signature per batch rather than per
        request, and nobody is answered before their records are durable.

        ``alone``: no other request is running. Then, with nothing of the audit under way
        and the write lock free, the records are written on the event loop's own thread:
        nobody waits for the loop meanwhile, and the hand-off to the writer thread and
        back would cost two thread wake-ups on the request's path.
        """
        if not rows:
            return []
        return await tracing.audit_append(
            len(rows), rows[0]["kind"], self._submit(rows, Durability.DISK, alone)
        )

    def _submit(
        self, rows: Sequence[dict[str, Any]], durability: Durability, alone: bool
    ) -> asyncio.Future[list[int]]:
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        if alone and self._writing is None and self._state.writes_inline:
            try:
                future.set_result(
                    self._state.write_if_free(durability, _append, rows, self._signer(durability))
                )
                return future
            except WriteLockBusy:
                pass  # to the writer thread, which waits for the lock
            except Exception as exc:  # fails closed like any other failure
                _fail([_Append(rows, future, durability)], exc)
                return future
        self._pending.append(_Append(rows, future, durability))
        if self._writing is None:
            self._write_pending()
        return future

    def _signer(self, durability: Durability) -> Ed25519PrivateKey | None:
        # A head is signed when the records it covers are promised on disk: a batch of
        # intents alone is not, and is signed with the disclosures that follow it (whose
        # signed head covers every record before them). A signature per intent cost a
        # tenth of a millisecond before any agency could be called.
        return self._key if durability is Durability.DISK else None

    def _write_pending(self) -> None:
        batch, self._pending = self._pending, []
        if self._held_back:
            batch, self._held_back = self._held_back + batch, []
        elif any(a.durability is Durability.DISK for a in batch) and any(
            a.durability is Durability.COMMITTED for a in batch
        ):
            # Intents go first, in a transaction that does not wait for the disk: their
            # requests' agency calls wait for them. The rest is written next, together with
            # whatever arrives meanwhile, intents included, so it never waits twice.
            self._held_back = [a for a in batch if a.durability is Durability.DISK]
            batch = [a for a in batch if a.durability is Durability.COMMITTED]
        rows = batch[0].rows if len(batch) == 1 else [row for a in batch for row in a.rows]
        # A batch waits for the disk if any append in it must.
        durability = (
            Durability.DISK
            if any(a.durability is Durability.DISK for a in batch)
            else Durability.COMMITTED
        )
        try:
            writing = self._state.start_write(durability, _append, rows, self._signer(durability))
        except Exception as exc:  # not even started: fails closed like any other failure
            # Appends held back behind this batch fail with it: no later write is sure to
            # come and take them.
            _fail([*batch, *self._held_back], exc)
            self._held_back = []
            return
        self._writing = writing
        writing.add_done_callback(lambda done: self._written(batch, done))

    def _written(self, batch: list[_Append], done: asyncio.Future[list[int]]) -> None:
        self._writing = None
        if done.cancelled():
            _fail(batch, AuditUnavailable("the audit append was cancelled"))
        elif (error := done.exception()) is not None:
            _fail(batch, error)
        else:
            start = 0
            for append in batch:
                if not append.future.done():  # a caller that gave up still had them written
                    append.future.set_result(done.result()[start : start + len(append.rows)])
                start += len(append.rows)
        if self._pending or self._held_back:
            self._write_pending()

    def intent(self, context: RequestContext, *, alone: bool = False) -> asyncio.Future[list[int]]:
        """Record, before any agency is called, that this requester is asking.

        The write starts now, not at the caller's next await: the request is planned and
        decided while it is committed, and no agency can be called before it is done. It
        is committed without waiting for the disk; the request's disclosure records,
        which wait, put it there before anything is disclosed. ``alone``: as for
        :meth:`append`.
        """
        started = self._submit(
            [_record(_common(context, utc_now()), INTENT, None, {})], Durability.COMMITTED, alone
        )
        return asyncio.ensure_future(tracing.audit_append(1, INTENT, started))

    async def record(self, context: RequestContext, *, alone: bool = False) -> int:
        """Record what the request disclosed and withheld, one record per person, and one
        lookup record per person whose index entry it showed. ``alone``: as for
        :meth:`append`."""
        rows = self._rows(context)
        await self.append(rows, alone=alone)
        return len(rows)

    @staticmethod
    def _rows(context: RequestContext) -> list[dict[str, Any]]:
        now = utc_now()
        #: person -> agency -> how the agency answered ("not asked" if it was not).
        outcomes: dict[str, dict[str, str]] = {}
        # (person, agency, "disclosed" or "not_delivered") -> the decision mappings.
        decided: dict[tuple[str, str, str], list[Mapping[str, Decision]]] = defaultdict(list)
        withheld: dict[tuple[str, str], dict[str, Decision]] = defaultdict(dict)
        statutory: set[str] = set()
        grants: dict[str, Grant] = {}
        # People decided alike share whole mappings of decisions: each shared mapping is
        # described (grouped by basis and clause) once, and the description shared by
        # every person's record.
        described: dict[int, tuple[Mapping[str, Decision], list[dict[str, Any]], bool]] = {}

        def describe(decisions: Mapping[str, Decision]) -> tuple[list[dict[str, Any]], bool]:
            found = described.get(id(decisions))
            # The mapping is kept beside its description, so its id cannot be reused.
            if found is None:
                found = described[id(decisions)] = (
                    decisions,
                    disclosed_groups(decisions),
                    # An agency reading its own record shares nothing under a duty.
                    any(
                        d.basis is _STATUTORY and d.rule != "own record" for d in decisions.values()
                    ),
                )
            return found[1], found[2]

        for assembly in context.assemblies:
            # An id asked about is recorded whether or not anyone has it: the attempt is
            # the guardian's to see, and an unknown id costs the same write as a real one.
            for person_id in assembly.asked:
                outcomes.setdefault(person_id, {})
            status = {outcome.agency: outcome.status for outcome in assembly.outcomes}
            delivered = assembly.delivered
            for key, decisions in assembly.permitted.items():
                person_id, agency = key
                outcomes.setdefault(person_id, {})[agency] = status.get(agency, "not asked")
                ok = key in delivered
                decided[(person_id, agency, "disclosed" if ok else "not_delivered")].append(
                    decisions
                )
                if ok and describe(decisions)[1]:
                    statutory.add(person_id)
            for entry in assembly.withheld:
                outcomes.setdefault(entry.person_id, {}).setdefault(entry.agency, "not asked")
                withheld[(entry.person_id, entry.agency)][entry.item] = entry.decision
            grants.update(assembly.grants)

        def agencies_of(person_id: str) -> dict[str, Any]:
            entries: dict[str, Any] = {}
            for agency, outcome in outcomes[person_id].items():
                entry: dict[str, Any] = {"outcome": outcome}
                for target in ("disclosed", "not_delivered"):
                    mappings = decided.get((person_id, agency, target))
                    if mappings and len(mappings) == 1:
                        entry[target] = describe(mappings[0])[0]
                    elif mappings:  # several assemblies about the same person and agency
                        entry[target] = disclosed_groups(
                            {k: v for found in mappings for k, v in found.items()}
                        )
                entry.setdefault("disclosed", [])
                entry["withheld"] = withheld_groups(withheld.get((person_id, agency), {}))
                entries[agency] = entry
            return entries

        rows = []
        # Who asked, when and for what: the same in every record of the request.
        common = _common(context, now)
        for person_id in sorted(outcomes):
            row = _record(common, DISCLOSURE, person_id, agencies_of(person_id))
            row["statutory"] = person_id in statutory
            grant = grants.get(person_id)
            if grant is not None:
                # Under a grant the effective purpose is the grant's, not the one asserted.
                row["purpose"] = grant.purpose
                if grant.break_glass:
                    row["break_glass"], row["break_glass_reason"] = grant.id, grant.reason
            rows.append(row)
        for person_id in context.lookups:
            row = _record(common, LOOKUP, person_id, {})
            grant = grants.get(person_id)
            if grant is not None:
                row["purpose"] = grant.purpose
            rows.append(row)
        rows += requester_rows(
            context.index_events, context.requester, context.request_id, context.query_hash, now
        )
        return rows


def _fail(batch: Sequence[_Append], error: BaseException) -> None:
    # Any failure to write the audit fails the requests closed.
    for append in batch:
        if not append.future.done():
            failed = AuditUnavailable(str(error))
            failed.__cause__ = error
            append.future.set_exception(failed)


def _append(
    conn: Connection, rows: Sequence[dict[str, Any]], key: Ed25519PrivateKey | None
) -> list[int]:
    """Chain ``rows`` after the head, store them, move the head and sign it: one
    transaction, one head update and one signature for the whole batch."""
    db = driver(conn)
    if db is not None:
        head = db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    else:
        head = conn.execute(
            select(audit_head.c.seq, audit_head.c.hash)
            .where(audit_head.c.id == 1)
            .with_for_update()
        ).first()
    if head is None:
        raise AuditUnavailable(
            "the audit chain has no head row; start the gateway to create the schema"
        )
    seq, prev = int(head[0]), str(head[1])
    chained = []
    for row in rows:
        seq += 1
        record = {**row, "seq": seq, "prev_hash": prev}
        record["hash"] = prev = record_hash(record)
        chained.append(record)
    signature = None
    if key is not None:
        signature = {
            "seq": seq,
            "hash": prev,
            "signed_at": utc_now().isoformat(),
            "signature": base64.b64encode(key.sign(signed_message(seq, prev))).decode(),
        }
    if db is not None:
        insert_many(db, disclosures, chained)
        db.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
        if signature is not None:
            insert_many(db, audit_signatures, [signature])
    else:
        conn.execute(disclosures.insert(), chained)
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
        if signature is not None:
            conn.execute(audit_signatures.insert().values(**signature))
    return [record["seq"] for record in chained]


def _common(context: RequestContext, now: dt.datetime) -> dict[str, Any]:
    # The columns every record of one request shares (a record sets the rest).
    requester: Requester = context.requester
    return {
        "at": now.isoformat(),
        "request_id": context.request_id,
        "query_hash": context.query_hash,
        **requester_columns(requester),
        "statutory": False,
        "break_glass": None,
        "break_glass_reason": None,
    }


def _record(
    common: dict[str, Any], kind: str, person_id: str | None, agencies: dict[str, Any]
) -> dict[str, Any]:
    return {
        **common,
        "kind": kind,
        "person_id": person_id,
        "agencies": orjson.dumps(agencies, option=orjson.OPT_SORT_KEYS).decode(),
    }
