"""Prometheus metrics: counted from real requests' contexts, in a registry per gateway."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.audit.usage import usage
from gateway.decide.requester import Requester
from gateway.edge.metrics import Children, GatewayMetrics
from gateway.pipeline.context import RequestContext
from gateway.pipeline.planner import Plan
from tests.support import World

INVOLVEMENTS = '{ person(id: "%s") { involvements { team } } }'
RICH = """{ person(id: "%s") { involvements { team } alerts { summary }
  health { medications { name } conditions { code } communityEpisodes { service } } } }"""
REASON = "Found collapsed at the surgery door, unresponsive"
AGENCIES = ("riverside-gp", "shire-adult-social-care", "shire-community-health", "shire-housing")


def _samples(metrics: GatewayMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the rendered exposition, keyed by name and labels."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def _value(metrics: GatewayMetrics, name: str, **labels: str) -> float:
    return _samples(metrics).get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def contexts(world: World, monkeypatch: pytest.MonkeyPatch) -> list[RequestContext]:
    """The context of every request the world answers, as the audit records it."""
    assert world.gateway is not None
    audit = world.gateway.audit
    seen: list[RequestContext] = []
    record = audit.record

    async def capture(context: RequestContext, *, alone: bool = False) -> int:
        seen.append(context)
        return await record(context, alone=alone)

    monkeypatch.setattr(audit, "record", capture)
    return seen


def _withheld(result: dict[str, Any]) -> Counter[tuple[str, str]]:
    unique = {
        (entry["agency"], entry["item"]): entry["reason"]
        for entry in result["extensions"].get("withheld", [])
    }
    return Counter((agency, reason) for (agency, _), reason in unique.items())


def _decided_withheld(context: RequestContext) -> Counter[tuple[str, str]]:
    """What the policy withheld, as the audit records it: for a person not available to
    the requester too, whose answer lists nothing (it is as for an unknown id)."""
    unique = {
        (entry.person_id, entry.agency, entry.item): entry.decision.reason
        for assembly in context.assemblies
        for entry in assembly.withheld
    }
    return Counter(
        (agency, reason.value) for (_, agency, _), reason in unique.items() if reason is not None
    )


async def test_request_counters_follow_real_requests(
    world: World, contexts: list[RequestContext]
) -> None:
    assert world.gateway is not None
    roy = world.person_id(0)
    patel = await world.query(INVOLVEMENTS % roy)
    lewis = await world.query(RICH % roy, as_="dr-lewis")
    hughes = await world.query(RICH % roy, as_="dn-hughes")
    assert len(contexts) == 3
    metrics = GatewayMetrics()
    for context in contexts:
        metrics.observe_request(context, 0.2, 200)

    assert _value(metrics, "fame_requests_total", outcome="ok") == 3
    assert _value(metrics, "fame_request_seconds_count") == 3
    assert _value(metrics, "fame_request_seconds_sum") == pytest.approx(0.6)
    assert _value(metrics, "fame_request_seconds_bucket", le="0.25") == 3
    # sw-patel and dn-hughes asked every agency involved with Roy; dr-lewis asked none.
    assert patel["extensions"]["sources"].keys() == set(AGENCIES)
    assert lewis["extensions"]["sources"] == {}
    for agency in AGENCIES:
        assert _value(metrics, "fame_agency_calls_total", agency=agency, status="ok") == 2
        assert _value(metrics, "fame_agency_seconds_count", agency=agency) == 2
        # One involvement item per agency from each; more from dn-hughes' wider query.
        assert _value(metrics, "fame_items_disclosed_total", agency=agency) >= 2
    assert [e["extensions"]["code"] for e in lewis["errors"]] == ["NOT_FOUND"]
    assert _decided_withheld(contexts[2]) == _withheld(hughes)
    expected = _decided_withheld(contexts[1]) + _withheld(hughes)
    assert expected[("riverside-gp", "NO_RELATIONSHIP")] >= 1
    for (agency, reason), count in expected.items():
        assert (
            _value(metrics, "fame_items_withheld_total", agency=agency, reason=reason) == count
        ), (agency, reason)
    withheld_total = sum(
        value
        for (name, _), value in _samples(metrics).items()
        if name == "fame_items_withheld_total"
    )
    assert withheld_total == sum(expected.values())
    assert _value(metrics, "fame_break_glass_responses_total") == 0

    # The counters agree with the usage figures read back from the audit.
    rows, _ = await usage(world.gateway.state_engine)
    disclosed_total = sum(
        value
        for (name, _), value in _samples(metrics).items()
        if name == "fame_items_disclosed_total"
    )
    assert disclosed_total == sum(row.items_disclosed for row in rows)
    assert withheld_total == sum(row.items_withheld for row in rows)


async def test_a_failing_agency_makes_a_partial_request(
    world: World, contexts: list[RequestContext]
) -> None:
    world.trust.failure_status = 503
    result = await world.query(INVOLVEMENTS % world.person_id(0))
    assert result["errors"][0]["extensions"]["code"] == "AGENCY_ERROR"
    (context,) = contexts
    metrics = GatewayMetrics()
    metrics.observe_request(context, 0.1, 200)
    assert _value(metrics, "fame_requests_total", outcome="partial") == 1
    assert _value(metrics, "fame_requests_total", outcome="ok") == 0
    trust = "shire-community-health"
    assert _value(metrics, "fame_agency_calls_total", agency=trust, status="AGENCY_ERROR") == 1
    assert _value(metrics, "fame_agency_calls_total", agency="riverside-gp", status="ok") == 1
    # What the failed agency would have disclosed never arrived, so it is not counted.
    assert _value(metrics, "fame_items_disclosed_total", agency=trust) == 0
    assert _value(metrics, "fame_items_disclosed_total", agency="riverside-gp") == 1


async def test_break_glass_responses_are_counted(
    world: World, contexts: list[RequestContext]
) -> None:
    roy = world.person_id(0)
    await world.query(
        'mutation { breakGlass(personId: "%s", reasonCategory: "cannot_consent", '
        'reason: "%s") { id } }' % (roy, REASON),
        as_="dr-lewis",
    )
    shown = await world.query(INVOLVEMENTS % roy, as_="dr-lewis")
    assert shown["extensions"]["breakGlass"]
    metrics = GatewayMetrics()
    for context in contexts:
        metrics.observe_request(context, 0.05, 200)
    assert _value(metrics, "fame_requests_total", outcome="ok") == 2
    assert _value(metrics, "fame_break_glass_responses_total") == 1


async def test_a_context_assembled_directly(world: World) -> None:
    assert world.gateway is not None
    requester = Requester(
        practitioner="dr-lewis",
        agency="oakfield-gp",
        team="oakfield-gp",
        roles=frozenset({"gp"}),
        purpose="direct_care",
    )
    context = RequestContext(requester, world.gateway)
    plan = Plan(
        items=frozenset({"involvement.team", "medications.name"}),
        paths={
            "involvement.team": (("involvements", "team"),),
            "medications.name": (("health", "medications", "name"),),
        },
    )
    # Roy is not dr-lewis's patient; person 2 is an Oakfield patient.
    people = [world.person_id(0), world.person_id(2)]
    assembly = await world.gateway.fanout.assemble(requester, people, plan)
    context.record(("caseload",), assembly, plan, people)
    metrics = GatewayMetrics()
    metrics.observe_request(context, 0.01, 200)
    assert _value(metrics, "fame_agency_calls_total", agency="oakfield-gp", status="ok") == 1
    assert _value(metrics, "fame_items_disclosed_total", agency="oakfield-gp") == 2
    reason = "NO_RELATIONSHIP"
    assert _value(metrics, "fame_items_withheld_total", agency="riverside-gp", reason=reason) == 2
    # Roy is not available to dr-lewis: the answer lists nothing withheld about him, the
    # counters (like the audit) count what the policy withheld.
    assert not any(entry["reason"] == "NO_RELATIONSHIP" for entry in context.withheld)
    decided = _decided_withheld(context)
    assert sum(n for (_, reason), n in decided.items() if reason == "NO_RELATIONSHIP") == sum(
        value
        for (name, labels), value in _samples(metrics).items()
        if name == "fame_items_withheld_total" and ("reason", "NO_RELATIONSHIP") in labels
    )


def test_requests_refused_before_a_context_and_failed_audits() -> None:
    metrics = GatewayMetrics()
    metrics.observe_request(None, 0.001, 401)
    metrics.observe_request(None, 0.002, 400)
    metrics.observe_request(None, 0.003, 503)
    assert _value(metrics, "fame_requests_total", outcome="rejected") == 2
    assert _value(metrics, "fame_requests_total", outcome="error") == 1
    assert _value(metrics, "fame_request_seconds_count") == 3


def test_each_gateway_has_its_own_registry() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    first.observe_request(None, 0.01, 401)
    assert _value(first, "fame_requests_total", outcome="rejected") == 1
    assert _value(second, "fame_requests_total", outcome="rejected") == 0
    body, _ = second.render()
    for name in (
        "fame_requests_total",
        "fame_request_seconds",
        "fame_agency_calls_total",
        "fame_agency_seconds",
        "fame_items_disclosed_total",
        "fame_items_withheld_total",
        "fame_break_glass_responses_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in body.decode(), name


def test_responses_are_counted_by_route_and_status() -> None:
    metrics = GatewayMetrics()
    for route, status in (("/graphql", 200), ("/graphql", 200), ("other", 404), ("/graphql", 413)):
        metrics.count_response(route, status)
    assert _value(metrics, "fame_http_responses_total", route="/graphql", status="200") == 2
    assert _value(metrics, "fame_http_responses_total", route="other", status="404") == 1
    assert _value(metrics, "fame_http_responses_total", route="/graphql", status="413") == 1
    assert _value(metrics, "fame_http_responses_total", route="other", status="200") == 0


def test_a_labelled_child_is_the_one_labels_gives() -> None:
    metrics = GatewayMetrics()
    children = Children(metrics.items_withheld)
    assert children("gp", "SEALED") is children("gp", "SEALED")
    assert children("gp", "SEALED") is metrics.items_withheld.labels(agency="gp", reason="SEALED")
    children("gp", "SEALED").inc(3)
    assert _value(metrics, "fame_items_withheld_total", agency="gp", reason="SEALED") == 3
