"""gateway.toml: every problem is refused with the file, the key and what to write instead.

Each test starts from a copy of the shipped configuration (settings, agency files and
everything they refer to) and breaks one thing in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fame_demo.stores import write_sql_stores
from fame_demo.synthetic import ADULT_SOCIAL_CARE, Population
from gateway.config.settings import Limits, load_settings
from gateway.core.errors import ConfigError, ConfigErrors
from tests.support import REPO

SHIPPED = REPO / "config"
LISTEN = 'listen = { host = "127.0.0.1", port = 8000 }'
FIRST_ISSUER = 'agency = "riverside-gp"'
FIRST_JWKS = 'jwks_file = "../.demo/keys/riverside-gp.jwks.json"'
ALGORITHMS = 'algorithms = ["RS256"]'
MODE = 'mode = "demo"'
STATE = 'state_database = "sqlite+aiosqlite:///../.demo/gateway-state.sqlite"'


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the shipped configuration directory; returns its gateway.toml."""
    copy = tmp_path / "config"
    shutil.copytree(SHIPPED, copy)
    return copy / "gateway.toml"


def edit(file: Path, old: str, new: str, *, count: int = 1) -> None:
    """Replace the first ``count`` occurrences of ``old`` (which must be there) in ``file``."""
    text = file.read_text()
    assert text.count(old) >= count, old
    file.write_text(text.replace(old, new, count))


def problems(file: Path) -> list[ConfigError]:
    """The errors loading ``file`` raises (it must raise)."""
    with pytest.raises(ConfigErrors) as caught:
        load_settings(file)
    return caught.value.errors


def only_problem(file: Path, key: str) -> ConfigError:
    """The single error loading raises, checked to name the file, the key and a fix."""
    errors = problems(file)
    assert [e.key for e in errors] == [key], [str(e) for e in errors]
    (error,) = errors
    assert error.file == str(file.resolve())
    assert error.problem and error.fix
    assert str(error).startswith(f"{file.resolve()}: {key}: ")
    return error


# --------------------------------------------------------------------------- valid files


def test_the_shipped_configuration_loads_cleanly() -> None:
    settings = load_settings(SHIPPED / "gateway.toml")

    shipped = sorted(file.stem for file in (SHIPPED / "agencies").glob("*.toml"))
    assert len(shipped) >= 2
    assert sorted(a.id for a in settings.agencies) == shipped
    assert sorted(i.agency for i in settings.issuers) == shipped
    assert len({i.issuer for i in settings.issuers}) == len(shipped)
    assert settings.config_dir == SHIPPED.resolve()
    assert settings.mode == "demo" and settings.demo
    for issuer in settings.issuers:
        assert issuer.algorithms == ("RS256",)
        assert issuer.jwks_file is not None and issuer.jwks_file.is_absolute()


def test_settings_are_read_as_written(config: Path) -> None:
    edit(config, LISTEN, 'listen = { host = "0.0.0.0", port = 8080 }')
    edit(config, 'mode = "demo"', 'mode = "production"')
    edit(config, "max_depth = 10", "max_depth = 7")
    edit(config, "deadline_seconds = 5.0", "deadline_seconds = 3")
    settings = load_settings(config)

    directory = config.parent.resolve()
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.mode == "production" and not settings.demo
    assert settings.limits.max_depth == 7
    assert settings.limits.max_body_bytes == 65536
    assert settings.limits == Limits(
        max_body_bytes=65536,
        max_depth=7,
        max_aliases=30,
        max_fields=400,
        max_batch=500,
        deadline_seconds=3.0,
        cache_max_entries=10_000,
    )
    # Relative paths are resolved against the settings file's directory.
    state = (directory / ".." / ".demo" / "gateway-state.sqlite").resolve()
    assert settings.state_database == f"sqlite+aiosqlite:///{state}"
    first = settings.issuers[0]
    assert first.agency == "riverside-gp"
    assert (
        first.jwks_file
        == (directory / ".." / ".demo" / "keys" / "riverside-gp.jwks.json").resolve()
    )


def test_jwks_url_is_accepted_instead_of_a_file(config: Path) -> None:
    edit(config, FIRST_JWKS, 'jwks_url = "https://login.riverside-gp.example/jwks"')
    first = load_settings(config).issuers[0]
    assert first.jwks_url == "https://login.riverside-gp.example/jwks"
    assert first.jwks_file is None


# --------------------------------------------------------------------------- issuers


def test_issuer_for_an_unknown_agency(config: Path) -> None:
    edit(config, FIRST_ISSUER, 'agency = "riverside-gq"')
    error = only_problem(config, "issuers[0].agency")
    assert "'riverside-gq'" in error.problem and "not a registered agency" in error.problem
    assert "oakfield-gp" in error.fix and "shire-housing" in error.fix


@pytest.mark.parametrize("algorithms", ['["HS256"]', '["RS256", "HS512"]', '["none"]', "[]"])
def test_symmetric_or_unknown_algorithms_are_refused(config: Path, algorithms: str) -> None:
    edit(config, ALGORITHMS, f"algorithms = {algorithms}")
    error = only_problem(config, "issuers[0].algorithms")
    assert "asymmetric" in error.fix
    assert "RS256" in error.fix and "HS256" not in error.fix


def test_both_jwks_file_and_jwks_url(config: Path) -> None:
    edit(config, FIRST_JWKS, FIRST_JWKS + '\njwks_url = "https://login.example/jwks"')
    error = only_problem(config, "issuers[0].jwks_file")
    assert "both" in error.problem
    assert "exactly one" in error.fix


def test_neither_jwks_file_nor_jwks_url(config: Path) -> None:
    edit(config, FIRST_JWKS + "\n", "")
    error = only_problem(config, "issuers[0].jwks_file")
    assert "no key source" in error.problem
    assert "jwks_url" in error.fix


def test_jwks_url_that_is_not_a_url(config: Path) -> None:
    edit(config, FIRST_JWKS, 'jwks_url = "login.example/jwks"')
    error = only_problem(config, "issuers[0].jwks_url")
    assert "https://" in error.fix


def test_unknown_issuer_setting(config: Path) -> None:
    edit(config, FIRST_JWKS, FIRST_JWKS + '\nclient_secret = "Hunter2pw"')
    error = only_problem(config, "issuers[0].client_secret")
    assert "Remove it" in error.fix
    assert "Hunter2pw" not in str(error)


def test_missing_issuers(config: Path) -> None:
    config.write_text(config.read_text().partition("[[issuers]]")[0])
    error = only_problem(config, "issuers")
    assert "[[issuers]]" in error.fix


def test_one_issuer_for_two_agencies(config: Path) -> None:
    edit(
        config,
        'issuer = "https://login.oakfield-gp.demo.invalid"',
        'issuer = "https://login.riverside-gp.demo.invalid"',
    )
    error = only_problem(config, "issuers")
    assert "'riverside-gp'" in error.problem and "'oakfield-gp'" in error.problem
    assert "own issuer" in error.fix


# --------------------------------------------------------------------------- other settings


@pytest.mark.parametrize("port", ["0", "70000", "-1", '"8080"', "true"])
def test_bad_port(config: Path, port: str) -> None:
    edit(config, LISTEN, f'listen = {{ host = "127.0.0.1", port = {port} }}')
    error = only_problem(config, "listen.port")
    assert "1 to 65535" in error.fix


def test_unknown_limit(config: Path) -> None:
    edit(config, "max_batch = 500", "max_cost = 500")
    error = only_problem(config, "limits.max_cost")
    assert "is not a limit" in error.problem
    assert "max_depth" in error.fix and "max_batch" in error.fix


@pytest.mark.parametrize("value", ["0", "-5", '"10"', "true", "2.5"])
def test_limit_that_is_not_a_positive_whole_number(config: Path, value: str) -> None:
    edit(config, "max_depth = 10", f"max_depth = {value}")
    error = only_problem(config, "limits.max_depth")
    assert "whole number" in error.fix


@pytest.mark.parametrize("value", ["0", "600", '"soon"', "true"])
def test_deadline_out_of_range(config: Path, value: str) -> None:
    edit(config, "deadline_seconds = 5.0", f"deadline_seconds = {value}")
    error = only_problem(config, "limits.deadline_seconds")
    assert "0.1 to 120" in error.fix


def test_unknown_setting(config: Path) -> None:
    config.write_text('colour = "blue"\n' + config.read_text())
    error = only_problem(config, "colour")
    assert "is not a gateway setting" in error.problem
    assert "Remove it" in error.fix and "state_database" in error.fix


def test_mode_and_purpose(config: Path) -> None:
    edit(config, 'mode = "demo"', 'mode = "testing"')
    edit(config, 'default_purpose = "direct_care"', 'default_purpose = "curiosity"')
    errors = problems(config)
    assert [e.key for e in errors] == ["mode", "default_purpose"]
    assert "'testing'" in errors[0].problem and "production" in errors[0].fix
    assert "'curiosity'" in errors[1].problem and "direct_care" in errors[1].fix


def test_state_database_password_written_inline(config: Path) -> None:
    edit(config, STATE, 'state_database = "postgresql+asyncpg://gw:Hunter2pw@db.example/fame"')
    error = only_problem(config, "state_database")
    assert "password written inline" in error.problem
    assert "state_database_env" in error.fix
    assert "Hunter2pw" not in str(error)


def test_state_database_env_naming_an_unset_variable(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAME_TEST_UNSET_STATE", raising=False)
    edit(config, STATE, 'state_database_env = "FAME_TEST_UNSET_STATE"')
    error = only_problem(config, "state_database_env")
    assert "FAME_TEST_UNSET_STATE" in error.problem and "FAME_TEST_UNSET_STATE" in error.fix


def test_toml_syntax_error_names_the_file(config: Path) -> None:
    config.write_text(config.read_text() + "\n[limits\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.file == str(config.resolve())
    assert caught.value.key == "(file)"
    assert "not valid TOML" in caught.value.problem and "line" in caught.value.problem


def test_settings_and_agency_problems_are_reported_together(config: Path) -> None:
    edit(config, LISTEN, 'listen = { host = "127.0.0.1", port = 0 }')
    agency_file = config.parent / "agencies" / "shire-housing.toml"
    edit(agency_file, 'kind = "sql"', 'kind = "ftp"')
    errors = problems(config)
    assert {(e.file, e.key) for e in errors} == {
        (str(config.resolve()), "listen.port"),
        (str(agency_file.resolve()), "kind"),
    }


def test_empty_agencies_directory(config: Path) -> None:
    for file in (config.parent / "agencies").glob("*.toml"):
        file.unlink()
    errors = problems(config)
    assert [e.key for e in errors] == ["(directory)"]
    assert errors[0].file == str(config.parent.resolve() / "agencies")
    assert "no agency files" in errors[0].problem


def test_missing_agencies_directory(config: Path) -> None:
    edit(config, 'agencies_dir = "agencies"', 'agencies_dir = "registrations"')
    errors = problems(config)
    assert [e.key for e in errors] == ["(directory)"]
    assert errors[0].file == str(config.parent.resolve() / "registrations")
    assert "does not exist" in errors[0].problem


@pytest.mark.parametrize(
    ("old", "new", "key", "problem", "fix"),
    [
        ("graphiql = true", 'graphiql = "yes"', "graphiql", "'yes'", "true or false"),
        (LISTEN, 'listen = { host = "", port = 8000 }', "listen.host", "empty", "address"),
        (LISTEN, 'listen = { host = "::1", ipv6 = true }', "listen.ipv6", "not a listen", "port"),
        (LISTEN, 'listen = "127.0.0.1:8000"', "listen", "'127.0.0.1:8000'", "port = 8000"),
        (MODE, 'withheld_detail = "loud"\n' + MODE, "withheld_detail", "'loud'", '"quiet"'),
        (MODE, 'metrics_token_env = "A B"\n' + MODE, "metrics_token_env", "'A B'", "variable"),
        (MODE, "state_database_env = 5\n" + MODE, "state_database_env", "5", "variable"),
        (MODE, 'protocol_file = ["p.toml"]\n' + MODE, "protocol_file", "a list", "path"),
        (
            'audit_signing_key_file = "../.demo/keys/gateway-audit.pem"',
            "audit_signing_key_file = 7",
            "audit_signing_key_file",
            "7",
            "Ed25519",
        ),
        (
            "[http]",
            '[tracing]\nexporter = "jaeger"\n[http]',
            "tracing.exporter",
            "'jaeger'",
            "otlp",
        ),
        (
            "[http]",
            '[tracing]\nendpoint = "x:4318"\n[http]',
            "tracing.endpoint",
            "'x:4318'",
            "http://",
        ),
        ("[http]", "[tracing]\nsample_ratio = 2\n[http]", "tracing.sample_ratio", "2", "0 to 1"),
        (
            "[http]",
            "[tracing]\nratio = 0.5\n[http]",
            "tracing.ratio",
            "not a tracing",
            "sample_ratio",
        ),
        ("[http]", '[logging]\nlevel = "loud"\n[http]', "logging.level", "'loud'", "warning"),
        ("[http]", '[logging]\nformat = "xml"\n[http]', "logging.format", "'xml'", "json"),
        (MODE, "logging = 3\n" + MODE, "logging", "3", "[logging] table"),
        (MODE, "tracing = []\n" + MODE, "tracing", "a list", "[tracing] table"),
        (
            "[limits]",
            "[limits]\nintrospection = true",
            "limits.introspection",
            "not a limit",
            "top",
        ),
        ("max_depth = 10", "max_dept = 10", "limits.max_dept", "not a limit", "mean max_depth?"),
    ],
)
def test_each_setting_names_its_problem_and_fix(
    config: Path, old: str, new: str, key: str, problem: str, fix: str
) -> None:
    edit(config, old, new)
    error = only_problem(config, key)
    assert problem in error.problem, error
    assert fix in error.fix, error


def test_an_empty_issuers_list(config: Path) -> None:
    config.write_text("issuers = []\n" + config.read_text().partition("[[issuers]]")[0])
    error = only_problem(config, "issuers")
    assert "empty" in error.problem and "[[issuers]]" in error.fix


def test_tracing_and_logging_are_read_as_written(config: Path) -> None:
    config.write_text(
        config.read_text()
        + '[tracing]\nexporter = "otlp"\nendpoint = "http://127.0.0.1:4318/v1/traces"\n'
        + "sample_ratio = 1\n"
        + '[logging]\nformat = "text"\nlevel = "debug"\n'
    )
    settings = load_settings(config)
    assert settings.tracing.enabled and settings.tracing.exporter == "otlp"
    assert settings.tracing.endpoint == "http://127.0.0.1:4318/v1/traces"
    assert settings.tracing.sample_ratio == 1.0 and isinstance(settings.tracing.sample_ratio, float)
    assert settings.tracing.service_name == "fame-gateway"
    assert (settings.logging.format, settings.logging.level) == ("text", "debug")


def test_every_problem_of_the_file_is_reported_at_once(config: Path) -> None:
    # Problems in tables, top-level keys and issuers alike, and one in an agency file;
    # keys read after a problem (the signing key, the scrape token) are reported too.
    edit(config, LISTEN, 'listen = { host = "127.0.0.1", port = 0 }')
    edit(config, "audit_signing_key_file = ", "audit_signing_key_file = 1 #")
    edit(config, MODE, 'metrics_token_env = ""\n' + MODE)
    edit(config, FIRST_ISSUER, 'agency = "riverside-gq"')
    edit(config, ALGORITHMS, 'algorithms = ["HS256"]', count=2)
    errors = problems(config)
    assert [e.key for e in errors] == [
        "listen.port",
        "audit_signing_key_file",
        "metrics_token_env",
        "issuers[0].agency",
        "issuers[0].algorithms",
        "issuers[1].algorithms",
    ]
    assert all(e.file == str(config.resolve()) for e in errors)


def test_issuers_are_not_blamed_for_a_broken_agency_file(config: Path) -> None:
    # The agency a broken file registers cannot be known; its file's problem is the one.
    agency_file = config.parent / "agencies" / "shire-housing.toml"
    edit(agency_file, 'kind = "sql"', 'kind = "ftp"')
    edit(config, FIRST_ISSUER, 'agency = "riverside-gq"')
    errors = problems(config)
    assert [(e.file, e.key) for e in errors] == [(str(agency_file.resolve()), "kind")]


# --------------------------------------------------------------------------- the command


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``fame-gateway --config <config> <args>`` in a child process."""
    env = {k: v for k, v in os.environ.items() if k != "FAME_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--config", str(config), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_command_refuses_a_broken_agency_file(config: Path) -> None:
    agency_file = config.parent / "agencies" / f"{ADULT_SOCIAL_CARE}.toml"
    edit(agency_file, '"social_care_cases.status" =', '"social_care_cases.state" =')

    finished = run_cli(config, "check")

    # Each agency file is reported on its own, the broken one failing with its problems.
    assert finished.returncode == 1, finished.stderr
    assert f"FAIL {ADULT_SOCIAL_CARE} (?): {agency_file.resolve()}" in finished.stdout
    assert str(agency_file.resolve()) in finished.stdout
    assert 'items."social_care_cases.state"' in finished.stdout
    assert "fame-gateway items" in finished.stdout
    last = finished.stdout.splitlines()[-1]
    assert "agency file(s) fail:" in last and ADULT_SOCIAL_CARE in last


def test_check_command_passes_on_a_reachable_agency(config: Path, population: Population) -> None:
    # The shipped file names ../.demo/<agency>.sqlite, relative to the config directory.
    write_sql_stores(population, config.parent.parent / ".demo")

    finished = run_cli(config, "check", ADULT_SOCIAL_CARE)

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert finished.stdout.startswith(f"ok   {ADULT_SOCIAL_CARE} (sql)")


def test_check_command_reports_a_mapping_the_database_lacks(
    config: Path, population: Population
) -> None:
    write_sql_stores(population, config.parent.parent / ".demo")
    agency_file = config.parent / "agencies" / f"{ADULT_SOCIAL_CARE}.toml"
    edit(agency_file, '"clients.case_status"', '"clients.case_state"')

    finished = run_cli(config, "check", ADULT_SOCIAL_CARE)

    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert finished.stdout.startswith(f"FAIL {ADULT_SOCIAL_CARE} (sql)")
    assert str(agency_file.resolve()) in finished.stdout
    assert 'items."social_care_cases.status"' in finished.stdout


# --------------------------------------------------------------------------- HTTP edge


def test_cors_origins_and_documents_are_read_as_written(config: Path) -> None:
    edit(
        config,
        "cors_origins = []",
        'cors_origins = ["https://care.example.org", "http://localhost:5173"]',
    )
    edit(config, "trusted_only = false", "trusted_only = true")
    http = load_settings(config).http
    assert http.cors_origins == ("https://care.example.org", "http://localhost:5173")
    assert http.trusted_only is True
    assert http.documents_manifest == (config.parent / "trusted-documents.json").resolve()


@pytest.mark.parametrize(
    "origin",
    ['"*"', '"https://care.example.org/"', '"care.example.org"', '"https://*.example.org"', "5"],
)
def test_a_cors_origin_that_no_browser_sends_is_refused(config: Path, origin: str) -> None:
    edit(config, "cors_origins = []", f"cors_origins = [{origin}]")
    error = only_problem(config, "http.cors_origins")
    assert "exactly as browsers send them" in error.fix


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("trusted_only = false", 'trusted_only = "yes"', "documents.trusted_only"),
        ('manifest = "trusted-documents.json"', "manifest = 3", "documents.manifest"),
        ("trusted_only = false", "trusted = true", "documents.trusted"),
        ("cors_origins = []", "origins = []", "http.origins"),
    ],
)
def test_documents_and_http_settings_are_checked(
    config: Path, old: str, new: str, key: str
) -> None:
    edit(config, old, new)
    only_problem(config, key)
