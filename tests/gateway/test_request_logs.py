"""Logs for operators: one structured line per request, with its id, who asked, for what,
how each agency answered, the status and the time, but never a value about the person
nor the token; and every state-database failure, by operation, never by data."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text

from fame_demo.synthetic import Population
from gateway.config.settings import load_settings
from gateway.core import logs
from gateway.core.logs import JsonFormatter, TextFormatter
from gateway.governance.state import consents, create_state_engine, disclosures
from tests.support import World, build_config

QUERY = """{ person(id: "%s") {
    demographics { givenName familyName dateOfBirth nhsNumber }
    involvements { team agency { id } }
    health { medications { name } } } }"""


def _lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [
        orjson.loads(formatter.format(record)) for record in caplog.records if record.name == logger
    ]


async def test_one_line_per_request_with_ids_and_outcomes_but_no_values(
    world: World, population: Population, caplog: pytest.LogCaptureFixture
) -> None:
    person = population.people[0]
    person_id = world.person_id(0)
    token = world.token("sw-patel")
    caplog.set_level(logging.INFO, logger="gateway.requests")
    result = await world.query(QUERY % person_id)
    assert result["data"]["person"]["demographics"]["familyName"] == person.family_name

    (line,) = _lines(caplog, "gateway.requests")
    assert line["level"] == "info" and line["event"] == "request"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/graphql", 200)
    assert line["ms"] > 0
    assert (line["practitioner"], line["agency"], line["purpose"]) == (
        "sw-patel",
        "shire-adult-social-care",
        "direct_care",
    )
    sources = result["extensions"]["sources"]
    assert set(line["agencies"]) == set(sources)
    assert {agency: entry["status"] for agency, entry in line["agencies"].items()} == {
        agency: entry["status"] for agency, entry in sources.items()
    }
    assert line["correlation_id"]
    # The id is the one the audit's records of the request carry.
    assert world.gateway is not None
    async with world.gateway.state_engine.connect() as conn:
        audited = (
            (
                await conn.execute(
                    select(disclosures.c.request_id).where(disclosures.c.kind == "disclosure")
                )
            )
            .scalars()
            .all()
        )
    assert audited == [line["request_id"]]
    raw = orjson.dumps(line).decode()
    for value in (
        person.given_name,
        person.family_name,
        person.nhs_number,
        person.date_of_birth.isoformat(),
        person_id,
        token,
        "givenName",
    ):
        assert value not in raw, value


async def test_a_refused_request_is_one_line_too(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.requests")
    response = await world.post('{ person(id: "x") { id } }', token="not-a-token")
    assert response.status_code == 401
    (line,) = _lines(caplog, "gateway.requests")
    assert line["status"] == 401 and line["practitioner"] is None
    assert "not-a-token" not in orjson.dumps(line).decode()


async def test_a_failed_audit_write_is_logged_by_operation(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    assert world.gateway is not None
    async with world.gateway.state_engine.begin() as conn:
        await conn.execute(text("DROP TABLE disclosures"))
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(logs.RequestIdFilter())
    response = await world.post(QUERY % world.person_id(0))
    assert response.status_code == 503
    errors = _lines(caplog, "gateway.state")
    assert errors, caplog.text
    for line in errors:
        assert line["level"] == "error" and line["event"] == "state_database_error"
        assert line["operation"] and line["error"]
        assert "sw-patel" not in orjson.dumps(line).decode()
    assert any("_append" in line["operation"] for line in errors), errors
    # The lines logged during the request carry its id.
    (request,) = _lines(caplog, "gateway.requests")
    assert request["status"] == 503
    assert all(line["request_id"] == request["request_id"] for line in errors)


async def test_a_failed_statement_is_logged_without_its_parameters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_state_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite'}")
    caplog.set_level(logging.ERROR, logger="gateway.state")
    try:
        async with engine.connect() as conn:
            with pytest.raises(Exception, match="no such table"):
                await conn.execute(select(consents).where(consents.c.person_id == "9434765919"))
    finally:
        await engine.dispose()
    (line,) = _lines(caplog, "gateway.state")
    assert line["operation"] == "SELECT consents"
    assert line.get("code") == "SQLITE_ERROR"
    assert "9434765919" not in orjson.dumps(line).decode()


def test_json_and_text_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    logs.configure("json", "info", stream)
    token = logs.REQUEST_ID.set("r-1")
    try:
        logging.getLogger("gateway.test").info("hello %s", "there", extra={"fame": {"n": 1}})
    finally:
        logs.REQUEST_ID.reset(token)
    line = orjson.loads(stream.getvalue())
    assert line["message"] == "hello there" and line["request_id"] == "r-1" and line["n"] == 1
    record = logging.LogRecord("gateway.test", logging.INFO, __file__, 1, "hi", None, None)
    record.fame = {"status": 200, "agencies": {"a": "ok"}}
    assert TextFormatter().format(record).endswith('hi [status=200 agencies={"a":"ok"}]')


def test_logging_settings(tmp_path: Path, store_dir: Path) -> None:
    config = build_config(
        tmp_path,
        trust_url="http://127.0.0.1:9",
        store_dir=store_dir,
        settings_edits={"[limits]": '[logging]\nformat = "text"\nlevel = "warning"\n\n[limits]'},
    )
    settings = load_settings(config).logging
    assert (settings.format, settings.level) == ("text", "warning")
    plain = build_config(tmp_path / "plain", trust_url="http://127.0.0.1:9", store_dir=store_dir)
    assert load_settings(plain).logging.format is None  # the command decides
