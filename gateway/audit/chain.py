"""The audit's hash chain: what a record's hash covers, what the gateway signs for a head,
its signing key, and checking the whole chain (``fame-gateway audit verify``).

Each record carries its sequence number and the hash of the one before; every append
that waits for the disk signs the new head with the gateway's Ed25519 key, so a changed,
removed, reordered or cut-off record shows even when the head row is rewritten (an
intent is covered by the next signed head).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.errors import ConfigError
from gateway.governance.state import audit_head, audit_signatures, disclosures

GENESIS = "0" * 64
#: Every column that the hash covers, in a fixed order.
_FIELDS = (
    "seq",
    "kind",
    "at",
    "request_id",
    "query_hash",
    "practitioner",
    "requester_agency",
    "requester_team",
    "roles",
    "purpose",
    "person_id",
    "agencies",
    "statutory",
    "break_glass",
    "break_glass_reason",
    "prev_hash",
)
#: Columns added after the first records were written: hashed (by name) only when set, so
#: records written before they existed verify as they always did.
_LATER_FIELDS = ("practitioner_name",)


def record_hash(record: dict[str, Any]) -> str:
    """The hash of a record: SHA-256 over its fields (prev_hash included), canonical JSON."""
    # orjson writes exactly what json.dumps(separators=(",", ":"), ensure_ascii=False)
    # does for these values (strings, integers, booleans, null), many times faster.
    values: list[Any] = [record.get(name) for name in _FIELDS]
    values += [[name, record[name]] for name in _LATER_FIELDS if record.get(name) is not None]
    canonical = orjson.dumps(values)
    return hashlib.sha256(canonical).hexdigest()


def signed_message(seq: int, head_hash: str) -> bytes:
    """What the gateway signs for a chain head."""
    return f"fame-audit-head:{seq}:{head_hash}".encode()


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The gateway's audit signing key (Ed25519, PEM)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            path,
            "(file)",
            f"the audit signing key cannot be read ({exc})",
            "Point audit_signing_key_file at an Ed25519 private key in PEM, "
            "or run `make demo` to create the demo's.",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            path, "(file)", "is not an Ed25519 key", "Generate an Ed25519 key for the audit."
        )
    return key


@dataclass(frozen=True)
class ChainReport:
    """The outcome of verifying the chain: ``broken_at`` is the first bad record's number."""

    records: int
    ok: bool
    broken_at: int | None = None
    problem: str = ""


async def verify_chain(
    engine: AsyncEngine, public_key: Ed25519PublicKey | None = None
) -> ChainReport:
    """Check every link and hash, that the chain reaches the recorded head, and, with the
    gateway's public key, every signed head."""
    expected_seq, prev = 1, GENESIS
    count = 0
    hashes: dict[int, str] = {}
    async with engine.connect() as conn:
        head = (
            await conn.execute(
                select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
            )
        ).first()
        result = await conn.stream(select(disclosures).order_by(disclosures.c.seq))
        async for row in result.mappings():
            record = dict(row)
            seq = int(record["seq"])
            if seq != expected_seq:
                return ChainReport(
                    count,
                    False,
                    expected_seq,
                    f"record {expected_seq} is missing (the next one present is {seq})",
                )
            if record["prev_hash"] != prev:
                return ChainReport(
                    count,
                    False,
                    seq,
                    f"record {seq} does not link to record {seq - 1} (removed, reordered or "
                    "altered records)",
                )
            if record_hash(record) != record["hash"]:
                return ChainReport(count, False, seq, f"record {seq} has been altered")
            prev = str(record["hash"])
            hashes[seq] = prev
            expected_seq += 1
            count += 1
        signatures = (
            (await conn.execute(select(audit_signatures).order_by(audit_signatures.c.seq)))
            .mappings()
            .all()
            if public_key is not None
            else []
        )
    for signed in signatures:
        seq = int(signed["seq"])
        try:
            assert public_key is not None
            public_key.verify(
                base64.b64decode(signed["signature"]), signed_message(seq, str(signed["hash"]))
            )
        except (InvalidSignature, ValueError):
            return ChainReport(count, False, seq, f"the signed head at record {seq} is forged")
        if seq > count:
            return ChainReport(
                count,
                False,
                count + 1,
                f"the gateway signed the chain up to record {seq}, but it ends at record "
                f"{count}: records at the end have been cut",
            )
        if hashes.get(seq) != signed["hash"]:
            return ChainReport(
                count, False, seq, f"record {seq} differs from the head the gateway signed"
            )
    if head is not None and (int(head[0]) != count or str(head[1]) != prev):
        return ChainReport(
            count,
            False,
            count + 1,
            f"the chain ends at record {count} but its head says {int(head[0])}: "
            "records at the end have been cut",
        )
    return ChainReport(count, True)
