"""What a document may cost, checked before anything is validated, executed or any agency called.

Introspection (``__schema``, ``__type`` and everything beneath them) is priced on its
own terms: the standard introspection query nests type references fifteen fields deep,
so the depth limit does not apply beneath those fields; a cap on their fields and on
how many lists they nest (types, fields, args, ...) bounds what they can cost instead,
since each nested list multiplies the size of the answer. When introspection is off,
any document that asks for it is refused here, before validation has said anything
about the schema.

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
#: The fields that open introspection; ``__typename`` is not one of them: it names only the
#: type of an object the client already asked for, and clients add it everywhere.
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
#: Fields beneath introspection fields, fragments expanded: the standard introspection
#: queries (graphql-core's, GraphiQL's) select about 230.
MAX_INTROSPECTION_FIELDS = 500
#: Lists of objects along one path beneath an introspection field: the standard queries
#: nest three (types, their fields, the fields' args); every further list multiplies the
#: answer by the size of the schema again.
MAX_INTROSPECTION_LISTS = 3
#: The introspection fields whose values are lists of objects.
_INTROSPECTION_LISTS = frozenset(
    {
        "types",
        "directives",
        "fields",
        "args",
        "inputFields",
        "interfaces",
        "possibleTypes",
        "enumValues",
    }
)
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
    #: Fields at or beneath an introspection field (not counted in ``fields`` or ``depth``).
    introspection_fields: int = 0
    #: Lists of objects nested along one path beneath an introspection field.
    introspection_lists: int = 0
    #: Whether any introspection field is selected.
    introspects: bool = False


@dataclass
class _Walk:
    """What one definition selects itself, and where it spreads which fragment."""

    own: _Cost = field(default_factory=_Cost)
    #: (fragment name, field depth at the spread, fragment nesting at the spread, and
    #: beneath an introspection field the lists nested above the spread, else None)
    spreads: list[tuple[str, int, int, int | None]] = field(default_factory=list)
    repeated: str | None = None


@dataclass
class _FragmentCosts:
    """Each fragment's cost where it is spread: outside introspection, and beneath it."""

    outside: dict[str, _Cost] = field(default_factory=dict)
    inside: dict[str, _Cost] = field(default_factory=dict)


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
    # A fragment's cost depends on whether it is spread beneath an introspection field,
    # so each is walked both ways (the walks are linear in the fragment's size).
    inside = {name: _walk(fragment, introspecting=True) for name, fragment in fragments.items()}
    cap = (
        max(
            limits.max_fields,
            limits.max_aliases,
            limits.max_depth,
            MAX_FRAGMENT_NESTING,
            MAX_INTROSPECTION_FIELDS,
            MAX_INTROSPECTION_LISTS,
        )
        + 1
    )
    costs, cycle = _fragment_costs(walks, inside, cap)
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
    if cost.introspects and not limits.introspection:
        # Alone, and the same whatever else the document holds: nothing said about it
        # may depend on the schema.
        return [
            GraphQLError(
                f"{name} asks for introspection (__schema or __type), which is turned off on "
                "this gateway; its operators publish the schema",
                definition,
                extensions={"code": "INTROSPECTION_DISABLED"},
            )
        ]
    # (over the limit, what to say, code): every limit that is passed is reported at once.
    checks = (
        (
            cost.depth > limits.max_depth,
            f"{name} is nested {_shown(cost.depth, limits.max_depth)} deep; at most "
            f"{limits.max_depth} is allowed",
            "QUERY_TOO_DEEP",
        ),
        (
            cost.nesting > MAX_FRAGMENT_NESTING,
            f"{name} nests fragments {_shown(cost.nesting, MAX_FRAGMENT_NESTING)} deep; at "
            f"most {MAX_FRAGMENT_NESTING} is allowed (inline the inner fragments)",
            "QUERY_TOO_DEEP",
        ),
        (
            cost.aliases > limits.max_aliases,
            f"{name} uses {_shown(cost.aliases, limits.max_aliases)} aliases; at most "
            f"{limits.max_aliases} are allowed",
            "TOO_MANY_ALIASES",
        ),
        (
            cost.introspection_lists > MAX_INTROSPECTION_LISTS,
            f"{name} nests introspection lists (types, fields, args, ...) "
            f"{_shown(cost.introspection_lists, MAX_INTROSPECTION_LISTS)} deep; at most "
            f"{MAX_INTROSPECTION_LISTS} is allowed",
            "QUERY_TOO_DEEP",
        ),
        (
            cost.introspection_fields > MAX_INTROSPECTION_FIELDS,
            f"{name} selects "
            f"{_shown(cost.introspection_fields, MAX_INTROSPECTION_FIELDS)} introspection "
            f"fields; at most {MAX_INTROSPECTION_FIELDS} are allowed",
            "QUERY_TOO_COSTLY",
        ),
        (
            cost.fields > limits.max_fields,
            f"{name} selects {_shown(cost.fields, limits.max_fields)} fields; at most "
            f"{limits.max_fields} are allowed (split it into several queries)",
            "QUERY_TOO_COSTLY",
        ),
    )
    errors = [
        GraphQLError(message, definition, extensions={"code": code})
        for over, message, code in checks
        if over
    ]
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


def _walk(definition: ExecutableDefinitionNode, *, introspecting: bool = False) -> _Walk:
    """The definition's own fields, aliases, depth and fragment nesting, and its spreads;
    ``introspecting``: as spread beneath an introspection field."""
    walk = _Walk()
    own = walk.own
    # (selection set, field depth above it, fragment nesting above it, and beneath an
    # introspection field the lists of objects above it, else None)
    stack: list[tuple[SelectionSetNode, int, int, int | None]] = [
        (definition.selection_set, 0, 0, 0 if introspecting else None)
    ]
    while stack:
        selection_set, depth, nesting, lists = stack.pop()
        keys: Counter[str] = Counter()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                key = (selection.alias or selection.name).value
                keys[key] += 1
                if keys[key] > MAX_REPEATED_FIELD and walk.repeated is None:
                    walk.repeated = key
                if selection.alias is not None:
                    own.aliases += 1
                # Beneath an introspection field depth stays put and lists are counted.
                below, lists_below = depth + 1, lists
                if lists is not None:
                    own.introspection_fields += 1
                    below, lists_below = depth, lists + (name in _INTROSPECTION_LISTS)
                    own.introspection_lists = max(own.introspection_lists, lists_below)
                elif name in INTROSPECTION_FIELDS:
                    own.introspects = True
                    own.introspection_fields += 1
                    below, lists_below = depth, 0
                else:
                    own.fields += 1
                    own.depth = max(own.depth, depth + 1)
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, below, nesting, lists_below))
            elif isinstance(selection, InlineFragmentNode):
                own.nesting = max(own.nesting, nesting + 1)
                stack.append((selection.selection_set, depth, nesting + 1, lists))
            elif isinstance(selection, FragmentSpreadNode):
                walk.spreads.append((selection.name.value, depth, nesting + 1, lists))
    return walk


def _fragment_costs(
    walks: dict[str, _Walk], inside: dict[str, _Walk], cap: int
) -> tuple[_FragmentCosts, str | None]:
    """Each fragment's expanded costs, or the name of a fragment on a cycle."""
    costs = _FragmentCosts()
    on_path: set[str] = set()
    for root in walks:
        if root in costs.outside:
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
                if child in walks and child not in costs.outside:
                    on_path.add(child)
                    stack.append((child, 0))
                continue
            stack.pop()
            on_path.discard(name)
            costs.outside[name] = _expand(walks[name], costs, cap)
            costs.inside[name] = _expand(inside[name], costs, cap)
    return costs, None


def _expand(walk: _Walk, costs: _FragmentCosts, cap: int) -> _Cost:
    own = walk.own
    total = _Cost(**vars(own))
    for name, depth, nesting, lists in walk.spreads:
        # An unknown fragment costs nothing here; validation names it.
        if lists is None:
            inner = costs.outside.get(name, _Cost())
            total.depth = min(cap, max(total.depth, depth + inner.depth))
            total.fields = min(cap, total.fields + inner.fields)
            total.introspection_lists = min(
                cap, max(total.introspection_lists, inner.introspection_lists)
            )
        else:
            # Beneath an introspection field: no depth, and no fields outside it.
            inner = costs.inside.get(name, _Cost())
            total.introspection_lists = min(
                cap, max(total.introspection_lists, lists + inner.introspection_lists)
            )
        total.nesting = min(cap, max(total.nesting, nesting + inner.nesting))
        total.aliases = min(cap, total.aliases + inner.aliases)
        total.introspection_fields = min(
            cap, total.introspection_fields + inner.introspection_fields
        )
        total.introspects = total.introspects or inner.introspects
    return total
