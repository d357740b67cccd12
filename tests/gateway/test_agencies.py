"""Agency files: every problem is refused with the file, the key and what to write instead."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from connectors.http import HttpSource
from connectors.registry import create_connector
from connectors.sql import SqlSource
from gateway.config.agencies import load_agencies
from gateway.core.errors import ConfigError, ConfigErrors
from gateway.core.registration import Resilience
from tests.support import REPO

SQL_AGENCY = """\
name = "Test Council"
kind = "sql"
timeout_seconds = 1.5
demographics_rank = 2

[source]
url = "sqlite+aiosqlite:///stores/test-council.sqlite"

[tables.people]
key = "person_ref"
[tables.warnings]
key = "person_ref"
order_by = "raised"

[items]
"demographics.given_name" = "people.forename"
"demographics.family_name" = "people.surname"
"alerts.severity" = "warnings.level"
"alerts.raised_on" = "warnings.raised"
"""

HTTP_AGENCY = """\
name = "Test Trust"
kind = "http"

[source]
base_url = "https://api.trust.example"
path = "/v2/people"

[items]
"involvement.worker" = "care_team.lead"
"alerts.severity" = "flags[].level"
"alerts.raised_on" = "flags[].date"
"""


def write(directory: Path, text: str, agency_id: str = "test-agency") -> Path:
    """Write one agency file into ``directory/agencies``; returns its path."""
    agencies = directory / "agencies"
    agencies.mkdir(exist_ok=True)
    file = agencies / f"{agency_id}.toml"
    file.write_text(text)
    return file


def edited(text: str, old: str, new: str) -> str:
    """``text`` with one exact fragment replaced (which must be there)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def problems(directory: Path) -> list[ConfigError]:
    """The errors loading ``directory/agencies`` raises (it must raise)."""
    with pytest.raises(ConfigErrors) as caught:
        load_agencies(directory / "agencies", directory)
    assert caught.value.errors, "ConfigErrors lists its errors"
    return caught.value.errors


def only_problem(directory: Path, file: Path, key: str) -> ConfigError:
    """The single error loading raises, checked to name the file, the key and a fix."""
    errors = problems(directory)
    assert [e.key for e in errors] == [key], [str(e) for e in errors]
    (error,) = errors
    assert_names(error, file, key)
    return error


def assert_names(error: ConfigError, file: Path, key: str) -> None:
    """An error message a person can act on: which file, which key, what to write."""
    assert error.file == str(file)
    assert error.key == key
    assert error.problem and error.fix
    message = str(error)
    assert message.startswith(f"{file}: {key}: ")
    assert error.fix in message


# --------------------------------------------------------------------------- valid files


def test_a_valid_sql_agency_loads(tmp_path: Path) -> None:
    file = write(tmp_path, SQL_AGENCY)
    (agency,) = load_agencies(tmp_path / "agencies", tmp_path)

    assert agency.id == "test-agency"
    assert agency.name == "Test Council"
    assert agency.kind == "sql"
    assert agency.file == file
    assert agency.timeout_seconds == 1.5
    assert agency.demographics_rank == 2
    assert agency.services.scope == "team" and agency.services.services == ()
    assert agency.items == frozenset(
        {
            "demographics.given_name",
            "demographics.family_name",
            "alerts.severity",
            "alerts.raised_on",
        }
    )
    assert isinstance(agency.source, SqlSource)
    # A relative SQLite path is resolved against the config directory, not the cwd.
    expected = (tmp_path / "stores" / "test-council.sqlite").resolve()
    assert agency.source.url.startswith("sqlite+aiosqlite:///")
    assert str(expected) in unquote(agency.source.url)
    assert agency.source.tables["warnings"].order_by == "raised"
    assert agency.source.items["alerts.severity"].column == "level"


def test_a_valid_http_agency_loads(tmp_path: Path) -> None:
    write(tmp_path, HTTP_AGENCY, "test-trust")
    (agency,) = load_agencies(tmp_path / "agencies", tmp_path)

    assert agency.kind == "http"
    assert isinstance(agency.source, HttpSource)
    assert agency.source.endpoint == "https://api.trust.example/v2/people"
    assert agency.source.items["alerts.severity"].list_key == "flags"
    assert agency.source.items["involvement.worker"].path == ("care_team", "lead")
    assert agency.timeout_seconds == 2.0


def test_a_password_given_through_url_env_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAME_TEST_COUNCIL_DSN", "postgresql+asyncpg://reader:pw@db.example/rec")
    write(
        tmp_path,
        edited(
            SQL_AGENCY,
            'url = "sqlite+aiosqlite:///stores/test-council.sqlite"',
            'url_env = "FAME_TEST_COUNCIL_DSN"',
        ),
    )
    (agency,) = load_agencies(tmp_path / "agencies", tmp_path)
    assert agency.source.url is None, "the variable is read when the connector opens"
    url = agency.source.resolve_url(agency.file)
    assert url.render_as_string(hide_password=False) == (
        "postgresql+asyncpg://reader:pw@db.example/rec"
    )
    assert "pw" not in agency.source.url_shown


def test_the_shipped_agency_files_load(tmp_path: Path) -> None:
    agencies = load_agencies(REPO / "config" / "agencies", REPO / "config")
    ids = {agency.id for agency in agencies}
    assert ids == {file.stem for file in (REPO / "config" / "agencies").glob("*.toml")}
    assert {agency.kind for agency in agencies} == {"sql", "http", "fhir", "csv"}
    for agency in agencies:
        assert agency.items, agency.id


# --------------------------------------------------------------------------- common keys


def test_unknown_kind(tmp_path: Path) -> None:
    file = write(tmp_path, edited(HTTP_AGENCY, 'kind = "http"', 'kind = "ftp"'))
    error = only_problem(tmp_path, file, "kind")
    assert "'ftp'" in error.problem
    assert "'http'" in error.fix and "'sql'" in error.fix


def test_missing_kind(tmp_path: Path) -> None:
    file = write(tmp_path, edited(HTTP_AGENCY, 'kind = "http"\n', ""))
    error = only_problem(tmp_path, file, "kind")
    assert error.problem == "is missing"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    file = write(tmp_path, 'colour = "blue"\n' + SQL_AGENCY)
    error = only_problem(tmp_path, file, "colour")
    assert "timeout_seconds" in error.fix and "Remove it" in error.fix


def test_item_not_in_the_catalogue(tmp_path: Path) -> None:
    file = write(tmp_path, SQL_AGENCY + '"demographics.shoe_size" = "people.shoe"\n')
    error = only_problem(tmp_path, file, 'items."demographics.shoe_size"')
    assert "catalogue" in error.problem
    assert "fame-gateway items" in error.fix


def test_item_not_in_the_catalogue_of_an_http_agency(tmp_path: Path) -> None:
    file = write(tmp_path, HTTP_AGENCY + '"alerts.colour" = "flags[].colour"\n')
    only_problem(tmp_path, file, 'items."alerts.colour"')


@pytest.mark.parametrize("value", ["0", "120", '"fast"', "true"])
def test_timeout_out_of_range(tmp_path: Path, value: str) -> None:
    file = write(
        tmp_path, edited(SQL_AGENCY, "timeout_seconds = 1.5", f"timeout_seconds = {value}")
    )
    error = only_problem(tmp_path, file, "timeout_seconds")
    assert "0.1 to 60" in error.fix


def test_resilience_and_cache_keys_load_with_safe_defaults(tmp_path: Path) -> None:
    write(tmp_path, SQL_AGENCY, "plain")
    write(
        tmp_path,
        edited(
            SQL_AGENCY,
            "timeout_seconds = 1.5",
            "timeout_seconds = 1.5\nconnect_timeout_seconds = 0.25\nmax_concurrent_calls = 4\n"
            "retries = 0\ncircuit_failures = 3\ncircuit_window_seconds = 10\n"
            "circuit_open_seconds = 5\ncache_seconds = 30",
        ),
        "tuned",
    )
    plain, tuned = load_agencies(tmp_path / "agencies", tmp_path)
    assert plain.cache_seconds == 0, "caching is off unless the agency allows it"
    assert plain.resilience == Resilience(connect_timeout_seconds=1.0)
    assert tuned.cache_seconds == 30
    assert tuned.resilience == Resilience(
        connect_timeout_seconds=0.25,
        max_concurrent_calls=4,
        retries=0,
        circuit_failures=3,
        circuit_window_seconds=10,
        circuit_open_seconds=5,
    )


@pytest.mark.parametrize(
    ("line", "key", "says"),
    [
        ("cache_seconds = -1", "cache_seconds", "0 (never, the default) to 3600"),
        ('cache_seconds = "forever"', "cache_seconds", "3600"),
        ("max_concurrent_calls = 0", "max_concurrent_calls", "whole number of calls"),
        ("max_concurrent_calls = 2.5", "max_concurrent_calls", "whole number"),
        ("retries = 9", "retries", "from 0 to 3"),
        ("circuit_failures = true", "circuit_failures", "failures that open the circuit"),
        ("circuit_open_seconds = 0", "circuit_open_seconds", "from 0.1 to 3600"),
        ("connect_timeout_seconds = 1.6", "connect_timeout_seconds", "at most timeout_seconds"),
    ],
)
def test_resilience_and_cache_keys_out_of_range(
    tmp_path: Path, line: str, key: str, says: str
) -> None:
    file = write(
        tmp_path, edited(SQL_AGENCY, "timeout_seconds = 1.5", f"timeout_seconds = 1.5\n{line}")
    )
    error = only_problem(tmp_path, file, key)
    assert says in error.fix


def test_demographics_rank_without_demographics_items(tmp_path: Path) -> None:
    file = write(tmp_path, edited(HTTP_AGENCY, "[source]", "demographics_rank = 1\n\n[source]"))
    error = only_problem(tmp_path, file, "demographics_rank")
    assert "demographics" in error.fix


def test_missing_items(tmp_path: Path) -> None:
    file = write(tmp_path, HTTP_AGENCY.partition("[items]")[0])
    error = only_problem(tmp_path, file, "items")
    assert "[items]" in error.fix


# --------------------------------------------------------------------------- sql sources

SQL_URL = 'url = "sqlite+aiosqlite:///stores/test-council.sqlite"'


def test_sql_password_written_inline_is_refused(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        edited(SQL_AGENCY, SQL_URL, 'url = "postgresql+asyncpg://reader:Hunter2pw@db.example/rec"'),
    )
    error = only_problem(tmp_path, file, "source.url")
    assert "password written inline" in error.problem
    assert "url_env" in error.fix
    assert "Hunter2pw" not in str(error), "the refusal must not repeat the secret"


def test_sql_url_env_naming_an_unset_variable_loads_and_fails_on_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAME_TEST_UNSET_DSN", raising=False)
    file = write(tmp_path, edited(SQL_AGENCY, SQL_URL, 'url_env = "FAME_TEST_UNSET_DSN"'))
    (agency,) = load_agencies(tmp_path / "agencies", tmp_path)
    with pytest.raises(ConfigError) as caught:
        agency.source.resolve_url(agency.file)
    error = caught.value
    assert_names(error, file, "source.url_env")
    assert "FAME_TEST_UNSET_DSN" in error.problem and "not set" in error.problem
    assert "Set FAME_TEST_UNSET_DSN" in error.fix


def test_sql_url_env_holding_an_unusable_url_fails_on_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAME_TEST_SYNC_DSN", "postgresql://reader:pw@db.example/rec")
    file = write(tmp_path, edited(SQL_AGENCY, SQL_URL, 'url_env = "FAME_TEST_SYNC_DSN"'))
    (agency,) = load_agencies(tmp_path / "agencies", tmp_path)
    with pytest.raises(ConfigError) as caught:
        agency.source.resolve_url(agency.file)
    assert_names(caught.value, file, "source.url_env")
    assert "not asynchronous" in caught.value.problem
    assert "pw" not in str(caught.value)


def test_sql_url_and_url_env_both_set(tmp_path: Path) -> None:
    file = write(tmp_path, edited(SQL_AGENCY, SQL_URL, SQL_URL + '\nurl_env = "FAME_X_DSN"'))
    error = only_problem(tmp_path, file, "source.url")
    assert "both" in error.problem


@pytest.mark.parametrize(
    ("url", "wanted"),
    [
        ("sqlite:///stores/test-council.sqlite", "sqlite+aiosqlite"),
        ("postgresql://reader@db.example/records", "postgresql+asyncpg"),
        ("postgresql+psycopg2://reader@db.example/records", "postgresql+asyncpg"),
        ("mysql+pymysql://reader@db.example/records", "mysql+asyncmy"),
    ],
)
def test_sql_driver_that_is_not_asynchronous(tmp_path: Path, url: str, wanted: str) -> None:
    file = write(tmp_path, edited(SQL_AGENCY, SQL_URL, f'url = "{url}"'))
    error = only_problem(tmp_path, file, "source.url")
    assert "not asynchronous" in error.problem
    assert wanted in error.fix


def test_sql_database_the_connector_does_not_support(tmp_path: Path) -> None:
    file = write(tmp_path, edited(SQL_AGENCY, SQL_URL, 'url = "oracle+oracledb://r@db/x"'))
    error = only_problem(tmp_path, file, "source.url")
    assert "'oracle'" in error.problem
    assert "postgresql+asyncpg" in error.fix


@pytest.mark.parametrize("url", ["not a url", "db.example/records", ""])
def test_sql_url_that_is_not_a_url(tmp_path: Path, url: str) -> None:
    file = write(tmp_path, edited(SQL_AGENCY, SQL_URL, f'url = "{url}"'))
    error = only_problem(tmp_path, file, "source.url")
    assert "URL" in error.fix


def test_sql_unknown_source_key(tmp_path: Path) -> None:
    file = write(tmp_path, edited(SQL_AGENCY, SQL_URL, SQL_URL + '\npassword = "x"'))
    error = only_problem(tmp_path, file, "source.password")
    assert "url_env" in error.fix


def test_sql_item_mapped_to_a_table_without_a_section(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        edited(
            SQL_AGENCY, '"alerts.severity" = "warnings.level"', '"alerts.severity" = "risks.level"'
        ).replace('"alerts.raised_on" = "warnings.raised"', '"alerts.raised_on" = "risks.raised"'),
    )
    errors = problems(tmp_path)
    assert [e.key for e in errors] == ['items."alerts.severity"', 'items."alerts.raised_on"']
    for error in errors:
        assert_names(error, file, error.key)
        assert "'risks'" in error.problem
        assert "[tables.risks]" in error.fix


def test_sql_record_set_split_over_two_tables(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        edited(
            SQL_AGENCY,
            '"demographics.family_name" = "people.surname"',
            '"demographics.family_name" = "warnings.surname"',
        ),
    )
    error = only_problem(tmp_path, file, 'items."demographics.family_name"')
    assert "'demographics'" in error.problem
    assert "'warnings'" in error.problem and "'people'" in error.problem
    assert "same table" in error.fix


@pytest.mark.parametrize(
    "target", ["people", "people.fore name", "people.forename; DROP TABLE x", "a.b.c", "42"]
)
def test_sql_item_that_is_not_table_dot_column(tmp_path: Path, target: str) -> None:
    value = target if target == "42" else f'"{target}"'
    file = write(
        tmp_path,
        edited(
            SQL_AGENCY,
            '"demographics.given_name" = "people.forename"',
            f'"demographics.given_name" = {value}',
        ),
    )
    error = only_problem(tmp_path, file, 'items."demographics.given_name"')
    assert "table.column" in error.fix


def test_sql_table_with_a_bad_key(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        edited(
            SQL_AGENCY,
            'key = "person_ref"\n[tables.warnings]',
            'key = "person ref"\n[tables.warnings]',
        ),
    )
    error = only_problem(tmp_path, file, "tables.people.key")
    assert "person id" in error.fix


def test_sql_missing_tables(tmp_path: Path) -> None:
    text = (
        SQL_AGENCY.partition("[tables.people]")[0] + "[items]" + SQL_AGENCY.partition("[items]")[2]
    )
    file = write(tmp_path, text)
    error = only_problem(tmp_path, file, "tables")
    assert "[tables.<name>]" in error.fix


def test_sql_secret_keys_in_source_say_where_secrets_go(tmp_path: Path) -> None:
    file = write(tmp_path, edited(SQL_AGENCY, SQL_URL, SQL_URL + '\npassword = "Hunter2pw"'))
    error = only_problem(tmp_path, file, "source.password")
    assert "Secrets never go in agency files" in error.fix and "url_env" in error.fix
    assert "Hunter2pw" not in str(error)


def test_sql_items_are_checked_while_a_table_has_its_own_problem(tmp_path: Path) -> None:
    text = edited(SQL_AGENCY, 'order_by = "raised"', 'order_by = "raised at"')
    file = write(tmp_path, edited(text, '"people.surname"', '"risks.surname"'))
    errors = problems(tmp_path)
    assert [e.key for e in errors] == [
        "tables.warnings.order_by",
        'items."demographics.family_name"',
    ]
    for error in errors:
        assert_names(error, file, error.key)
    assert errors[0].problem == "is 'raised at'"
    assert "no [tables.risks] section" in errors[1].problem


def test_sql_table_name_that_is_not_plain(tmp_path: Path) -> None:
    file = write(tmp_path, edited(SQL_AGENCY, "[tables.warnings]", '[tables."warning list"]'))
    errors = problems(tmp_path)
    name = next(e for e in errors if e.key == "tables.warning list")
    assert_names(name, file, "tables.warning list")
    assert name.problem == "is not a usable name"
    assert "letters, digits and _" in name.fix


# --------------------------------------------------------------------------- http sources

BASE_URL = 'base_url = "https://api.trust.example"'


@pytest.mark.parametrize(
    "base_url", ["ftp://api.trust.example", "api.trust.example", "file:///etc/passwd", "https://"]
)
def test_http_base_url_that_is_not_http(tmp_path: Path, base_url: str) -> None:
    file = write(tmp_path, edited(HTTP_AGENCY, BASE_URL, f'base_url = "{base_url}"'))
    error = only_problem(tmp_path, file, "source.base_url")
    assert "not an http(s) URL" in error.problem
    assert "https://" in error.fix


def test_http_credentials_in_base_url(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        edited(HTTP_AGENCY, BASE_URL, 'base_url = "https://gw:Hunter2pw@api.trust.example"'),
    )
    error = only_problem(tmp_path, file, "source.base_url")
    assert "credentials" in error.problem
    assert "token_env" in error.fix
    assert "Hunter2pw" not in str(error), "the refusal must not repeat the secret"


@pytest.mark.parametrize("key", ["token", "api_key", "password", "secret"])
def test_http_secret_keys_are_refused(tmp_path: Path, key: str) -> None:
    file = write(tmp_path, edited(HTTP_AGENCY, BASE_URL, f'{BASE_URL}\n{key} = "Hunter2pw"'))
    error = only_problem(tmp_path, file, f"source.{key}")
    assert "token_env" in error.fix
    assert "Hunter2pw" not in str(error)


async def test_http_token_env_naming_an_unset_variable_fails_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAME_TEST_UNSET_TOKEN", raising=False)
    file = write(
        tmp_path, edited(HTTP_AGENCY, BASE_URL, f'{BASE_URL}\ntoken_env = "FAME_TEST_UNSET_TOKEN"')
    )
    (agency,) = load_agencies(tmp_path / "agencies", tmp_path)
    connector = create_connector(agency)
    with pytest.raises(ConfigError) as caught:
        await connector.open()
    await connector.close()
    assert_names(caught.value, file, "source.token_env")
    assert "FAME_TEST_UNSET_TOKEN" in caught.value.problem


def test_http_token_env_must_name_a_variable(tmp_path: Path) -> None:
    file = write(tmp_path, edited(HTTP_AGENCY, BASE_URL, f'{BASE_URL}\ntoken_env = "Bearer abc"'))
    error = only_problem(tmp_path, file, "source.token_env")
    assert error.problem == "is 'Bearer abc'"
    assert "variable's name" in error.fix


def test_http_many_row_item_without_a_list(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        edited(
            HTTP_AGENCY, '"alerts.severity" = "flags[].level"', '"alerts.severity" = "flags.level"'
        ),
    )
    error = only_problem(tmp_path, file, 'items."alerts.severity"')
    assert "many rows" in error.problem
    assert "[]" in error.fix


def test_http_one_row_item_pointing_into_a_list(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        edited(
            HTTP_AGENCY,
            '"involvement.worker" = "care_team.lead"',
            '"involvement.worker" = "teams[].lead"',
        ),
    )
    error = only_problem(tmp_path, file, 'items."involvement.worker"')
    assert "one row" in error.problem


def test_http_record_set_split_over_two_lists(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        edited(
            HTTP_AGENCY,
            '"alerts.raised_on" = "flags[].date"',
            '"alerts.raised_on" = "risks[].date"',
        ),
    )
    error = only_problem(tmp_path, file, 'items."alerts.raised_on"')
    assert "'risks'" in error.problem and "'flags'" in error.problem


@pytest.mark.parametrize("target", ["flags[]", "flags[].a[].b", "care team.lead", ""])
def test_http_item_that_is_not_a_json_path(tmp_path: Path, target: str) -> None:
    file = write(
        tmp_path,
        edited(
            HTTP_AGENCY, '"alerts.severity" = "flags[].level"', f'"alerts.severity" = "{target}"'
        ),
    )
    error = only_problem(tmp_path, file, 'items."alerts.severity"')
    assert "not a JSON path" in error.problem


def test_http_path_without_a_slash(tmp_path: Path) -> None:
    file = write(tmp_path, edited(HTTP_AGENCY, 'path = "/v2/people"', 'path = "v2/people"'))
    error = only_problem(tmp_path, file, "source.path")
    assert '"/v2/people"' in error.fix


def test_http_size_cap_too_small(tmp_path: Path) -> None:
    file = write(tmp_path, edited(HTTP_AGENCY, BASE_URL, f"{BASE_URL}\nmax_response_bytes = 10"))
    only_problem(tmp_path, file, "source.max_response_bytes")


def test_http_agency_with_tables(tmp_path: Path) -> None:
    file = write(tmp_path, HTTP_AGENCY + '\n[tables.people]\nkey = "id"\n')
    error = only_problem(tmp_path, file, "tables")
    assert "sql" in error.problem


# --------------------------------------------------------------------------- every source


@pytest.mark.parametrize(
    ("text", "old", "new", "key", "says"),
    [
        (HTTP_AGENCY, 'path = "/v2/people"', "path = 2", "source.path", "is 2, not text"),
        (HTTP_AGENCY, BASE_URL, "base_url = []", "source.base_url", "is a list, not text"),
        (
            HTTP_AGENCY,
            BASE_URL,
            f'{BASE_URL}\nmax_response_bytes = "1MB"',
            "source.max_response_bytes",
            "is '1MB', not a whole number",
        ),
        (
            HTTP_AGENCY,
            '"care_team.lead"',
            "{ path = 'care_team.lead' }",
            'items."involvement.worker"',
            "is a table, not text",
        ),
        (
            SQL_AGENCY,
            'key = "person_ref"\n[tables.warnings]',
            "key = true\n[tables.warnings]",
            "tables.people.key",
            "is true, not text",
        ),
        (SQL_AGENCY, SQL_URL, "url = 5", "source.url", "is 5, not text"),
    ],
)
def test_a_value_of_the_wrong_type_says_what_was_found_and_what_belongs(
    tmp_path: Path, text: str, old: str, new: str, key: str, says: str
) -> None:
    file = write(tmp_path, edited(text, old, new))
    error = only_problem(tmp_path, file, key)
    assert error.problem == says


@pytest.mark.parametrize(
    ("text", "old", "new", "key", "meant"),
    [
        (HTTP_AGENCY, BASE_URL, f'{BASE_URL}\nids_parm = "id"', "source.ids_parm", "ids_param"),
        (SQL_AGENCY, SQL_URL, 'url_evn = "FAME_X_DSN"', "source.url_evn", "url_env"),
        (
            SQL_AGENCY,
            'order_by = "raised"',
            'orderby = "raised"',
            "tables.warnings.orderby",
            "order_by",
        ),
        (
            SQL_AGENCY,
            "timeout_seconds = 1.5",
            "timeout_second = 1.5",
            "timeout_second",
            "timeout_seconds",
        ),
    ],
)
def test_a_misspelt_key_is_told_the_key_meant(
    tmp_path: Path, text: str, old: str, new: str, key: str, meant: str
) -> None:
    file = write(tmp_path, edited(text, old, new))
    errors = problems(tmp_path)
    error = next(e for e in errors if e.key == key)
    assert_names(error, file, key)
    assert error.fix.startswith(f"Did you mean {meant}? Otherwise remove it; the keys are: ")


# --------------------------------------------------------------------------- files


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    file = write(tmp_path, SQL_AGENCY + '"alerts.summary" = "warnings.text\n')
    error = only_problem(tmp_path, file, "(file)")
    assert "not valid TOML" in error.problem
    assert "line" in error.problem


def test_empty_agencies_directory(tmp_path: Path) -> None:
    (tmp_path / "agencies").mkdir()
    (tmp_path / "agencies" / "README.txt").write_text("not an agency file")
    (error,) = problems(tmp_path)
    assert_names(error, tmp_path / "agencies", "(directory)")
    assert "no agency files" in error.problem
    assert "<agency-id>.toml" in error.fix


def test_missing_agencies_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as caught:
        load_agencies(tmp_path / "nowhere", tmp_path)
    (error,) = caught.value.errors
    assert_names(error, tmp_path / "nowhere", "(directory)")
    assert "does not exist" in error.problem


def test_file_name_that_is_not_an_agency_id(tmp_path: Path) -> None:
    file = write(tmp_path, SQL_AGENCY, "Test_Council")
    error = only_problem(tmp_path, file, "(file name)")
    assert "'Test_Council'" in error.problem


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    broken_sql = (
        edited(
            edited(SQL_AGENCY, 'kind = "sql"', 'kind = "sql"\ncolour = "blue"'),
            SQL_URL,
            'url = "sqlite:///x.sqlite"',
        )
        + '"alerts.colour" = "warnings.colour"\n'
    )
    first = write(tmp_path, broken_sql, "first-agency")
    second = write(tmp_path, edited(HTTP_AGENCY, BASE_URL, 'base_url = "ftp://x"'), "second-agency")
    write(tmp_path, HTTP_AGENCY, "third-agency")

    errors = problems(tmp_path)

    found = {(Path(e.file).name, e.key) for e in errors}
    assert found == {
        (first.name, "colour"),
        (first.name, 'items."alerts.colour"'),
        (first.name, "source.url"),
        (second.name, "source.base_url"),
    }
    with pytest.raises(ConfigErrors) as caught:
        load_agencies(tmp_path / "agencies", tmp_path)
    summary = str(caught.value)
    assert "4 problem(s)" in summary
    assert str(first) in summary and str(second) in summary
