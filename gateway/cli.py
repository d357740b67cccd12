"""``fame-gateway``: serve, check agencies, print the schema, upgrade the state database,
register trusted documents, fetch the explorer, run the demo, mint demo tokens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from gateway.cli_index import add_index_commands
from gateway.config.settings import Settings, load_settings
from gateway.core.errors import ConfigError, ConfigErrors, GatewayError
from gateway.token_command import add_token_arguments

T = TypeVar("T")

_DEFAULT_CONFIG = os.environ.get("FAME_CONFIG", "config/gateway.toml")


def _settings(path: str) -> Settings:
    return load_settings(Path(path))


@contextlib.contextmanager
def _demo_world() -> Iterator[None]:
    """Around imports of the demo world, which the gateway's distribution leaves out: when
    it is not installed, say how to get it instead of showing an ImportError."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name != "fame_demo":
            raise
        raise GatewayError(
            "this command needs the demo world (package fame_demo), which is not installed "
            "with the gateway. In a checkout of the repository, `make demo` installs it; "
            "or run: pip install -e ./demo"
        ) from None


def _configure_logs(settings: Settings, default_format: str) -> None:
    from gateway.core import logs

    logs.configure(settings.logging.format or default_format, settings.logging.level)


def _serve(args: argparse.Namespace) -> int:
    workers = args.workers
    if workers < 1:
        print("--workers must be 1 or more", file=sys.stderr)
        return 2
    settings = _settings(args.config)
    host, port = args.host or settings.host, args.port or settings.port
    pid_file = _pid_file(args)
    if workers == 1:
        _serve_process(args.config, host, port, None, pid_file)
        return 0
    import multiprocessing
    import signal

    import uvicorn

    # One listening socket, bound here and shared: the kernel hands each connection to
    # whichever worker accepts it first. Every worker is a whole gateway (its own event
    # loop, connectors and caches) over the one state database, whose audit chain takes
    # a lock per append, so the processes append one after another.
    sock = uvicorn.Config("gateway.app:app_from_environment", host=host, port=port).bind_socket()
    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(
            target=_serve_process, args=(args.config, host, port, sock, pid_file), daemon=False
        )
        for _ in range(workers)
    ]
    from gateway.reload_signals import forward_hangups, publish_when_serving
    from gateway.run_files import RunFiles

    files = RunFiles(Path(pid_file))
    forward_hangups(processes, files)
    for process in processes:
        process.start()

    def stop(_signal: int, _frame: object) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    publish_when_serving(processes, files, Path(args.config))
    for process in processes:
        process.join()
    files.withdraw(os.getpid())
    sock.close()
    failed = [p.exitcode for p in processes if p.exitcode not in (0, -signal.SIGTERM)]
    return 1 if failed else 0


def _pid_file(args: argparse.Namespace) -> str:
    from gateway.run_files import default_pid_file

    return str(Path(args.pid_file) if args.pid_file else default_pid_file(Path(args.config)))


def _serve_process(
    config: str, host: str, port: int, sock: socket.socket | None, pid_file: str
) -> None:
    """Serve one gateway process; on ``sock`` when given (a worker of several)."""
    import uvicorn

    from gateway.app import create_app
    from gateway.edge.explorer import SamplePractitioner
    from gateway.reload_signals import reload_on_hangup
    from gateway.run_files import RunFiles
    from gateway.service import Gateway, tune_server_process

    settings = _settings(config)
    practitioners: tuple[SamplePractitioner, ...] = ()
    if settings.demo:
        # The explorer offers the sample practitioners' demo tokens, when the demo world is
        # installed; without it the page still takes a pasted token.
        with contextlib.suppress(ModuleNotFoundError):
            from fame_demo.practitioners import PRACTITIONERS

            practitioners = PRACTITIONERS
    # JSON by default: a served gateway's logs are read by a collector, not a person.
    _configure_logs(settings, "json")

    async def run() -> None:
        gateway = Gateway(settings, config_file=Path(config))
        await gateway.start()
        tune_server_process()
        files = RunFiles(Path(pid_file))
        try:
            server = uvicorn.Server(
                uvicorn.Config(
                    # Stopped by the app's shutdown: after SIGTERM or SIGINT uvicorn shuts
                    # down, then raises the signal again, which ends the process before
                    # anything after serve() runs (notices still being posted, spans
                    # still held, the state database's connections).
                    create_app(gateway, practitioners, stop_on_shutdown=True),
                    host=host,
                    port=port,
                    lifespan="on",
                    log_level=settings.logging.level,
                    # uvicorn's records go through the handler configured above, and its
                    # access log would only repeat the gateway's own line per request.
                    log_config=None,
                    access_log=False,
                )
            )
            with reload_on_hangup(gateway, files, Path(config), publish=sock is None):
                await server.serve(sockets=[sock] if sock is not None else None)
        finally:
            if gateway.started:  # the server never got as far as its shutdown
                await gateway.stop()

    serve_forever(run())


def serve_forever(main: Coroutine[Any, Any, T]) -> T:
    """Run a serving coroutine on uvloop where it is installed (libuv's loop costs a
    request about half the scheduling CPU of asyncio's own), else on asyncio's."""
    try:
        import uvloop
    except ImportError:  # not on every platform; asyncio's loop serves the same answers
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _reload(args: argparse.Namespace) -> int:
    from gateway.reload_command import Streams, request_reload

    return request_reload(
        Path(args.config), Path(_pid_file(args)), args.timeout, Streams(sys.stdout, sys.stderr)
    )


def _check(args: argparse.Namespace) -> int:
    from gateway.config.agency_check import check_agency_file, render, summary

    settings_file = Path(args.config)
    if not settings_file.exists():
        print(f"{settings_file}: no such settings file; give --config", file=sys.stderr)
        return 2
    agencies_dir = load_agencies_dir(settings_file)
    files = {file.stem: file for file in sorted(agencies_dir.glob("*.toml"))}
    unknown = set(args.agency) - set(files)
    if unknown:
        print(f"no such agency: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    chosen = [files[name] for name in args.agency] if args.agency else list(files.values())

    async def run() -> dict[str, Any]:
        return {file.stem: await check_agency_file(file, settings_file) for file in chosen}

    reports = asyncio.run(run())
    if args.json:
        print(json.dumps([report.as_json() for report in reports.values()], indent=2))
    else:
        for report in reports.values():
            sys.stdout.write(render(report))
        sys.stdout.write(summary(reports))
    return 0 if all(report.ok for report in reports.values()) else 1


def load_agencies_dir(settings_file: Path) -> Path:
    """Where the settings keep agency files, read without validating anything else."""
    from gateway.core.errors import read_toml

    directory = read_toml(settings_file).get("agencies_dir", "agencies")
    return settings_file.resolve().parent / (directory if isinstance(directory, str) else "")


def _agency_check(args: argparse.Namespace) -> int:
    from gateway.config.agency_check import check_agency_file, render

    settings_file = Path(args.config)
    file = Path(args.file)
    if not file.exists():
        print(f"{file}: no such agency file", file=sys.stderr)
        return 2
    report = asyncio.run(check_agency_file(file, settings_file if settings_file.exists() else None))
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        sys.stdout.write(render(report))
    return 0 if report.ok else 1


def _agency_new(args: argparse.Namespace) -> int:
    from gateway.config.agency_new import write_template

    directory = Path(args.dir) if args.dir else load_agencies_dir(Path(args.config))
    file = write_template(args.kind, args.name, directory)
    print(f"wrote {file}: edit it as its comments say, then run `fame-gateway agency check {file}`")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from gateway.config.catalogue import catalogue_of_settings
    from gateway.schema_file import schema_drift
    from resolvers.schema import schema_sdl

    sdl = schema_sdl(catalogue_of_settings(Path(args.config)))
    if args.write:
        Path(args.write).write_text(sdl)
        print(f"wrote {args.write}")
    elif args.check:
        drift = schema_drift(Path(args.check), sdl, args.config)
        if drift:
            sys.stdout.write(drift)
            print(
                f"{args.check} differs from the schema {args.config} generates; regenerate it "
                f"with: fame-gateway --config {args.config} schema --write {args.check}",
                file=sys.stderr,
            )
            return 1
        print(f"{args.check} matches the schema {args.config} generates")
    else:
        sys.stdout.write(sdl)
    return 0


def _items(args: argparse.Namespace) -> int:
    from gateway.config.catalogue import catalogue_of_settings

    for rs in catalogue_of_settings(Path(args.config)).record_sets:
        rows = "many rows" if rs.many else "one row"
        print(f"{rs.name}  ({rows} per agency; {rs.owner})")
        for item in rs.items:
            print(f"    {item.name:<36} {item.kind.value:<8} {item.description}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from gateway.config.tokens import mint_token
    from gateway.token_command import claims_from_args, practitioner_token

    claims = claims_from_args(args)
    if claims is not None:
        token, notes = practitioner_token(_settings(args.config), claims)
        for note in notes:
            print(note, file=sys.stderr)
        print(token)
        return 0
    with _demo_world():
        from fame_demo.practitioners import practitioner

    settings = _settings(args.config)
    try:
        who = practitioner(args.practitioner)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    print(
        mint_token(
            settings,
            subject=who.id,
            agency=who.agency,
            team=who.team,
            roles=who.roles,
            name=who.name,
        )
    )
    return 0


def _demo_keys(args: argparse.Namespace) -> int:
    from gateway.token_command import make_demo_keys

    for line in make_demo_keys(_settings(args.config)):
        print(line)
    return 0


def _protocol_render(args: argparse.Namespace) -> int:
    from gateway.config.protocol_render import render_html, render_markdown

    settings = _settings(args.config)
    render = render_html if args.format == "html" else render_markdown
    text = render(settings.protocol, settings.agencies)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from gateway.audit.chain import load_signing_key, verify_chain
    from gateway.governance.state import create_state_engine

    settings = _settings(args.config)

    async def run() -> int:
        engine = create_state_engine(settings.state_database)
        key_file = settings.audit_signing_key_file
        public_key = load_signing_key(key_file).public_key() if key_file else None
        try:
            report = await verify_chain(engine, public_key)
        finally:
            await engine.dispose()
        if report.ok:
            signed = "signed heads verified" if public_key else "no signing key configured"
            print(f"the audit chain holds: {report.records} records; {signed}")
            return 0
        print(
            f"the audit chain is broken at record {report.broken_at}: {report.problem} "
            f"({report.records} records verified before it)",
            file=sys.stderr,
        )
        return 1

    return asyncio.run(run())


def _report_usage(args: argparse.Namespace) -> int:
    from gateway.audit.usage import parse_when, usage, usage_table
    from gateway.governance.state import create_state_engine

    settings = _settings(args.config)
    try:
        since = parse_when(args.since) if args.since else None
        until = parse_when(args.until) if args.until else None
    except ValueError as exc:
        print(f"fame-gateway: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        engine = create_state_engine(settings.state_database)
        try:
            rows, availability = await usage(engine, since, until)
        finally:
            await engine.dispose()
        print(usage_table(rows, availability), end="")
        return 0

    return asyncio.run(run())


def _audit_records(args: argparse.Namespace, person: str | None) -> tuple[Settings, list[Any]]:
    from gateway.audit.records import disclosure_records
    from gateway.audit.usage import parse_when
    from gateway.governance.state import create_state_engine

    settings = _settings(args.config)
    since = parse_when(args.since) if args.since else None
    until = parse_when(args.until) if args.until else None

    async def run() -> list[Any]:
        engine = create_state_engine(settings.state_database)
        try:
            return list(
                await disclosure_records(
                    engine, person_id=person, since=since, until=until, lookups=True
                )
            )
        finally:
            await engine.dispose()

    return settings, asyncio.run(run())


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text)
        print(f"wrote {output}")
    else:
        sys.stdout.write(text)


def _audit_subject_report(args: argparse.Namespace) -> int:
    from gateway.audit.reports import subject_report_html

    settings, records = _audit_records(args, args.person)
    _write(subject_report_html(args.label or args.person, records, settings), args.output)
    return 0


def _audit_export(args: argparse.Namespace) -> int:
    from gateway.audit.fhir import fhir_audit_events, fhir_bundle

    settings, records = _audit_records(args, args.person)
    bundle = fhir_bundle(fhir_audit_events(records, settings))
    _write(json.dumps(bundle, indent=2) + "\n", args.output)
    return 0


def _documents_add(args: argparse.Namespace) -> int:
    from gateway.edge.documents import DocumentCache, document_hash, read_manifest, write_manifest
    from resolvers.schema import build_schema

    settings = _settings(args.config)
    manifest = settings.http.documents_manifest
    assert manifest is not None
    documents = read_manifest(manifest)
    checker = DocumentCache(build_schema(settings.catalogue).graphql_schema, settings.limits)
    added: list[tuple[str, str]] = []
    refused = 0
    for name in args.files:
        # Bytes, not text mode: the hash is of the exact text, line endings included.
        text = Path(name).read_bytes().decode("utf-8")
        prepared = checker.prepare(text)
        if prepared.document is None:
            reasons = "; ".join(str(error["message"]) for error in prepared.errors)
            print(f"{name}: refused: {reasons}", file=sys.stderr)
            refused += 1
            continue
        added.append((document_hash(text), name))
        documents[added[-1][0]] = text
    if refused:
        # All or nothing: a release registers its front-end's documents together.
        print(f"nothing registered: {refused} of {len(args.files)} refused", file=sys.stderr)
        return 1
    write_manifest(manifest, documents)
    for digest, name in added:
        print(f"{digest}  {name}")
    print(f"{len(documents)} document(s) registered in {manifest}")
    return 0


def _documents_list(args: argparse.Namespace) -> int:
    from graphql import OperationDefinitionNode, parse

    from gateway.edge.documents import read_manifest

    manifest = _settings(args.config).http.documents_manifest
    assert manifest is not None
    for digest, text in read_manifest(manifest).items():
        names = [
            f"{node.operation.value} {node.name.value if node.name else '(anonymous)'}"
            for node in parse(text).definitions
            if isinstance(node, OperationDefinitionNode)
        ]
        print(f"{digest}  {', '.join(names)}")
    return 0


def _explorer_fetch(args: argparse.Namespace) -> int:
    from gateway.edge.explorer_assets import assets_directory, fetch_assets, load_manifest

    directory = Path(args.dir) if args.dir else assets_directory()
    fetch_assets(load_manifest(), directory, registry=args.registry)
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from gateway.governance.migrate import upgrade_schema
    from gateway.governance.state import create_state_engine

    settings = _settings(args.config)

    async def run() -> int:
        engine = create_state_engine(settings.state_database)
        try:
            before, after = await upgrade_schema(engine)
        finally:
            await engine.dispose()
        if before.up_to_date:
            print(f"the state database is up to date: {after.current}")
        else:
            print(f"upgraded the state database from {before.label} to {after.current}")
        return 0

    return asyncio.run(run())


def _db_current(args: argparse.Namespace) -> int:
    from gateway.governance.migrate import schema_state
    from gateway.governance.state import create_state_engine

    settings = _settings(args.config)

    async def run() -> int:
        engine = create_state_engine(settings.state_database)
        try:
            state = await schema_state(engine)
        finally:
            await engine.dispose()
        print(state.describe())
        if state.up_to_date:
            return 0
        print("run `fame-gateway db upgrade` to bring it to this release's", file=sys.stderr)
        return 1

    return asyncio.run(run())


def _demo(args: argparse.Namespace) -> int:
    with _demo_world():
        from fame_demo.runner import run_demo

    _configure_logs(_settings(args.config), "text")

    return serve_forever(run_demo(Path(args.config), port=args.port, fresh=args.fresh))


def _agency_commands(commands: Any) -> None:
    from gateway.config.agency_new import template_kinds

    agency = commands.add_parser("agency", help="register an agency: a starting file, a check")
    agency_commands = agency.add_subparsers(dest="agency_command", required=True)
    new = agency_commands.add_parser("new", help="write a commented starting file for an agency")
    new.add_argument("--kind", required=True, choices=template_kinds())
    new.add_argument("name", help="the agency id, which names the file (e.g. shire-housing)")
    new.add_argument("--dir", help="where to write it (default: the settings' agencies_dir)")
    new.set_defaults(run=_agency_new)
    agency_check = agency_commands.add_parser(
        "check",
        help="check one agency file against its live source and the sharing protocol "
        "(before the protocol lists its items)",
    )
    agency_check.add_argument("file", help="the agency file, e.g. config/agencies/x.toml")
    agency_check.add_argument("--json", action="store_true", help="the report as JSON")
    agency_check.set_defaults(run=_agency_check)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fame-gateway`` command."""
    parser = argparse.ArgumentParser(prog="fame-gateway", description=__doc__)
    parser.add_argument(
        "--config", default=_DEFAULT_CONFIG, help="gateway settings file (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve GraphQL over HTTP")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway processes sharing the port and the state database (default: 1)",
    )
    serve.add_argument(
        "--pid-file", help="where to say which process serves (default: beside the settings)"
    )
    serve.set_defaults(run=_serve)
    reload = commands.add_parser(
        "reload",
        help="check the configuration, then have the running gateway take it without a "
        "restart; exit 0 once every gateway process has",
    )
    # Also after the command (`fame-gateway reload --config F`), as scripts write it.
    reload.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    reload.add_argument("--pid-file", help="the running gateway's (default: beside the settings)")
    reload.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for every process"
    )
    reload.set_defaults(run=_reload)
    check = commands.add_parser("check", help="test agency registrations against the live sources")
    check.add_argument("agency", nargs="*", help="agency ids (default: all)")
    check.add_argument("--json", action="store_true", help="the reports as JSON")
    check.set_defaults(run=_check)
    _agency_commands(commands)
    schema = commands.add_parser(
        "schema", help="print the client view's schema (SDL) for the configured catalogue"
    )
    written = schema.add_mutually_exclusive_group()
    written.add_argument(
        "--write", nargs="?", const="schema.graphql", metavar="FILE", help="write it to FILE"
    )
    written.add_argument(
        "--check",
        nargs="?",
        const="schema.graphql",
        metavar="FILE",
        help="exit 1, showing the difference, when FILE (default: schema.graphql) differs",
    )
    schema.add_argument("--config", default=argparse.SUPPRESS, help="gateway settings file")
    schema.set_defaults(run=_schema)
    items = commands.add_parser("items", help="list the data items agencies can map")
    items.add_argument("--config", default=argparse.SUPPRESS, help="gateway settings file")
    items.set_defaults(run=_items)
    token = commands.add_parser(
        "token",
        help="demo only: mint a token for a sample practitioner, or with --agency for a "
        "practitioner of any registered agency whose signing key the gateway holds",
    )
    add_token_arguments(token)
    token.set_defaults(run=_token)
    commands.add_parser(
        "demo-keys",
        help="demo only: make a key pair for each issuer whose jwks_file does not exist yet "
        "(a newly registered agency's); existing keys and the state are left alone",
    ).set_defaults(run=_demo_keys)
    protocol = commands.add_parser("protocol", help="the sharing protocol in force")
    protocol_commands = protocol.add_subparsers(dest="protocol_command", required=True)
    render = protocol_commands.add_parser(
        "render", help="write the protocol as a readable document for the agencies to sign"
    )
    render.add_argument("--format", choices=("md", "html"), default="md")
    render.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")
    render.set_defaults(run=_protocol_render)
    audit = commands.add_parser("audit", help="the disclosure audit")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check every link of the hash chain; exit 1 naming the first broken record"
    )
    verify.set_defaults(run=_audit_verify)
    subject = audit_commands.add_parser(
        "subject-report", help="who has seen a person's record: a report for the person (HTML)"
    )
    subject.add_argument("person", help="the gateway person id")
    subject.add_argument("--label", help="the person's name as the report should address them")
    export = audit_commands.add_parser(
        "export", help="disclosures as FHIR R4 AuditEvent resources (a collection Bundle)"
    )
    export.add_argument("--format", choices=("fhir",), default="fhir")
    export.add_argument("--person", help="only this person's disclosures")
    for sub_command in (subject, export):
        sub_command.add_argument("--since", metavar="DATE")
        sub_command.add_argument("--until", metavar="DATE")
        sub_command.add_argument("--output", metavar="FILE", help="default: stdout")
    subject.set_defaults(run=_audit_subject_report)
    export.set_defaults(run=_audit_export)
    report = commands.add_parser("report", help="figures from the disclosure audit")
    report_commands = report.add_subparsers(dest="report_command", required=True)
    usage_cmd = report_commands.add_parser(
        "usage", help="per agency and role: queries, people viewed, items disclosed and withheld"
    )
    usage_cmd.add_argument("--since", metavar="DATE", help="from this date (YYYY-MM-DD), UTC")
    usage_cmd.add_argument("--until", metavar="DATE", help="before this date, UTC")
    usage_cmd.set_defaults(run=_report_usage)
    documents = commands.add_parser("documents", help="trusted documents, registered by sha256")
    documents_commands = documents.add_subparsers(dest="documents_command", required=True)
    documents_add = documents_commands.add_parser(
        "add", help="check each FILE (one GraphQL document) against the schema and register it"
    )
    documents_add.add_argument("files", nargs="+", metavar="FILE")
    documents_add.set_defaults(run=_documents_add)
    documents_commands.add_parser("list", help="the registered documents").set_defaults(
        run=_documents_list
    )

    explorer = commands.add_parser("explorer", help="the schema explorer (GraphiQL) at /graphql")
    explorer_commands = explorer.add_subparsers(dest="explorer_command", required=True)
    explorer_fetch = explorer_commands.add_parser(
        "fetch",
        help="download GraphiQL and React from the npm registry, verify them against the "
        "pinned hashes and install them for the gateway to serve",
    )
    explorer_fetch.add_argument(
        "--dir", help="where to put them (default: $FAME_EXPLORER_DIR, else in the environment)"
    )
    explorer_fetch.add_argument(
        "--registry", help="an npm registry mirror (default: $npm_config_registry, else npm's)"
    )
    explorer_fetch.set_defaults(run=_explorer_fetch)
    db = commands.add_parser("db", help="the state database's schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_upgrade = db_commands.add_parser(
        "upgrade", help="create or upgrade the state database's schema to this release's"
    )
    db_upgrade.set_defaults(run=_db_upgrade)
    db_current = db_commands.add_parser(
        "current", help="the schema's revision; exit 1 unless it is this release's"
    )
    db_current.set_defaults(run=_db_current)
    add_index_commands(commands)
    demo = commands.add_parser("demo", help="create the demo agencies and serve the gateway")
    demo.add_argument("--port", type=int, default=None)
    demo.add_argument(
        "--fresh",
        action="store_true",
        help="start over: forget the links, consents, grants and audit of earlier runs",
    )
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (ConfigErrors, ConfigError) as exc:
        # Only serving starts anything; other commands just cannot use the files.
        doing = "refusing to start" if args.command in ("serve", "demo") else "cannot run"
        print(f"fame-gateway: {doing}: {exc}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"fame-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
