"""The csv kind's part of an agency file: ``[files.<name>]`` and ``[items]``.

Paths are relative to the agency file, so an agency's exports can sit beside it.
Each item maps to ``file.column``; every item of one record set maps to one file
(its rows are one export). What is kept of each file, and how each kept column is
read, is worked out here once, as the file's ``Layout``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.csv_table import CsvFile, Layout
from gateway.core.catalogue import ValueKind, parsing_catalogue, record_set_of
from gateway.core.errors import Problems

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
_FILE_KEYS = ("path", "key", "order_by", "delimiter", "encoding")


@dataclass(frozen=True)
class CsvColumn:
    """Where one catalogue item lives: ``file.column``, and its place in the file's rows."""

    file: str
    column: str
    slot: int


@dataclass(frozen=True)
class CsvSource:
    """The validated ``[files]`` and ``[items]`` of a csv agency."""

    files: Mapping[str, CsvFile]
    layouts: Mapping[str, Layout]
    items: Mapping[str, CsvColumn]


def parse_csv_source(doc: Mapping[str, Any], problems: Problems) -> CsvSource | None:
    """Validate the csv-specific parts of the agency file ``problems`` is collecting for."""
    for other, what in (("source", "[source]"), ("tables", "[tables]")):
        if other in doc:
            problems.add(
                other,
                f"is for sql and http agencies; a csv agency has no {what}",
                'Remove it; name each export in [files.<name>] with path = "..." and key.',
            )
    files = _parse_files(doc.get("files"), problems.file.parent, problems)
    # Items are checked against every file named, valid or not, so that a problem in a
    # file's section does not hide the items' own problems.
    declared = doc.get("files")
    mapped = _parse_items(
        doc.get("items"), set(declared) if isinstance(declared, dict) else set(), problems
    )
    if files is None or mapped is None:
        return None
    unused = sorted(set(files) - {target[0] for target in mapped.values()})
    for name in unused:
        problems.add(
            f"files.{name}",
            "is mapped by no item",
            f'Map items to it ("<item>" = "{name}.<column>") or remove the section.',
        )
    if unused:
        return None
    layouts: dict[str, Layout] = {}
    items: dict[str, CsvColumn] = {}
    for name, spec in files.items():
        slots: dict[tuple[str, ValueKind], int] = {}
        unique = False
        for item, (file_name, column) in sorted(mapped.items()):
            if file_name != name:
                continue
            kind = parsing_catalogue().items[item].kind
            slot = slots.setdefault((column, kind), len(slots))
            items[item] = CsvColumn(file=name, column=column, slot=slot)
            unique = unique or not parsing_catalogue().record_sets_by_name[record_set_of(item)].many
        order_kind = next(
            (kind for column, kind in slots if column == spec.order_by), ValueKind.STRING
        )
        layouts[name] = Layout(slots=tuple(slots), unique_keys=unique, order_kind=order_kind)
    return CsvSource(files=files, layouts=layouts, items=items)


def _parse_files(raw: Any, base: Path, problems: Problems) -> dict[str, CsvFile] | None:
    if not isinstance(raw, dict) or not raw:
        problems.add(
            "files",
            "is missing",
            'Add one [files.<name>] per export with path = "exports/<name>.csv" and '
            'key = "<column holding your local person id>".',
        )
        return None
    files: dict[str, CsvFile] = {}
    ok = True
    for name, spec in raw.items():
        where = f"files.{name}"
        if not _NAME.match(name):
            problems.add(where, "is not a plain name", "Use letters, digits, _ and -.")
            ok = False
            continue
        if not isinstance(spec, dict):
            problems.add(where, "is not a table", f'Write [{where}] with path = "..." and key.')
            ok = False
            continue
        for extra in sorted(set(spec) - set(_FILE_KEYS)):
            problems.add(
                f"{where}.{extra}", "is not a key a file takes", f"Use: {', '.join(_FILE_KEYS)}."
            )
            ok = False
        path, key = spec.get("path"), spec.get("key")
        if not isinstance(path, str) or not path.strip():
            problems.add(
                f"{where}.path",
                f"is {path!r}",
                f'Write where the export is, relative to this file: path = "exports/{name}.csv".',
            )
            ok = False
        if not _column_name(key):
            problems.add(
                f"{where}.key",
                f"is {key!r}",
                "Name the column holding your local person id, as the header spells it.",
            )
            ok = False
        order_by = spec.get("order_by")
        if order_by is not None and not _column_name(order_by):
            problems.add(f"{where}.order_by", f"is {order_by!r}", "Name one column, or omit it.")
            ok = False
        delimiter = spec.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
            problems.add(
                f"{where}.delimiter",
                f"is {delimiter!r}",
                'Write one character, e.g. "," or ";" or "\\t" for tab-separated files.',
            )
            ok = False
        encoding = spec.get("encoding", "utf-8")
        if not _known_encoding(encoding):
            problems.add(
                f"{where}.encoding",
                f"is {encoding!r}, which Python does not know",
                'Write an encoding name such as "utf-8" or "cp1252" (Excel on Windows).',
            )
            ok = False
        if ok:
            assert isinstance(path, str) and isinstance(key, str)
            resolved = Path(path)
            files[name] = CsvFile(
                name=name,
                path=resolved if resolved.is_absolute() else (base / resolved).resolve(),
                key=key,
                order_by=order_by,
                delimiter=delimiter,
                encoding=encoding,
            )
    return files if ok else None


def _parse_items(
    raw: Any, files: set[str], problems: Problems
) -> dict[str, tuple[str, str]] | None:
    if not isinstance(raw, dict):
        return None  # the agency loader reports a missing [items]
    mapped: dict[str, tuple[str, str]] = {}
    file_of_set: dict[str, tuple[str, str]] = {}
    ok = True
    for item, target in raw.items():
        if item not in parsing_catalogue().items:
            ok = False  # the agency loader reports items outside the catalogue
            continue
        where = f'items."{item}"'
        file_name, dot, column = target.partition(".") if isinstance(target, str) else ("", "", "")
        if not dot or not _NAME.match(file_name) or not _column_name(column):
            problems.add(where, f"is {target!r}", 'Write "file.column", e.g. "pupils.surname".')
            ok = False
            continue
        if file_name not in files:
            problems.add(
                where,
                f"maps to file {file_name!r}, which has no [files.{file_name}] section",
                f'Add [files.{file_name}] with path = "..." and key = "...".',
            )
            ok = False
            continue
        rs = record_set_of(item)
        first = file_of_set.setdefault(rs, (file_name, item))
        if first[0] != file_name:
            problems.add(
                where,
                f"maps record set {rs!r} to file {file_name!r}, but {first[1]!r} maps it to "
                f"{first[0]!r}",
                "Map every item of one record set to the same file: its rows are one export.",
            )
            ok = False
            continue
        mapped[item] = (file_name, column)
    return mapped if ok else None


def _column_name(value: object) -> bool:
    return isinstance(value, str) and bool(value) and value == value.strip()


def _known_encoding(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        codecs.lookup(value)
    except LookupError:
        return False
    return True
