"""What is derived from a selection, cached per document across requests.

Validated documents are cached by their text, so the same query arrives as the same
nodes again and again; whatever depends only on a field's selection (its plan, its
projector) is worked out once per document node and the values of the variables
that selection uses, not once per request.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cachetools import LRUCache
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    VariableNode,
    Visitor,
    visit,
)

_T = TypeVar("_T")


class _VariableNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.spreads: list[str] = []

    def enter_variable(self, node: VariableNode, *_args: Any) -> None:
        self.names.add(node.name.value)

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_args: Any) -> None:
        self.spreads.append(node.name.value)


def variables_used(
    field_nodes: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> frozenset[str]:
    """The variables the selections of ``field_nodes`` refer to, through fragments too."""
    collector = _VariableNames()
    for node in field_nodes:
        if node.selection_set is not None:
            visit(node.selection_set, collector)
    seen: set[str] = set()
    while collector.spreads:
        name = collector.spreads.pop()
        if name in seen or name not in fragments:
            continue
        seen.add(name)
        visit(fragments[name].selection_set, collector)
    return frozenset(collector.names)


_ABSENT = object()


def _freeze(value: Any) -> Hashable:
    # The class is part of the key: 1 == True == 1.0 must not share an entry.
    if isinstance(value, list | tuple):
        return (type(value), tuple(_freeze(item) for item in value))
    if isinstance(value, dict):
        return (dict, tuple(sorted((key, _freeze(item)) for key, item in value.items())))
    hash(value)
    return (type(value), value)


@dataclass(frozen=True)
class _Cached:
    # Holding what the key names by id keeps those ids from being reused while cached.
    value: Any
    keep: tuple[object, ...]


class SelectionCache(Generic[_T]):
    """Values made from a selection, keyed by the identity of its nodes, of the schema,
    fragments and whatever else ``make`` reads, and by the values of the variables the
    selection uses (a field's own arguments, outside its selection, are not part of it)."""

    def __init__(self, maxsize: int = 512) -> None:
        self._variables: LRUCache[Hashable, _Cached] = LRUCache(maxsize=maxsize)
        self._values: LRUCache[Hashable, _Cached] = LRUCache(maxsize=maxsize)

    def get(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        field_nodes: Iterable[FieldNode],
        others: tuple[object, ...],
        make: Callable[[], _T],
    ) -> _T:
        """The value ``make`` returns for this selection, made once per key.

        ``others`` are the further objects ``make`` depends on, compared by identity.
        """
        nodes = tuple(field_nodes)
        static = (
            id(schema),
            tuple(map(id, nodes)),
            tuple((name, id(fragment)) for name, fragment in fragments.items()),
            tuple(map(id, others)),
        )
        names = self._variables.get(static)
        if names is None:
            keep = (schema, nodes, tuple(fragments.values()), others)  # what ``static`` names
            names = _Cached(sorted(variables_used(nodes, fragments)), keep)
            self._variables[static] = names
        try:
            key = (static, tuple((n, _freeze(variables.get(n, _ABSENT))) for n in names.value))
        except TypeError:  # an unhashable variable value: make it for this request only
            return make()
        cached = self._values.get(key)
        if cached is None:
            cached = _Cached(make(), names.keep)
            self._values[key] = cached
        value: _T = cached.value
        return value
