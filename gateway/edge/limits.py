"""What a document may cost, checked before anything is validated, executed or any agency called.

The checks run on documents nobody has validated yet, written by whoever holds a
token, so every walk here is iterative: no nesting or chain of fragments, however
long, can exhaust the stack. Fragments are costed once each (in dependency
order) and every use still counts, so a fan of fragments spread many times is
priced at what it would expand to.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from gateway.config.settings import Limits

#: Fragments inside fragments (named or inline) along one path; real queries use two or three.
MAX_FRAGMENT_NESTING = 16
#: One response key selected this many times in one selection set makes validation's
#: field-merging check quadratic; front-ends never repeat a field like that.
MAX_REPEATED_FIELD = 8


@dataclass
class _Cost:
    """What one definition costs when its fragments are expanded (saturating at ``cap``)."""

    depth: int = 0
    fields: int = 0
    aliases: int = 0
    nesting: int = 0


@dataclass
class _Walk:
    """What one definition selects itself, and where it spreads which fragment."""

    own: _Cost = field(default_factory=_Cost)
    #: (fragment name, field depth at the spread, fragment nesting at the spread)
    spreads: list[tuple[str, int, int]] = field(default_factory=list)
    repeated: str | None = None


def check_limits(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """Errors for every limit the document exceeds; safe on any parsed document."""
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments.setdefault(definition.name.value, definition)
    walks = {name: _walk(fragment) for name, fragment in fragments.items()}
    for name, walk in walks.items():
        if walk.repeated is not None:
            return [_repeated_error(walk.repeated, f"fragment {name}", fragments[name])]
    cap = max(limits.max_fields, limits.max_aliases, limits.max_depth, MAX_FRAGMENT_NESTING) + 1
    costs, cycle = _fragment_costs(walks, cap)
    if cycle is not None:
        return [
            GraphQLError(
                f"fragment {cycle} spreads itself (directly or through other fragments); "
                "a fragment cannot contain itself",
                fragments[cycle],
                extensions={"code": "FRAGMENT_CYCLE"},
            )
        ]
    errors: list[GraphQLError] = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        name = definition.name.value if definition.name else "the operation"
        walk = _walk(definition)
        if walk.repeated is not None:
            errors.append(_repeated_error(walk.repeated, name, definition))
            continue
        cost = _expand(walk, costs, cap)
        errors.extend(_over_limits(name, definition, cost, limits))
    return errors


def _over_limits(
    name: str, definition: OperationDefinitionNode, cost: _Cost, limits: Limits
) -> list[GraphQLError]:
    errors = []
    if cost.depth > limits.max_depth:
        errors.append(
            GraphQLError(
                f"{name} is nested {_shown(cost.depth, limits.max_depth)} deep; at most "
                f"{limits.max_depth} is allowed",
                definition,
                extensions={"code": "QUERY_TOO_DEEP"},
            )
        )
    if cost.nesting > MAX_FRAGMENT_NESTING:
        errors.append(
            GraphQLError(
                f"{name} nests fragments {_shown(cost.nesting, MAX_FRAGMENT_NESTING)} deep; at "
                f"most {MAX_FRAGMENT_NESTING} is allowed (inline the inner fragments)",
                definition,
                extensions={"code": "QUERY_TOO_DEEP"},
            )
        )
    if cost.aliases > limits.max_aliases:
        errors.append(
            GraphQLError(
                f"{name} uses {_shown(cost.aliases, limits.max_aliases)} aliases; at most "
                f"{limits.max_aliases} are allowed",
                definition,
                extensions={"code": "TOO_MANY_ALIASES"},
            )
        )
    if cost.fields > limits.max_fields:
        errors.append(
            GraphQLError(
                f"{name} selects {_shown(cost.fields, limits.max_fields)} fields; at most "
                f"{limits.max_fields} are allowed (split it into several queries)",
                definition,
                extensions={"code": "QUERY_TOO_COSTLY"},
            )
        )
    return errors


def _shown(value: int, limit: int) -> str:
    # Counts saturate just past the limit, so "more than" is all that is known.
    return f"more than {limit}" if value > limit else str(value)


def _repeated_error(key: str, where: str, node: ExecutableDefinitionNode) -> GraphQLError:
    return GraphQLError(
        f"{where} selects {key!r} more than {MAX_REPEATED_FIELD} times in one selection set; "
        "select each field once",
        node,
        extensions={"code": "QUERY_TOO_COSTLY"},
    )


def _walk(definition: ExecutableDefinitionNode) -> _Walk:
    """The definition's own fields, aliases, depth and fragment nesting, and its spreads."""
    walk = _Walk()
    own = walk.own
    # (selection set, field depth above it, fragment nesting above it)
    stack: list[tuple[SelectionSetNode, int, int]] = [(definition.selection_set, 0, 0)]
    while stack:
        selection_set, depth, nesting = stack.pop()
        keys: Counter[str] = Counter()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                own.fields += 1
                own.depth = max(own.depth, depth + 1)
                key = (selection.alias or selection.name).value
                keys[key] += 1
                if keys[key] > MAX_REPEATED_FIELD and walk.repeated is None:
                    walk.repeated = key
                if selection.alias is not None:
                    own.aliases += 1
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, depth + 1, nesting))
            elif isinstance(selection, InlineFragmentNode):
                own.nesting = max(own.nesting, nesting + 1)
                stack.append((selection.selection_set, depth, nesting + 1))
            elif isinstance(selection, FragmentSpreadNode):
                walk.spreads.append((selection.name.value, depth, nesting + 1))
    return walk


def _fragment_costs(walks: dict[str, _Walk], cap: int) -> tuple[dict[str, _Cost], str | None]:
    """Each fragment's expanded cost, or the name of a fragment on a cycle."""
    costs: dict[str, _Cost] = {}
    on_path: set[str] = set()
    for root in walks:
        if root in costs:
            continue
        # Depth-first with an explicit stack: a fragment is costed once all it spreads are.
        stack: list[tuple[str, int]] = [(root, 0)]
        on_path.add(root)
        while stack:
            name, next_spread = stack[-1]
            spreads = walks[name].spreads
            if next_spread < len(spreads):
                stack[-1] = (name, next_spread + 1)
                child = spreads[next_spread][0]
                if child in on_path:
                    return costs, child
                if child in walks and child not in costs:
                    on_path.add(child)
                    stack.append((child, 0))
                continue
            stack.pop()
            on_path.discard(name)
            costs[name] = _expand(walks[name], costs, cap)
    return costs, None


def _expand(walk: _Walk, costs: dict[str, _Cost], cap: int) -> _Cost:
    own = walk.own
    total = _Cost(own.depth, own.fields, own.aliases, own.nesting)
    for name, depth, nesting in walk.spreads:
        # An unknown fragment costs nothing here; validation names it.
        inner = costs.get(name, _Cost())
        total.depth = min(cap, max(total.depth, depth + inner.depth))
        total.nesting = min(cap, max(total.nesting, nesting + inner.nesting))
        total.fields = min(cap, total.fields + inner.fields)
        total.aliases = min(cap, total.aliases + inner.aliases)
    return total
