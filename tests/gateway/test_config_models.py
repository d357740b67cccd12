"""The adapter from pydantic models to ConfigError(file, key, problem, fix): what each kind of
validation error tells the person fixing the file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import pytest
from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from gateway.core.config_models import ConfigModel, Fix, Invalid, validate
from gateway.core.errors import Problems

FILE = Path("config/agencies/test-agency.toml")


def _even(value: int) -> int:
    if value % 2:
        raise Invalid(f"is {value}, an odd number", "Write an even number.")
    return value


def _noted(value: str, info: ValidationInfo) -> str:
    assert isinstance(info.context, dict)
    seen = info.context.setdefault("seen", [])
    if value in seen:
        raise Invalid(f"repeats {value!r}")
    seen.append(value)
    return value


class Export(ConfigModel):
    """A table inside a table of tables."""

    unknown_key_problem: ClassVar[str] = "is not a key an export takes"

    path: Annotated[str, Fix('Write path = "exports/{name}.csv".')]
    label: Annotated[str, AfterValidator(_noted), Fix("Give each export its own label.")] = "x"


class Source(ConfigModel):
    """A table with secrets people may be tempted to write."""

    unknown_key_problem: ClassVar[str] = "is not a key a source takes"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"password"})
    secret_fix: ClassVar[str] = 'Write password_env = "VARIABLE" instead.'

    url: Annotated[str, Fix('Write url = "https://x.example".')]
    password_env: str | None = None
    retries: Annotated[int, Field(ge=0, le=3), Fix("Write a whole number from 0 to 3.")] = 1
    mode: Annotated[Literal["a", "b"], Fix('Write "a" or "b".')] = "a"

    @model_validator(mode="after")
    def _not_both(self) -> Source:
        if self.password_env is not None and self.url.startswith("http:"):
            raise Invalid("is sent in the clear", "Use https.", key="password_env")
        return self


class File(ConfigModel):
    """A whole test file."""

    source: Annotated[Source, Fix("Add [source] with url.")]
    pairs: Annotated[int, AfterValidator(_even), Fix("Write a number of pairs.")] = 2
    exports: Annotated[
        dict[Annotated[str, Field(pattern=r"^[a-z]+$"), Fix("Use lower-case letters.")], Export],
        Field(min_length=1),
        Fix("Add one [exports.<name>] per export."),
    ]
    labels: list[str] = []


def problems_of(data: dict[str, Any], context: dict[str, Any] | None = None) -> dict[str, str]:
    problems = Problems(FILE)
    assert validate(File, data, problems, context=context) is None
    assert all(str(error).startswith(f"{FILE}: {error.key}: ") for error in problems.errors)
    found = {error.key: f"{error.problem}. {error.fix}" for error in problems.errors}
    assert len(found) == len(problems.errors), "one problem per key"
    return found


GOOD = {"source": {"url": "https://x.example"}, "exports": {"pupils": {"path": "p.csv"}}}


def test_a_valid_file_is_a_frozen_model_with_its_defaults() -> None:
    problems = Problems(FILE)
    model = validate(File, GOOD, problems)
    assert problems.errors == []
    assert model is not None
    assert (model.source.retries, model.source.mode, model.pairs) == (1, "a", 2)
    assert model.exports["pupils"].path == "p.csv"
    with pytest.raises(ValueError, match="frozen"):
        model.pairs = 4


def test_every_problem_is_reported_at_once_each_at_its_key() -> None:
    found = problems_of(
        {
            "source": {"url": 5, "retries": 9, "mode": "c", "pasword_env": "X", "password": "pw"},
            "pairs": 3,
            "exports": {"pupils": {"path": ["a"], "lable": "y"}, "Bad": {"path": "b.csv"}},
            "colour": "blue",
        }
    )
    assert found == {
        "source.url": 'is 5, not text. Write url = "https://x.example".',
        "source.retries": "is 9. Write a whole number from 0 to 3.",
        "source.mode": 'is \'c\'. Write "a" or "b".',
        "source.pasword_env": "is not a key a source takes. Did you mean password_env? "
        "Otherwise remove it; the keys are: mode, password_env, retries, url.",
        "source.password": 'is not a key a source takes. Write password_env = "VARIABLE" instead.',
        "pairs": "is 3, an odd number. Write an even number.",
        "exports.pupils.path": 'is a list, not text. Write path = "exports/pupils.csv".',
        "exports.pupils.lable": "is not a key an export takes. Did you mean label? Otherwise "
        "remove it; the keys are: label, path.",
        "exports.Bad": "is not a usable name. Use lower-case letters.",
        "colour": "is not a key this table takes. Remove it; the keys are: exports, labels, "
        "pairs, source.",
    }


def test_the_secret_written_under_an_unknown_key_is_never_repeated() -> None:
    found = problems_of({**GOOD, "source": {"url": "https://x.example", "password": "Hunter2"}})
    assert "Hunter2" not in "".join(found.values())


def test_missing_and_empty_say_so() -> None:
    found = problems_of({"exports": {}})
    assert found == {
        "source": "is missing. Add [source] with url.",
        "exports": "is empty. Add one [exports.<name>] per export.",
    }


def test_a_table_where_a_value_belongs_is_named_not_dumped() -> None:
    found = problems_of({**GOOD, "source": "https://x.example", "pairs": {"n": "Hunter2"}})
    assert found["source"] == "is 'https://x.example', not a table. Add [source] with url."
    assert found["pairs"] == "is a table, not a whole number. Write a number of pairs."


def test_true_is_not_a_number_and_a_list_item_is_placed_at_its_list() -> None:
    found = problems_of({**GOOD, "pairs": True, "labels": ["a", 2]})
    assert found["pairs"] == "is true, not a whole number. Write a number of pairs."
    assert found["labels"] == "is 2, not text. Write text."


def test_a_model_validator_places_its_problem_on_the_key_it_blames() -> None:
    found = problems_of({**GOOD, "source": {"url": "http://x.example", "password_env": "PW"}})
    assert found == {"source.password_env": "is sent in the clear. Use https."}


def test_validators_keep_notes_for_one_validation_only() -> None:
    data = {**GOOD, "exports": {"a": {"path": "a", "label": "same"}, "b": {"path": "b"}}}
    data["exports"]["b"]["label"] = "same"
    found = problems_of(data)
    assert found == {"exports.b.label": "repeats 'same'. Give each export its own label."}
    # The notes of one validation are not there in the next, nor in the caller's context.
    given: dict[str, Any] = {}
    assert validate(
        File,
        {**GOOD, "exports": {"a": {"path": "a", "label": "same"}}},
        Problems(FILE),
        context=given,
    )
    assert validate(
        File,
        {**GOOD, "exports": {"a": {"path": "a", "label": "same"}}},
        Problems(FILE),
        context=given,
    )
    assert given == {}


def test_a_prefix_places_a_table_inside_a_larger_file() -> None:
    problems = Problems(FILE)
    assert validate(Source, {"url": 1}, problems, prefix="source") is None
    (error,) = problems.errors
    assert (error.key, error.problem) == ("source.url", "is 1, not text")
