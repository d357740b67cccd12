"""Catalogue files: the standard one shipped with the gateway, and a deployment's own.

A file declares ``[sections.<name>]`` and ``[record_sets.<name>]`` tables, each record
set with an ``[record_sets.<name>.items]`` table (see ``catalogue.toml`` beside this
module). A deployment's files add sections, record sets, and items to existing record
sets; they never redefine what another file declares. Every problem of every file is
reported at once, each naming the file, the key and what to write instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.core.catalogue_model import (
    FIELD_NAME,
    RESERVED_ITEM_FIELDS,
    RESERVED_PERSON_FIELDS,
    RESERVED_TYPE_NAMES,
    SNAKE_NAME,
    TYPE_NAME,
    Catalogue,
    ItemSpec,
    RecordSetSpec,
    SectionSpec,
    ValueKind,
    camel,
)
from gateway.core.errors import ConfigError, ConfigErrors, Problems, read_toml

_TOP_KEYS = ("sections", "record_sets")
_SECTION_KEYS = ("type_name", "description")
_RECORD_SET_KEYS = (
    "type_name",
    "section",
    "graphql_field",
    "many",
    "owner",
    "description",
    "date_field",
    "items",
)
_ITEM_KEYS = ("kind", "description")
_KINDS = ", ".join(f'"{kind.value}"' for kind in ValueKind)


def load_catalogue(files: Sequence[Path], base: Catalogue | None = None) -> Catalogue:
    """``base`` (the standard catalogue) with what ``files`` add; raise ConfigErrors naming
    every problem of every file."""
    errors: list[ConfigError] = []
    documents: list[tuple[Path, Mapping[str, Any]]] = []
    for file in files:
        try:
            documents.append((file, read_toml(file)))
        except ConfigError as exc:
            errors.append(exc)
    try:
        catalogue = build_catalogue(documents, base)
    except ConfigErrors as exc:
        errors.extend(exc.errors)
    if errors:
        raise ConfigErrors(errors)
    return catalogue


def build_catalogue(
    documents: Iterable[tuple[Path, Mapping[str, Any]]], base: Catalogue | None = None
) -> Catalogue:
    """The catalogue the parsed documents declare on top of ``base``, in declared order."""
    builder = _Builder(base)
    for file, doc in documents:
        builder.add(file, doc)
    return builder.finish()


@dataclass
class _Draft:
    """A record set as read, before the cross-file checks."""

    name: str
    file: Path | None
    type_name: str
    section: str | None
    graphql_field: str
    many: bool
    owner: str
    description: str
    date_field: str | None
    items: list[ItemSpec] = field(default_factory=list)


def _where(file: Path | None) -> str:
    return "the standard catalogue" if file is None else str(file)


class _Builder:
    """Accumulates files in order; ``finish`` checks what only the whole can show."""

    def __init__(self, base: Catalogue | None) -> None:
        self.problems: dict[Path, Problems] = {}
        self.sections: dict[str, tuple[SectionSpec, Path | None]] = {}
        self.drafts: dict[str, _Draft] = {}
        #: item name -> the file that declared it (None: the base catalogue).
        self.item_files: dict[str, Path | None] = {}
        #: Items declared with problems: already reported, so nothing refers to them again.
        self.broken_items: set[str] = set()
        if base is not None:
            for section in base.sections:
                self.sections[section.name] = (section, None)
            for rs in base.record_sets:
                self.drafts[rs.name] = _Draft(
                    rs.name,
                    None,
                    rs.type_name,
                    rs.section,
                    rs.graphql_field,
                    rs.many,
                    rs.owner,
                    rs.description,
                    rs.date_field,
                    list(rs.items),
                )
            self.item_files.update(dict.fromkeys(base.items))

    def _problems(self, file: Path) -> Problems:
        return self.problems.setdefault(file, Problems(file))

    def add(self, file: Path, doc: Mapping[str, Any]) -> None:
        """Read one file's sections and record sets."""
        problems = self._problems(file)
        for key in doc:
            if key not in _TOP_KEYS:
                problems.add(
                    key,
                    "is not a catalogue key",
                    "Declare [sections.<name>] and [record_sets.<name>] tables only.",
                )
        for name, body in _table(doc, "sections", problems).items():
            self._section(file, name, body, problems)
        for name, body in _table(doc, "record_sets", problems).items():
            self._record_set(file, name, body, problems)

    def _section(self, file: Path, name: str, body: Any, problems: Problems) -> None:
        key = f"sections.{name}"
        if not _snake(name, key, problems, "section"):
            return
        if name in self.sections:
            _, earlier = self.sections[name]
            problems.add(
                key,
                f"redefines the section {name!r} of {_where(earlier)}",
                "Choose another name for a new section; record sets may name the existing "
                "one as their section.",
            )
            return
        if not isinstance(body, dict):
            problems.add(key, "is not a table", f"Write [{key}] with type_name and description.")
            return
        _unknown_keys(body, _SECTION_KEYS, key, "a section", problems)
        type_name = _type_name(body, key, problems)
        description = _text(body, "description", key, problems, "what the section holds")
        if type_name is not None and description is not None:
            self.sections[name] = (SectionSpec(name, type_name, description), file)

    def _record_set(self, file: Path, name: str, body: Any, problems: Problems) -> None:
        key = f"record_sets.{name}"
        if not _snake(name, key, problems, "record set"):
            return
        if not isinstance(body, dict):
            problems.add(key, "is not a table", f"Write [{key}] and [{key}.items] tables.")
            return
        existing = self.drafts.get(name)
        if existing is not None:
            if set(body) != {"items"}:
                problems.add(
                    key,
                    f"redefines the record set {name!r} of {_where(existing.file)}",
                    f"Choose another name for a new record set, or write only [{key}.items] "
                    "to add items to the existing one.",
                )
                return
            self._items(file, existing, body, problems)
            return
        _unknown_keys(body, _RECORD_SET_KEYS, key, "a record set", problems)
        type_name = _type_name(body, key, problems)
        graphql_field = body.get("graphql_field")
        if not isinstance(graphql_field, str) or not FIELD_NAME.fullmatch(graphql_field):
            problems.add(
                f"{key}.graphql_field",
                f"is {graphql_field!r}" if "graphql_field" in body else "is missing",
                f'Write the GraphQL field in camelCase, e.g. graphql_field = "{camel(name)}".',
            )
            graphql_field = None
        section = body.get("section")
        if section is not None and not isinstance(section, str):
            problems.add(
                f"{key}.section",
                f"is {section!r}",
                'Write a section\'s name, e.g. section = "social_care", or leave it out for a '
                "field of Person itself.",
            )
            section = None
        many = body.get("many")
        if not isinstance(many, bool):
            problems.add(
                f"{key}.many",
                f"is {many!r}" if "many" in body else "is missing",
                "Write many = true when an agency may hold several rows per person, "
                "many = false when at most one.",
            )
        owner = _text(body, "owner", key, problems, 'who holds it, e.g. "the GP practice"')
        description = _text(body, "description", key, problems, "what one record is")
        date_field = body.get("date_field")
        if date_field is not None and not isinstance(date_field, str):
            problems.add(
                f"{key}.date_field",
                f"is {date_field!r}",
                "Write the name of one of its items of kind Date, or leave it out.",
            )
            date_field = None
        items = body.get("items")
        if not isinstance(items, dict) or not items:
            problems.add(
                f"{key}.items",
                "is missing or empty",
                f"Add [{key}.items] with one line per item, e.g. "
                'started_on = { kind = "Date", description = "When it started." }',
            )
        draft = _Draft(
            name,
            file,
            type_name or "",
            section,
            graphql_field or "",
            many is True,
            owner or "",
            description or "",
            date_field,
        )
        if isinstance(items, dict) and items:
            self._items(file, draft, body, problems)
        # A record set whose own keys are wrong is left out, so the checks of the whole
        # do not report again what is already reported about it; its items are checked.
        if None not in (type_name, graphql_field, owner, description) and isinstance(many, bool):
            self.drafts[name] = draft

    def _items(
        self, file: Path, draft: _Draft, body: Mapping[str, Any], problems: Problems
    ) -> None:
        key = f"record_sets.{draft.name}.items"
        raw = body.get("items")
        if not isinstance(raw, dict) or not raw:
            problems.add(
                key,
                "is not a table of items",
                "Write one line per item, e.g. "
                'category = { kind = "String", description = "..." }.',
            )
            return
        for field_name, spec in raw.items():
            where = f"{key}.{field_name}"
            if not _snake(field_name, where, problems, "item"):
                continue
            name = f"{draft.name}.{field_name}"
            if name in self.item_files:
                problems.add(
                    where,
                    f"redefines the item {name!r} of {_where(self.item_files[name])}",
                    "Remove it, or give the new item another name.",
                )
                continue
            graphql_name = camel(field_name)
            if graphql_name in RESERVED_ITEM_FIELDS:
                problems.add(
                    where,
                    f"is named like the {graphql_name!r} field every record has",
                    "Give the item another name.",
                )
                continue
            clash = next((i for i in draft.items if i.graphql_name == graphql_name), None)
            if clash is not None:
                problems.add(
                    where,
                    f"is spelt {graphql_name!r} in GraphQL, as the item {clash.name!r} is",
                    "Give the item a name that differs in more than underscores.",
                )
                continue
            if not isinstance(spec, dict):
                problems.add(
                    where,
                    f"is {spec!r}",
                    f'Write {field_name} = {{ kind = "String", description = "..." }}.',
                )
                continue
            _unknown_keys(spec, _ITEM_KEYS, where, "an item", problems)
            kind = _kind(spec.get("kind"), where, problems)
            description = _text(spec, "description", where, problems, "what the value means")
            if kind is None or description is None:
                self.broken_items.add(name)
                continue
            draft.items.append(ItemSpec(draft.name, field_name, graphql_name, kind, description))
            self.item_files[name] = file

    def finish(self) -> Catalogue:
        """Check the whole and build it; raise ConfigErrors naming every problem."""
        for draft in self.drafts.values():
            self._check_section(draft)
            self._check_date_field(draft)
        self._check_type_names()
        self._check_fields()
        errors = [error for problems in self.problems.values() for error in problems.errors]
        if errors:
            raise ConfigErrors(errors)
        return Catalogue(
            sections=tuple(section for section, _ in self.sections.values()),
            record_sets=tuple(
                RecordSetSpec(
                    name=d.name,
                    type_name=d.type_name,
                    section=d.section,
                    graphql_field=d.graphql_field,
                    many=d.many,
                    owner=d.owner,
                    description=d.description,
                    items=tuple(d.items),
                    date_field=d.date_field,
                )
                for d in self.drafts.values()
            ),
        )

    def _check_section(self, draft: _Draft) -> None:
        if draft.file is None or draft.section is None or draft.section in self.sections:
            return
        self._problems(draft.file).add(
            f"record_sets.{draft.name}.section",
            f"names {draft.section!r}, which is not a section",
            f"Use one of: {', '.join(self.sections)}; declare [sections.{draft.section}]; "
            "or leave section out for a field of Person itself.",
        )

    def _check_date_field(self, draft: _Draft) -> None:
        if draft.file is None or draft.date_field is None:
            return
        if f"{draft.name}.{draft.date_field}" in self.broken_items:
            return
        found = next((item for item in draft.items if item.field == draft.date_field), None)
        if found is not None and found.kind is ValueKind.DATE:
            return
        dates = [item.field for item in draft.items if item.kind is ValueKind.DATE]
        self._problems(draft.file).add(
            f"record_sets.{draft.name}.date_field",
            f"names {draft.date_field!r}, which is not an item of the record set"
            if found is None
            else f"names {draft.date_field!r}, an item of kind {found.kind.value}, not Date",
            (
                f"Use one of its Date items: {', '.join(dates)}; or"
                if dates
                else "Add a Date item, or"
            )
            + " leave date_field out.",
        )

    def _check_type_names(self) -> None:
        declared: dict[str, str] = {}
        named: list[tuple[str, Path | None, str]] = [
            (section.type_name, file, f"sections.{name}.type_name")
            for name, (section, file) in self.sections.items()
        ]
        named += [
            (d.type_name, d.file, f"record_sets.{d.name}.type_name") for d in self.drafts.values()
        ]
        for type_name, file, key in named:
            if file is not None and type_name in RESERVED_TYPE_NAMES:
                self._problems(file).add(
                    key,
                    f"is {type_name!r}, a type the schema already has",
                    "Choose another GraphQL type name.",
                )
            elif file is not None and type_name in declared:
                self._problems(file).add(
                    key,
                    f"is {type_name!r}, which {declared[type_name]} already uses",
                    "Give each section and record set its own GraphQL type name.",
                )
            declared.setdefault(type_name, key.rpartition(".")[0])

    def _check_fields(self) -> None:
        person: dict[str, str] = dict.fromkeys(RESERVED_PERSON_FIELDS, "the gateway itself")
        for name, (section, file) in self.sections.items():
            self._claim(person, section.graphql_field, file, f"sections.{name}", "Person")
        for name, (_, file) in self.sections.items():
            if not any(d.section == name for d in self.drafts.values()) and file is not None:
                self._problems(file).add(
                    f"sections.{name}",
                    "holds no record set",
                    f'Add a record set with section = "{name}", or remove the section.',
                )
        parents: dict[str | None, dict[str, str]] = {None: person}
        for d in self.drafts.values():
            if d.section is not None and d.section not in self.sections:
                continue
            fields = parents.setdefault(d.section, {})
            parent = "Person" if d.section is None else f"section {d.section}"
            self._claim(fields, d.graphql_field, d.file, f"record_sets.{d.name}", parent)

    def _claim(
        self, fields: dict[str, str], name: str, file: Path | None, key: str, parent: str
    ) -> None:
        if name in fields:
            if file is not None:
                self._problems(file).add(
                    f"{key}.graphql_field" if key.startswith("record_sets") else key,
                    f"gives {parent} the field {name!r}, which {fields[name]} already gives it",
                    "Choose another name.",
                )
            return
        fields[name] = key


def _table(doc: Mapping[str, Any], key: str, problems: Problems) -> Mapping[str, Any]:
    raw = doc.get(key, {})
    if isinstance(raw, dict):
        return raw
    problems.add(key, "is not a table", f"Write [{key}.<name>] tables.")
    return {}


def _snake(name: str, key: str, problems: Problems, what: str) -> bool:
    if SNAKE_NAME.fullmatch(name):
        return True
    problems.add(
        key,
        f"{name!r} is not a usable {what} name",
        "Use lower-case words joined by underscores, each starting with a letter "
        "(child_protection_plans).",
    )
    return False


def _unknown_keys(
    body: Mapping[str, Any], allowed: Sequence[str], key: str, what: str, problems: Problems
) -> None:
    for unknown in body:
        if unknown not in allowed:
            problems.add(
                f"{key}.{unknown}",
                f"is not a key of {what}",
                f"Remove it; the keys are: {', '.join(allowed)}.",
            )


def _type_name(body: Mapping[str, Any], key: str, problems: Problems) -> str | None:
    value = body.get("type_name")
    if isinstance(value, str) and TYPE_NAME.fullmatch(value):
        return value
    problems.add(
        f"{key}.type_name",
        f"is {value!r}" if "type_name" in body else "is missing",
        'Write a GraphQL type name in PascalCase, e.g. type_name = "ChildProtectionPlan".',
    )
    return None


def _text(
    body: Mapping[str, Any], name: str, key: str, problems: Problems, what: str
) -> str | None:
    value = body.get(name)
    if isinstance(value, str) and value.strip():
        return value
    problems.add(
        f"{key}.{name}",
        f"is {value!r}" if name in body else "is missing",
        f"Write {what}.",
    )
    return None


def _kind(value: Any, key: str, problems: Problems) -> ValueKind | None:
    for kind in ValueKind:
        if value == kind.value:
            return kind
    problems.add(
        f"{key}.kind",
        f"is {value!r}, which is not a value kind" if value is not None else "is missing",
        f"Write one of: {_KINDS}.",
    )
    return None
