"""Configuration files read through pydantic models, and the one adapter that turns every
validation error into a ``ConfigError(file, key, problem, fix)``.

A field says what to write instead with ``Fix`` in its annotation
(``Annotated[float, Field(gt=0, le=60), Fix("Write a number of seconds from 0.1 to 60.")]``);
a validator that knows better raises ``Invalid(problem, fix)``. Every error of a file is
reported, each naming its key as the file writes it (``items."alerts.severity"``): a wrong
type says what was found and what belongs there, an unknown key the keys there are (and
the one meant, when it is a near miss).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from gateway.core.errors import Problems

M = TypeVar("M", bound="ConfigModel")


@dataclass(frozen=True)
class Fix:
    """What to write instead of a wrong value, attached to a field's annotation; a function
    when the answer is known only at run time (the connector kinds installed).

    ``{name}`` in the text stands for the name of the table holding the key (``enrolments``
    for ``files.enrolments.path``)."""

    text: str | Callable[[], str]

    def says(self) -> str:
        """The fix's text."""
        return self.text() if callable(self.text) else self.text


class Invalid(ValueError):
    """Raised by a validator: what is wrong and what to write instead.

    Without ``fix`` the key's ``Fix`` is used. ``key`` places the problem on a key inside
    the one being validated (a model validator blaming one of its keys).
    """

    def __init__(self, problem: str, fix: str | None = None, key: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        self.key = key
        super().__init__(problem)


def invalid(problem: str, fix: str) -> Invalid:
    """An error for a validator to raise, with its own problem and fix."""
    return Invalid(problem, fix)


class ConfigModel(BaseModel):
    """A table of a configuration file: no unknown keys, TOML's own types (no coercion)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: How an unknown key of this table is described.
    unknown_key_problem: ClassVar[str] = "is not a key this table takes"
    #: Keys people write for secrets, refused with ``secret_fix`` (where secrets go instead).
    secret_keys: ClassVar[frozenset[str]] = frozenset()
    secret_fix: ClassVar[str] = "Secrets never go in configuration files."

    @classmethod
    def unknown_key(cls, key: str) -> tuple[str, str]:
        """The problem and fix for an unknown key of this table."""
        if key in cls.secret_keys:
            return cls.unknown_key_problem, cls.secret_fix
        return cls.unknown_key_problem, cls.keys_fix(key)

    @classmethod
    def keys_fix(cls, key: str) -> str:
        """Remove the key, or write the one it nearly spells."""
        listed = f"the keys are: {', '.join(cls.keys())}."
        near = difflib.get_close_matches(key, cls.keys(), n=1, cutoff=0.75)
        if near:
            return f"Did you mean {near[0]}? Otherwise remove it; {listed}"
        return f"Remove it; {listed}"

    @classmethod
    def keys(cls) -> list[str]:
        """The keys this table takes, sorted."""
        return sorted(cls.model_fields)


def validate(
    model: type[M],
    data: Mapping[str, Any],
    problems: Problems,
    prefix: str = "",
    context: Mapping[str, Any] | None = None,
) -> M | None:
    """``data`` as ``model``; None after adding one problem per validation error.

    Validators see ``context`` (a fresh dict each time, so they may keep notes across the
    keys of one validation) as ``info.context``.
    """
    try:
        return model.model_validate(data, context=dict(context or {}))
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            key, problem, fix = _describe(model, error)
            problems.add(f"{prefix}.{key}" if prefix and key else prefix or key, problem, fix)
        return None


#: How TOML's values are named in messages, by the pydantic error that wanted each.
_WANTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "list_type": "a list",
}


def _describe(model: type[ConfigModel], error: ErrorDetails) -> tuple[str, str, str]:
    loc = [str(p) for p in error["loc"] if not isinstance(p, int)]
    on_name = bool(loc) and loc[-1] == "[key]"
    parts = [p for p in loc if p != "[key]"]
    owner, fix = _walk(model, loc)
    if fix and len(parts) >= 2:
        fix = fix.replace("{name}", parts[-2])
    ctx = error.get("ctx") or {}
    raised = ctx.get("error")
    if isinstance(raised, Invalid):
        if raised.key:
            parts.append(raised.key)
        return _key(parts), raised.problem, raised.fix or fix or "See the documentation."
    key = _key(parts)
    kind = error["type"]
    if kind == "extra_forbidden" and owner is not None:
        problem, extra_fix = owner.unknown_key(parts[-1])
        return key, problem, extra_fix
    if kind == "missing":
        return key, "is missing", fix or "Add it."
    if on_name:
        return key, "is not a usable name", fix or f"{error['msg']}."
    wanted = _WANTED.get(kind)
    if wanted is not None:
        return key, f"is {_found(error['input'])}, not {wanted}", fix or f"Write {wanted}."
    if error["input"] in ("", {}, []):
        return key, "is empty", fix or f"{error['msg']}."
    return key, f"is {_found(error['input'])}", fix or f"{error['msg']}."


def _key(parts: list[str]) -> str:
    return ".".join(f'"{p}"' if "." in p else p for p in parts) or "(file)"


def _found(value: object) -> str:
    """A value as the file wrote it; a table or list by its kind, not its contents."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _walk(model: type[ConfigModel], loc: list[str]) -> tuple[type[ConfigModel] | None, str]:
    """The table holding the last key, and the deepest Fix on the way to it (a dict's
    names and values may carry their own)."""
    current: Any = model
    owner: type[ConfigModel] | None = None
    fix = ""
    for index, part in enumerate(loc):
        current, found = _unwrap(current)
        fix = found or fix
        if isinstance(current, type) and issubclass(current, ConfigModel):
            owner = current
            field = current.model_fields.get(part)
            if field is None:
                return owner, fix
            # A key's own Fix, not its table's: [source]'s advice is not source.path's.
            fix = next((m.says() for m in field.metadata if isinstance(m, Fix)), "")
            current = field.annotation
        elif typing.get_origin(current) is dict and part != "[key]":
            # ("tables", "x y", "[key]") is the name "x y" itself; ("tables", "x y") its table.
            on_name = loc[index + 1 : index + 2] == ["[key]"]
            current = typing.get_args(current)[0 if on_name else 1]
    _, found = _unwrap(current)
    return owner, found or fix


def _unwrap(annotation: Any) -> tuple[Any, str]:
    """``Annotated[X, ...]`` and ``X | None`` as ``X``, with any Fix found on the way."""
    fix = ""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            fix = next((m.says() for m in annotation.__metadata__ if isinstance(m, Fix)), "") or fix
            annotation = annotation.__origin__
            continue
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation, fix
