"""Gateway settings: ``config/gateway.toml``, validated completely at start-up.

The file's keys, types, ranges and defaults are ``settings_models``; here is what needs
more than the file: the state database (perhaps from the environment), paths resolved
against the file's directory, the catalogue, agency and protocol files it names, and the
issuers checked against the agencies registered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gateway.config.agencies import load_agencies
from gateway.config.catalogue import load_configured_catalogue
from gateway.config.protocol import SharingProtocol, load_protocol
from gateway.config.settings_models import (
    ISSUERS_FIX,
    IssuerTable,
    LoggingSettings,
    SettingsFile,
    TracingSettings,
    read_settings,
)
from gateway.config.settings_models import Limits as Limits
from gateway.core.catalogue import STANDARD, Catalogue
from gateway.core.config_models import validate
from gateway.core.errors import ConfigError, ConfigErrors, Problems, read_toml
from gateway.core.registration import AgencyConfig


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


def load_settings(file: Path) -> Settings:
    """Read and validate the gateway settings and every agency file they point at."""
    file = file.resolve()
    problems = Problems(file)
    config_dir = file.parent
    read, failed = read_settings(read_toml(file), problems)
    state_database = _state_database(read, config_dir, problems)
    errors: list[ConfigError] = []
    catalogue: Catalogue | None = None
    agencies: tuple[AgencyConfig, ...] = ()
    if "catalogue" not in failed:
        try:
            catalogue = load_configured_catalogue(read.catalogue, config_dir, problems)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
    # Agencies and the protocol name catalogue items, so they wait for a catalogue without
    # problems (as the protocol and the issuers wait for the agencies).
    registered = catalogue is not None and "agencies_dir" not in failed
    if catalogue is not None and registered:
        try:
            agencies = load_agencies(
                config_dir / read.agencies_dir, config_dir, catalogue=catalogue
            )
        except ConfigErrors as exc:
            errors.extend(exc.errors)
            registered = False
    issuers = _issuers(
        read, failed, config_dir, {a.id for a in agencies} if registered else None, problems
    )
    protocol = None
    if catalogue is not None and registered and "protocol_file" not in failed:
        try:
            protocol = load_protocol(
                config_dir / read.protocol_file,
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
    # Off by default in production: the schema is published by the operators, and an open
    # schema maps every field for whoever holds any token.
    introspection = read.mode == "demo" if read.introspection is None else read.introspection
    return Settings(
        config_dir=config_dir,
        mode=read.mode,
        state_database=state_database,
        graphiql=read.graphiql,
        host=read.listen.host,
        port=read.listen.port,
        limits=Limits(**read.limits.model_dump(), introspection=introspection),
        issuers=issuers,
        protocol=protocol,
        agencies=agencies,
        default_purpose=read.default_purpose,
        quiet_withholding=read.withheld_detail == "quiet",
        audit_signing_key_file=_path(config_dir, read.audit_signing_key_file),
        metrics_token_env=read.metrics_token_env,
        http=HttpSettings(
            tuple(read.http.cors_origins),
            _path(config_dir, read.documents.manifest),
            read.documents.trusted_only,
        ),
        tracing=read.tracing,
        logging=read.logging,
        catalogue=protocol.catalogue,
    )


def _path(config_dir: Path, written: str | None) -> Path | None:
    """A path as written in the settings, relative to their directory."""
    return None if written is None else (config_dir / written).resolve()


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


def _state_database(read: SettingsFile, config_dir: Path, problems: Problems) -> str:
    raw, env = read.state_database, read.state_database_env
    default = "sqlite+aiosqlite:///fame-state.sqlite"
    key = "state_database"
    if env is not None:
        key = "state_database_env"
        raw = os.environ.get(env)
        if not raw:
            problems.add(
                key, f"names {env!r}, which is not set", f"Set {env} to the state database URL."
            )
            return default
    try:
        url = make_url(raw or default)
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


def _issuers(
    read: SettingsFile,
    failed: set[str],
    config_dir: Path,
    agency_ids: set[str] | None,
    problems: Problems,
) -> tuple[IssuerConfig, ...]:
    """The ``[[issuers]]``, each checked to name a registered agency (unless ``agency_ids``
    is None: the agencies have problems of their own) and to have an issuer of its own."""
    if "issuers" in failed:
        return ()
    if not read.issuers:
        problems.add("issuers", "is missing", ISSUERS_FIX)
    issuers: list[IssuerConfig] = []
    for index, entry in enumerate(read.issuers):
        table = validate(
            IssuerTable, entry, problems, f"issuers[{index}]", context={"agencies": agency_ids}
        )
        if table is not None:
            issuers.append(
                IssuerConfig(
                    agency=table.agency,
                    issuer=table.issuer,
                    audience=table.audience,
                    algorithms=tuple(table.algorithms),
                    jwks_file=_path(config_dir, table.jwks_file),
                    jwks_url=table.jwks_url,
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
