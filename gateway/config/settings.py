"""Gateway settings: ``config/gateway.toml``, validated completely at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gateway.config.agencies import load_agencies, read_toml
from gateway.config.catalogue import load_configured_catalogue
from gateway.config.protocol import PURPOSES, SharingProtocol, load_protocol
from gateway.core.catalogue import STANDARD, Catalogue
from gateway.core.errors import ConfigError, ConfigErrors, Problems
from gateway.core.registration import AgencyConfig

_TOP_KEYS = {
    "mode",
    "agencies_dir",
    "state_database",
    "state_database_env",
    "graphiql",
    "introspection",
    "listen",
    "limits",
    "issuers",
    "default_purpose",
    "protocol_file",
    "withheld_detail",
    "audit_signing_key_file",
    "metrics_token_env",
    "http",
    "documents",
    "tracing",
    "logging",
    "catalogue",
}

#: Where spans go: an OpenTelemetry collector over OTLP/HTTP, standard output, or nowhere.
TRACING_EXPORTERS = ("otlp", "console", "none")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Limits:
    """What a request may cost and ask for, and how long it may take."""

    max_body_bytes: int = 64 * 1024
    max_depth: int = 12
    max_aliases: int = 30
    max_fields: int = 400
    max_batch: int = 500
    #: Seconds from receipt by which every agency call of a request has ended.
    deadline_seconds: float = 5.0
    #: Agency answers (per person) the in-memory cache keeps at most.
    cache_max_entries: int = 10_000
    #: Whether documents may ask for ``__schema`` and ``__type``: the top-level setting
    #: ``introspection``, kept here beside the other checks a document must pass.
    introspection: bool = True


#: The keys of the [limits] table (introspection is written at the top level).
_LIMIT_KEYS = tuple(name for name in Limits.__dataclass_fields__ if name != "introspection")


@dataclass(frozen=True)
class TracingSettings:
    """``[tracing]``: OpenTelemetry spans per request, policy step, agency call and audit
    append; off (``exporter = "none"``) unless configured."""

    exporter: str = "none"
    #: The OTLP/HTTP traces endpoint; None: the exporter's own default, which the standard
    #: ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables override.
    endpoint: str | None = None
    service_name: str = "fame-gateway"
    #: The share of new traces recorded (a trace begun upstream keeps its own decision).
    sample_ratio: float = 1.0

    @property
    def enabled(self) -> bool:
        """Whether spans are made at all."""
        return self.exporter != "none"


@dataclass(frozen=True)
class LoggingSettings:
    """``[logging]``: one JSON object per line, or plain text for a person at a terminal."""

    #: None: the command's own default (JSON for ``serve``, text for the demo).
    format: str | None = None
    level: str = "info"


@dataclass(frozen=True)
class IssuerConfig:
    """An agency's OpenID Connect issuer whose tokens the gateway accepts."""

    agency: str
    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    jwks_file: Path | None = None
    jwks_url: str | None = None


@dataclass(frozen=True)
class HttpSettings:
    """The HTTP edge: which browser origins may call, and which documents may run."""

    #: Origins (``https://host[:port]``) whose pages may call the gateway from a browser;
    #: none: no CORS headers at all, so only same-origin pages and non-browser clients.
    cors_origins: tuple[str, ...] = ()
    #: The trusted documents' manifest: a JSON object of sha256 (hex) -> document text.
    documents_manifest: Path | None = None
    #: Refuse every document that is not in the manifest (production front-ends only).
    trusted_only: bool = False


@dataclass(frozen=True)
class Settings:
    """Everything the gateway is configured with."""

    config_dir: Path
    mode: str
    state_database: str
    graphiql: bool
    host: str
    port: int
    limits: Limits
    issuers: tuple[IssuerConfig, ...]
    protocol: SharingProtocol
    agencies: tuple[AgencyConfig, ...] = field(default_factory=tuple)
    default_purpose: str = "direct_care"
    quiet_withholding: bool = False
    #: PEM of the gateway's Ed25519 key that signs the audit chain's head; None: unsigned.
    audit_signing_key_file: Path | None = None
    #: The environment variable holding the token a scraper sends for /metrics and the
    #: details of /readyz; in production mode both are closed without it.
    metrics_token_env: str | None = None
    http: HttpSettings = field(default_factory=HttpSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    #: The standard catalogue plus the deployment's own files (``[catalogue] files``).
    catalogue: Catalogue = STANDARD

    @property
    def demo(self) -> bool:
        """Whether demo-only conveniences (minting tokens) are allowed."""
        return self.mode == "demo"

    @property
    def introspection(self) -> bool:
        """Whether clients may ask for the schema (``__schema``, ``__type``)."""
        return self.limits.introspection

    def agency(self, agency_id: str) -> AgencyConfig:
        """The registered agency with this id."""
        for agency in self.agencies:
            if agency.id == agency_id:
                return agency
        raise KeyError(agency_id)


_ALGORITHMS = {
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
}


def load_settings(file: Path) -> Settings:
    """Read and validate the gateway settings and every agency file they point at."""
    file = file.resolve()
    problems = Problems(file)
    doc = read_toml(file)
    config_dir = file.parent
    for key in sorted(set(doc) - _TOP_KEYS):
        problems.add(
            key,
            "is not a gateway setting",
            f"Remove it; settings are: {', '.join(sorted(_TOP_KEYS))}.",
        )
    mode = doc.get("mode", "production")
    if mode not in {"demo", "production"}:
        problems.add("mode", f"is {mode!r}", 'Write "production", or "demo" for the demo.')
        mode = "production"
    state_database = _state_database(doc, config_dir, problems)
    graphiql = doc.get("graphiql", False)
    if not isinstance(graphiql, bool):
        problems.add("graphiql", f"is {graphiql!r}", "Write true or false.")
        graphiql = False
    listen = doc.get("listen", {})
    host, port = "127.0.0.1", 8000
    if not isinstance(listen, dict):
        problems.add(
            "listen", f"is {listen!r}", 'Write listen = { host = "127.0.0.1", port = 8000 }.'
        )
    else:
        host = listen.get("host", host)
        port = listen.get("port", port)
        if not isinstance(host, str) or not host:
            problems.add("listen.host", f"is {host!r}", 'Write an address, e.g. "127.0.0.1".')
            host = "127.0.0.1"
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            problems.add("listen.port", f"is {port!r}", "Write a port number from 1 to 65535.")
            port = 8000
    purpose = doc.get("default_purpose", "direct_care")
    if purpose not in PURPOSES:
        problems.add("default_purpose", f"is {purpose!r}", f"Write one of: {', '.join(PURPOSES)}.")
        purpose = "direct_care"
    # Off by default in production: the schema is published by the operators, and an open
    # schema maps every field for whoever holds any token.
    introspection = doc.get("introspection", mode == "demo")
    if not isinstance(introspection, bool):
        problems.add("introspection", f"is {introspection!r}", "Write true or false.")
        introspection = False
    limits = replace(_limits(doc.get("limits", {}), problems), introspection=introspection)
    http = _http(doc.get("http", {}), doc.get("documents", {}), config_dir, problems)
    tracing = _tracing(doc.get("tracing", {}), problems)
    logging_settings = _logging(doc.get("logging", {}), problems)
    agencies_dir = doc.get("agencies_dir", "agencies")
    agencies: tuple[AgencyConfig, ...] = ()
    errors: list[ConfigError] = []
    catalogue: Catalogue | None = None
    try:
        catalogue = load_configured_catalogue(doc.get("catalogue"), config_dir, problems)
    except ConfigErrors as exc:
        errors.extend(exc.errors)
    if not isinstance(agencies_dir, str):
        problems.add("agencies_dir", f"is {agencies_dir!r}", 'Write a directory, e.g. "agencies".')
    # Agencies and the protocol name catalogue items, so they wait for a catalogue without
    # problems (as the protocol waits for the agencies).
    elif catalogue is not None:
        try:
            agencies = load_agencies(config_dir / agencies_dir, config_dir, catalogue=catalogue)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
    issuers = _issuers(
        doc.get("issuers"), config_dir, {a.id for a in agencies}, bool(errors), problems
    )
    detail = doc.get("withheld_detail", "full")
    if detail not in {"full", "quiet"}:
        problems.add(
            "withheld_detail",
            f"is {detail!r}",
            'Write "full" (path, agency, item, reason) or "quiet" (path and WITHHELD only).',
        )
    protocol = None
    protocol_file = doc.get("protocol_file", "sharing-protocol.toml")
    if not isinstance(protocol_file, str):
        problems.add("protocol_file", f"is {protocol_file!r}", "Write the protocol file's path.")
    elif not errors and catalogue is not None:
        try:
            protocol = load_protocol(
                config_dir / protocol_file,
                {a.id for a in agencies},
                {a.id: a.services for a in agencies},
                catalogue=catalogue,
            )
        except ConfigErrors as exc:
            errors.extend(exc.errors)
        except ConfigError as exc:
            errors.append(exc)
        else:
            errors.extend(_uncovered(agencies, protocol))
            errors.extend(_unknown_service_categories(agencies, protocol))
    errors = problems.errors + errors
    if errors:
        raise ConfigErrors(errors)
    assert protocol is not None
    signing_key = doc.get("audit_signing_key_file")
    signing_path: Path | None = None
    if isinstance(signing_key, str) and signing_key:
        signing_path = Path(signing_key)
        signing_path = signing_path if signing_path.is_absolute() else (config_dir / signing_path)
    elif signing_key is not None:
        raise ConfigErrors(
            [
                ConfigError(
                    file,
                    "audit_signing_key_file",
                    f"is {signing_key!r}",
                    "Write the path of the gateway's Ed25519 private key (PEM).",
                )
            ]
        )
    metrics_token_env = doc.get("metrics_token_env")
    if metrics_token_env is not None and not (
        isinstance(metrics_token_env, str) and metrics_token_env
    ):
        raise ConfigErrors(
            [
                ConfigError(
                    file,
                    "metrics_token_env",
                    f"is {metrics_token_env!r}",
                    'Write the name of an environment variable, e.g. "FAME_METRICS_TOKEN".',
                )
            ]
        )
    return Settings(
        config_dir=config_dir,
        mode=str(mode),
        state_database=state_database,
        graphiql=graphiql,
        host=str(host),
        port=int(port),
        limits=limits,
        issuers=issuers,
        protocol=protocol,
        agencies=agencies,
        default_purpose=str(purpose),
        quiet_withholding=detail == "quiet",
        audit_signing_key_file=signing_path.resolve() if signing_path else None,
        metrics_token_env=metrics_token_env,
        http=http,
        tracing=tracing,
        logging=logging_settings,
        catalogue=protocol.catalogue,
    )


def _unknown_service_categories(
    agencies: tuple[AgencyConfig, ...], protocol: SharingProtocol
) -> list[ConfigError]:
    """Services whose narrower consent category the protocol does not declare."""
    return [
        ConfigError(
            agency.file,
            f"services.{service.id}.category",
            f"is {service.category!r}, which the sharing protocol does not declare",
            f"Use a category under [categories] of the protocol: "
            f"{', '.join(sorted(protocol.categories))}.",
        )
        for agency in agencies
        for service in agency.services.services
        if service.category is not None and service.category not in protocol.categories
    ]


def _uncovered(agencies: tuple[AgencyConfig, ...], protocol: SharingProtocol) -> list[ConfigError]:
    # An agency must not expose what the agencies did not agree to share.
    return [
        ConfigError(
            agency.file,
            f'items."{item}"',
            f"maps an item the sharing protocol does not list for {agency.id}",
            "Remove the mapping, or have the protocol amended and signed to cover it.",
        )
        for agency in agencies
        for item in sorted(agency.items)
        if not protocol.covers(agency.id, item)
    ]


def _state_database(doc: dict[str, Any], config_dir: Path, problems: Problems) -> str:
    raw, env = doc.get("state_database"), doc.get("state_database_env")
    default = "sqlite+aiosqlite:///fame-state.sqlite"
    key = "state_database"
    if env is not None:
        key = "state_database_env"
        raw = os.environ.get(env) if isinstance(env, str) else None
        if not raw:
            problems.add(
                key, f"names {env!r}, which is not set", f"Set {env} to the state database URL."
            )
            return default
    raw = raw or default
    if not isinstance(raw, str):
        problems.add(key, f"is {raw!r}", 'Write a URL, e.g. "sqlite+aiosqlite:///state.sqlite".')
        return default
    try:
        url = make_url(raw)
    except ArgumentError:
        problems.add(key, "is not a database URL", 'Write e.g. "postgresql+asyncpg://gw@db/fame".')
        return default
    if env is None and url.password:
        problems.add(
            key,
            "holds a password written inline",
            "Put the URL in an environment variable and write "
            'state_database_env = "FAME_STATE_DSN".',
        )
        return default
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            url = url.set(database=str((config_dir / path).resolve()))
    return url.render_as_string(hide_password=False)


def _limits(raw: Any, problems: Problems) -> Limits:
    if not isinstance(raw, dict):
        problems.add("limits", f"is {raw!r}", "Write a [limits] table.")
        return Limits()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _LIMIT_KEYS:
            problems.add(
                f"limits.{key}",
                "is not a limit",
                f"Use: {', '.join(_LIMIT_KEYS)}"
                + ("; write introspection at the top level." if key == "introspection" else "."),
            )
            continue
        if key == "deadline_seconds":
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not 0.1 <= value <= 120
            ):
                problems.add(
                    "limits.deadline_seconds",
                    f"is {value!r}",
                    "Write the seconds a request may take at most, from 0.1 to 120.",
                )
                continue
            values[key] = float(value)
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.add(f"limits.{key}", f"is {value!r}", "Write a whole number of at least 1.")
            continue
        values[key] = value
    return Limits(**values)


def _http(raw: Any, documents: Any, config_dir: Path, problems: Problems) -> HttpSettings:
    origins: list[str] = []
    if not isinstance(raw, dict):
        problems.add("http", f"is {raw!r}", "Write an [http] table, e.g. cors_origins = [...].")
        raw = {}
    for key in sorted(set(raw) - {"cors_origins"}):
        problems.add(f"http.{key}", "is not an HTTP setting", "Use: cors_origins.")
    listed = raw.get("cors_origins", [])
    if not isinstance(listed, list):
        listed = [listed]
    for origin in listed:
        parts = urlsplit(origin) if isinstance(origin, str) else None
        # An origin is exactly scheme://host[:port]; browsers send nothing else, so anything
        # more (a path, a wildcard) could never match and only hides a mistake.
        if (
            parts is None
            or parts.scheme not in {"https", "http"}
            or not parts.hostname
            or "*" in origin
            or origin != f"{parts.scheme}://{parts.netloc}"
        ):
            problems.add(
                "http.cors_origins",
                f"lists {origin!r}",
                'List origins exactly as browsers send them, e.g. "https://care.example.org".',
            )
            continue
        origins.append(origin)
    if not isinstance(documents, dict):
        problems.add("documents", f"is {documents!r}", "Write a [documents] table.")
        documents = {}
    for key in sorted(set(documents) - {"manifest", "trusted_only"}):
        problems.add(
            f"documents.{key}", "is not a documents setting", "Use: manifest, trusted_only."
        )
    manifest = documents.get("manifest", "trusted-documents.json")
    path: Path | None = None
    if isinstance(manifest, str) and manifest:
        path = Path(manifest)
        path = (path if path.is_absolute() else config_dir / path).resolve()
    else:
        problems.add(
            "documents.manifest", f"is {manifest!r}", 'Write a file name, e.g. "documents.json".'
        )
    trusted_only = documents.get("trusted_only", False)
    if not isinstance(trusted_only, bool):
        problems.add("documents.trusted_only", f"is {trusted_only!r}", "Write true or false.")
        trusted_only = False
    return HttpSettings(tuple(origins), path, trusted_only)


def _tracing(raw: Any, problems: Problems) -> TracingSettings:
    if not isinstance(raw, dict):
        problems.add("tracing", f"is {raw!r}", "Write a [tracing] table.")
        return TracingSettings()
    defaults = TracingSettings()
    for key in sorted(set(raw) - set(TracingSettings.__dataclass_fields__)):
        problems.add(
            f"tracing.{key}",
            "is not a tracing setting",
            f"Use: {', '.join(TracingSettings.__dataclass_fields__)}.",
        )
    exporter = raw.get("exporter", defaults.exporter)
    if exporter not in TRACING_EXPORTERS:
        problems.add(
            "tracing.exporter",
            f"is {exporter!r}",
            'Write "otlp" (a collector, over HTTP), "console" (standard output) or "none".',
        )
        exporter = defaults.exporter
    endpoint = raw.get("endpoint")
    if endpoint is not None and (
        not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))
    ):
        problems.add(
            "tracing.endpoint",
            f"is {endpoint!r}",
            'Write the collector\'s OTLP/HTTP traces URL, e.g. "http://127.0.0.1:4318/v1/traces".',
        )
        endpoint = None
    service = raw.get("service_name", defaults.service_name)
    if not isinstance(service, str) or not service:
        problems.add("tracing.service_name", f"is {service!r}", 'Write e.g. "fame-gateway".')
        service = defaults.service_name
    ratio = raw.get("sample_ratio", defaults.sample_ratio)
    if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0 <= ratio <= 1:
        problems.add(
            "tracing.sample_ratio", f"is {ratio!r}", "Write a share from 0 to 1, e.g. 0.1."
        )
        ratio = defaults.sample_ratio
    return TracingSettings(str(exporter), endpoint, service, float(ratio))


def _logging(raw: Any, problems: Problems) -> LoggingSettings:
    if not isinstance(raw, dict):
        problems.add("logging", f"is {raw!r}", "Write a [logging] table.")
        return LoggingSettings()
    for key in sorted(set(raw) - {"format", "level"}):
        problems.add(f"logging.{key}", "is not a logging setting", "Use: format, level.")
    log_format = raw.get("format")
    if log_format is not None and log_format not in LOG_FORMATS:
        problems.add(
            "logging.format",
            f"is {log_format!r}",
            'Write "json" (one object per line, for a log collector) or "text".',
        )
        log_format = None
    level = raw.get("level", "info")
    if level not in LOG_LEVELS:
        problems.add("logging.level", f"is {level!r}", f"Write one of: {', '.join(LOG_LEVELS)}.")
        level = "info"
    return LoggingSettings(log_format, str(level))


def _issuers(
    raw: Any, config_dir: Path, agency_ids: set[str], agencies_failed: bool, problems: Problems
) -> tuple[IssuerConfig, ...]:
    if not isinstance(raw, list) or not raw:
        problems.add(
            "issuers",
            "is missing",
            "Add one [[issuers]] per agency whose practitioners use the gateway "
            '(agency, issuer, audience, jwks_file or jwks_url, algorithms = ["RS256"]).',
        )
        return ()
    issuers: list[IssuerConfig] = []
    for index, entry in enumerate(raw):
        where = f"issuers[{index}]"
        if not isinstance(entry, dict):
            problems.add(where, "is not a table", "Write it as [[issuers]].")
            continue
        for key in sorted(
            set(entry) - {"agency", "issuer", "audience", "algorithms", "jwks_file", "jwks_url"}
        ):
            problems.add(f"{where}.{key}", "is not an issuer setting", "Remove it.")
        agency = entry.get("agency")
        if not isinstance(agency, str) or (not agencies_failed and agency not in agency_ids):
            problems.add(
                f"{where}.agency",
                f"is {agency!r}, which is not a registered agency",
                f"Write one of: {', '.join(sorted(agency_ids)) or '(no agencies registered)'}.",
            )
            continue
        issuer, audience = entry.get("issuer"), entry.get("audience")
        if not isinstance(issuer, str) or not issuer:
            problems.add(
                f"{where}.issuer",
                "is missing",
                "Write the issuer URL exactly as tokens carry it in iss.",
            )
            continue
        if not isinstance(audience, str) or not audience:
            problems.add(
                f"{where}.audience",
                "is missing",
                'Write the audience tokens are issued for, e.g. "fame-gateway".',
            )
            continue
        algorithms = entry.get("algorithms", ["RS256"])
        if (
            not isinstance(algorithms, list)
            or not algorithms
            or not all(isinstance(alg, str) and alg in _ALGORITHMS for alg in algorithms)
        ):
            problems.add(
                f"{where}.algorithms",
                f"is {algorithms!r}",
                f"List asymmetric algorithms only, from: {', '.join(sorted(_ALGORITHMS))}.",
            )
            continue
        jwks_file, jwks_url = entry.get("jwks_file"), entry.get("jwks_url")
        if (jwks_file is None) == (jwks_url is None):
            problems.add(
                f"{where}.jwks_file",
                "both jwks_file and jwks_url are set" if jwks_file else "no key source is set",
                "Write exactly one: jwks_file (a path) or jwks_url (the issuer's JWKS endpoint).",
            )
            continue
        path = None
        if jwks_file is not None:
            if not isinstance(jwks_file, str):
                problems.add(f"{where}.jwks_file", f"is {jwks_file!r}", "Write a path.")
                continue
            path = Path(jwks_file)
            path = path if path.is_absolute() else (config_dir / path).resolve()
        if jwks_url is not None and (
            not isinstance(jwks_url, str) or not jwks_url.startswith(("https://", "http://"))
        ):
            problems.add(
                f"{where}.jwks_url", f"is {jwks_url!r}", "Write the https:// URL of the JWKS."
            )
            continue
        issuers.append(
            IssuerConfig(
                agency=agency,
                issuer=issuer,
                audience=audience,
                algorithms=tuple(algorithms),
                jwks_file=path,
                jwks_url=jwks_url if isinstance(jwks_url, str) else None,
            )
        )
    seen: dict[str, str] = {}
    for issuer_cfg in issuers:
        if issuer_cfg.issuer in seen:
            problems.add(
                "issuers",
                f"issuer {issuer_cfg.issuer!r} is listed for both "
                f"{seen[issuer_cfg.issuer]!r} and {issuer_cfg.agency!r}",
                "Give each agency its own issuer.",
            )
        seen[issuer_cfg.issuer] = issuer_cfg.agency
    return tuple(issuers)
