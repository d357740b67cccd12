"""The sharing protocol file: validation, the shipped demo protocol, and its rendering.

Every problem in a protocol file is refused with the file, the key and what to
write instead; the shipped protocol covers every item every shipped agency maps;
docs/sharing-protocol.md is the rendering of the shipped protocol, kept in step.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from gateway.agencies import AgencyConfig, load_agencies
from gateway.catalogue import ITEMS, RECORD_SETS_BY_NAME
from gateway.demo.practitioners import PRACTITIONERS
from gateway.errors import ConfigError, ConfigErrors
from gateway.protocol import Basis, SharingProtocol, load_protocol
from gateway.protocol_render import render_html, render_markdown
from tests.support import REPO

AGENCIES = {"test-gp", "test-council"}

PROTOCOL = """\
title = "Test Information Sharing Protocol"
version = "1.0"

[categories]
demographics = "Who the person is."
"health.physical" = "Physical health."
safeguarding = "Safeguarding."

[roles]
gp = "General practitioner."
nurse = "Nurse."
social_worker = "Social worker."
caldicott_guardian = "Caldicott Guardian."

[purposes]
direct_care = "Direct care."
emergency = "Emergencies."
safeguarding = "Safeguarding."

[break_glass]
roles = ["gp", "nurse"]
hours = 2

[governance]
roles = ["caldicott_guardian"]

[[clause]]
id = "ISP-1.1"
title = "Identity"
agencies = ["test-gp", "test-council"]
items = ["demographics.given_name", "demographics.family_name"]
category = "demographics"
roles = ["gp", "nurse", "social_worker"]
purposes = ["direct_care", "emergency"]
basis = "implied"

[[clause]]
id = "ISP-2.1"
title = "Medicines"
agencies = ["test-gp"]
items = ["medications.*"]
category = "health.physical"
roles = ["nurse", "social_worker"]
purposes = ["direct_care", "emergency"]
basis = "explicit"
note = "With consent."

[[clause]]
id = "ISP-3.1"
title = "Coded problems"
agencies = ["test-gp"]
items = ["conditions.code"]
category = "health.physical"
roles = []
purposes = []
basis = "explicit"
sealed = true
"""


def write(directory: Path, text: str) -> Path:
    """Write a protocol file under ``directory``; returns its path."""
    file = directory / "sharing-protocol.toml"
    file.write_text(text)
    return file


def edited(text: str, old: str, new: str) -> str:
    """``text`` with one exact fragment replaced (which must be there once)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def problems(file: Path, agencies: set[str] = AGENCIES) -> list[ConfigError]:
    """The errors loading ``file`` raises (it must raise)."""
    with pytest.raises(ConfigErrors) as caught:
        load_protocol(file, agencies)
    assert caught.value.errors, "ConfigErrors lists its errors"
    return caught.value.errors


def assert_names(error: ConfigError, file: Path, key: str) -> None:
    """An error message a person can act on: which file, which key, what to write."""
    assert error.file == str(file)
    assert error.key == key
    assert error.problem and error.fix
    message = str(error)
    assert message.startswith(f"{file}: {key}: ")
    assert error.fix in message


def only_problem(file: Path, key: str, agencies: set[str] = AGENCIES) -> ConfigError:
    """The single error loading ``file`` raises, checked to name the file, key and a fix."""
    errors = problems(file, agencies)
    assert [e.key for e in errors] == [key], [str(e) for e in errors]
    (error,) = errors
    assert_names(error, file, key)
    return error


# --------------------------------------------------------------------------- a valid file


def test_a_valid_protocol_loads(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES, frozenset({"test-gp"}))

    assert protocol.title == "Test Information Sharing Protocol"
    assert protocol.version == "1.0"
    assert [c.id for c in protocol.clauses] == ["ISP-1.1", "ISP-2.1", "ISP-3.1"]
    assert protocol.roles["nurse"] == "Nurse."
    assert protocol.categories["health.physical"] == "Physical health."
    assert set(protocol.purposes) == {"direct_care", "emergency", "safeguarding"}
    assert protocol.break_glass_roles == {"gp", "nurse"}
    assert protocol.break_glass_hours == 2.0
    assert protocol.governance_roles == {"caldicott_guardian"}
    assert protocol.team_scoped_agencies == {"test-gp"}

    identity, medicines, sealed = protocol.clauses
    assert identity.agencies == {"test-gp", "test-council"}
    assert identity.basis is Basis.IMPLIED and not identity.sealed
    assert identity.note == ""
    # A record set pattern stands for every item of the record set.
    assert medicines.items == {spec.name for spec in RECORD_SETS_BY_NAME["medications"].items}
    assert medicines.basis is Basis.EXPLICIT and medicines.note == "With consent."
    assert sealed.sealed and sealed.roles == frozenset()


def test_the_protocol_is_indexed_by_agency_and_item(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES)
    identity, medicines, _ = protocol.clauses

    assert protocol.clause_for("test-council", "demographics.given_name") is identity
    assert protocol.clause_for("test-gp", "medications.dose") is medicines
    assert protocol.covers("test-gp", "medications.name")
    # Listed for one agency is not listed for another; unlisted items are not covered.
    assert not protocol.covers("test-council", "medications.name")
    assert protocol.clause_for("test-council", "medications.name") is None
    assert not protocol.covers("test-gp", "demographics.phone")


def test_break_glass_hours_default_to_four(tmp_path: Path) -> None:
    text = edited(PROTOCOL, "hours = 2\n", "")
    assert load_protocol(write(tmp_path, text), AGENCIES).break_glass_hours == 4.0


# --------------------------------------------------------------------------- every problem named


def test_missing_title_is_named(tmp_path: Path) -> None:
    file = write(tmp_path, edited(PROTOCOL, 'title = "Test Information Sharing Protocol"\n', ""))
    only_problem(file, "title")


def test_empty_title_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'title = "Test Information Sharing Protocol"', 'title = ""')
    only_problem(write(tmp_path, text), "title")


def test_missing_version_is_named(tmp_path: Path) -> None:
    file = write(tmp_path, edited(PROTOCOL, 'version = "1.0"\n', ""))
    assert "2026.1" in only_problem(file, "version").fix


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    file = write(tmp_path, 'owner = "me"\n' + PROTOCOL)
    assert "clause" in only_problem(file, "owner").fix


def test_unknown_item_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, '"demographics.family_name"]', '"demographics.surname"]')
    error = only_problem(write(tmp_path, text), "clause ISP-1.1.items")
    assert "demographics.surname" in error.problem


def test_unknown_record_set_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, '["medications.*"]', '["prescriptions.*"]')
    error = only_problem(write(tmp_path, text), "clause ISP-2.1.items")
    assert "prescriptions.*" in error.problem


def test_unknown_agency_is_named(tmp_path: Path) -> None:
    text = edited(
        PROTOCOL,
        'agencies = ["test-gp"]\nitems = ["medications.*"]',
        'agencies = ["test-pharmacy"]\nitems = ["medications.*"]',
    )
    error = only_problem(write(tmp_path, text), "clause ISP-2.1.agencies")
    assert "test-pharmacy" in error.problem
    assert "test-gp" in error.fix and "test-council" in error.fix


def test_unknown_role_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'roles = ["nurse", "social_worker"]', 'roles = ["nurse", "pharmacist"]')
    error = only_problem(write(tmp_path, text), "clause ISP-2.1.roles")
    assert "pharmacist" in error.problem
    assert "social_worker" in error.fix


def test_unknown_purpose_in_a_clause_is_named(tmp_path: Path) -> None:
    text = edited(
        PROTOCOL,
        'purposes = ["direct_care", "emergency"]\nbasis = "explicit"',
        'purposes = ["direct_care", "research"]\nbasis = "explicit"',
    )
    error = only_problem(write(tmp_path, text), "clause ISP-2.1.purposes")
    assert "research" in error.problem


def test_undeclared_purpose_in_a_clause_is_named(tmp_path: Path) -> None:
    # "audit" is a purpose the gateway knows, but this protocol does not declare it.
    text = edited(
        PROTOCOL,
        'purposes = ["direct_care", "emergency"]\nbasis = "implied"',
        'purposes = ["direct_care", "audit"]\nbasis = "implied"',
    )
    only_problem(write(tmp_path, text), "clause ISP-1.1.purposes")


def test_a_purpose_the_gateway_does_not_know_is_named(tmp_path: Path) -> None:
    text = edited(
        PROTOCOL,
        'safeguarding = "Safeguarding."\n\n[break_glass]',
        'research = "R."\n\n[break_glass]',
    )
    error = only_problem(write(tmp_path, text), "purposes.research")
    assert "direct_care" in error.fix


def test_unknown_category_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'category = "demographics"', 'category = "identity"')
    error = only_problem(write(tmp_path, text), "clause ISP-1.1.category")
    assert "identity" in error.problem
    assert "demographics" in error.fix


def test_bad_basis_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'basis = "implied"', 'basis = "consented"')
    error = only_problem(write(tmp_path, text), "clause ISP-1.1.basis")
    assert "consented" in error.problem
    assert "explicit" in error.fix and "statutory" in error.fix


def test_overlapping_clauses_are_named(tmp_path: Path) -> None:
    text = (
        PROTOCOL
        + """
[[clause]]
id = "ISP-9.1"
title = "Medicine names again"
agencies = ["test-gp"]
items = ["medications.name"]
category = "health.physical"
roles = ["gp"]
purposes = ["direct_care"]
basis = "implied"
"""
    )
    error = only_problem(write(tmp_path, text), "clause[3]")
    assert "test-gp medications.name" in error.problem
    assert "ISP-2.1" in error.problem


def test_overlap_within_shared_agency_lists_is_named(tmp_path: Path) -> None:
    # The same item of the same agency through a second multi-agency clause.
    text = (
        PROTOCOL
        + """
[[clause]]
id = "ISP-9.2"
title = "Council names"
agencies = ["test-council"]
items = ["demographics.family_name", "demographics.phone"]
category = "demographics"
roles = ["gp"]
purposes = ["direct_care"]
basis = "implied"
"""
    )
    errors = problems(write(tmp_path, text))
    assert len(errors) == 1
    assert "test-council demographics.family_name" in errors[0].problem
    assert "ISP-1.1" in errors[0].problem


def test_the_same_item_for_different_agencies_is_no_overlap(tmp_path: Path) -> None:
    text = (
        PROTOCOL
        + """
[[clause]]
id = "ISP-9.3"
title = "Council medicines"
agencies = ["test-council"]
items = ["medications.*"]
category = "health.physical"
roles = ["gp"]
purposes = ["direct_care"]
basis = "implied"
"""
    )
    protocol = load_protocol(write(tmp_path, text), AGENCIES)
    assert protocol.clause_for("test-council", "medications.name").id == "ISP-9.3"  # type: ignore[union-attr]
    assert protocol.clause_for("test-gp", "medications.name").id == "ISP-2.1"  # type: ignore[union-attr]


def test_a_clause_id_used_twice_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'id = "ISP-3.1"', 'id = "ISP-2.1"')
    error = only_problem(write(tmp_path, text), "clause[2].id")
    assert "ISP-2.1" in error.problem


def test_a_clause_without_id_is_named_by_position(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'id = "ISP-2.1"\n', "")
    only_problem(write(tmp_path, text), "clause[1].id")


def test_a_clause_without_title_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'title = "Medicines"\n', "")
    only_problem(write(tmp_path, text), "clause ISP-2.1.title")


def test_an_unknown_clause_key_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'note = "With consent."', 'notes = "With consent."')
    # Named by position: unknown keys are checked before the id is read.
    error = only_problem(write(tmp_path, text), "clause[1].notes")
    assert "note" in error.fix


def test_sealed_must_be_true_or_false(tmp_path: Path) -> None:
    text = edited(PROTOCOL, "sealed = true", 'sealed = "yes"')
    only_problem(write(tmp_path, text), "clause ISP-3.1.sealed")


def test_a_missing_item_list_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'items = ["conditions.code"]\n', "")
    only_problem(write(tmp_path, text), "clause ISP-3.1.items")


def test_no_clauses_is_named(tmp_path: Path) -> None:
    text = PROTOCOL[: PROTOCOL.index("[[clause]]")]
    only_problem(write(tmp_path, text), "clause")


@pytest.mark.parametrize("table", ["categories", "roles", "purposes"])
def test_a_missing_description_table_is_named(tmp_path: Path, table: str) -> None:
    start = PROTOCOL.index(f"[{table}]")
    end = PROTOCOL.index("\n\n", start) + 2
    text = PROTOCOL[:start] + PROTOCOL[end:]
    errors = problems(write(tmp_path, text))
    # Without the table, clauses naming its entries are refused as well; the table comes first.
    assert errors[0].key == table
    assert_names(errors[0], tmp_path / "sharing-protocol.toml", table)


def test_break_glass_roles_must_be_declared(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'roles = ["gp", "nurse"]', 'roles = ["gp", "paramedic"]')
    only_problem(write(tmp_path, text), "break_glass.roles")


@pytest.mark.parametrize("hours", ["0", "25", "true", '"4"'])
def test_break_glass_hours_must_be_short(tmp_path: Path, hours: str) -> None:
    text = edited(PROTOCOL, "hours = 2", f"hours = {hours}")
    only_problem(write(tmp_path, text), "break_glass.hours")


def test_governance_roles_must_be_declared(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'roles = ["caldicott_guardian"]', 'roles = ["ig_lead"]')
    only_problem(write(tmp_path, text), "governance.roles")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'version = "1.0"\n', "")
    text = edited(text, 'basis = "implied"', 'basis = "maybe"')
    text = edited(text, 'roles = ["nurse", "social_worker"]', 'roles = ["nurse", "pharmacist"]')
    text = edited(text, 'items = ["conditions.code"]', 'items = ["conditions.snomed"]')
    file = write(tmp_path, text)
    keys = [e.key for e in problems(file)]
    assert keys == [
        "version",
        "clause ISP-1.1.basis",
        "clause ISP-2.1.roles",
        "clause ISP-3.1.items",
    ]
    for error in problems(file):
        assert_names(error, file, error.key)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    file = write(tmp_path, PROTOCOL + "\n[[clause]\n")
    with pytest.raises(ConfigError) as caught:
        load_protocol(file, AGENCIES)
    assert caught.value.file == str(file)
    assert caught.value.key == "(file)"


# --------------------------------------------------------------------------- the shipped protocol


def shipped() -> tuple[SharingProtocol, tuple[AgencyConfig, ...]]:
    """The demo agencies and the demo protocol, as the gateway loads them."""
    agencies = load_agencies(REPO / "config" / "agencies")
    protocol = load_protocol(REPO / "config" / "sharing-protocol.toml", {a.id for a in agencies})
    return protocol, agencies


def test_the_shipped_protocol_loads() -> None:
    protocol, _ = shipped()
    assert protocol.title == "Shire and Riverside Information Sharing Protocol"
    assert protocol.version == "2026.1"
    assert protocol.governance_roles == {"caldicott_guardian", "ig_lead"}
    assert protocol.break_glass_hours == 4.0


def test_the_shipped_protocol_covers_every_mapped_item_of_every_agency() -> None:
    protocol, agencies = shipped()
    uncovered = [
        f"{agency.id} {item}"
        for agency in agencies
        for item in sorted(agency.items)
        if not protocol.covers(agency.id, item)
    ]
    assert uncovered == [], "add these to a clause of config/sharing-protocol.toml"


def test_the_shipped_protocol_lists_only_items_the_agencies_map() -> None:
    protocol, agencies = shipped()
    mapped = {(agency.id, item) for agency in agencies for item in agency.items}
    listed = {
        (agency, item)
        for clause in protocol.clauses
        for agency in clause.agencies
        for item in clause.items
    }
    assert sorted(listed - mapped) == []


def test_the_shipped_protocol_declares_every_demo_role() -> None:
    protocol, _ = shipped()
    demo_roles = {role for who in PRACTITIONERS for role in who.roles}
    required = {
        "gp",
        "nurse",
        "social_worker",
        "housing_officer",
        "caldicott_guardian",
        "ig_lead",
        "occupational_therapist",
    }
    assert demo_roles | required <= set(protocol.roles)


def test_the_shipped_protocol_shows_every_kind_of_sharing() -> None:
    protocol, _ = shipped()
    assert {c.basis for c in protocol.clauses if not c.sealed} == set(Basis)
    assert any(c.sealed for c in protocol.clauses)
    statutory = [c for c in protocol.clauses if c.basis is Basis.STATUTORY]
    assert all("safeguarding" in c.purposes for c in statutory)
    rent = protocol.clause_for("shire-housing", "tenancies.rent_arrears_weeks")
    assert rent is not None and rent.basis is Basis.EXPLICIT and rent.category == "housing"
    assessments = protocol.clause_for("shire-adult-social-care", "assessments.summary")
    assert assessments is not None and assessments.basis is Basis.STATUTORY
    assert assessments.roles == {"social_worker", "nurse", "gp"}


def test_the_shipped_protocol_file_says_it_is_synthetic() -> None:
    head = (REPO / "config" / "sharing-protocol.toml").read_text().splitlines()[0]
    assert "SYNTHETIC" in head


# --------------------------------------------------------------------------- the rendering


def test_docs_sharing_protocol_md_matches_the_shipped_protocol() -> None:
    protocol, agencies = shipped()
    kept = REPO / "docs" / "sharing-protocol.md"
    assert kept.is_file(), (
        "generate it: fame-gateway protocol render --output docs/sharing-protocol.md"
    )
    assert kept.read_text() == render_markdown(protocol, agencies), (
        "docs/sharing-protocol.md has drifted from config/sharing-protocol.toml; regenerate it: "
        "fame-gateway protocol render --output docs/sharing-protocol.md"
    )


def test_the_rendering_is_deterministic() -> None:
    protocol, agencies = shipped()
    first = render_markdown(protocol, agencies)
    assert render_markdown(protocol, tuple(reversed(agencies))) == first
    assert render_html(protocol, tuple(reversed(agencies))) == render_html(protocol, agencies)
    assert render_markdown(protocol, agencies) == first


def test_the_rendering_lists_every_shared_item_with_its_clause() -> None:
    protocol, agencies = shipped()
    document = render_markdown(protocol, agencies)
    assert protocol.title in document and protocol.version in document
    for agency in agencies:
        assert agency.name in document
        section = document.split(f"### {agency.name} (`{agency.id}`)")[1].split("\n### ")[0]
        for item in agency.items:
            clause = protocol.clause_for(agency.id, item)
            assert clause is not None
            row = next(line for line in section.splitlines() if line.startswith(f"| `{item}` "))
            assert ITEMS[item].description in row
            assert f"| {clause.id} |" in row
            assert ("SEALED" in row) == clause.sealed
    for clause in protocol.clauses:
        assert f"### {clause.id} {clause.title}" in document
    for name, text in [
        *protocol.roles.items(),
        *protocol.purposes.items(),
        *protocol.categories.items(),
    ]:
        assert f"`{name}`" in document and text in document
    assert "4 hours" in document
    assert "Sealed items never open" in document


def test_the_html_page_says_the_same_as_the_markdown() -> None:
    protocol, agencies = shipped()
    page = render_html(protocol, agencies)
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert "<style>" in page
    for clause in protocol.clauses:
        assert f"{clause.id} {clause.title}</h3>" in page
    for agency in agencies:
        assert agency.name in page
    assert_balanced(page)


def hostile_protocol(tmp_path: Path) -> tuple[SharingProtocol, tuple[AgencyConfig, ...]]:
    """A protocol and agency whose texts carry markup and table syntax."""
    text = edited(
        PROTOCOL,
        'title = "Test Information Sharing Protocol"',
        "title = \"<script>alert('x')</script> & Co\"",
    )
    text = edited(
        text, 'note = "With consent."', 'note = "Only if <b>asked</b> | then & \\"quoted\\"."'
    )
    text = edited(text, 'nurse = "Nurse."', 'nurse = "Nurse | <i>registered</i>."')
    protocol = load_protocol(write(tmp_path, text), AGENCIES)
    agencies = (
        agency("test-gp", "Dr <Evil> & Partners", {"medications.name", "demographics.phone"}),
        agency("test-council", "Council", {"demographics.given_name"}),
    )
    return protocol, agencies


def agency(agency_id: str, name: str, items: set[str], teams_matter: bool = False) -> AgencyConfig:
    """An agency registration as load_agencies would give it (no source needed to render)."""
    return AgencyConfig(
        id=agency_id,
        name=name,
        kind="sql",
        file=Path(f"{agency_id}.toml"),
        timeout_seconds=2.0,
        demographics_rank=None,
        teams_matter=teams_matter,
        items=frozenset(items),
        source=None,
    )


def test_the_html_escapes_every_text(tmp_path: Path) -> None:
    protocol, agencies = hostile_protocol(tmp_path)
    page = render_html(protocol, agencies)

    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co" in page
    assert "<b>" not in page and "&lt;b&gt;asked&lt;/b&gt;" in page
    assert "<i>" not in page and "Dr &lt;Evil&gt; &amp; Partners" in page
    assert "&quot;quoted&quot;" in page
    assert_balanced(page)


def test_the_markdown_keeps_tables_whole_and_markup_inert(tmp_path: Path) -> None:
    protocol, agencies = hostile_protocol(tmp_path)
    document = render_markdown(protocol, agencies)

    assert "<script>" not in document and "<i>" not in document
    nurse_row = next(line for line in document.splitlines() if line.startswith("| `nurse` |"))
    assert "Nurse \\| " in nurse_row
    assert nurse_row.count(" | ") == 3  # four cells, the description's pipe escaped


def test_the_rendering_flags_items_mapped_but_not_listed_and_listed_but_not_mapped(
    tmp_path: Path,
) -> None:
    protocol, agencies = hostile_protocol(tmp_path)
    document = render_markdown(protocol, agencies)

    gp = document.split("(`test-gp`)")[1].split("\n### ")[0]
    # Mapped, in no clause: never shared, and said so.
    assert "never shared" in gp and "`demographics.phone`" in gp
    # Listed, not mapped: marked as nothing to share yet.
    assert "not mapped" in gp and "`medications.dose`" in gp
    council = document.split("(`test-council`)")[1].split("\n### ")[0]
    assert "`demographics.family_name`" in council.split("not mapped")[1]


def test_an_agency_sharing_nothing_says_so(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES)
    agencies = (
        agency("test-gp", "Test GP", set()),
        agency("test-council", "Council", set()),
        agency("test-school", "School", {"enrolments.school"}),
    )
    document = render_markdown(protocol, agencies)
    school = document.split("(`test-school`)")[1]
    assert "shares nothing" in school


def test_team_scoped_agencies_are_named(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES)
    agencies = (agency("test-gp", "Test GP", set(), teams_matter=True),)
    assert "For Test GP the relationship is with the practitioner's own team" in render_markdown(
        protocol, agencies
    )


class _Balance(HTMLParser):
    """Checks that every opened element is closed, in order (void elements aside)."""

    VOID = {"meta", "br", "hr", "img", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def assert_balanced(page: str) -> None:
    """Every element of ``page`` is closed in order."""
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
