"""Configuration files read through pydantic models, and the one adapter that turns every
validation error into a ``ConfigError(file, key, problem, fix)``.

A field says what to write instead with ``Fix`` in its annotation
(``Annotated[float, Field(gt=0, le=60), Fix("Write a number of seconds from 0.1 to 60.")]``);
a validator that knows better raises ``invalid(problem, fix)``. Every error of a file is
reported, each naming its key as the file writes it (``items."alerts.severity"``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from gateway.core.errors import Problems

M = TypeVar("M", bound="ConfigModel")


@dataclass(frozen=True)
class Fix:
    """What to write instead of a wrong value, attached to a field's annotation; a function
    when the answer is known only at run time (the connector kinds installed)."""

    text: str | Callable[[], str]

    def says(self) -> str:
        """The fix's text."""
        return self.text() if callable(self.text) else self.text


class ConfigModel(BaseModel):
    """A table of a configuration file: no unknown keys, TOML's own types (no coercion)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: How an unknown key of this table is described.
    unknown_key_problem: ClassVar[str] = "is not a key this table takes"

    @classmethod
    def unknown_key(cls, key: str) -> tuple[str, str]:
        """The problem and fix for an unknown key of this table."""
        return cls.unknown_key_problem, f"Remove it; the keys are: {', '.join(cls.keys())}."

    @classmethod
    def keys(cls) -> list[str]:
        """The keys this table takes, sorted."""
        return sorted(cls.model_fields)


def invalid(problem: str, fix: str) -> PydanticCustomError:
    """An error for a validator to raise, with its own problem and fix."""
    return PydanticCustomError("config", "{problem}", {"problem": problem, "fix": fix})


def validate(
    model: type[M], data: Mapping[str, Any], problems: Problems, prefix: str = ""
) -> M | None:
    """``data`` as ``model``; None after adding one problem per validation error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            key, problem, fix = _describe(model, error)
            problems.add(f"{prefix}.{key}" if prefix and key else prefix or key, problem, fix)
        return None


def _describe(model: type[ConfigModel], error: ErrorDetails) -> tuple[str, str, str]:
    parts = [str(p) for p in error["loc"] if not isinstance(p, int) and p != "[key]"]
    owner, fix = _walk(model, parts)
    key = ".".join(f'"{p}"' if "." in p else p for p in parts) or "(file)"
    ctx = error.get("ctx") or {}
    if error["type"] == "config":
        return key, str(ctx["problem"]), str(ctx["fix"])
    if error["type"] == "extra_forbidden" and owner is not None:
        problem, extra_fix = owner.unknown_key(parts[-1])
        return key, problem, extra_fix
    problem = "is missing" if error["type"] == "missing" else f"is {error['input']!r}"
    return key, problem, fix or f"{error['msg']}."


def _walk(model: type[ConfigModel], parts: list[str]) -> tuple[type[ConfigModel] | None, str]:
    """The table holding the last key, and the key's Fix text."""
    current: Any = model
    owner: type[ConfigModel] | None = None
    fix = ""
    for part in parts:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, ConfigModel):
            owner = current
            field = current.model_fields.get(part)
            if field is None:
                return owner, fix
            fix = next((m.says() for m in field.metadata if isinstance(m, Fix)), "")
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
    return owner, fix


def _unwrap(annotation: Any) -> Any:
    """``X | None`` as ``X``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation
