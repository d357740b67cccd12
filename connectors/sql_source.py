"""The ``[source]``, ``[tables]`` and ``[items]`` of a sql agency file, validated.

A URL written in the file is checked completely when the file is read. A URL held in
an environment variable (``url_env``, where a password may be) or in a secret file
(``url_file``) is read only when the connector opens or is checked, so that commands
that never connect (``token``, ``items``, ``protocol render``, ...) run where the
agency's secret is not set. A running gateway's environment cannot gain a variable, so
an agency added by a reload gives its secret as a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from connectors.source_models import (
    EnvName,
    context,
    declared,
    item_target,
    named_items,
    same_place,
)
from gateway.core.catalogue import record_set_of
from gateway.core.config_models import ConfigModel, Fix, Invalid, validate
from gateway.core.errors import ConfigError, Problems

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: Each database's asynchronous drivers, the one to recommend first. On MySQL and MariaDB
#: asyncmy decodes rows in compiled code, about eight times less CPU per row than
#: aiomysql's pure Python (measured on a caseload's reads); aiomysql is still accepted.
_ASYNC_DRIVERS = {
    "sqlite": ("sqlite+aiosqlite",),
    "postgresql": ("postgresql+asyncpg",),
    "mysql": ("mysql+asyncmy", "mysql+aiomysql"),
    "mariadb": ("mariadb+asyncmy", "mariadb+aiomysql"),
}


@dataclass(frozen=True)
class SqlTable:
    """A mapped table: its name, the column holding the local person id, its row order."""

    name: str
    key: str
    order_by: str | None = None


@dataclass(frozen=True)
class ColumnRef:
    """Where one catalogue item lives: ``table.column``."""

    table: str
    column: str


@dataclass(frozen=True)
class SqlSource:
    """The validated ``[source]``, ``[tables]`` and ``[items]`` of a sql agency.

    ``url`` is the URL written in the file, ready to use; None when ``url_env`` names
    the variable holding it, or ``url_file`` the file, which ``resolve_url`` reads.
    """

    url: str | None
    url_shown: str
    tables: Mapping[str, SqlTable]
    items: Mapping[str, ColumnRef]
    url_env: str | None = None
    config_dir: Path = Path()
    url_file: Path | None = None

    @property
    def url_key(self) -> str:
        """The key of the agency file that gives the URL."""
        if self.url_file is not None:
            return "source.url_file"
        return "source.url_env" if self.url_env else "source.url"

    def resolve_url(self, file: Path) -> URL:
        """The URL to connect with; a ConfigError naming the variable when it is unset or
        does not hold a usable URL."""
        if self.url is not None:
            return make_url(self.url)
        if self.url_file is not None:
            return self._url_from_file(file)
        assert self.url_env is not None
        raw = os.environ.get(self.url_env)
        if not raw:
            raise ConfigError(
                file,
                "source.url_env",
                f"names the environment variable {self.url_env}, which is not set",
                f"Set {self.url_env} to the database URL (e.g. export {self.url_env}="
                f"'postgresql+asyncpg://reader:password@db.example/records') where the gateway "
                "runs `serve` or `agency check`; commands that do not connect to the agency "
                "run without it.",
            )
        try:
            return checked_url(raw, True, self.config_dir)
        except Invalid as exc:
            raise ConfigError(file, "source.url_env", exc.problem, exc.fix or "") from None

    def _url_from_file(self, file: Path) -> URL:
        assert self.url_file is not None
        try:
            raw = self.url_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise ConfigError(
                file,
                "source.url_file",
                f"names {self.url_file}, which cannot be read ({reason})",
                f"Write the database URL alone into {self.url_file} (e.g. "
                "postgresql+asyncpg://reader:password@db.example/records), readable by the "
                "user the gateway runs as; a relative path is read from the settings' "
                "directory.",
            ) from None
        try:
            return checked_url(raw, True, self.config_dir)
        except Invalid as exc:
            raise ConfigError(file, "source.url_file", exc.problem, exc.fix or "") from None


def parse_sql_source(
    doc: Mapping[str, Any], config_dir: Path, problems: Problems
) -> SqlSource | None:
    """Validate the sql-specific parts of an agency file."""
    declared = doc.get("tables")
    # Items are checked against every table named, valid or not, so that a problem in a
    # table's section does not hide the items' own problems.
    tables = set(declared) if isinstance(declared, dict) else set()
    part = validate(SqlFile, doc, problems, context={"config_dir": config_dir, "tables": tables})
    if part is None:
        return None
    url, secret_file = part.source.url, part.source.url_file
    if url is not None:
        shown = make_url(url).render_as_string(hide_password=True)
    else:
        shown = f"${part.source.url_env}" if secret_file is None else f"the URL in {secret_file}"
    return SqlSource(
        url=url,
        url_shown=shown,
        tables={
            name: SqlTable(name=name, key=table.key, order_by=table.order_by)
            for name, table in part.tables.items()
        },
        items=part.items,
        url_env=part.source.url_env,
        config_dir=config_dir,
        url_file=(config_dir / secret_file).resolve() if secret_file is not None else None,
    )


def checked_url(raw: str, from_env: bool, config_dir: Path) -> URL:
    """A database URL the sql connector can use (async driver, no inline password), with a
    SQLite file made absolute and read-only; raises Invalid saying what is wrong."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise Invalid(
            "holds something that is not a database URL" if from_env else "is not a database URL",
            'Write a SQLAlchemy URL, e.g. "postgresql+asyncpg://reader@db.example/records".',
        ) from None
    if not from_env and url.password:
        raise Invalid("holds a password written inline", SqlUrl.secret_fix)
    backend = url.get_backend_name()
    drivers = _ASYNC_DRIVERS.get(backend)
    if drivers is None:
        raise Invalid(
            f"uses the database {backend!r}, which the sql connector does not support",
            "Use sqlite+aiosqlite, postgresql+asyncpg or mysql+asyncmy.",
        )
    if url.drivername not in drivers:
        raise Invalid(
            f"uses the driver {url.drivername!r}, which is not asynchronous",
            f"Write {drivers[0]}://... instead.",
        )
    if backend == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            path = (config_dir / path).resolve()
        # Read-only: the gateway never writes to an agency's system, and a
        # missing file must be "unreachable", not silently created empty.
        url = url.set(
            database=f"file:{quote(str(path))}",
            query={**url.query, "mode": "ro", "uri": "true"},
        )
    return url


def _inline_url(raw: str, info: ValidationInfo) -> str:
    url = checked_url(raw, False, context(info)["config_dir"])
    return url.render_as_string(hide_password=False)


class SqlUrl(ConfigModel):
    """``[source]``: where the database is, written inline or held in a variable."""

    unknown_key_problem: ClassVar[str] = "is not a key a sql source takes"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"password", "secret"})
    secret_fix: ClassVar[str] = (
        "Secrets never go in agency files: put the URL in an environment variable "
        'and write url_env = "FAME_<AGENCY>_DSN", or in a file readable by the gateway '
        'alone and write url_file = "<path>", instead.'
    )

    url: Annotated[
        str | None,
        AfterValidator(_inline_url),
        Fix('Write a URL, e.g. "postgresql+asyncpg://reader@db.example/records".'),
    ] = None
    url_env: Annotated[EnvName | None, Fix('Write the variable\'s name, e.g. "FAME_GP_DSN".')] = (
        None
    )
    # A path, relative to the settings' directory: read only when the connector opens.
    url_file: Annotated[
        str | None,
        Field(min_length=1),
        Fix('Write the path of the file holding the URL, e.g. "secrets/agency.dsn".'),
    ] = None

    @model_validator(mode="after")
    def _one_of(self) -> SqlUrl:
        given = [key for key in ("url", "url_env", "url_file") if getattr(self, key) is not None]
        if len(given) != 1:
            raise Invalid(
                (("both " if len(given) == 2 else "all of ") + " and ".join(given) + " are set")
                if given
                else "is missing",
                "Write exactly one: url (no password in it), url_env naming a variable, or "
                "url_file naming a file that holds the URL (which a running gateway can be "
                "given without a restart).",
                key="url",
            )
        return self


_Identifier = Annotated[str, Field(pattern=_IDENTIFIER.pattern)]


class SqlTableModel(ConfigModel):
    """``[tables.<name>]``: a table holding records about people."""

    unknown_key_problem: ClassVar[str] = "is not a key a table takes"

    key: Annotated[_Identifier, Fix("Name the column that holds your local person id.")]
    order_by: Annotated[_Identifier | None, Fix("Name one column, or omit it.")] = None


def _column_ref(item: str, target: str, info: ValidationInfo) -> ColumnRef:
    table, dot, column = target.partition(".")
    if not dot or not _IDENTIFIER.match(table) or not _IDENTIFIER.match(column):
        raise Invalid(f"is {target!r}")
    declared(
        info, "tables", table, "table", f'Add [tables.{table}] with key = "<person id column>".'
    )
    same_place(
        info,
        item,
        table,
        lambda other, there: (
            f"maps record set {record_set_of(item)!r} to table {table!r}, but "
            f"{other!r} maps it to {there!r}"
        ),
        "Map every item of one record set to the same table (a view can join them).",
    )
    return ColumnRef(table=table, column=column)


class SqlFile(ConfigModel, extra="ignore"):
    """The sql kind's part of an agency file (the rest is the agency file model's)."""

    source: Annotated[
        SqlUrl,
        Fix(
            'Add [source] with url = "postgresql+asyncpg://host/db", url_env = "VARIABLE" '
            'or url_file = "secrets/agency.dsn".'
        ),
    ]
    tables: Annotated[
        dict[Annotated[_Identifier, Fix("Use letters, digits and _.")], SqlTableModel],
        Field(min_length=1),
        Fix('Add one [tables.<name>] per table with key = "<column holding your person id>".'),
    ]
    items: Annotated[
        dict[str, Annotated[ColumnRef, item_target(_column_ref)]],
        BeforeValidator(named_items),
        Fix('Write "table.column", e.g. "patients.forename".'),
    ] = {}
