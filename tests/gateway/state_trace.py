"""What each read of the state database ran: for tests that count a request's reads."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, event

from gateway.governance.state_db import StateDatabase
from gateway.governance.state_sqlite import driver

#: The tables the policy's facts come from, and the change marker, as a statement names them.
TABLE = re.compile(r"\bFROM (state_version|persons|person_links|consents|break_glass_grants)\b")


class Trace:
    """The statements each read of the state database runs, whichever the driver."""

    def __init__(self, state: StateDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps: list[list[str]] = []
        real_read = state.read

        async def read(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            def traced(conn: Connection, *inner: Any, **named: Any) -> Any:
                statements: list[str] = []
                self.steps.append(statements)
                db = driver(conn)

                def on_execute(_c: Connection, _cursor: Any, statement: str, *_: Any) -> None:
                    statements.append(statement)

                if db is not None:
                    db.set_trace_callback(statements.append)
                else:
                    event.listen(conn, "before_cursor_execute", on_execute)
                try:
                    return fn(conn, *inner, **named)
                finally:
                    if db is not None:
                        db.set_trace_callback(None)
                    else:
                        event.remove(conn, "before_cursor_execute", on_execute)

            return await real_read(traced, *args, **kwargs)

        monkeypatch.setattr(state, "read", read)

    def tables(self) -> list[list[str]]:
        """The tables each step read, in order, since the last call."""
        found = [
            [hit.group(1) for statement in step if (hit := TABLE.search(statement))]
            for step in self.steps
        ]
        self.steps.clear()
        return found
