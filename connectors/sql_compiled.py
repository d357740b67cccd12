"""A sql agency's statement compiled once per shape, run with only the ids changing.

SQLAlchemy renders a shape's statement to the dialect's SQL once; every later fetch of
that shape hands the driver the same text and a fresh tuple of values, and reads the
rows back by position. The ids are bound values, never SQL: PostgreSQL takes them as
one array (``key = ANY($1)``); MySQL, MariaDB and SQLite have no arrays, so the IN list
has a fixed number of placeholders per shape, the ids padded up to it by repeating the
last one (a repeated id matches no row that the id itself does not).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import ColumnElement, CompoundSelect, Select

from connectors.base import FetchResult

#: One item's value in a row: its label, record set, catalogue field and coercer (or None).
Field = tuple[str, str, str, Callable[[object], object] | None]


def uses_array(dialect: Dialect) -> bool:
    """Whether the dialect binds a branch's ids as one array parameter."""
    return dialect.name == "postgresql"


def bucket(count: int, limit: int) -> int:
    """The number of id placeholders a branch of ``count`` ids gets: the next power of
    two, at most ``limit``; few sizes, so few statements to compile and keep."""
    return min(limit, 1 << max(count - 1, 0).bit_length())


def ids_condition(key: ColumnElement[Any], name: str, size: int | None) -> ColumnElement[bool]:
    """``key`` among a branch's ids: one array parameter when ``size`` is None, else
    ``size`` placeholders named ``{name}_{i}``."""
    if size is None:
        return key == any_(bindparam(name, type_=ARRAY(String())))
    return key.in_([bindparam(f"{name}_{index}", type_=String()) for index in range(size)])


#: Adds one row's values to a person's records (record set -> rows of fields).
AddRow = Callable[[Sequence[Any], dict[str, list[dict[str, Any]]]], None]


@dataclass(frozen=True)
class BranchLayout:
    """Where one branch's key is in a row, and how its values are added to the records."""

    key_at: int
    add: AddRow


@dataclass(frozen=True)
class CompiledShape:
    """A statement as the driver receives it, and how to fill it and read its rows."""

    sql: str
    #: Per parameter run: a branch index (its ids go there) or None with a fixed value.
    plan: tuple[tuple[int | None, object], ...]
    #: The number of placeholders of each branch's ids; None: one array parameter.
    sizes: tuple[int | None, ...]
    branches: tuple[BranchLayout, ...]
    #: Position of the branch number in a row; None for a single read.
    branch_at: int | None

    def parameters(self, ids: Sequence[Sequence[str]]) -> tuple[object, ...]:
        """The positional values for one execution, ``ids`` given per branch."""
        values: list[object] = []
        for branch, fixed in self.plan:
            if branch is None:
                values.append(fixed)
                continue
            mine = ids[branch]
            size = self.sizes[branch]
            if size is None:
                values.append(list(mine))
            else:
                values.extend(mine)
                values.extend([mine[-1]] * (size - len(mine)))
        return tuple(values)

    def collect(
        self, rows: Sequence[Sequence[Any]], ids: Sequence[Sequence[str]], result: FetchResult
    ) -> None:
        """Add the rows' values to ``result``: local id -> record set -> rows of fields."""
        asked = [set(mine) for mine in ids]
        layouts = self.branches
        branch_at = self.branch_at
        for row in rows:
            index = 0 if branch_at is None else int(row[branch_at])
            layout = layouts[index]
            local_id = str(row[layout.key_at])
            if local_id not in asked[index]:
                # Collations that ignore case or trailing spaces can answer
                # for ids spelled differently: only exact ids asked for count.
                continue
            records = result.get(local_id)
            if records is None:
                records = result[local_id] = {}
            layout.add(row, records)


def compile_shape(
    statement: Select[Any] | CompoundSelect[Any],
    dialect: Dialect,
    branches: Sequence[tuple[str, str, Sequence[Field]]],
    sizes: Sequence[int | None],
) -> CompiledShape:
    """Render ``statement`` for ``dialect`` once.

    ``branches`` gives, per branch, its ids' parameter name, the label of its key and
    (label, record set, field, coercer) per item; ``sizes`` its placeholders (None:
    an array; see ``ids_condition``). Values bound in the statement (date bounds) are
    processed for the driver here, once, as SQLAlchemy would on every execution.
    """
    compiled = statement.compile(dialect=dialect)
    position = {name: index for index, name in enumerate(statement.selected_columns.keys())}
    id_binds: dict[str, tuple[int, int]] = {}
    for index, ((ids_name, _, _), size) in enumerate(zip(branches, sizes, strict=True)):
        if size is None:
            id_binds[ids_name] = (index, 0)
        else:
            id_binds.update({f"{ids_name}_{at}": (index, at) for at in range(size)})
    plan: list[tuple[int | None, object]] = []
    expected = 0
    for name in compiled.positiontup or ():
        found = id_binds.get(name)
        if found is not None:
            branch, at = found
            # A branch's placeholders are rendered together, in order: one run.
            assert at == expected, (name, expected)
            if at == 0:
                plan.append((branch, None))
            size = sizes[branch]
            expected = 0 if size is None or at + 1 == size else at + 1
            continue
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        plan.append((None, process(bind.value) if process is not None else bind.value))
    layouts = [
        BranchLayout(
            key_at=position[key_label],
            add=_row_adder(
                [(rs, field, position[label], convert) for label, rs, field, convert in fields]
            ),
        )
        for _, key_label, fields in branches
    ]
    return CompiledShape(
        sql=compiled.string,
        plan=tuple(plan),
        sizes=tuple(sizes),
        branches=tuple(layouts),
        branch_at=position["b"] if len(branches) > 1 else None,
    )


def _row_adder(
    fields: Sequence[tuple[str, str, int, Callable[[object], object] | None]],
) -> AddRow:
    """A function adding a row's values, (record set, field, position, coercer) each, to a
    person's records: one row of fields per record set.

    Straight-line code generated per layout, as the projector is: a row's values are
    read by position and each record's dict is built in one expression, with no loop,
    zip or second pass for the coerced values. Record set and field names reach the code
    only as bound constants (s0, f0, ...), never as source text.
    """
    namespace: dict[str, Any] = {}
    by_set: dict[str, list[int]] = {}
    lines = ["def add(row, records):"]
    for n, (rs_name, field, at, convert) in enumerate(fields):
        by_set.setdefault(rs_name, []).append(n)
        namespace[f"f{n}"] = field
        lines.append(f"    v{n} = row[{int(at)}]")
        if convert is not None:
            namespace[f"c{n}"] = convert
            lines.append(f"    if v{n} is not None: v{n} = c{n}(v{n})")
    for m, (rs_name, members) in enumerate(by_set.items()):
        namespace[f"s{m}"] = rs_name
        record = "{" + ", ".join(f"f{n}: v{n}" for n in members) + "}"
        lines += [
            f"    found = records.get(s{m})",
            "    if found is None:",
            f"        records[s{m}] = [{record}]",
            "    else:",
            f"        found.append({record})",
        ]
    lines.append("    return None")
    exec("\n".join(lines), namespace)
    add: AddRow = namespace["add"]
    return add
