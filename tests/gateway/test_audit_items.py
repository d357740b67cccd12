"""How a disclosure record stores the items it names: grouped by what they rest on, and
read back item by item, from grouped records and from records written one entry per item
before grouping (the chain holds both, and must keep verifying both)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.audit.records import (
    DisclosedItem,
    WithheldItem,
    disclosed_groups,
    disclosed_items,
    withheld_groups,
    withheld_items,
)
from gateway.config.protocol import Basis
from gateway.decide.policy import Decision, Reason

ITEMS = st.sampled_from(
    ["alerts.summary", "alerts.severity", "medications.name", "demographics.phone", "x.y"]
)
RULES = st.sampled_from(["ISP-3.2", "ISP-4.1", "own record", "ALL-gp"])
PERMITS = st.builds(
    Decision, permitted=st.just(True), rule=RULES, basis=st.none() | st.sampled_from(Basis)
)
REFUSALS = st.builds(Decision, permitted=st.just(False), rule=RULES, reason=st.sampled_from(Reason))


@given(st.dictionaries(ITEMS, PERMITS))
def test_disclosed_items_read_back_as_they_were_decided(decisions: dict[str, Decision]) -> None:
    stored = disclosed_groups(decisions)
    assert disclosed_items(stored) == {
        item: DisclosedItem(d.rule, d.basis.value if d.basis else None)
        for item, d in sorted(decisions.items())
    }
    # One entry per basis and clause, whatever the number of items.
    assert len(stored) == len({(d.basis, d.rule) for d in decisions.values()})


@given(st.dictionaries(ITEMS, REFUSALS))
def test_withheld_items_read_back_as_they_were_decided(decisions: dict[str, Decision]) -> None:
    stored = withheld_groups(decisions)
    assert withheld_items(stored) == {
        item: WithheldItem(d.reason.value if d.reason else "", d.rule)
        for item, d in sorted(decisions.items())
    }
    assert len(stored) == len({(d.reason, d.rule) for d in decisions.values()})


def test_a_record_written_one_entry_per_item_reads_as_a_grouped_one() -> None:
    earlier = {
        "alerts.summary": {"rule": "ISP-3.2", "basis": "statutory"},
        "medications.name": {"rule": "ISP-4.1", "basis": "implied"},
    }
    grouped = [
        {"basis": "implied", "rule": "ISP-4.1", "items": ["medications.name"]},
        {"basis": "statutory", "rule": "ISP-3.2", "items": ["alerts.summary"]},
    ]
    assert disclosed_items(earlier) == disclosed_items(grouped)
    assert withheld_items({"x.y": {"reason": "NO_CONSENT", "rule": "ISP-4.1"}}) == withheld_items(
        [{"reason": "NO_CONSENT", "rule": "ISP-4.1", "items": ["x.y"]}]
    )


def test_malformed_entries_are_no_items() -> None:
    for raw in (None, "text", 3, [1, "a", {"items": "not a list"}], {"x.y": "not an object"}):
        items = disclosed_items(raw)
        assert all(detail == DisclosedItem(None, None) for detail in items.values()), raw
