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

from gateway.config.settings import Settings, load_settings
from gateway.core.errors import ConfigError, ConfigErrors, GatewayError

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
    if workers == 1:
        _serve_process(args.config, host, port, None)
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
        spawn.Process(target=_serve_process, args=(args.config, host, port, sock), daemon=False)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()

    def stop(_signal: int, _frame: object) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.join()
    sock.close()
    failed = [p.exitcode for p in processes if p.exitcode not in (0, -signal.SIGTERM)]
    return 1 if failed else 0


def _serve_process(config: str, host: str, port: int, sock: socket.socket | None) -> None:
    """Serve one gateway process; on ``sock`` when given (a worker of several)."""
    import uvicorn

    from gateway.app import create_app
    from gateway.edge.explorer import SamplePractitioner
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
        gateway = Gateway(settings)
        await gateway.start()
        tune_server_process()
        try:
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(gateway, practitioners),
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
            await server.serve(sockets=[sock] if sock is not None else None)
        finally:
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


def _check(args: argparse.Namespace) -> int:
    from connectors.registry import create_connector

    settings = _settings(args.config)
    chosen = [a for a in settings.agencies if not args.agency or a.id in args.agency]
    unknown = set(args.agency) - {a.id for a in settings.agencies}
    if unknown:
        print(f"no such agency: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2

    async def run() -> int:
        failed = 0
        for agency in chosen:
            connector = create_connector(agency)
            await connector.open()
            try:
                check = await connector.check()
            finally:
                await connector.close()
            mark = "ok  " if check.ok else "FAIL"
            print(f"{mark} {agency.id} ({agency.kind}): {check.detail}")
            for problem in check.problems:
                print(f"       {problem}")
            failed += not check.ok
        return 1 if failed else 0

    return asyncio.run(run())


def _schema(args: argparse.Namespace) -> int:
    from resolvers.schema import schema_sdl

    sdl = schema_sdl()
    if args.write:
        Path(args.write).write_text(sdl)
        print(f"wrote {args.write}")
    elif args.check:
        current = Path(args.check).read_text() if Path(args.check).exists() else ""
        if current != sdl:
            print(f"{args.check} differs from the live schema; run `make schema`", file=sys.stderr)
            return 1
        print(f"{args.check} matches the live schema")
    else:
        sys.stdout.write(sdl)
    return 0


def _items(_args: argparse.Namespace) -> int:
    from gateway.core.catalogue import RECORD_SETS

    for rs in RECORD_SETS:
        rows = "many rows" if rs.many else "one row"
        print(f"{rs.name}  ({rows} per agency; {rs.owner})")
        for item in rs.items:
            print(f"    {item.name:<36} {item.kind.value:<8} {item.description}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from gateway.config.tokens import mint_token

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
    from gateway.audit.log import load_signing_key, verify_chain
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
    from resolvers.schema import schema

    settings = _settings(args.config)
    manifest = settings.http.documents_manifest
    assert manifest is not None
    documents = read_manifest(manifest)
    checker = DocumentCache(schema.graphql_schema, settings.limits)
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
    serve.set_defaults(run=_serve)
    check = commands.add_parser("check", help="test agency registrations against the live sources")
    check.add_argument("agency", nargs="*", help="agency ids (default: all)")
    check.set_defaults(run=_check)
    schema = commands.add_parser("schema", help="print the client view's schema (SDL)")
    schema.add_argument("--write", metavar="FILE", help="write it to FILE")
    schema.add_argument("--check", metavar="FILE", help="exit 1 when FILE differs from it")
    schema.set_defaults(run=_schema)
    items = commands.add_parser("items", help="list the data items agencies can map")
    items.set_defaults(run=_items)
    token = commands.add_parser("token", help="mint a token for a sample practitioner (demo only)")
    token.add_argument("practitioner", help="e.g. sw-patel")
    token.set_defaults(run=_token)
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
        print(f"fame-gateway: refusing to start: {exc}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"fame-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
