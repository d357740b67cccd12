"""Which slot of a UNION ALL each read's column writes."""

from __future__ import annotations

from sqlalchemy import DATE, DECIMAL, INTEGER, TEXT, VARCHAR

from connectors.sql_slots import assign_slots


def test_columns_of_one_type_share_a_slot_whatever_their_length() -> None:
    slots, types = assign_slots(
        [
            [("team", VARCHAR(80), True), ("since", DATE(), True), ("status", VARCHAR(40), True)],
            [("service", VARCHAR(200), True), ("hours", DECIMAL(4, 1), True)],
        ]
    )
    assert slots == [{"team": 0, "since": 1, "status": 2}, {"service": 0, "hours": 3}]
    assert [type(kind) for kind in types] == [VARCHAR, DATE, VARCHAR, DECIMAL]


def test_different_types_collations_and_precisions_never_share() -> None:
    slots, _ = assign_slots(
        [
            [
                ("a", VARCHAR(20), True),
                ("b", DECIMAL(4, 1), True),
                ("c", INTEGER(), True),
                ("d", VARCHAR(20, collation="utf8mb4_bin"), True),
            ],
            [
                ("e", TEXT(), True),
                ("f", DECIMAL(6, 2), True),
                ("g", VARCHAR(20, collation="utf8mb4_general_ci"), True),
                ("h", None, True),
            ],
            [("i", None, True)],
        ]
    )
    assert len({slot for mine in slots for slot in mine.values()}) == 9


def test_an_order_column_has_a_slot_of_its_own() -> None:
    # The union is ordered by each read's order column in turn: another read writing
    # into that slot would reorder its own rows by one of its values.
    slots, _ = assign_slots(
        [
            [("raised_on", DATE(), False), ("severity", VARCHAR(40), True)],
            [("since", DATE(), True), ("team", VARCHAR(80), True)],
            [("noted_on", DATE(), False)],
        ]
    )
    assert slots == [
        {"raised_on": 0, "severity": 1},
        {"since": 2, "team": 1},
        {"noted_on": 3},
    ]


def test_strings_of_unknown_collation_share_nothing_where_tables_set_it() -> None:
    # MySQL and MariaDB reflect no collation for a column with its table's default, and
    # two tables' defaults can differ: such strings may not unite in one slot.
    reads = [
        [("team", VARCHAR(80), True), ("code", VARCHAR(10, collation="utf8mb4_bin"), True)],
        [("service", VARCHAR(200), True), ("ref", VARCHAR(10, collation="utf8mb4_bin"), True)],
    ]
    slots, _ = assign_slots(reads, implicit_collation_known=False)
    assert slots == [{"team": 0, "code": 1}, {"service": 2, "ref": 1}]
    shared, _ = assign_slots(reads)
    assert shared == [{"team": 0, "code": 1}, {"service": 0, "ref": 1}]
