"""The disclosure audit: hash-chained, tamper-evident, written before anything leaves."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import orjson
from sqlalchemy import delete, select, text, update

from fame_demo.synthetic import Population
from gateway.audit.chain import load_signing_key, verify_chain
from gateway.audit.log import AuditLog
from gateway.governance.migrate import upgrade_schema
from gateway.governance.state import (
    audit_head,
    audit_signatures,
    consents,
    create_state_engine,
    disclosures,
)
from tests.support import REPO, World, attach_sqlite_trace, metadata_before_migrations

QUERY = '{ person(id: "%s") { involvements { team } health { medications { name } } } }'
#: People the council (sw-patel's agency) works with, so that each query discloses something.
CLIENTS = (0, 1, 3, 7, 12)  # held by the older people's teams, sw-patel's service


async def _fill(world: World, requests: int = 6) -> None:
    for n in range(requests):
        result = await world.query(QUERY % world.person_id(CLIENTS[n % 3]))
        assert "errors" not in result


async def test_concurrent_requests_chain_contiguously(world: World) -> None:
    assert world.gateway is not None
    results = await asyncio.gather(
        *(world.query(QUERY % world.person_id(CLIENTS[n % 5])) for n in range(40))
    )
    assert all("errors" not in r for r in results)
    report = await verify_chain(world.gateway.state_engine)
    assert report.ok, report
    async with world.gateway.state_engine.connect() as conn:
        seqs = [r[0] for r in await conn.execute(select(disclosures.c.seq).order_by("seq"))]
        kinds = [r[0] for r in await conn.execute(select(disclosures.c.kind))]
    assert seqs == list(range(1, len(seqs) + 1))
    assert kinds.count("intent") == 40 and kinds.count("disclosure") == 40
    assert report.records == len(seqs)


async def test_appends_that_arrive_together_commit_together(world: World) -> None:
    assert world.gateway is not None and world.settings is not None
    results = await asyncio.gather(
        *(world.query(QUERY % world.person_id(CLIENTS[n % 5])) for n in range(30))
    )
    assert all("errors" not in r for r in results)
    async with world.gateway.state_engine.connect() as conn:
        records = len((await conn.execute(select(disclosures.c.seq))).all())
        signed = len((await conn.execute(select(audit_signatures.c.seq))).all())
    # 60 appends (an intent and a disclosure per request), fewer transactions:
    # each transaction signs its head once.
    assert records == 60
    assert 1 <= signed < 60, signed
    key = load_signing_key(world.settings.audit_signing_key_file)  # type: ignore[arg-type]
    report = await verify_chain(world.gateway.state_engine, key.public_key())
    assert report.ok, report


async def _tampered(world: World, statement: str) -> tuple[bool, int | None, str]:
    assert world.gateway is not None
    engine = world.gateway.state_engine
    async with engine.begin() as conn:
        await conn.execute(text(statement))
    report = await verify_chain(engine)
    return report.ok, report.broken_at, report.problem


async def test_a_changed_byte_is_detected(world: World) -> None:
    await _fill(world)
    ok, at, problem = await _tampered(
        world, "UPDATE disclosures SET practitioner = 'sw-patal' WHERE seq = 4"
    )
    assert not ok and at == 4 and "altered" in problem


async def test_a_deleted_record_is_detected(world: World) -> None:
    await _fill(world)
    ok, at, problem = await _tampered(world, "DELETE FROM disclosures WHERE seq = 5")
    assert not ok and at == 5 and "missing" in problem


async def test_two_swapped_records_are_detected(world: World) -> None:
    await _fill(world)
    assert world.gateway is not None
    engine = world.gateway.state_engine
    async with engine.begin() as conn:
        rows = {
            r["seq"]: dict(r)
            for r in (
                await conn.execute(select(disclosures).where(disclosures.c.seq.in_([3, 4])))
            ).mappings()
        }
        for seq, other in ((3, 4), (4, 3)):
            values = {k: v for k, v in rows[other].items() if k != "seq"}
            await conn.execute(update(disclosures).where(disclosures.c.seq == seq).values(**values))
    report = await verify_chain(engine)
    assert not report.ok and report.broken_at == 3, report


async def test_a_cut_tail_is_detected(world: World) -> None:
    await _fill(world)
    assert world.gateway is not None
    engine = world.gateway.state_engine
    async with engine.begin() as conn:
        last = (await conn.execute(select(audit_head.c.seq))).scalar_one()
        await conn.execute(delete(disclosures).where(disclosures.c.seq > last - 2))
    report = await verify_chain(engine)
    assert not report.ok and report.broken_at == last - 1 and "cut" in report.problem


async def test_audit_verify_command_reports_the_first_broken_record(world: World) -> None:
    await _fill(world)
    assert world.settings is not None
    config = world.settings.config_dir / "gateway.toml"
    command = [sys.executable, "-m", "gateway.cli", "--config", str(config), "audit", "verify"]
    good = await asyncio.to_thread(
        subprocess.run, command, cwd=REPO, capture_output=True, text=True, check=False
    )
    assert good.returncode == 0 and "the audit chain holds" in good.stdout
    await _tampered(world, "UPDATE disclosures SET agencies = '{}' WHERE seq = 6")
    bad = await asyncio.to_thread(
        subprocess.run, command, cwd=REPO, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert "broken at record 6" in bad.stderr


async def test_with_the_audit_database_unwritable_nothing_is_disclosed(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    trace, detach = attach_sqlite_trace(store_dir)
    world = World(tmp_path, population, store_dir)
    try:
        await world.start()
        assert world.gateway is not None
        trace.clear()
        world.trust.calls.clear()
        async with world.gateway.state_engine.begin() as conn:
            await conn.execute(text("DROP TABLE disclosures"))
        response = await world.post(QUERY % world.person_id(0))
        assert response.status_code == 503
        assert response.json()["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
        assert world.trust.calls == []
        assert trace.selects("riverside-gp") == []
        assert trace.selects("shire-adult-social-care") == []
        # A mutation changes nothing when its intent cannot be recorded.
        consent = await world.post(
            """mutation { recordConsent(input: {personId: "%s", category: "health.physical",
            recipientAgency: "shire-adult-social-care", decision: PERMIT,
            reference: "Signed form"}) { id } }"""
            % world.person_id(0)
        )
        assert consent.status_code == 503
        async with world.gateway.state_engine.connect() as conn:
            assert (await conn.execute(select(consents.c.id))).all() == []
    finally:
        await world.stop()
        detach()


async def test_a_cut_tail_shows_even_when_the_head_row_is_rewritten(world: World) -> None:
    await _fill(world)
    assert world.gateway is not None and world.settings is not None
    assert world.settings.audit_signing_key_file is not None
    public_key = load_signing_key(world.settings.audit_signing_key_file).public_key()
    engine = world.gateway.state_engine
    assert (await verify_chain(engine, public_key)).ok
    async with engine.begin() as conn:
        last = (await conn.execute(select(audit_head.c.seq))).scalar_one()
        kept = (
            await conn.execute(select(disclosures.c.hash).where(disclosures.c.seq == last - 3))
        ).scalar_one()
        await conn.execute(delete(disclosures).where(disclosures.c.seq > last - 3))
        # A careful intruder also makes the head row agree with the shortened chain.
        await conn.execute(update(audit_head).values(seq=last - 3, hash=kept))
    unsigned = await verify_chain(engine)
    assert unsigned.ok  # without the gateway's key, the cut cannot be seen
    report = await verify_chain(engine, public_key)
    assert not report.ok and report.broken_at == last - 2 and "cut" in report.problem


async def test_a_forged_signed_head_is_detected(world: World) -> None:
    await _fill(world)
    assert world.gateway is not None and world.settings is not None
    assert world.settings.audit_signing_key_file is not None
    public_key = load_signing_key(world.settings.audit_signing_key_file).public_key()
    async with world.gateway.state_engine.begin() as conn:
        await conn.execute(
            update(audit_signatures)
            .where(audit_signatures.c.seq == 2)
            .values(signature=base64.b64encode(b"x" * 64).decode())
        )
    report = await verify_chain(world.gateway.state_engine, public_key)
    assert not report.ok and report.broken_at == 2 and "forged" in report.problem


async def test_a_chain_written_before_practitioner_names_still_verifies(tmp_path: Path) -> None:
    engine = create_state_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite'}")
    # The previous releases' tables, the audit's without the column added since.
    old = metadata_before_migrations()
    base = {
        "kind": "intent",
        "at": "2026-06-01T12:00:00+00:00",
        "request_id": "r1",
        "query_hash": "q",
        "practitioner": "sw-patel",
        "requester_agency": "shire-adult-social-care",
        "requester_team": None,
        "roles": "social_worker",
        "purpose": "direct_care",
        "person_id": None,
        "agencies": "{}",
        "statutory": False,
        "break_glass": None,
        "break_glass_reason": None,
    }
    # A record as an earlier version hashed it: its fields in order, nothing more.
    record = {**base, "seq": 1, "prev_hash": "0" * 64}
    hashed = ("seq", *base, "prev_hash")
    record["hash"] = hashlib.sha256(orjson.dumps([record[name] for name in hashed])).hexdigest()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(old.create_all)
            await conn.execute(old.tables["disclosures"].insert().values(**record))
        await upgrade_schema(engine)
        async with engine.begin() as conn:
            await conn.execute(update(audit_head).values(seq=1, hash=record["hash"]))
        audit = AuditLog(str(engine.url))
        await audit.append([{**base, "request_id": "r2", "practitioner_name": "Priya Patel"}])
        await audit.close()
        report = await verify_chain(engine)
        assert report.ok and report.records == 2, report
        async with engine.begin() as conn:
            await conn.execute(
                update(disclosures).where(disclosures.c.seq == 2).values(practitioner_name=None)
            )
        assert (await verify_chain(engine)).broken_at == 2
    finally:
        await engine.dispose()
