"""The gateway's own state database: person index links, consents, grants and the audit.

Only the gateway's own state lives here; agency data is never stored. SQLite
by default, PostgreSQL when several gateway processes share it. The tables are made
and upgraded by the migrations (``gateway.governance.migrate``), never from these
definitions directly; a test keeps the two the same.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

from gateway.governance import state_errors

metadata = MetaData()


class NaiveDateTimeError(ValueError):
    """A time without a UTC offset was about to be stored."""


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An instant stored in UTC and read back aware, in UTC, on every database.

    SQLite keeps no offset at all (``+14:00`` and ``-12:00`` would both come back
    as if UTC), so every time is converted to UTC on the way in; a naive time is
    refused, since which instant it means is unknown.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Aware times become UTC; naive ones are refused."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDateTimeError(
                f"the time {value.isoformat()} has no UTC offset; the state database stores "
                "instants only (use datetime.now(UTC) or give an offset)"
            )
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        """Times come back aware, in UTC (SQLite's naive text is UTC as stored)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


persons = Table(
    "persons",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("nhs_number", String(10), unique=True, nullable=True),
    # The index entry: what exact-identifier search matches and shows without a relationship.
    Column("given_name", String(100), nullable=True),
    Column("family_name", String(100), nullable=True),
    Column("family_name_key", String(100), nullable=True, index=True),
    Column("date_of_birth", Date, nullable=True),
    Column("postcode_key", String(10), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

person_links = Table(
    "person_links",
    metadata,
    Column("person_id", String(64), nullable=False),
    Column("agency_id", String(64), nullable=False),
    Column("local_id", String(128), nullable=False),
    # The involvement behind the link: which team holds the person, and whether it is current;
    # the team decides which of the agency's own practitioners have a relationship.
    Column("team", String(100), nullable=True),
    Column("current", Boolean, nullable=False, default=True),
    # How the link was made (deterministic on a valid NHS number, probabilistic on a
    # score, manual by an index administrator), the score, by whom and when. Empty on
    # links made before these were kept; never read on the request path.
    Column("method", String(16), nullable=True),
    Column("score", Float, nullable=True),
    Column("linked_by", String(200), nullable=True),
    Column("linked_at", UtcDateTime(), nullable=True),
    # One agency record may be held by several teams (district nursing and the mental
    # health team): one link per team, all to the same person.
    UniqueConstraint("agency_id", "local_id", "team", name="uq_person_links_agency_local_team"),
    Index("ix_person_links_person", "person_id"),
)

#: Every link and unlink ever made, so that a link removed can still be told: what was
#: linked to whom, how, by whom and when. Appended to, never changed.
person_link_events = Table(
    "person_link_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("action", String(16), nullable=False),
    Column("person_id", String(64), nullable=False, index=True),
    Column("agency_id", String(64), nullable=False),
    Column("local_id", String(128), nullable=False),
    Column("team", String(100), nullable=True),
    Column("method", String(16), nullable=False),
    Column("score", Float, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("detail", Text, nullable=True),
)

#: Every postcode a person has been known at (an agency's current or previous address),
#: so that someone who moved still meets their earlier records.
person_postcodes = Table(
    "person_postcodes",
    metadata,
    Column("person_id", String(64), primary_key=True),
    Column("postcode_key", String(10), primary_key=True),
    Column("first_seen_at", UtcDateTime(), nullable=False),
    Column("agency_id", String(64), nullable=True),
)

#: Records whose best match scored between the review and link thresholds: an index
#: administrator accepts the match (the record is linked to the candidate) or rejects it
#: (the record becomes a new person). The record's identifying details are kept until
#: then, since the reviewer needs them; the score's explanation says how each field compared.
person_index_reviews = Table(
    "person_index_reviews",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("agency_id", String(64), nullable=False),
    Column("local_id", String(128), nullable=False),
    Column("team", String(100), nullable=True),
    Column("nhs_number", String(10), nullable=True),
    Column("given_name", String(100), nullable=True),
    Column("family_name", String(100), nullable=True),
    Column("date_of_birth", Date, nullable=True),
    Column("postcodes", String(200), nullable=True),
    Column("candidate_person_id", String(64), nullable=False),
    Column("score", Float, nullable=False),
    Column("explanation", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("decided_person_id", String(64), nullable=True),
    Column("note", Text, nullable=True),
)

consents = Table(
    "consents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", String(64), nullable=False, index=True),
    Column("scope_kind", String(10), nullable=False),
    Column("scope", String(100), nullable=False),
    Column("recipient_kind", String(10), nullable=False),
    Column("recipient", String(100), nullable=False),
    Column("decision", String(10), nullable=False),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_until", UtcDateTime(), nullable=True),
    Column("withdrawn_at", UtcDateTime(), nullable=True),
    Column("withdrawn_by", String(100), nullable=True),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("reference", Text, nullable=False),
    # Which kind of evidence (a protocol consent form) the reference cites.
    Column("reference_form", String(64), nullable=True),
    # The evidence cited for the withdrawal: an objection is lifted only on the person's own words.
    Column("withdrawn_reference", Text, nullable=True),
)

break_glass_grants = Table(
    "break_glass_grants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", String(64), nullable=False, index=True),
    Column("practitioner", String(200), nullable=False),
    Column("agency", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    # emergency (break-glass) or safeguarding (a recorded enquiry or referral)
    Column("purpose", String(32), nullable=False, default="emergency"),
    # Break-glass: the protocol's reason category chosen; safeguarding: the enquiry or
    # referral reference the grant serves.
    Column("reason_category", String(64), nullable=True),
    Column("reference", String(100), nullable=True),
    Column("granted_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=True),
    # Who ended it early (the holder, or a guardian revoking it or reviewing it as
    # inappropriate) and why.
    Column("ended_by", String(200), nullable=True),
    Column("end_reason", Text, nullable=True),
    # The Caldicott guardian's review of the emergency access.
    Column("reviewed_at", UtcDateTime(), nullable=True),
    Column("reviewed_by", String(200), nullable=True),
    Column("review_outcome", String(32), nullable=True),
    Column("review_note", Text, nullable=True),
)

#: An owning agency's notice that a break-glass grant disclosed its data; its own
#: systems read this table (one row per grant and agency).
break_glass_notifications = Table(
    "break_glass_notifications",
    metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("agency", String(64), primary_key=True),
    Column("person_id", String(64), nullable=False),
    Column("practitioner", String(200), nullable=False),
    Column("requester_agency", String(64), nullable=False),
    Column("first_disclosed_at", UtcDateTime(), nullable=False),
    # The agency was told the grant was ended by a guardian (revoked, or reviewed as
    # inappropriate): which event, and when.
    Column("ended_notice", String(32), nullable=True),
    Column("ended_notified_at", UtcDateTime(), nullable=True),
)

#: The disclosure audit, append-only and hash-chained. An ``intent`` record is
#: written for each request before any agency is called; a ``disclosure``
#: record per person per request says, per agency, what was disclosed (clause,
#: basis) and withheld (reason). Never values. Each record carries the hash of
#: the one before it, so a changed, removed or reordered record shows.
disclosures = Table(
    "disclosures",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("at", String(40), nullable=False),
    Column("request_id", String(64), nullable=False, index=True),
    Column("query_hash", String(64), nullable=False),
    Column("practitioner", String(200), nullable=False),
    # The name the token gave, so that the person's report can say who looked.
    Column("practitioner_name", String(200), nullable=True),
    Column("requester_agency", String(64), nullable=False),
    Column("requester_team", String(100), nullable=True),
    Column("roles", Text, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("person_id", String(64), nullable=True, index=True),
    Column("agencies", Text, nullable=False),
    Column("statutory", Boolean, nullable=False),
    Column("break_glass", String(64), nullable=True),
    Column("break_glass_reason", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

#: The chain's head: the last sequence number and hash. Appends lock this row,
#: so processes sharing one PostgreSQL append one after another.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

#: Signatures of the chain's head, made with the gateway's key as records are
#: appended: a chain cut below a signed head shows, even if the head row is rewritten.
audit_signatures = Table(
    "audit_signatures",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("signed_at", String(40), nullable=False),
    Column("signature", String(200), nullable=False),
)


#: One row counting the changes to the tables a request is decided on (``persons``,
#: ``person_links``, ``consents``, ``break_glass_grants``). Database triggers, not the
#: gateway, bump it in the transaction that makes the change, so a change by any process
#: or tool moves it; a process may keep those rows in memory while it stands still.
state_version = Table(
    "state_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)


def create_state_engine(url: str) -> AsyncEngine:
    """An engine for the state database; SQLite gets WAL so readers never block the writer."""
    # A server database may drop idle connections (restart, failover): ping on
    # checkout. A SQLite file cannot, and the ping would cost every read a hop.
    server = not url.startswith("sqlite")
    engine = create_async_engine(url, pool_pre_ping=server)
    state_errors.watch(engine.sync_engine)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine
