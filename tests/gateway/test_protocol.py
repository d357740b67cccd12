"""The sharing protocol file: validation, the shipped demo protocol, and its rendering.

Every problem in a protocol file is refused with the file, the key and what to
write instead; the shipped protocol covers every item every shipped agency maps;
docs/sharing-protocol.md is the rendering of the shipped protocol, kept in step.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fame_demo.practitioners import PRACTITIONERS
from gateway.config.agencies import load_agencies
from gateway.config.catalogue import catalogue_of_settings
from gateway.config.protocol import (
    PURPOSES,
    Basis,
    Establishment,
    SharingProtocol,
    load_protocol,
)
from gateway.config.protocol_models import PurposesTable
from gateway.config.protocol_render import render_html, render_markdown
from gateway.core.catalogue import RECORD_SETS_BY_NAME
from gateway.core.errors import ConfigError, ConfigErrors
from gateway.core.registration import AgencyConfig
from gateway.core.services import AGENCY, TEAM, AgencyServices, Service
from tests.support import REPO

AGENCIES = {"test-gp", "test-council"}

PROTOCOL = """\
title = "Test Information Sharing Protocol"
version = "1.0"

[categories]
demographics = "Who the person is."
health = "All health records."
"health.physical" = "Physical health."
safeguarding = "Safeguarding."

[roles]
gp = "General practitioner."
nurse = "Nurse."
social_worker = "Social worker."
caldicott_guardian = "Caldicott Guardian."

[purposes.direct_care]
description = "Direct care."
established = "asserted"
roles = ["gp", "nurse", "social_worker"]

[purposes.emergency]
description = "Emergencies."
established = "break_glass"

[purposes.safeguarding]
description = "Safeguarding."
established = "reasoned"
roles = ["gp", "social_worker"]
hours = 48
reference_pattern = '^S42-[0-9]{4}-[0-9]{3,6}$'
reference_hint = "a s.42 enquiry number such as S42-2026-00123"

[break_glass]
roles = ["gp", "nurse"]
hours = 2

[break_glass.reasons]
cannot_consent = "The person cannot be asked and needs urgent care."
risk_to_life = "An immediate risk to the person's life."

[governance]
roles = ["caldicott_guardian"]
lead_guardians = []

[consent_forms.signed_form]
description = "A signed consent form."
pattern = '\\bCF-[0-9]{4,}\\b'
own_words = true

[consent_forms.best_interests]
description = "A best-interests decision."
pattern = '\\bMCA-[0-9]{4}-[0-9]{2,6}\\b'
own_words = false

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

[[clause]]
id = "ISP-4.1"
title = "Safeguarding warnings"
agencies = ["test-council"]
items = ["alerts.*"]
category = "safeguarding"
roles = ["gp", "social_worker"]
purposes = ["safeguarding", "emergency"]
basis = "statutory"
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


def without_table(text: str, header: str) -> str:
    """``text`` without the table ``[header]`` and its sub-tables ``[header.<name>]``.

    Each table of the fixture ends at a blank line.
    """
    kept = [
        chunk
        for chunk in text.split("\n\n")
        if not (chunk.startswith(f"[{header}]") or chunk.startswith(f"[{header}."))
    ]
    assert len(kept) < len(text.split("\n\n")), header
    return "\n\n".join(kept)


def problems(
    file: Path,
    agencies: set[str] = AGENCIES,
    services: dict[str, AgencyServices] | None = None,
) -> list[ConfigError]:
    """The errors loading ``file`` raises (it must raise)."""
    with pytest.raises(ConfigErrors) as caught:
        load_protocol(file, agencies, services)
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


def only_problem(
    file: Path,
    key: str,
    agencies: set[str] = AGENCIES,
    services: dict[str, AgencyServices] | None = None,
) -> ConfigError:
    """The single error loading ``file`` raises, checked to name the file, key and a fix."""
    errors = problems(file, agencies, services)
    assert [e.key for e in errors] == [key], [str(e) for e in errors]
    (error,) = errors
    assert_names(error, file, key)
    return error


# --------------------------------------------------------------------------- a valid file


GP_SERVICES = AgencyServices(
    scope=TEAM,
    services=(Service("practice", "The practice", frozenset({"Test GP Team"})),),
)


def test_a_valid_protocol_loads(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES, {"test-gp": GP_SERVICES})

    assert protocol.title == "Test Information Sharing Protocol"
    assert protocol.version == "1.0"
    assert [c.id for c in protocol.clauses] == ["ISP-1.1", "ISP-2.1", "ISP-3.1", "ISP-4.1"]
    assert protocol.roles["nurse"] == "Nurse."
    assert protocol.categories["health.physical"] == "Physical health."
    assert list(protocol.purposes) == ["direct_care", "emergency", "safeguarding"]
    assert protocol.break_glass_roles == {"gp", "nurse"}
    assert protocol.break_glass_hours == 2.0
    assert protocol.governance_roles == {"caldicott_guardian"}
    assert protocol.lead_guardians == frozenset()
    assert protocol.break_glass_reasons == {
        "cannot_consent": "The person cannot be asked and needs urgent care.",
        "risk_to_life": "An immediate risk to the person's life.",
    }
    # The agency files' need-to-know rules travel with the protocol; an agency that
    # declares none relates per team.
    assert protocol.services_of("test-gp") is GP_SERVICES
    assert protocol.services_of("test-council").scope == TEAM
    assert protocol.services_of("test-council").services == ()

    identity, medicines, sealed, warnings = protocol.clauses
    assert identity.agencies == {"test-gp", "test-council"}
    assert identity.basis is Basis.IMPLIED and not identity.sealed
    assert identity.note == ""
    # A record set pattern stands for every item of the record set.
    assert medicines.items == {spec.name for spec in RECORD_SETS_BY_NAME["medications"].items}
    assert medicines.basis is Basis.EXPLICIT and medicines.note == "With consent."
    assert sealed.sealed and sealed.roles == frozenset()
    assert warnings.basis is Basis.STATUTORY and warnings.purposes == {"safeguarding", "emergency"}


def test_purposes_say_who_may_claim_them_and_how_they_are_established(tmp_path: Path) -> None:
    purposes = load_protocol(write(tmp_path, PROTOCOL), AGENCIES).purposes
    direct, emergency, safeguarding = (
        purposes["direct_care"],
        purposes["emergency"],
        purposes["safeguarding"],
    )

    assert direct.description == "Direct care."
    assert direct.established is Establishment.ASSERTED
    assert direct.roles == {"gp", "nurse", "social_worker"}
    # Emergency is break-glass: its roles and hours are break-glass's.
    assert emergency.established is Establishment.BREAK_GLASS
    assert emergency.roles == {"gp", "nurse"} and emergency.hours == 2.0
    assert safeguarding.established is Establishment.REASONED
    assert safeguarding.roles == {"gp", "social_worker"} and safeguarding.hours == 48.0
    assert safeguarding.reference_hint == "a s.42 enquiry number such as S42-2026-00123"
    # The reference must be the whole of an enquiry number of the stated form.
    assert safeguarding.reference_ok("S42-2026-00123")
    assert safeguarding.reference_ok("  S42-2026-00123 ")
    assert not safeguarding.reference_ok("S42-2026-1")
    assert not safeguarding.reference_ok("see S42-2026-00123")


def test_consent_forms_say_what_a_reference_must_cite(tmp_path: Path) -> None:
    forms = load_protocol(write(tmp_path, PROTOCOL), AGENCIES).consent_forms

    assert list(forms) == ["signed_form", "best_interests"]
    signed, best = forms["signed_form"], forms["best_interests"]
    assert signed.description == "A signed consent form." and signed.own_words
    assert not best.own_words
    # A form is cited anywhere in the reference, on word boundaries.
    assert signed.matches("scanned CF-20261 on file")
    assert not signed.matches("CF-12") and not signed.matches("XCF-20261")
    assert best.matches("MCA-2026-014") and not best.matches("CF-20261")


def test_the_protocol_is_indexed_by_agency_and_item(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES)
    identity, medicines, _, _ = protocol.clauses

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
    # "care_planning" is a purpose the gateway knows, but this protocol does not declare it.
    text = edited(
        PROTOCOL,
        'purposes = ["direct_care", "emergency"]\nbasis = "implied"',
        'purposes = ["direct_care", "care_planning"]\nbasis = "implied"',
    )
    error = only_problem(write(tmp_path, text), "clause ISP-1.1.purposes")
    assert "care_planning" in error.problem


def test_a_purpose_the_gateway_does_not_know_is_named(tmp_path: Path) -> None:
    text = edited(
        PROTOCOL,
        "[break_glass]\n",
        '[purposes.research]\ndescription = "R."\nestablished = "asserted"\nroles = ["gp"]\n\n'
        "[break_glass]\n",
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
    error = only_problem(write(tmp_path, text), "clause[4]")
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
    # Named by its id like the clause's other keys, with the key meant.
    error = only_problem(write(tmp_path, text), "clause ISP-2.1.notes")
    assert "Did you mean note?" in error.fix


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
    text = without_table(PROTOCOL, table)
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


# --------------------------------------------------------------------------- purposes


def purpose_problem(file: Path, key: str) -> ConfigError:
    """The error naming ``key``, first; a purpose refused is then undeclared, so the only
    other errors are the clauses that name it."""
    errors = problems(file)
    assert errors[0].key == key, [str(e) for e in errors]
    assert_names(errors[0], file, key)
    consequential = [e.key for e in errors[1:]]
    assert all(k.startswith("clause ") and k.endswith(".purposes") for k in consequential), (
        consequential
    )
    return errors[0]


def purpose_table(text: str, name: str) -> str:
    """The ``[purposes.<name>]`` table of ``text``, up to its blank line."""
    start = text.index(f"[purposes.{name}]\n")
    return text[start : text.index("\n\n", start) + 1]


def with_purpose(text: str, name: str, body: str) -> str:
    """``text`` with the ``[purposes.<name>]`` table's lines replaced by ``body``."""
    return edited(text, purpose_table(text, name), f"[purposes.{name}]\n{body}")


@pytest.mark.parametrize("established", ['"claimed"', '"ASSERTED"', "true"])
def test_an_unknown_way_of_establishing_a_purpose_is_named(
    tmp_path: Path, established: str
) -> None:
    text = edited(
        PROTOCOL,
        'description = "Direct care."\nestablished = "asserted"',
        f'description = "Direct care."\nestablished = {established}',
    )
    error = purpose_problem(write(tmp_path, text), "purposes.direct_care.established")
    assert "asserted" in error.fix and "reasoned" in error.fix and "break_glass" in error.fix


def test_emergency_must_be_established_by_break_glass(tmp_path: Path) -> None:
    # An emergency purpose a token or header could assert is the hole break-glass closes.
    text = with_purpose(
        PROTOCOL,
        "emergency",
        'description = "Emergencies."\nestablished = "asserted"\nroles = ["gp"]\n',
    )
    errors = problems(write(tmp_path, text))
    # Its roles are refused as well: break-glass's roles are said under [break_glass].
    assert [e.key for e in errors] == [
        "purposes.emergency.established",
        "purposes.emergency.roles",
    ]
    assert "'asserted'" in errors[0].problem
    assert 'established = "break_glass"' in errors[0].fix
    assert "[break_glass]" in errors[1].fix


def test_only_emergency_may_be_established_by_break_glass(tmp_path: Path) -> None:
    text = with_purpose(
        PROTOCOL, "direct_care", 'description = "Direct care."\nestablished = "break_glass"\n'
    )
    errors = problems(write(tmp_path, text))
    # A purpose a practitioner claims says who may claim it, which is refused as well.
    assert [e.key for e in errors] == [
        "purposes.direct_care.established",
        "purposes.direct_care.roles",
    ]
    assert "'break_glass'" in errors[0].problem
    assert "emergency purpose alone" in errors[0].fix
    assert "is missing" in errors[1].problem


def test_emergency_takes_its_roles_from_break_glass(tmp_path: Path) -> None:
    text = edited(
        PROTOCOL,
        'description = "Emergencies."\nestablished = "break_glass"\n',
        'description = "Emergencies."\nestablished = "break_glass"\nroles = ["social_worker"]\n',
    )
    error = only_problem(write(tmp_path, text), "purposes.emergency.roles")
    assert "[break_glass]" in error.fix


def test_audit_is_claimable_by_governance_roles_only(tmp_path: Path) -> None:
    audit = '[purposes.audit]\ndescription = "Audit."\nestablished = "asserted"\n'
    text = edited(
        PROTOCOL, "[break_glass]\n", audit + 'roles = ["caldicott_guardian"]\n\n[break_glass]\n'
    )
    # Claimable by the governance role: it loads.
    assert load_protocol(write(tmp_path, text), AGENCIES).purposes["audit"].roles == {
        "caldicott_guardian"
    }
    text = edited(
        PROTOCOL,
        "[break_glass]\n",
        audit + 'roles = ["caldicott_guardian", "gp"]\n\n[break_glass]\n',
    )
    error = purpose_problem(write(tmp_path, text), "purposes.audit.roles")
    assert "gp" in error.problem
    assert "[governance] roles" in error.fix


def test_purpose_roles_must_be_declared(tmp_path: Path) -> None:
    text = edited(
        PROTOCOL, 'roles = ["gp", "social_worker"]\nhours = 48', 'roles = ["police"]\nhours = 48'
    )
    error = purpose_problem(write(tmp_path, text), "purposes.safeguarding.roles")
    assert "police" in error.problem and "social_worker" in error.fix


def test_a_reasoned_purpose_needs_hours(tmp_path: Path) -> None:
    text = edited(PROTOCOL, "hours = 48\n", "")
    error = only_problem(write(tmp_path, text), "purposes.safeguarding.hours")
    assert "720" in error.fix


@pytest.mark.parametrize("hours", ["0", "721", '"48"'])
def test_a_reasoned_purpose_needs_sensible_hours(tmp_path: Path, hours: str) -> None:
    text = edited(PROTOCOL, "hours = 48\n", f"hours = {hours}\n")
    only_problem(write(tmp_path, text), "purposes.safeguarding.hours")


@pytest.mark.parametrize("pattern", ["'^S42-[0-9{4}$'", "''", "42"])
def test_a_reasoned_purpose_needs_a_valid_reference_pattern(tmp_path: Path, pattern: str) -> None:
    text = edited(
        PROTOCOL,
        "reference_pattern = '^S42-[0-9]{4}-[0-9]{3,6}$'",
        f"reference_pattern = {pattern}",
    )
    error = only_problem(write(tmp_path, text), "purposes.safeguarding.reference_pattern")
    assert "regular expression" in error.fix


def test_a_reasoned_purpose_needs_a_reference_hint(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'reference_hint = "a s.42 enquiry number such as S42-2026-00123"\n', "")
    only_problem(write(tmp_path, text), "purposes.safeguarding.reference_hint")


def test_a_reasoned_purpose_missing_its_reference_is_told_every_key(tmp_path: Path) -> None:
    body = 'description = "S."\nestablished = "reasoned"\nroles = ["gp"]\n'
    errors = problems(write(tmp_path, with_purpose(PROTOCOL, "safeguarding", body)))
    assert [e.key for e in errors] == [
        "purposes.safeguarding.hours",
        "purposes.safeguarding.reference_pattern",
        "purposes.safeguarding.reference_hint",
    ]
    assert all(e.problem == "is missing" for e in errors)
    assert "720" in errors[0].fix and "regular expression" in errors[1].fix


def test_a_clause_is_not_blamed_for_a_problem_inside_a_purpose_it_names(tmp_path: Path) -> None:
    # ISP-4.1 names safeguarding, declared under [purposes] though its table is wrong.
    text = edited(PROTOCOL, "hours = 48\n", "hours = 0\n")
    only_problem(write(tmp_path, text), "purposes.safeguarding.hours")


def test_the_purposes_table_takes_every_purpose_the_gateway_knows() -> None:
    assert tuple(PurposesTable.model_fields) == PURPOSES


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("hours = 2\n", "hours = 2\nminutes = 5\n", "break_glass.minutes"),
        ("lead_guardians = []", "lead_guardians = []\nleads = []", "governance.leads"),
    ],
)
def test_unknown_break_glass_and_governance_keys_are_named(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    error = only_problem(write(tmp_path, edited(PROTOCOL, old, new)), key)
    assert "Remove it" in error.fix


def test_problems_in_tables_and_clauses_are_reported_together(tmp_path: Path) -> None:
    text = edited(PROTOCOL, 'version = "1.0"', 'version = ""')
    text = edited(text, 'roles = ["gp", "nurse"]', 'roles = ["gp", "paramedic"]')
    text = edited(text, 'basis = "statutory"', 'basis = "legal"')
    text = edited(text, "own_words = false", 'own_words = "no"')
    errors = problems(write(tmp_path, text))
    assert [e.key for e in errors] == [
        "version",
        "break_glass.roles",
        "consent_forms.best_interests.own_words",
        "clause ISP-4.1.basis",
    ]
    assert "'paramedic'" in errors[1].problem and "caldicott_guardian" in errors[1].fix


# --------------------------------------------------------------------------- break-glass reasons


def test_break_glass_needs_reason_categories(tmp_path: Path) -> None:
    text = without_table(PROTOCOL, "break_glass.reasons")
    error = only_problem(write(tmp_path, text), "break_glass.reasons")
    assert "[break_glass.reasons]" in error.fix


def test_a_break_glass_reason_needs_a_description(tmp_path: Path) -> None:
    text = edited(
        PROTOCOL,
        'risk_to_life = "An immediate risk to the person\'s life."',
        'risk_to_life = ""',
    )
    # Named down to the reason.
    error = only_problem(write(tmp_path, text), "break_glass.reasons.risk_to_life")
    assert "empty" in error.problem and "[break_glass.reasons]" in error.fix


# --------------------------------------------------------------------------- lead guardians


def test_lead_guardians_are_read(tmp_path: Path) -> None:
    text = edited(PROTOCOL, "lead_guardians = []", 'lead_guardians = ["cg-jones@test-council"]')
    protocol = load_protocol(write(tmp_path, text), AGENCIES)
    assert protocol.lead_guardians == {"cg-jones@test-council"}


@pytest.mark.parametrize(
    ("leads", "wrong"),
    [
        ('["cg-jones@test-pharmacy"]', "an agency that is not registered"),
        ('["cg-jones"]', "no @agency"),
        ('["cg-jones@test-council", "cg-jones-test-gp"]', "one of them without @"),
        ('"cg-jones@test-council"', "not a list"),
    ],
)
def test_lead_guardians_must_name_a_practitioner_of_a_registered_agency(
    tmp_path: Path, leads: str, wrong: str
) -> None:
    text = edited(PROTOCOL, "lead_guardians = []", f"lead_guardians = {leads}")
    error = only_problem(write(tmp_path, text), "governance.lead_guardians")
    assert "practitioner@agency-id" in error.fix, wrong


# --------------------------------------------------------------------------- consent forms


def test_consent_forms_are_required(tmp_path: Path) -> None:
    text = without_table(PROTOCOL, "consent_forms")
    error = only_problem(write(tmp_path, text), "consent_forms")
    assert "own_words" in error.fix


@pytest.mark.parametrize("pattern", ["'\\bCF-[0-9{4,}\\b'", "''", "7"])
def test_a_consent_form_needs_a_valid_pattern(tmp_path: Path, pattern: str) -> None:
    text = edited(PROTOCOL, "pattern = '\\bCF-[0-9]{4,}\\b'", f"pattern = {pattern}")
    error = only_problem(write(tmp_path, text), "consent_forms.signed_form.pattern")
    assert "regular expression" in error.fix


@pytest.mark.parametrize("own_words", ['"yes"', "1"])
def test_a_consent_form_says_true_or_false_for_own_words(tmp_path: Path, own_words: str) -> None:
    text = edited(PROTOCOL, "own_words = false", f"own_words = {own_words}")
    error = only_problem(write(tmp_path, text), "consent_forms.best_interests.own_words")
    assert "true or false" in error.fix


def test_a_consent_form_without_own_words_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, "own_words = true\n", "")
    only_problem(write(tmp_path, text), "consent_forms.signed_form.own_words")


def test_an_unknown_consent_form_key_is_named(tmp_path: Path) -> None:
    text = edited(PROTOCOL, "own_words = false", "own_words = false\nexpires = 365")
    error = only_problem(write(tmp_path, text), "consent_forms.best_interests.expires")
    assert "own_words" in error.fix


# --------------------------------------------------------------------------- categories carried


def test_a_category_carried_by_nothing_is_named(tmp_path: Path) -> None:
    # A consent or objection could be recorded for it and would protect nothing.
    text = edited(
        PROTOCOL,
        '"health.physical" = "Physical health."',
        '"health.physical" = "P."\nhousing = "H."',
    )
    error = only_problem(write(tmp_path, text), "categories.housing")
    assert "protect nothing" in error.problem


def test_a_parent_category_is_carried_through_its_child(tmp_path: Path) -> None:
    # No clause names "health", but ISP-2.1 carries "health.physical": an objection
    # to "health" reaches it.
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES)
    assert "health" in protocol.categories
    assert all(clause.category != "health" for clause in protocol.clauses)


def test_a_child_category_is_not_carried_through_its_parent(tmp_path: Path) -> None:
    # A clause of "health" does not make an objection to "health.mental" mean anything.
    text = edited(
        PROTOCOL,
        'category = "health.physical"\nroles = ["nurse", "social_worker"]',
        'category = "health"\nroles = ["nurse", "social_worker"]',
    )
    text = edited(
        text,
        'items = ["conditions.code"]\ncategory = "health.physical"',
        'items = ["conditions.code"]\ncategory = "health"',
    )
    text = edited(text, '"health.physical" = "Physical health."', '"health.mental" = "Mental."')
    only_problem(write(tmp_path, text), "categories.health.mental")


def test_a_name_that_merely_starts_another_is_no_parent(tmp_path: Path) -> None:
    # "health.physical" is a sub-category of "health", not of "health.phys".
    text = edited(
        PROTOCOL,
        '"health.physical" = "Physical health."',
        '"health.physical" = "Physical health."\n"health.phys" = "Abbreviated."',
    )
    only_problem(write(tmp_path, text), "categories.health.phys")


MENTAL_HEALTH_SERVICE = AgencyServices(
    scope=TEAM,
    services=(
        Service(
            "community-mental-health",
            "Community mental health",
            frozenset({"Community Mental Health Team"}),
            category="health.mental",
        ),
    ),
)


def test_a_category_carried_by_an_agency_service_alone_is_carried(tmp_path: Path) -> None:
    text = edited(
        PROTOCOL,
        '"health.physical" = "Physical health."',
        '"health.physical" = "P."\n"health.mental" = "M."',
    )
    file = write(tmp_path, text)
    only_problem(file, "categories.health.mental")
    protocol = load_protocol(file, AGENCIES, {"test-gp": MENTAL_HEALTH_SERVICE})
    assert protocol.services_of("test-gp").categories_held(["Community Mental Health Team"]) == {
        "health.mental"
    }


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
    # The demo's catalogue: the standard one and the pilots' file its settings name.
    catalogue = catalogue_of_settings(REPO / "config" / "gateway.toml")
    agencies = load_agencies(REPO / "config" / "agencies", catalogue=catalogue)
    protocol = load_protocol(
        REPO / "config" / "sharing-protocol.toml",
        {a.id for a in agencies},
        {a.id: a.services for a in agencies},
        catalogue=catalogue,
    )
    return protocol, agencies


def test_the_shipped_protocol_loads() -> None:
    protocol, _ = shipped()
    assert protocol.title == "Shire, Wrekin and Riverside Information Sharing Protocol"
    assert protocol.version == "2026.1"
    assert protocol.governance_roles == {"caldicott_guardian", "ig_lead"}
    assert protocol.index_roles == {"index_administrator"}
    assert protocol.break_glass_hours == 4.0
    assert protocol.break_glass_reasons and protocol.consent_forms


def test_the_shipped_purposes_are_established_not_claimed() -> None:
    protocol, _ = shipped()
    how = {name: purpose.established for name, purpose in protocol.purposes.items()}
    assert how == {
        "direct_care": Establishment.ASSERTED,
        "care_planning": Establishment.ASSERTED,
        "safeguarding": Establishment.REASONED,
        "emergency": Establishment.BREAK_GLASS,
        "audit": Establishment.ASSERTED,
        "index_administration": Establishment.ASSERTED,
    }
    assert protocol.purposes["audit"].roles <= protocol.governance_roles
    assert protocol.purposes["emergency"].roles == protocol.break_glass_roles
    safeguarding = protocol.purposes["safeguarding"]
    assert safeguarding.reference_ok("S42-2026-00123")
    assert safeguarding.reference_ok("SGR-2026-0456")
    assert not safeguarding.reference_ok(".")


def test_the_shipped_mental_health_services_hold_mental_health_records() -> None:
    # An objection to health.mental must reach the trust's community mental health teams.
    protocol, _ = shipped()
    trust = protocol.services_of("shire-community-health")
    assert trust.scope == TEAM
    mental = [s for s in trust.services if s.category == "health.mental"]
    assert [s.id for s in mental] == ["community-mental-health"]
    assert trust.categories_held(mental[0].teams) == {"health.mental"}
    nursing = next(s for s in trust.services if s.id == "adult-community")
    assert trust.categories_held(nursing.teams) == frozenset()
    # Every consent evidence form the shipped protocol accepts has a pattern that rejects ".".
    assert not any(form.matches(".") for form in protocol.consent_forms.values())


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
            assert protocol.catalogue.items[item].description in row
            assert f"| {clause.id} |" in row
            assert ("SEALED" in row) == clause.sealed
    for clause in protocol.clauses:
        assert f"### {clause.id} {clause.title}" in document
    for name, text in [
        *protocol.roles.items(),
        *((name, purpose.description) for name, purpose in protocol.purposes.items()),
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
        assert f"{clause.id} {html.escape(clause.title)}</h3>" in page
    for agency in agencies:
        # Names are text: "Children's Services" appears escaped.
        assert html.escape(agency.name) in page
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


def agency(
    agency_id: str, name: str, items: set[str], services: AgencyServices | None = None
) -> AgencyConfig:
    """An agency registration as load_agencies would give it (no source needed to render)."""
    return AgencyConfig(
        id=agency_id,
        name=name,
        kind="sql",
        file=Path(f"{agency_id}.toml"),
        timeout_seconds=2.0,
        demographics_rank=None,
        items=frozenset(items),
        source=None,
        services=services or AgencyServices(),
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


def section(document: str, heading: str) -> str:
    """The part of ``document`` from ``heading`` to the next heading of any level."""
    assert heading in document, heading
    return document.split(heading, 1)[1].split("\n#", 1)[0]


def row(document: str, first_cell: str) -> str:
    """The one table row of ``document`` whose first cell is ``first_cell``."""
    (found,) = [line for line in document.splitlines() if line.startswith(f"| {first_cell} |")]
    return found


def test_purposes_say_who_may_claim_them_and_how_they_are_established_in_the_document(
    tmp_path: Path,
) -> None:
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES)
    document = render_markdown(protocol, (agency("test-gp", "Test GP", set()),))

    purposes = section(document, "### Purposes of use")
    direct = row(purposes, "`direct_care`")
    assert "| `gp`, `nurse`, `social_worker` |" in direct and "Asserted" in direct
    emergency = row(purposes, "`emergency`")
    # Break-glass's roles and hours, not the purpose's own.
    assert "| `gp`, `nurse` |" in emergency and "Break-glass only" in emergency
    assert "2 hours" in emergency
    safeguarding = row(purposes, "`safeguarding`")
    assert "| `gp`, `social_worker` |" in safeguarding
    assert "Reasoned" in safeguarding and "48 hours" in safeguarding
    assert "never add one" in purposes and "`Fame-Purpose-Of-Use`" in purposes
    assert "a s.42 enquiry number such as S42-2026-00123" in purposes
    assert "`^S42-[0-9]{4}-[0-9]{3,6}$`" in purposes
    assert "under a grant it is the grant's purpose" in purposes


def test_relationships_are_explained_per_agency(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES)
    services = AgencyServices(
        scope=TEAM,
        services=(
            Service("nursing", "Community nursing", frozenset({"Nurses B", "Nurses A"})),
            Service(
                "clinic",
                "Physio clinic",
                frozenset({"Physio"}),
                category="health.physical",
                open_to=frozenset({"nursing"}),
            ),
        ),
    )
    agencies = (
        agency("test-gp", "Test GP", set(), services),
        agency("test-council", "Council", set(), AgencyServices(scope=AGENCY)),
        agency("test-school", "School", set()),
    )
    document = render_markdown(protocol, agencies)

    gp = section(document, "#### Test GP\n")
    assert "held per team" in gp
    assert row(gp, "Community nursing (`nursing`)") == (
        "| Community nursing (`nursing`) | Nurses A, Nurses B | no other service "
        "| as its clauses say |"
    )
    # The clinic is open to nursing: nursing's teams also see the clinic's people.
    assert row(gp, "Physio clinic (`clinic`)") == (
        "| Physio clinic (`clinic`) | Physio | Community nursing | `health.physical` |"
    )
    assert (
        "Records held by the teams of Physio clinic are `health.physical` records, whatever "
        "clause they are shared under: a person's objection to `health.physical` or `health` "
        "withholds them." in gp
    )
    council = section(document, "#### Council\n")
    assert "held by the whole agency" in council and "|" not in council
    school = section(document, "#### School\n")
    assert "each team is a service of its own" in school
    # A guardian's role alone is no relationship.
    relationships = section(document, "### Relationships inside each agency")
    assert "a `caldicott_guardian` sees governance data" in relationships
    assert "not case records, unless their own team is involved" in relationships


def test_the_protocol_s_rules_for_an_agency_are_rendered_over_its_registration(
    tmp_path: Path,
) -> None:
    # The gateway loads the two together; the protocol's copy is what it applies.
    loaded = AgencyServices(
        scope=TEAM, services=(Service("practice", "The practice", frozenset({"GP Team"})),)
    )
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES, {"test-gp": loaded})
    document = render_markdown(protocol, (agency("test-gp", "Test GP", set()),))
    gp = section(document, "#### Test GP\n")
    assert "| The practice (`practice`) | GP Team |" in gp


def test_the_category_hierarchy_and_what_carries_each_category_are_shown(
    tmp_path: Path,
) -> None:
    protocol = load_protocol(write(tmp_path, PROTOCOL), AGENCIES)
    document = render_markdown(protocol, (agency("test-gp", "Test GP", set()),))

    categories = section(document, "### Categories")
    assert row(categories, "`health`") == (
        "| `health` | All health records. | `health.physical` | through its sub-categories |"
    )
    assert row(categories, "`health.physical`").endswith("| none | ISP-2.1, ISP-3.1 |")
    assert row(categories, "`safeguarding`").endswith("| none | ISP-4.1 |")


def test_break_glass_reasons_consent_forms_and_lead_guardians_are_listed(tmp_path: Path) -> None:
    text = edited(PROTOCOL, "lead_guardians = []", 'lead_guardians = ["cg-jones@test-council"]')
    protocol = load_protocol(write(tmp_path, text), AGENCIES)
    agencies = (agency("test-council", "Shire Council", set()),)
    document = render_markdown(protocol, agencies)

    glass = section(document, "### Break-glass")
    assert "the grant lasts 2 hours" in glass
    assert "**inappropriate** ends the grant at once and notifies" in glass
    assert "never the practitioner who broke glass" in glass
    assert row(document, "`cannot_consent`") == (
        "| `cannot_consent` | The person cannot be asked and needs urgent care. |"
    )
    assert row(document, "`signed_form`") == (
        "| `signed_form` | A signed consent form. | `\\bCF-[0-9]{4,}\\b` | yes |"
    )
    assert row(document, "`best_interests`").endswith("| no |")
    evidence = section(document, "### Consent evidence")
    assert "Withdrawing an objection needs evidence in the person's own words" in evidence
    governance = section(document, "### Governance")
    assert "- `cg-jones` of Shire Council" in document.split("### Governance")[1]
    assert "oversee every agency's" in governance
    no_leads = render_markdown(load_protocol(write(tmp_path, PROTOCOL), AGENCIES), agencies)
    assert "No lead guardian is named" in section(no_leads, "### Governance")


def test_a_pipe_in_a_pattern_is_escaped_in_tables_only() -> None:
    # In a table cell an unescaped pipe would end the cell; in a paragraph a backslash
    # inside code would be shown to the reader.
    protocol, agencies = shipped()
    document = render_markdown(protocol, agencies)
    assert "it must match `^(S42|S47|SGR)-[0-9]{4}-[0-9]{3,6}$`." in document
    assert "[Ll]etter\\|[Vv]isit note" in row(document, "`recorded_words`")


def test_the_shipped_document_explains_purposes_and_team_relationships() -> None:
    protocol, agencies = shipped()
    document = render_markdown(protocol, agencies)

    purposes = section(document, "### Purposes of use")
    assert "Reasoned" in row(purposes, "`safeguarding`")
    assert "Break-glass only" in row(purposes, "`emergency`")
    trust = section(document, "#### Shire Community Health NHS Trust\n")
    mental = row(trust, "Community mental health (`community-mental-health`)")
    assert "Adult Community Mental Health Team" in mental and "`health.mental`" in mental
    assert "objection to `health.mental` or `health` withholds them" in trust
    for reason in protocol.break_glass_reasons:
        assert f"| `{reason}` |" in document
    for form in protocol.consent_forms:
        assert f"| `{form}` |" in document


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
