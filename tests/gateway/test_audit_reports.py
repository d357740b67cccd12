"""Reports from the disclosure audit: the person's own report (HTML) and the FHIR R4 export."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, select

from fame_demo.practitioners import PRACTITIONERS
from gateway.audit.fhir import fhir_audit_events, fhir_bundle
from gateway.audit.records import DisclosureRecord, disclosure_records
from gateway.audit.reports import plain_purpose, subject_report_html
from gateway.governance.state import disclosures
from tests.scenarios.helpers import claim_safeguarding
from tests.support import REPO, World

ROY = 0  # Roy Bromley: Riverside GP patient known to all four Shire agencies

EVERYTHING = """{ person(id: "%s") {
  demographics { givenName familyName dateOfBirth address postcode phone }
  involvements { team worker role }
  alerts { category summary }
  health { medications { name dose } }
} }"""
ALERTS = '{ person(id: "%s") { alerts { category summary } } }'
MEDICATIONS = '{ person(id: "%s") { health { medications { name dose } } } }'
#: HTML in the reason: the report must show it as text, never as markup.
REASON = 'Collapsed at the surgery door, <b>unresponsive</b> & "no pulse"'

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}


class _TagBalance(HTMLParser):
    """Checks that every non-void element is closed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value] if isinstance(value, str) else []


async def _scenario(world: World) -> tuple[str, list[str]]:
    """Several practitioners look at Roy; returns his id and every value they were shown."""
    roy = world.person_id(ROY)
    shown: list[str] = []
    # Dr Okafor asks for a safeguarding enquiry, established by recording its reference.
    await claim_safeguarding(world, "dr-okafor", roy, "S42-2026-00123")
    for query, who in (
        (EVERYTHING, "sw-patel"),
        (EVERYTHING, "dn-hughes"),
        (ALERTS, "dr-okafor"),
        (MEDICATIONS, "ho-evans"),  # housing may not see medicines: nothing disclosed
    ):
        result = await world.query(query % roy, as_=who)
        assert "errors" not in result, result
        shown += _leaves(result["data"])
    granted = await world.query(
        'mutation { breakGlass(personId: "%s", reasonCategory: "cannot_consent", '
        "reason: %s) { id } }" % (roy, json.dumps(REASON)),
        as_="dr-lewis",
    )
    assert granted["data"]["breakGlass"]["id"], granted
    result = await world.query(MEDICATIONS % roy, as_="dr-lewis")
    assert result["data"]["person"]["health"]["medications"], result
    shown += _leaves(result["data"])
    # Someone else, so that the person filter has something to leave out.
    await world.query(MEDICATIONS % world.person_id(1), as_="sw-patel")
    return roy, shown


def _values(shown: list[str], world: World) -> set[str]:
    """Values that must never appear in a report: what was shown, and Roy's own details.

    Left out: dates, short words and lower-case category codes ("falls"), which ordinary
    text may contain, agency names, which a GP registration value shares with the
    agency's display name, and the viewers' own teams, which the report names as who
    looked (an involvement record names the same team).
    """
    assert world.settings is not None
    agencies = {agency.name for agency in world.settings.agencies}
    agencies |= {who.team for who in PRACTITIONERS}
    person = world.population.people[ROY]
    values = {
        value
        for value in shown
        if len(value) >= 6
        and not value.islower()
        and value not in agencies
        and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
    }
    values |= {person.phone, person.nhs_number, person.family_name, person.postcode}
    assert len(values) > 10
    return values


async def _records(world: World, person_id: str) -> list[DisclosureRecord]:
    assert world.gateway is not None
    return await disclosure_records(world.gateway.state_engine, person_id=person_id)


async def _stored_count(world: World, person_id: str) -> int:
    assert world.gateway is not None
    async with world.gateway.state_engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(disclosures)
            .where(disclosures.c.kind == "disclosure", disclosures.c.person_id == person_id)
        )
    return int(count or 0)


async def test_disclosure_records_read_back_what_the_audit_holds(world: World) -> None:
    roy, _ = await _scenario(world)
    records = await _records(world, roy)
    assert len(records) == await _stored_count(world, roy) == 5
    assert all(r.person_id == roy for r in records)
    assert [r.seq for r in records] == sorted(r.seq for r in records)
    assert all(r.at.tzinfo is not None for r in records)
    by_who = {r.practitioner: r for r in records}
    assert set(by_who) == {"sw-patel", "dn-hughes", "dr-okafor", "ho-evans", "dr-lewis"}
    okafor = by_who["dr-okafor"]
    assert okafor.purpose == "safeguarding" and okafor.statutory
    council = okafor.disclosed["shire-adult-social-care"]
    assert council["alerts.summary"].basis == "statutory"
    assert by_who["ho-evans"].disclosed_count == 0 and by_who["ho-evans"].withheld_count > 0
    lewis = by_who["dr-lewis"]
    assert lewis.break_glass and lewis.break_glass_reason == REASON
    # Under a grant the audit records the grant's purpose, not the token's.
    assert lewis.purpose == "emergency"
    assert lewis.roles == ("gp",) and lewis.requester_agency == "oakfield-gp"
    # Time filters: since is inclusive, until exclusive; naive times are UTC.
    assert world.gateway is not None
    engine = world.gateway.state_engine
    first, last = records[0].at, records[-1].at
    assert await disclosure_records(engine, person_id=roy, since=last) == [
        r for r in records if r.at >= last
    ]
    assert await disclosure_records(engine, person_id=roy, until=first) == []
    naive = last.astimezone(dt.UTC).replace(tzinfo=None)
    assert len(await disclosure_records(engine, person_id=roy, since=naive)) >= 1
    everyone = await disclosure_records(engine)
    assert len(everyone) == len(records) + 1


async def test_the_subject_report_tells_the_person_who_saw_what_and_why(world: World) -> None:
    roy, shown = await _scenario(world)
    records = await _records(world, roy)
    assert world.settings is not None
    label = "The subject <A> & family"
    page = subject_report_html(label, records, world.settings)
    assert page == subject_report_html(label, list(reversed(records)), world.settings)
    # Valid-looking HTML: a doctype, and every element closed in order.
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    checker = _TagBalance()
    checker.feed(page)
    checker.close()
    assert checker.doctype and not checker.problems and not checker.stack, checker.problems
    # Who: each practitioner by name, with their agency's display name; never the login id.
    for login, who, agency in (
        ("sw-patel", "Priya Patel", "Shire Council Adult Social Care"),
        ("dn-hughes", "Gareth Hughes", "Shire Community Health NHS Trust"),
        ("dr-okafor", "Dr Ada Okafor", "Riverside Medical Practice"),
        ("dr-lewis", "Dr Tom Lewis", "Oakfield Surgery"),
        ("ho-evans", "Megan Evans", "Shire Council Housing Service"),
    ):
        assert who in page and agency in page and login not in page, who
    assert "social worker" in page and "GP (family doctor)" in page
    # Why, in plain words; never the protocol's code words.
    lowered = page.lower()
    for purpose in ("direct_care", "safeguarding", "emergency"):
        if any(r.purpose == purpose for r in records):
            assert html.escape(plain_purpose(purpose)).lower() in lowered, purpose
    assert "direct_care" not in page
    # Emergency access and its reason, escaped; the legal duty.
    assert html.escape(REASON) in page and "<b>unresponsive</b>" not in page
    assert "Emergency access" in page
    # The break-glass occasion is told as an emergency, never as "to give you care".
    (emergency,) = [
        s.split("</section>")[0].lower()
        for s in page.split('<section class="occasion"')
        if "Dr Tom Lewis" in s
    ]
    assert html.escape(plain_purpose("emergency")) in emergency
    assert html.escape(plain_purpose("direct_care")) not in emergency
    # A legal duty only where another agency's data was shared under one: dr-okafor's
    # safeguarding look at the council's alerts, not sw-patel reading the council's own.
    (legal,) = re.findall(r"<dt>Legal duty</dt>\n<dd[^>]*>([^<]*)</dd>", page)
    assert "Shire Council Adult Social Care" in legal
    okafor = page.index("Dr Ada Okafor, GP")
    assert page.index("<dt>Legal duty</dt>") > okafor
    # The label is escaped too.
    assert "The subject &lt;A&gt; &amp; family" in page and "<A>" not in page
    # Kinds of information, from the catalogue, per agency; the housing query that showed
    # nothing is summarised.
    assert "Medicines" in page and "dose and frequency" in page
    assert "Times nothing was shown" in page
    # One section per occasion on which something was shown.
    assert page.count('<section class="occasion"') == sum(1 for r in records if r.disclosed_count)
    # Never a value of the record.
    for value in _values(shown, world):
        assert value not in page and html.escape(value) not in page, value


async def test_the_fhir_export_is_valid_r4_audit_events(world: World) -> None:
    roy, shown = await _scenario(world)
    records = await _records(world, roy)
    assert world.settings is not None
    events = fhir_audit_events(records, world.settings)
    assert len(events) == len(records) == await _stored_count(world, roy)
    for event, record in zip(events, records, strict=True):
        parsed = AuditEvent.model_validate(event)
        assert parsed.type.code == "110106" and parsed.action == "R" and parsed.outcome == "0"
        (agent,) = parsed.agent
        assert agent.requestor is True
        assert agent.who.identifier.value == record.practitioner
        assert record.practitioner_name and agent.name == record.practitioner_name
        assert agent.who.display.startswith(record.practitioner_name + ", ")
        assert agent.who.identifier.system == (
            f"https://fame-gateway.invalid/practitioner/{record.requester_agency}"
        )
        assert parsed.source.observer.display == "FAME Gateway"
        assert {e.what.identifier.value for e in parsed.entity} == {roy}
        disclosing = {
            d.valueString
            for e in parsed.entity
            for d in e.detail
            if d.type == "source-agency" and any(x.type == "disclosed-items" for x in e.detail)
        }
        assert disclosing == set(record.disclosed)
        codes = {c.code for p in parsed.purposeOfEvent for c in p.coding}
        expected = {
            "direct_care": "TREAT",
            "safeguarding": "safeguarding",
            "emergency": "ETREAT",
        }[record.purpose]
        assert expected in codes
        assert ("BTG" in codes) == bool(record.break_glass)
    okafor = next(e for e, r in zip(events, records, strict=True) if r.practitioner == "dr-okafor")
    assert okafor["purposeOfEvent"][0]["coding"] == [
        {"system": "https://fame-gateway.invalid/purpose", "code": "safeguarding"}
    ]
    council = next(
        e
        for e in okafor["entity"]
        if e["name"] == "Records held by Shire Council Adult Social Care"
    )
    details = {d["type"]: d["valueString"] for d in council["detail"]}
    assert "alerts.summary" in details["disclosed-items"]
    assert "alerts.summary" in details["statutory-items"]
    lewis = next(e for e, r in zip(events, records, strict=True) if r.break_glass)
    assert any(REASON in p.get("text", "") for p in lewis["purposeOfEvent"])
    bundle = fhir_bundle(events)
    parsed_bundle = Bundle.model_validate(bundle)
    assert parsed_bundle.type == "collection" and len(parsed_bundle.entry) == len(records)
    text = json.dumps(bundle)
    assert json.loads(text) == bundle
    assert fhir_audit_events(list(reversed(records)), world.settings) == events
    # Never a value of the record.
    for value in _values(shown, world):
        assert value not in text, value


async def test_disclosures_query_is_for_governance_roles_only(world: World) -> None:
    roy = world.person_id(0)
    await world.query(
        '{ person(id: "%s") { health { medications { name } conditions { name } } } }' % roy,
        as_="sw-patel",
    )
    query = (
        """{ disclosures(personId: "%s") { seq practitioner requesterAgency purpose
        agencies { agency outcome disclosed withheld { item reason } } } }"""
        % roy
    )
    refused = await world.query(query, as_="sw-patel")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    (record,) = (await world.query(query, as_="cg-morgan"))["data"]["disclosures"]
    assert record["practitioner"] == "sw-patel" and record["purpose"] == "direct_care"
    (gp,) = [a for a in record["agencies"] if a["agency"] == "riverside-gp"]
    assert gp["outcome"] == "ok"
    assert gp["disclosed"] == ["medications.name"]
    assert {"item": "conditions.name", "reason": "NO_CONSENT"} in gp["withheld"]


async def test_the_cli_writes_the_subject_report_and_the_fhir_export(
    world: World, tmp_path: Path
) -> None:
    roy = world.person_id(0)
    await world.query('{ person(id: "%s") { involvements { team } } }' % roy, as_="dn-hughes")
    assert world.settings is not None
    base = [
        sys.executable,
        "-m",
        "gateway.cli",
        "--config",
        str(world.settings.config_dir / "gateway.toml"),
        "audit",
    ]
    report, export = tmp_path / "report.html", tmp_path / "export.json"
    for command in (
        [*base, "subject-report", roy, "--label", "Roy Bromley", "--output", str(report)],
        [*base, "export", "--format", "fhir", "--person", roy, "--output", str(export)],
    ):
        done = await asyncio.to_thread(
            subprocess.run, command, cwd=REPO, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    assert "Roy Bromley" in report.read_text()
    assert "Shire Community Health NHS Trust" in report.read_text()
    bundle = json.loads(export.read_text())
    assert bundle["resourceType"] == "Bundle"
    (entry,) = bundle["entry"]
    assert entry["resource"]["resourceType"] == "AuditEvent"
