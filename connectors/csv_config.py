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
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from connectors.csv_table import CsvFile, Layout
from connectors.source_models import (
    declared,
    item_target,
    many_rows,
    named_items,
    refused,
    same_place,
)
from gateway.core.catalogue import ValueKind, parsing_catalogue, record_set_of
from gateway.core.config_models import ConfigModel, Fix, Invalid, validate
from gateway.core.errors import Problems

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")


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
    # Items are checked against every file named, valid or not, so that a problem in a
    # file's section does not hide the items' own problems.
    declared = doc.get("files")
    files = set(declared) if isinstance(declared, dict) else set()
    part = validate(CsvFileModel, doc, problems, context={"files": files})
    if part is None:
        return None
    unused = sorted(set(part.files) - {column.file for column in part.items.values()})
    for name in unused:
        problems.add(
            f"files.{name}",
            "is mapped by no item",
            f'Map items to it ("<item>" = "{name}.<column>") or remove the section.',
        )
    if unused:
        return None
    specs = {
        name: CsvFile(name=name, **spec.model_dump() | {"path": _beside(problems.file, spec.path)})
        for name, spec in part.files.items()
    }
    layouts: dict[str, Layout] = {}
    items: dict[str, CsvColumn] = {}
    for name, spec in specs.items():
        slots: dict[tuple[str, ValueKind], int] = {}
        unique = False
        for item, mapped in sorted(part.items.items()):
            if mapped.file != name:
                continue
            kind = parsing_catalogue().items[item].kind
            slot = slots.setdefault((mapped.column, kind), len(slots))
            items[item] = CsvColumn(file=name, column=mapped.column, slot=slot)
            unique = unique or not many_rows(item)
        order_kind = next(
            (kind for column, kind in slots if column == spec.order_by), ValueKind.STRING
        )
        layouts[name] = Layout(slots=tuple(slots), unique_keys=unique, order_kind=order_kind)
    return CsvSource(files=specs, layouts=layouts, items=items)


def _beside(agency_file: Path, written: str) -> Path:
    path = Path(written)
    return path if path.is_absolute() else (agency_file.parent / path).resolve()


def _known_encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise Invalid(f"is {value!r}, which Python does not know") from None
    return value


#: A column as the header spells it: something, with no spaces around it.
_Column = Annotated[str, Field(pattern=r"^\S(.*\S)?$")]


class CsvFileTable(ConfigModel):
    """``[files.<name>]``: one export and how it is written."""

    unknown_key_problem: ClassVar[str] = "is not a key a file takes"

    path: Annotated[
        str,
        Field(pattern=r"\S"),
        Fix('Write where the export is, relative to this file: path = "exports/{name}.csv".'),
    ]
    key: Annotated[
        _Column, Fix("Name the column holding your local person id, as the header spells it.")
    ]
    order_by: Annotated[_Column | None, Fix("Name one column, or omit it.")] = None
    delimiter: Annotated[
        str,
        Field(pattern=r'^[^\r\n"]$'),
        Fix('Write one character, e.g. "," or ";" or "\\t" for tab-separated files.'),
    ] = ","
    encoding: Annotated[
        str,
        AfterValidator(_known_encoding),
        Fix('Write an encoding name such as "utf-8" or "cp1252" (Excel on Windows).'),
    ] = "utf-8"


def _file_column(item: str, target: str, info: ValidationInfo) -> CsvColumn:
    name, dot, column = target.partition(".")
    if not dot or not _NAME.match(name) or not column or column != column.strip():
        raise Invalid(f"is {target!r}")
    declared(info, "files", name, "file", f'Add [files.{name}] with path = "..." and key = "...".')
    same_place(
        info,
        item,
        name,
        lambda other, there: (
            f"maps record set {record_set_of(item)!r} to file {name!r}, but "
            f"{other!r} maps it to {there!r}"
        ),
        "Map every item of one record set to the same file: its rows are one export.",
    )
    return CsvColumn(file=name, column=column, slot=-1)


_OTHER_KINDS = 'Remove it; name each export in [files.<name>] with path = "..." and key.'


class CsvFileModel(ConfigModel, extra="ignore"):
    """The csv kind's part of an agency file (the rest is the agency file model's)."""

    source: Annotated[
        Any, refused("is for sql and http agencies; a csv agency has no [source]", _OTHER_KINDS)
    ] = None
    tables: Annotated[
        Any, refused("is for sql and http agencies; a csv agency has no [tables]", _OTHER_KINDS)
    ] = None
    files: Annotated[
        dict[
            Annotated[str, Field(pattern=_NAME.pattern), Fix("Use letters, digits, _ and -.")],
            CsvFileTable,
        ],
        Field(min_length=1),
        Fix(
            'Add one [files.<name>] per export with path = "exports/<name>.csv" and '
            'key = "<column holding your local person id>".'
        ),
    ]
    items: Annotated[
        dict[str, Annotated[CsvColumn, item_target(_file_column)]],
        BeforeValidator(named_items),
        Fix('Write "file.column", e.g. "pupils.surname".'),
    ] = {}
