"""The layer around everything: every response counted and correlated, an unexpected
exception a JSON 500 without its traceback, client errors one log line, and the
operational endpoints closed in production mode."""

from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.edge.http_guard import hardened
from gateway.edge.responses import printable
from tests.support import World

ME = '{"query": "{ me { agency } }"}'


def _count(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def _metrics(world: World) -> str:
    assert world.client is not None
    return (await world.client.get("/metrics")).text


async def test_an_unexpected_exception_is_a_counted_json_500_without_a_traceback(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert world.gateway is not None and world.client is not None

    async def broken(_text: str) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(world.gateway.documents, "get", broken)
    with caplog.at_level(logging.ERROR, logger="gateway.edge.http_guard"):
        response = await world.post("{ me { agency } }")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    (error,) = response.json()["errors"]
    correlation = response.headers["fame-correlation-id"]
    assert error["extensions"] == {"code": "INTERNAL", "correlationId": correlation}
    assert correlation in error["message"]
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    (record,) = [r for r in caplog.records if r.name == "gateway.edge.http_guard"]
    assert correlation in record.getMessage() and record.exc_info is not None
    text = await _metrics(world)
    assert _count(text, "fame_requests_total", outcome="error") == 1
    assert _count(text, "fame_http_responses_total", route="/graphql", status="500") == 1


async def test_every_response_is_counted_even_refusals_before_the_endpoint(world: World) -> None:
    assert world.client is not None
    await world.client.post("/graphql", content=b"{" + b" " * 70_000 + b"}")  # 413
    await world.client.get("/no/such/path")  # 404
    await world.client.post("/graphql", content=ME)  # 401
    text = await _metrics(world)
    assert _count(text, "fame_http_responses_total", route="/graphql", status="413") == 1
    assert _count(text, "fame_http_responses_total", route="other", status="404") == 1
    assert _count(text, "fame_http_responses_total", route="/graphql", status="401") == 1
    assert _count(text, "fame_requests_total", outcome="rejected") == 2


async def test_a_client_error_is_one_log_line_with_its_correlation_id(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    assert world.client is not None
    with caplog.at_level(logging.INFO, logger="gateway.edge.http_guard"):
        response = await world.client.post(
            "/graphql",
            content=ME,
            headers={"Authorization": "Bearer a.b.c", "Content-Type": "application/json"},
        )
    assert response.status_code == 401
    (record,) = [r for r in caplog.records if r.name == "gateway.edge.http_guard"]
    line = record.getMessage()
    assert response.headers["fame-correlation-id"] in line
    assert "401" in line and "not a well-formed JWT" in line
    assert "\n" not in line and record.exc_info is None and record.levelno == logging.INFO


async def test_production_mode_closes_metrics_and_readiness_detail(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert world.gateway is not None
    demo = world.gateway.settings
    monkeypatch.setenv("FAME_TEST_SCRAPE_TOKEN", "s3cret-scrape")
    for variable, token_set in (("FAME_TEST_SCRAPE_TOKEN", True), (None, False)):
        world.gateway.settings = dataclasses.replace(
            demo, mode="production", metrics_token_env=variable
        )
        try:
            app = create_app(world.gateway)
        finally:
            world.gateway.settings = demo
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as client:
            closed = await client.get("/metrics")
            assert closed.status_code == (401 if token_set else 403), closed.text
            assert "fame_requests_total" not in closed.text
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
            assert wrong.status_code == (401 if token_set else 403)
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json() == {"status": "ready"}
            scraped = await client.get(
                "/metrics", headers={"Authorization": "Bearer s3cret-scrape"}
            )
            detail = await client.get("/readyz", headers={"Authorization": "Bearer s3cret-scrape"})
            if token_set:
                assert scraped.status_code == 200 and "fame_requests_total" in scraped.text
                assert "agencies" in detail.json()
            else:
                assert scraped.status_code == 403
                assert detail.json() == {"status": "ready"}


def test_printable_keeps_printable_ascii_and_marks_the_rest() -> None:
    def by_character(text: str) -> str:
        return "".join(c if " " <= c <= "~" else "?" for c in text)

    for code in range(0x250):
        text = f"id {chr(code)} end"
        assert printable(text) == by_character(text), code
    assert printable("") == ""
    assert printable("bad token\r\nX-Injected: 1") == "bad token??X-Injected: 1"


def test_hardening_adds_only_what_a_response_did_not_set() -> None:
    page, html = hardened(
        [(b"Content-Type", b"TEXT/HTML; charset=utf-8"), (b"Cache-Control", b"max-age=60")]
    )
    assert html
    names = [name.lower() for name, _ in page]
    assert names.count(b"cache-control") == 1 and (b"Cache-Control", b"max-age=60") in page
    assert (b"content-security-policy", b"frame-ancestors 'none'") in page
    assert (b"x-frame-options", b"DENY") in page
    answer, html = hardened(
        [(b"content-type", b"application/json"), (b"content-security-policy", b"sandbox")]
    )
    assert not html
    assert [value for name, value in answer if name == b"content-security-policy"] == [b"sandbox"]
    assert (b"cache-control", b"no-store") in answer
