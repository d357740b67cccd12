"""``fame-gateway agency check FILE``: one agency file against its live source.

The file is read alone, so that its source can be tested before the sharing protocol
lists its items; the connector's own ``check`` then tests the connection, every table,
column or endpoint and the kinds of the values; last, the items the protocol does not
yet list are reported separately, with a clause to propose. Every failure is one line
naming the key, then its fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import SourceCheck
from connectors.registry import create_connector
from gateway.config.agencies import load_agency_file, parse_agency
from gateway.config.catalogue import load_configured_catalogue
from gateway.config.protocol import SharingProtocol, load_protocol
from gateway.config.protocol_clause import proposed_clauses
from gateway.core.catalogue import STANDARD, Catalogue
from gateway.core.errors import ConfigError, ConfigErrors, Problems, read_toml
from gateway.core.registration import AgencyConfig
from gateway.core.services import AgencyServices


@dataclass(frozen=True)
class CheckLine:
    """One thing checked: passed or failed, said in one line."""

    ok: bool
    text: str


@dataclass(frozen=True)
class AgencyReport:
    """Everything ``agency check`` found about one agency file."""

    file: Path
    agency: str
    kind: str
    lines: tuple[CheckLine, ...]
    problems: tuple[ConfigError, ...] = ()
    unlisted: tuple[str, ...] = ()
    clause: str = ""
    protocol_file: Path | None = None

    @property
    def ok(self) -> bool:
        """Whether every check passed, the protocol's cover included."""
        return not self.problems and not self.unlisted and all(line.ok for line in self.lines)

    def as_json(self) -> dict[str, Any]:
        """The report as plain data (``--json``)."""
        return {
            "file": str(self.file),
            "agency": self.agency,
            "kind": self.kind,
            "ok": self.ok,
            "checks": [{"ok": line.ok, "check": line.text} for line in self.lines],
            "problems": [{"key": p.key, "problem": p.problem, "fix": p.fix} for p in self.problems],
            "unlisted_items": list(self.unlisted),
            "clause": self.clause,
        }


@dataclass(frozen=True)
class _Settings:
    """What ``agency check`` needs of the gateway settings, read without validating the
    agencies (the one being checked may not be covered by the protocol yet)."""

    config_dir: Path
    agencies_dir: Path
    protocol_file: Path | None
    problems: list[ConfigError] = field(default_factory=list)
    #: The standard catalogue plus the deployment's ``[catalogue] files``, which the
    #: protocol and the other agencies may name.
    catalogue: Catalogue = STANDARD


def _settings(settings_file: Path | None, file: Path) -> _Settings:
    if settings_file is None or not settings_file.exists():
        # Without settings: the layout of config/ (agencies/ beside the protocol).
        config_dir = file.resolve().parent.parent
        protocol = config_dir / "sharing-protocol.toml"
        return _Settings(config_dir, file.resolve().parent, protocol if protocol.exists() else None)
    settings_file = settings_file.resolve()
    config_dir = settings_file.parent
    try:
        doc = read_toml(settings_file)
    except ConfigError as exc:
        return _Settings(config_dir, config_dir / "agencies", None, [exc])
    agencies_dir = doc.get("agencies_dir", "agencies")
    protocol_file = doc.get("protocol_file", "sharing-protocol.toml")
    problems = Problems(settings_file)
    try:
        catalogue = load_configured_catalogue(doc.get("catalogue"), config_dir, problems)
    except ConfigErrors as exc:
        problems.errors.extend(exc.errors)
        catalogue = None
    return _Settings(
        config_dir,
        config_dir / (agencies_dir if isinstance(agencies_dir, str) else "agencies"),
        config_dir / protocol_file if isinstance(protocol_file, str) else None,
        list(problems.errors),
        catalogue or STANDARD,
    )


def _protocol(
    settings: _Settings, agency: AgencyConfig
) -> tuple[SharingProtocol | None, list[ConfigError]]:
    """The protocol in force, read as if this agency were registered beside the others."""
    if settings.protocol_file is None:
        return None, []
    services: dict[str, AgencyServices] = {}
    ids = {agency.id}
    for other in sorted(settings.agencies_dir.glob("*.toml")):
        ids.add(other.stem)
        if other.stem == agency.id:
            continue
        try:
            parsed = parse_agency(
                other,
                read_toml(other),
                settings.config_dir,
                Problems(other),
                catalogue=settings.catalogue,
            )
        except ConfigError:
            continue
        if parsed is not None:
            services[parsed.id] = parsed.services
    services[agency.id] = agency.services
    try:
        return (
            load_protocol(settings.protocol_file, ids, services, catalogue=settings.catalogue),
            [],
        )
    except ConfigErrors as exc:
        return None, exc.errors
    except ConfigError as exc:
        return None, [exc]


async def check_agency_file(file: Path, settings_file: Path | None) -> AgencyReport:
    """Check one agency file: the file, then the live source, then the protocol's cover."""
    settings = _settings(settings_file, file)
    agency, errors = load_agency_file(file, settings.config_dir, catalogue=settings.catalogue)
    errors = settings.problems + errors
    if agency is None or errors:
        return AgencyReport(
            file=file,
            agency=file.stem,
            kind="?",
            lines=(CheckLine(False, f"the file has {len(errors)} problem(s)"),),
            problems=tuple(errors),
        )
    protocol, protocol_errors = _protocol(settings, agency)
    return await check_agency(agency, protocol, protocol_errors, settings.protocol_file)


async def check_agency(
    agency: AgencyConfig,
    protocol: SharingProtocol | None,
    protocol_errors: list[ConfigError] | None = None,
    protocol_file: Path | None = None,
) -> AgencyReport:
    """Check a parsed agency against its live source and the protocol."""
    lines = [CheckLine(True, f"the file reads: {len(agency.items)} items, kind {agency.kind}")]
    source = await _source_check(agency)
    problems: list[ConfigError] = []
    lines.extend(CheckLine(True, text) for text in source.passed)
    if source.cause is not None:
        lines.append(CheckLine(False, f"{source.cause.key}: {source.cause.problem}"))
        problems.append(source.cause)
    elif not source.reachable or (not source.ok and not source.problems):
        lines.append(CheckLine(False, source.detail))
    for problem in source.problems:
        lines.append(CheckLine(False, f"{problem.key}: {problem.problem}"))
        problems.append(problem)
    unlisted: tuple[str, ...] = ()
    clause = ""
    for error in protocol_errors or []:
        lines.append(CheckLine(False, f"the protocol cannot be read: {error}"))
        problems.append(error)
    if protocol is not None:
        unlisted = tuple(sorted(i for i in agency.items if not protocol.covers(agency.id, i)))
        if unlisted:
            lines.append(
                CheckLine(
                    False,
                    f"the sharing protocol does not list {len(unlisted)} of the "
                    f"{len(agency.items)} mapped items (never shared until it does)",
                )
            )
            clause = proposed_clauses(agency, unlisted, protocol)
        else:
            lines.append(CheckLine(True, "the sharing protocol lists every mapped item"))
    elif not protocol_errors:
        lines.append(CheckLine(True, "no sharing protocol given: its cover is not checked"))
    return AgencyReport(
        file=agency.file,
        agency=agency.id,
        kind=agency.kind,
        lines=tuple(lines),
        problems=tuple(problems),
        unlisted=unlisted,
        clause=clause,
        protocol_file=protocol_file,
    )


async def _source_check(agency: AgencyConfig) -> SourceCheck:
    connector = create_connector(agency)
    try:
        await connector.open()
    except ConfigError as exc:
        return SourceCheck(agency.id, ok=False, reachable=False, detail=exc.problem, cause=exc)
    try:
        return await connector.check()
    finally:
        await connector.close()


def render(report: AgencyReport) -> str:
    """The report for a person: one line per check, then the fixes, then the clause."""
    out = [f"{'ok  ' if report.ok else 'FAIL'} {report.agency} ({report.kind}): {report.file}"]
    out.extend(f"  {'ok  ' if line.ok else 'FAIL'}  {line.text}" for line in report.lines)
    if report.problems:
        out.append("  to fix:")
        out.extend(f"    - {p.file}: {p.key}: {p.fix}" for p in _unique(report.problems))
    if report.unlisted:
        where = report.protocol_file.name if report.protocol_file else "the sharing protocol"
        out.append(
            f"  not in the sharing protocol: {', '.join(report.unlisted)}\n"
            f"  propose this to the agencies, add it to {where} once signed, then run "
            "`fame-gateway protocol render`:"
        )
        out.extend(f"    {line}" if line else "" for line in report.clause.splitlines())
    if report.ok:
        out.append(
            "  all checks pass. Next: an [[issuers]] entry in gateway.toml for its practitioners' "
            "identity provider (demo mode: then `fame-gateway demo-keys`), its people linked "
            f"with `fame-gateway index import FILE --agency {report.agency}`, and "
            "`fame-gateway reload` (or restart) the gateway."
        )
    return "\n".join(out) + "\n"


def _unique(problems: tuple[ConfigError, ...]) -> list[ConfigError]:
    seen: dict[tuple[str, str], ConfigError] = {}
    for problem in problems:
        seen.setdefault((problem.key, problem.fix), problem)
    return list(seen.values())


def summary(reports: Mapping[str, AgencyReport]) -> str:
    """One closing line over several reports."""
    failed = [name for name, report in reports.items() if not report.ok]
    if not failed:
        return f"{len(reports)} agency file(s) pass\n"
    return f"{len(failed)} of {len(reports)} agency file(s) fail: {', '.join(failed)}\n"
