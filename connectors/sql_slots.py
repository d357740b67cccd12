"""The columns of a UNION ALL of several tables' reads: which read writes which slot.

Every row of the union carries every slot, NULL where its own read writes nothing,
and the drivers decode each of them (aiomysql in Python). Reads therefore share a
slot where that cannot change a value: columns of the very same type (strings of the
same kind, collation and character set, whatever their length), which every database
unites as that type. A column whose type is unknown, and a table's ``order_by``
column (the union is ordered by it, so no other read may write there), get a slot of
their own.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import String

#: One column a read selects: its name, its reflected type (None: unknown) and
#: whether it may share its slot.
SlotColumn = tuple[str, Any, bool]


def family(kind: Any, *, implicit_collation_known: bool = True) -> Hashable | None:
    """What columns sharing a slot must have in common; None: share with nothing.

    ``implicit_collation_known``: whether a string column reflected without a collation
    has the database's one default. Not so on MySQL and MariaDB, whose reflection
    leaves out a column's collation when it is its table's default, and tables' defaults
    differ; a UNION of two such columns can fail with "Illegal mix of collations".
    """
    if kind is None:
        return None
    if isinstance(kind, String):
        if kind.collation is None and not implicit_collation_known:
            return None
        # Length aside: VARCHAR(40) and VARCHAR(200) unite to a VARCHAR holding both.
        return (type(kind), kind.collation, getattr(kind, "charset", None))
    return (type(kind), repr(kind))


def assign_slots(
    reads: Sequence[Sequence[SlotColumn]], *, implicit_collation_known: bool = True
) -> tuple[list[dict[str, int]], list[Any]]:
    """Each read's column -> slot, and each slot's type (that of the first column in it).

    ``implicit_collation_known`` as for :func:`family`."""
    families: list[Hashable | None] = []
    types: list[Any] = []
    assigned: list[dict[str, int]] = []
    for columns in reads:
        mine: dict[str, int] = {}
        for name, kind, shareable in columns:
            wanted = (
                family(kind, implicit_collation_known=implicit_collation_known)
                if shareable
                else None
            )
            taken = set(mine.values())
            slot = next(
                (
                    at
                    for at, there in enumerate(families)
                    if wanted is not None and there == wanted and at not in taken
                ),
                None,
            )
            if slot is None:
                slot = len(families)
                families.append(wanted)
                types.append(kind)
            mine[name] = slot
        assigned.append(mine)
    return assigned, types
