"""The shape of ``gateway.toml`` as pydantic models: its keys, their types, ranges and
defaults, read through the one config adapter.

What needs more than the file itself (environment variables, the agency files, the
protocol, the issuers' key files) is checked by ``gateway.config.settings`` after these.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, model_validator

from connectors.source_models import EnvName, NonEmpty
from gateway.config.catalogue import CatalogueField
from gateway.config.protocol import PURPOSES
from gateway.core.config_models import ConfigModel, Fix, Invalid, validate
from gateway.core.errors import Problems

TRUE_OR_FALSE = Fix("Write true or false.")


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


_LIMITS = Limits()
_Count = Annotated[int, Field(ge=1), Fix("Write a whole number of at least 1.")]


class LimitsTable(ConfigModel):
    """``[limits]``: the keys of ``Limits`` but introspection (a top-level setting)."""

    unknown_key_problem: ClassVar[str] = "is not a limit"

    @classmethod
    def unknown_key(cls, key: str) -> tuple[str, str]:
        """Introspection is written at the top level, which the fix says."""
        if key == "introspection":
            return cls.unknown_key_problem, "Write introspection at the top level, not in [limits]."
        return super().unknown_key(key)

    max_body_bytes: _Count = _LIMITS.max_body_bytes
    max_depth: _Count = _LIMITS.max_depth
    max_aliases: _Count = _LIMITS.max_aliases
    max_fields: _Count = _LIMITS.max_fields
    max_batch: _Count = _LIMITS.max_batch
    deadline_seconds: Annotated[
        float,
        Field(ge=0.1, le=120),
        Fix("Write the seconds a request may take at most, from 0.1 to 120."),
    ] = _LIMITS.deadline_seconds
    cache_max_entries: _Count = _LIMITS.cache_max_entries


class ListenTable(ConfigModel):
    """``listen``: where the HTTP server binds."""

    unknown_key_problem: ClassVar[str] = "is not a listen setting"

    host: Annotated[NonEmpty, Fix('Write an address, e.g. "127.0.0.1".')] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535), Fix("Write a port number from 1 to 65535.")] = 8000


def _origin(origin: str) -> str:
    parts = urlsplit(origin)
    # An origin is exactly scheme://host[:port]; browsers send nothing else, so anything
    # more (a path, a wildcard) could never match and only hides a mistake.
    if (
        parts.scheme not in {"https", "http"}
        or not parts.hostname
        or "*" in origin
        or origin != f"{parts.scheme}://{parts.netloc}"
    ):
        raise Invalid(f"lists {origin!r}")
    return origin


class HttpTable(ConfigModel):
    """``[http]``: which browser origins may call."""

    unknown_key_problem: ClassVar[str] = "is not an HTTP setting"

    cors_origins: Annotated[
        list[Annotated[str, AfterValidator(_origin)]],
        Fix('List origins exactly as browsers send them, e.g. "https://care.example.org".'),
    ] = []


class DocumentsTable(ConfigModel):
    """``[documents]``: the trusted documents' manifest."""

    unknown_key_problem: ClassVar[str] = "is not a documents setting"

    manifest: Annotated[NonEmpty, Fix('Write a file name, e.g. "documents.json".')] = (
        "trusted-documents.json"
    )
    trusted_only: Annotated[bool, TRUE_OR_FALSE] = False


class TracingSettings(ConfigModel):
    """``[tracing]``: OpenTelemetry spans per request, policy step, agency call and audit
    append; off (``exporter = "none"``) unless configured."""

    unknown_key_problem: ClassVar[str] = "is not a tracing setting"

    #: Where spans go: an OpenTelemetry collector over OTLP/HTTP, standard output, or nowhere.
    exporter: Annotated[
        Literal["otlp", "console", "none"],
        Fix('Write "otlp" (a collector, over HTTP), "console" (standard output) or "none".'),
    ] = "none"
    #: The OTLP/HTTP traces endpoint; None: the exporter's own default, which the standard
    #: ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables override.
    endpoint: Annotated[
        str | None,
        Field(pattern=r"^https?://"),
        Fix('Write the collector\'s OTLP/HTTP traces URL, e.g. "http://127.0.0.1:4318/v1/traces".'),
    ] = None
    service_name: Annotated[NonEmpty, Fix('Write e.g. "fame-gateway".')] = "fame-gateway"
    #: The share of new traces recorded (a trace begun upstream keeps its own decision).
    sample_ratio: Annotated[
        float, Field(ge=0, le=1), Fix("Write a share from 0 to 1, e.g. 0.1.")
    ] = 1.0

    @property
    def enabled(self) -> bool:
        """Whether spans are made at all."""
        return self.exporter != "none"


class LoggingSettings(ConfigModel):
    """``[logging]``: one JSON object per line, or plain text for a person at a terminal."""

    unknown_key_problem: ClassVar[str] = "is not a logging setting"

    #: None: the command's own default (JSON for ``serve``, text for the demo).
    format: Annotated[
        Literal["json", "text"] | None,
        Fix('Write "json" (one object per line, for a log collector) or "text".'),
    ] = None
    level: Annotated[
        Literal["debug", "info", "warning", "error"],
        Fix('Write one of: "debug", "info", "warning", "error".'),
    ] = "info"


#: The asymmetric signing algorithms an issuer's tokens may use.
Algorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]
ALGORITHMS: tuple[str, ...] = typing.get_args(Algorithm)


def _registered(agency: str, info: ValidationInfo) -> str:
    # The context names the registered agencies; None when their files have problems of
    # their own, which leaves nothing to check against.
    known = (info.context or {}).get("agencies")
    if known is not None and agency not in known:
        listed = ", ".join(sorted(known)) or "(no agencies registered)"
        raise Invalid(
            f"is {agency!r}, which is not a registered agency", f"Write one of: {listed}."
        )
    return agency


class IssuerTable(ConfigModel):
    """One ``[[issuers]]``: an agency's OpenID Connect issuer and where its keys are."""

    unknown_key_problem: ClassVar[str] = "is not an issuer setting"

    agency: Annotated[str, AfterValidator(_registered), Fix("Write a registered agency's id.")]
    issuer: Annotated[NonEmpty, Fix("Write the issuer URL exactly as tokens carry it in iss.")]
    audience: Annotated[
        NonEmpty, Fix('Write the audience tokens are issued for, e.g. "fame-gateway".')
    ]
    algorithms: Annotated[
        list[Algorithm],
        Field(min_length=1),
        Fix(f"List asymmetric algorithms only, from: {', '.join(ALGORITHMS)}."),
    ] = ["RS256"]
    jwks_file: Annotated[NonEmpty | None, Fix("Write a path.")] = None
    jwks_url: Annotated[
        str | None, Field(pattern=r"^https?://"), Fix("Write the https:// URL of the JWKS.")
    ] = None

    @model_validator(mode="after")
    def _one_key_source(self) -> IssuerTable:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise Invalid(
                "both jwks_file and jwks_url are set" if self.jwks_file else "no key source is set",
                "Write exactly one: jwks_file (a path) or jwks_url (the issuer's JWKS endpoint).",
                key="jwks_file",
            )
        return self


ISSUERS_FIX = (
    "Add one [[issuers]] per agency whose practitioners use the gateway "
    '(agency, issuer, audience, jwks_file or jwks_url, algorithms = ["RS256"]).'
)


def _purpose(value: str) -> str:
    if value not in PURPOSES:
        raise Invalid(f"is {value!r}")
    return value


class SettingsFile(ConfigModel):
    """``gateway.toml``. Every key has a default, so that a file with problems is still read
    for the agencies and protocol it names (see ``read_settings``); the default of issuers,
    none, is refused after the model."""

    unknown_key_problem: ClassVar[str] = "is not a gateway setting"

    mode: Annotated[
        Literal["demo", "production"], Fix('Write "production", or "demo" for the demo.')
    ] = "production"
    state_database: Annotated[
        NonEmpty | None, Fix('Write a URL, e.g. "sqlite+aiosqlite:///state.sqlite".')
    ] = None
    state_database_env: Annotated[
        EnvName | None, Fix('Write the name of an environment variable, e.g. "FAME_STATE_DSN".')
    ] = None
    graphiql: Annotated[bool, TRUE_OR_FALSE] = False
    listen: Annotated[ListenTable, Fix('Write listen = { host = "127.0.0.1", port = 8000 }.')] = (
        ListenTable()
    )
    default_purpose: Annotated[
        str, AfterValidator(_purpose), Fix(f"Write one of: {', '.join(PURPOSES)}.")
    ] = "direct_care"
    #: None: on in demo mode, off in production (see ``Settings.introspection``).
    introspection: Annotated[bool | None, TRUE_OR_FALSE] = None
    limits: Annotated[LimitsTable, Fix("Write a [limits] table.")] = LimitsTable()
    http: Annotated[HttpTable, Fix("Write an [http] table, e.g. cors_origins = [...].")] = (
        HttpTable()
    )
    documents: Annotated[DocumentsTable, Fix("Write a [documents] table.")] = DocumentsTable()
    tracing: Annotated[TracingSettings, Fix("Write a [tracing] table.")] = TracingSettings()
    logging: Annotated[LoggingSettings, Fix("Write a [logging] table.")] = LoggingSettings()
    catalogue: CatalogueField = None
    agencies_dir: Annotated[NonEmpty, Fix('Write a directory, e.g. "agencies".')] = "agencies"
    # Each entry is an IssuerTable, read one by one so that problems name the entry.
    issuers: Annotated[list[dict[str, Any]], Field(min_length=1), Fix(ISSUERS_FIX)] = []
    withheld_detail: Annotated[
        Literal["full", "quiet"],
        Fix('Write "full" (path, agency, item, reason) or "quiet" (path and WITHHELD only).'),
    ] = "full"
    protocol_file: Annotated[NonEmpty, Fix("Write the protocol file's path.")] = (
        "sharing-protocol.toml"
    )
    #: PEM of the gateway's Ed25519 key that signs the audit chain's head; None: unsigned.
    audit_signing_key_file: Annotated[
        NonEmpty | None, Fix("Write the path of the gateway's Ed25519 private key (PEM).")
    ] = None
    metrics_token_env: Annotated[
        EnvName | None,
        Fix('Write the name of an environment variable, e.g. "FAME_METRICS_TOKEN".'),
    ] = None


def read_settings(doc: Mapping[str, Any], problems: Problems) -> tuple[SettingsFile, set[str]]:
    """The settings file as its model, and the top-level keys that have problems (each
    added to ``problems``); those keys read as their defaults, so that what the rest of the
    file names can still be checked and every problem reported at once."""
    read = validate(SettingsFile, doc, problems)
    if read is not None:
        return read, set()
    failed = _failed_keys(doc)
    kept = {key: value for key, value in doc.items() if key not in failed}
    return SettingsFile.model_validate(kept), failed


def _failed_keys(doc: Mapping[str, Any]) -> set[str]:
    try:
        SettingsFile.model_validate(doc)
    except ValidationError as exc:
        return {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
    return set()
