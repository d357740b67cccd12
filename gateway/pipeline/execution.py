"""Completing Person values without graphql-core's per-field machinery.

Everything below a Person is read synchronously from an assembled ``PersonView``,
yet the stock executor takes every leaf through resolve, complete and serialize,
each with a fresh resolve info and path. Here a Person selection is compiled once
into a projector (a generated function per object selection, and closures for
lists and nested objects, that read, complete and serialize in one pass), cached
across requests for the same document nodes and the variable values the
selection depends on.

A list of Persons (a caseload) is completed in one call: one loop projecting each
PersonView, without a path, resolve info or completion per item.

The projector reproduces the stock result for what it recognises: graphene's
default dict-or-attribute resolvers, resolvers marked ``source_only``, scalars,
enums, lists and object types. A Person field it cannot read (``knownTo``, which
reads the request context) runs through the stock executor; a list of Persons
with such a field is completed item by item, each Person still projected.
Anything unexpected while projecting (a null in a non-null position, a value a
scalar cannot serialize, something awaitable or raised) abandons the projection:
the whole Person, or the whole list, runs through the stock executor, which then
produces exactly the data and errors it always would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import CoroutineType, GeneratorType
from typing import Any, TypeVar

from graphene.types.resolver import dict_or_attr_resolver
from graphql import (
    ExecutionContext,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    TypeNameMetaFieldDef,
    Undefined,
)
from graphql.execution.collect_fields import collect_sub_fields
from graphql.execution.execute import get_field_def
from graphql.execution.values import get_argument_values
from graphql.pyutils import AwaitableOrValue, Path
from graphql.pyutils import is_awaitable as default_is_awaitable
from graphql.type.scalars import serialize_boolean, serialize_id, serialize_string

from gateway.pipeline.fanout import AgencyRef, PersonView
from gateway.pipeline.selections import SelectionCache

_R = TypeVar("_R", bound=Callable[..., Any])

#: The object type whose PersonView values are projected.
PERSON_TYPE = "Person"

_SOURCE_ONLY: dict[int, Callable[..., Any]] = {}


def source_only(resolver: _R) -> _R:
    """Mark a resolver that reads only its source and arguments, never ``info``.

    The projector calls marked resolvers with ``info=None``; a resolver that is not
    marked runs through the stock executor.
    """
    _SOURCE_ONLY[id(resolver)] = resolver
    return resolver


#: Completes one resolved value as the stock executor would, or raises.
Complete = Callable[[Any], Any]
#: Builds one object's result dict from its source value, or raises.
Project = Callable[[Any], dict[str, Any]]


class _Fallback(Exception):
    """A value only the stock executor completes exactly (with its errors)."""


class _Unsupported(Exception):
    """A selection the projector cannot compile."""


# Stock execution raises exceptions and awaits awaitables wherever a resolver returns
# them; the projector leaves values of such classes to it.
_PLAIN: dict[type, bool] = {}


def _plain(cls: type) -> bool:
    known = _PLAIN.get(cls)
    if known is None:
        known = not (
            issubclass(cls, (Exception, CoroutineType, GeneratorType))
            or hasattr(cls, "__await__")
            or cls is type(Undefined)
        )
        _PLAIN[cls] = known
    return known


class _Never:
    """No value has this class: for scalars that always change what they serialize."""


# Values of these classes leave these serializers unchanged, so the call can be skipped.
_UNCHANGED: Mapping[Callable[[Any], Any], type] = {
    serialize_string: str,
    serialize_id: str,
    serialize_boolean: bool,
}


_SHORTCUTS: dict[Callable[[Any], Any], tuple[tuple[type, Callable[[Any], Any]], ...]] = {}


def serialize_shortcuts(
    serialize: Callable[[Any], Any], by_class: Mapping[type, Callable[[Any], Any]]
) -> None:
    """Declare what ``serialize`` returns for values of exactly these classes.

    For a value whose class is a key, ``serialize(value)`` must equal what the paired
    function returns, and that is never None; the projector then calls the paired
    function in place of ``serialize`` and its checks.
    """
    _SHORTCUTS[serialize] = tuple(by_class.items())


def _serialize(serialize: Callable[[Any], Any], value: Any) -> Any:
    if value is None or not (_PLAIN.get(value.__class__) or _plain(value.__class__)):
        raise _Fallback  # null in a non-null leaf, or a value stock would raise or await
    result = serialize(value)
    if result is None or result is Undefined:
        raise _Fallback  # the stock executor reports it as a field error
    return result


@dataclass(frozen=True)
class _Field:
    """How to read and complete one response key of an object."""

    key: str
    attname: str | None  # read by graphene's default resolver, else by ``resolve``
    default: Any
    resolve: Callable[..., Any] | None
    args: Mapping[str, Any]
    complete: Complete | None  # None for a leaf, serialized by the projector itself
    serialize: Callable[[Any], Any] | None = None
    unchanged: type = _Never  # the class of values ``serialize`` returns as they are
    shortcuts: tuple[tuple[type, Callable[[Any], Any]], ...] = ()  # see serialize_shortcuts
    non_null: bool = False


def _projector(fields: Sequence[_Field]) -> Project:
    # Straight-line code generated per selection: no loop, unpacking or call per leaf,
    # which is most of a Person. Keys, names and values from the document and schema
    # reach the code only as bound constants (k0, a0, ...), never as source text.
    namespace: dict[str, Any] = {
        "isinstance": isinstance,
        "partial": partial,
        "getattr": getattr,
        "_serialize": _serialize,
    }
    lines = [
        "def project(source):",
        "    get = source.get if isinstance(source, dict) else partial(getattr, source)",
    ]
    for n, f in enumerate(fields):
        namespace.update({f"k{n}": f.key, f"a{n}": f.attname, f"d{n}": f.default})
        if f.resolve is None:
            read = f"get(a{n}, d{n})"
        else:
            namespace.update({f"r{n}": f.resolve, f"g{n}": f.args})
            read = f"r{n}(source, None, **g{n})"
        if f.complete is not None:
            namespace[f"c{n}"] = f.complete
            lines.append(f"    v{n} = c{n}({read})")
            continue
        namespace.update({f"s{n}": f.serialize, f"u{n}": f.unchanged})
        nullable = "" if f.non_null else f"v{n} is not None and "
        lines.append(f"    v{n} = {read}")
        test = "if"
        for m, (cls, convert) in enumerate(f.shortcuts):
            namespace.update({f"x{n}_{m}": cls, f"f{n}_{m}": convert})
            lines += [f"    {test} v{n}.__class__ is x{n}_{m}:", f"        v{n} = f{n}_{m}(v{n})"]
            test = "elif"
        lines += [
            f"    {test} {nullable}v{n}.__class__ is not u{n}:",
            f"        v{n} = _serialize(s{n}, v{n})",
        ]
    lines.append("    return {" + ", ".join(f"k{n}: v{n}" for n in range(len(fields))) + "}")
    exec("\n".join(lines), namespace)
    project: Project = namespace["project"]
    return project


#: How many agencies' projections one selection keeps (there are a handful of agencies).
_AGENCIES_KEPT = 256


def _object(project: Project, non_null: bool) -> Complete:
    # Nearly every record of a response names its agency, one of a handful: each agency
    # value is projected once per selection, and its rows get copies of that.
    agencies: dict[AgencyRef, Any] = {}

    def complete(value: Any) -> Any:
        if value is None:
            if non_null:
                raise _Fallback
            return None
        if value.__class__ is AgencyRef:
            found = agencies.get(value)
            if found is None:
                if len(agencies) >= _AGENCIES_KEPT:
                    agencies.clear()
                found = agencies[value] = project(value)
            return dict(found)
        if not _plain(value.__class__):
            raise _Fallback
        return project(value)

    return complete


def _list(item: Complete, non_null: bool, project: Project | None) -> Complete:
    def complete(value: Any) -> Any:
        if value is None:
            if non_null:
                raise _Fallback
            return None
        if value.__class__ is not list:
            raise _Fallback  # other iterables: the stock executor decides
        if project is None:
            return [item(element) for element in value]
        # Records are dicts: project them without the per-item call through ``item``.
        return [project(e) if e.__class__ is dict else item(e) for e in value]

    return complete


def _leaf(serialize: Callable[[Any], Any], non_null: bool) -> Complete:
    def complete(value: Any) -> Any:
        if value is None and not non_null:
            return None
        return _serialize(serialize, value)

    return complete


def _type_name(name: str) -> Callable[..., str]:
    def resolve(_source: Any, _info: None) -> str:
        return name

    return resolve


class _Compiler:
    """Compiles selections against one schema, document and set of variable values."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def plan(
        self, parent: GraphQLObjectType, field_nodes: list[FieldNode]
    ) -> list[tuple[str, list[FieldNode], _Field | None]]:
        """Each response key of ``parent``'s selection, compiled, or None if unsupported."""
        if parent.is_type_of is not None:
            raise _Unsupported
        collected = collect_sub_fields(
            self.schema, self.fragments, self.variables, parent, field_nodes
        )
        plan: list[tuple[str, list[FieldNode], _Field | None]] = []
        for key, nodes in collected.items():
            field_def = get_field_def(self.schema, parent, nodes[0])
            if field_def is None:
                continue  # the stock executor leaves it out too
            try:
                plan.append((key, nodes, self.field(parent, key, nodes, field_def)))
            except (_Unsupported, GraphQLError):
                plan.append((key, nodes, None))
        return plan

    def field(
        self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode], field_def: GraphQLField
    ) -> _Field:
        """How to read and complete one field; raises _Unsupported or argument errors."""
        resolver = field_def.resolve
        # A bad argument is a field error even where the resolver ignores arguments.
        args = get_argument_values(field_def, nodes[0], self.variables) if field_def.args else {}
        attname: str | None = None
        default: Any = None
        resolve: Callable[..., Any] | None = None
        if field_def is TypeNameMetaFieldDef:
            resolve = _type_name(parent.name)
        elif (
            isinstance(resolver, partial)
            and resolver.func is dict_or_attr_resolver
            and len(resolver.args) == 2
            and not resolver.keywords
        ):
            attname, default = resolver.args
        elif resolver is not None and _SOURCE_ONLY.get(id(resolver)) is resolver:
            resolve = resolver
        else:
            raise _Unsupported
        return_type = field_def.type
        named = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            return _Field(
                key,
                attname,
                default,
                resolve,
                args,
                complete=None,
                serialize=named.serialize,
                unchanged=_UNCHANGED.get(named.serialize, _Never),
                shortcuts=_SHORTCUTS.get(named.serialize, ()),
                non_null=named is not return_type,
            )
        return _Field(key, attname, default, resolve, args, self.complete(return_type, nodes))

    def complete(self, return_type: GraphQLOutputType, nodes: list[FieldNode]) -> Complete:
        """A completer for values of ``return_type``."""
        non_null = isinstance(return_type, GraphQLNonNull)
        if isinstance(return_type, GraphQLNonNull):
            return_type = return_type.of_type
        if isinstance(return_type, GraphQLList):
            item_type = return_type.of_type
            named = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
            if isinstance(named, GraphQLObjectType):
                project = self.project(named, nodes)
                item = _object(project, isinstance(item_type, GraphQLNonNull))
                return _list(item, non_null, project)
            return _list(self.complete(item_type, nodes), non_null, None)
        if isinstance(return_type, GraphQLScalarType | GraphQLEnumType):
            return _leaf(return_type.serialize, non_null)
        if isinstance(return_type, GraphQLObjectType):
            return _object(self.project(return_type, nodes), non_null)
        raise _Unsupported  # interfaces and unions

    def project(self, parent: GraphQLObjectType, nodes: list[FieldNode]) -> Project:
        """A projector for a nested object: every field of it must be supported."""
        fields: list[_Field] = []
        for _key, _nodes, field in self.plan(parent, nodes):
            if field is None:
                raise _Unsupported
            fields.append(field)
        return _projector(fields)


@dataclass(frozen=True)
class PersonProjector:
    """A Person selection compiled: fields projected directly, and those left to stock."""

    project: Project
    stock: dict[str, list[FieldNode]]
    order: tuple[tuple[str, bool], ...]  # response key, executed by the stock executor

    def merge(self, fast: dict[str, Any], stock: dict[str, Any]) -> dict[str, Any]:
        """Both parts in response order."""
        return {key: (stock if is_stock else fast)[key] for key, is_stock in self.order}


def compile_person(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    person: GraphQLObjectType,
    field_nodes: list[FieldNode],
) -> PersonProjector | None:
    """The projector of one Person selection, or None when the stock executor must run it."""
    try:
        plan = _Compiler(schema, fragments, variables).plan(person, field_nodes)
    except _Unsupported:
        return None
    return PersonProjector(
        project=_projector([field for _, _, field in plan if field is not None]),
        stock={key: nodes for key, nodes, field in plan if field is None},
        order=tuple((key, field is None) for key, _, field in plan),
    )


_PROJECTORS: SelectionCache[PersonProjector | None] = SelectionCache()


def cached_projector(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    person: GraphQLObjectType,
    field_nodes: list[FieldNode],
) -> PersonProjector | None:
    """``compile_person``, cached by node identity and the variable values used."""
    return _PROJECTORS.get(
        schema,
        fragments,
        variables,
        field_nodes,
        (person,),
        partial(compile_person, schema, fragments, variables, person, field_nodes),
    )


def _project_all(project: Project, views: list[Any]) -> list[dict[str, Any]] | None:
    """Every item projected, or None when any item needs the stock executor: then the
    whole list is completed by it, which gives each item's errors at each item's path."""
    try:
        return [project(view) if view.__class__ is PersonView else _fallback() for view in views]
    except Exception:
        return None


def _fallback() -> dict[str, Any]:
    raise _Fallback


class FastExecutionContext(ExecutionContext):
    """graphql-core's executor, completing each Person that is a PersonView by projection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._projectors: dict[tuple[int, ...], PersonProjector | None] = {}

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_nodes: list[FieldNode],
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """Project a PersonView; leave every other object to the stock executor."""
        if isinstance(result, PersonView) and return_type.name == PERSON_TYPE:
            projector = self._projector(return_type, field_nodes)
            if projector is not None:
                try:
                    fast = projector.project(result)
                except Exception:
                    # Whatever it was, the stock executor meets it again and reports it.
                    fast = None
                if fast is not None:
                    return self._with_stock_fields(projector, return_type, result, path, fast)
        return super().complete_object_value(return_type, field_nodes, info, path, result)

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_nodes: list[FieldNode],
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """Project a list of PersonViews in one loop; leave other lists to the stock executor."""
        item_type = return_type.of_type
        person = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if (
            result.__class__ is list
            and isinstance(person, GraphQLObjectType)
            and person.name == PERSON_TYPE
        ):
            projector = self._projector(person, field_nodes)
            # Fields left to the stock executor need a path and info per item: then each
            # Person is completed on its own (still projected, in complete_object_value).
            if projector is not None and not projector.stock:
                completed = _project_all(projector.project, result)
                if completed is not None:
                    return completed
        return super().complete_list_value(return_type, field_nodes, info, path, result)

    def _projector(
        self, person: GraphQLObjectType, field_nodes: list[FieldNode]
    ) -> PersonProjector | None:
        key = (id(person), *map(id, field_nodes))
        if key in self._projectors:
            return self._projectors[key]
        projector = None
        # Middleware wraps resolvers, and another awaitable test may await other values.
        if self.middleware_manager is None and self.is_awaitable is default_is_awaitable:
            projector = cached_projector(
                self.schema, self.fragments, self.variable_values, person, field_nodes
            )
        self._projectors[key] = projector
        return projector

    def _with_stock_fields(
        self,
        projector: PersonProjector,
        person: GraphQLObjectType,
        view: PersonView,
        path: Path,
        fast: dict[str, Any],
    ) -> AwaitableOrValue[dict[str, Any]]:
        if not projector.stock:
            return fast
        stock = self.execute_fields(person, view, path, projector.stock)
        if self.is_awaitable(stock):

            async def merged() -> dict[str, Any]:
                return projector.merge(fast, await stock)  # type: ignore[misc]

            return merged()
        return projector.merge(fast, stock)  # type: ignore[arg-type]
