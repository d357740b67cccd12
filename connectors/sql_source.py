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
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from gateway.core.catalogue import parsing_catalogue, record_set_of
from gateway.core.errors import ConfigError, Problems

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mariadb+aiomysql",
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
        problems = Problems(file)
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
        url = checked_url(raw, "source.url_env", True, self.config_dir, problems)
        if url is None:
            raise problems.errors[0]
        return url

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
        problems = Problems(file)
        url = checked_url(raw, "source.url_file", True, self.config_dir, problems)
        if url is None:
            raise problems.errors[0]
        return url


def parse_sql_source(
    doc: Mapping[str, Any], config_dir: Path, problems: Problems
) -> SqlSource | None:
    """Validate the sql-specific parts of an agency file."""
    source = doc.get("source")
    if not isinstance(source, dict):
        problems.add(
            "source",
            "is missing",
            'Add [source] with url = "postgresql+asyncpg://host/db", url_env = "VARIABLE" '
            'or url_file = "secrets/agency.dsn".',
        )
        return None
    url = _parse_url(source, config_dir, problems)
    tables = _parse_tables(doc.get("tables"), problems)
    items = _parse_items(doc.get("items"), tables, problems)
    if url is None or tables is None or items is None:
        return None
    inline, env, secret_file = url
    if inline is not None:
        shown = inline.render_as_string(hide_password=True)
    else:
        shown = f"${env}" if env is not None else f"the URL in {secret_file}"
    return SqlSource(
        url=inline.render_as_string(hide_password=False) if inline is not None else None,
        url_shown=shown,
        tables=tables,
        items=items,
        url_env=env,
        config_dir=config_dir,
        url_file=secret_file,
    )


_URL_KEYS = ("url", "url_env", "url_file")


def _parse_url(
    source: Mapping[str, Any], config_dir: Path, problems: Problems
) -> tuple[URL | None, str | None, Path | None] | None:
    for key in sorted(set(source) - set(_URL_KEYS)):
        problems.add(
            f"source.{key}",
            "is not a key a sql source takes",
            "Remove it; a sql source takes url, url_env or url_file.",
        )
    given = [key for key in _URL_KEYS if source.get(key) is not None]
    if len(given) != 1:
        problems.add(
            "source.url",
            f"{' and '.join(given)} are set" if given else "is missing",
            "Write exactly one: url (no password in it), url_env naming a variable, or "
            "url_file naming a file that holds the URL (which a running gateway can be "
            "given without a restart).",
        )
        return None
    env, secret_file = source.get("url_env"), source.get("url_file")
    if env is not None:
        if not isinstance(env, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
            problems.add(
                "source.url_env", f"is {env!r}", 'Write the variable\'s name, e.g. "FAME_GP_DSN".'
            )
            return None
        return None, env, None
    if secret_file is not None:
        if not isinstance(secret_file, str) or not secret_file.strip():
            problems.add(
                "source.url_file",
                f"is {secret_file!r}",
                'Write the path of the file holding the URL, e.g. "secrets/agency.dsn".',
            )
            return None
        return None, None, (config_dir / secret_file).resolve()
    url = checked_url(source.get("url"), "source.url", False, config_dir, problems)
    return (url, None, None) if url is not None else None


def checked_url(
    raw: object, key: str, from_env: bool, config_dir: Path, problems: Problems
) -> URL | None:
    """A database URL the sql connector can use (async driver, no inline password), with a
    SQLite file made absolute and read-only; None after adding the problem."""
    if not isinstance(raw, str):
        problems.add(key, f"is {raw!r}", 'Write a URL, e.g. "postgresql+asyncpg://host/db".')
        return None
    try:
        url = make_url(raw)
    except ArgumentError:
        problems.add(
            key,
            "holds something that is not a database URL" if from_env else "is not a database URL",
            'Write a SQLAlchemy URL, e.g. "postgresql+asyncpg://reader@db.example/records".',
        )
        return None
    if not from_env and url.password:
        problems.add(
            key,
            "holds a password written inline",
            "Secrets never go in agency files: put the URL in an environment variable "
            'and write url_env = "FAME_<AGENCY>_DSN", or in a file readable by the gateway '
            'alone and write url_file = "<path>", instead.',
        )
        return None
    backend = url.get_backend_name()
    wanted = _ASYNC_DRIVERS.get(backend)
    if wanted is None:
        problems.add(
            key,
            f"uses the database {backend!r}, which the sql connector does not support",
            "Use sqlite+aiosqlite, postgresql+asyncpg or mysql+aiomysql.",
        )
        return None
    if url.drivername != wanted and not (backend == "mysql" and url.drivername == "mysql+aiomysql"):
        problems.add(
            key,
            f"uses the driver {url.drivername!r}, which is not asynchronous",
            f"Write {wanted}://... instead.",
        )
        return None
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


def _parse_tables(raw: Any, problems: Problems) -> dict[str, SqlTable] | None:
    if not isinstance(raw, dict) or not raw:
        problems.add(
            "tables",
            "is missing",
            'Add one [tables.<name>] per table with key = "<column holding your person id>".',
        )
        return None
    tables: dict[str, SqlTable] = {}
    ok = True
    for name, spec in raw.items():
        where = f"tables.{name}"
        if not _IDENTIFIER.match(name):
            problems.add(where, "is not a plain table name", "Use letters, digits and _.")
            ok = False
            continue
        if not isinstance(spec, dict):
            problems.add(where, "is not a table", f'Write [tables.{name}] with key = "...".')
            ok = False
            continue
        for extra in sorted(set(spec) - {"key", "order_by"}):
            problems.add(f"{where}.{extra}", "is not a key a table takes", "Use key, order_by.")
            ok = False
        key, order_by = spec.get("key"), spec.get("order_by")
        if not isinstance(key, str) or not _IDENTIFIER.match(key):
            problems.add(
                f"{where}.key",
                "is missing or not a plain column name",
                "Name the column that holds your local person id.",
            )
            ok = False
            continue
        if order_by is not None and (
            not isinstance(order_by, str) or not _IDENTIFIER.match(order_by)
        ):
            problems.add(
                f"{where}.order_by", "is not a plain column name", "Name one column, or omit it."
            )
            ok = False
            continue
        tables[name] = SqlTable(name=name, key=key, order_by=order_by)
    return tables if ok else None


def _parse_items(
    raw: Any, tables: Mapping[str, SqlTable] | None, problems: Problems
) -> dict[str, ColumnRef] | None:
    if not isinstance(raw, dict):
        return None
    items: dict[str, ColumnRef] = {}
    table_of_set: dict[str, tuple[str, str]] = {}
    ok = True
    for item, target in raw.items():
        where = f'items."{item}"'
        if item not in parsing_catalogue().items:
            ok = False
            continue
        table_name, dot, col = target.partition(".") if isinstance(target, str) else ("", "", "")
        if not dot or not _IDENTIFIER.match(table_name) or not _IDENTIFIER.match(col):
            problems.add(where, f"is {target!r}", 'Write "table.column", e.g. "patients.forename".')
            ok = False
            continue
        if tables is not None and table_name not in tables:
            problems.add(
                where,
                f"maps to table {table_name!r}, which has no [tables.{table_name}] section",
                f'Add [tables.{table_name}] with key = "<person id column>".',
            )
            ok = False
            continue
        rs = record_set_of(item)
        first = table_of_set.setdefault(rs, (table_name, item))
        if first[0] != table_name:
            problems.add(
                where,
                f"maps record set {rs!r} to table {table_name!r}, but {first[1]!r} maps it "
                f"to {first[0]!r}",
                "Map every item of one record set to the same table (a view can join them).",
            )
            ok = False
            continue
        items[item] = ColumnRef(table=table_name, column=col)
    return items if ok else None
