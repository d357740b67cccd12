"""What a document may cost, checked before anything is executed or any agency called."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from gateway.settings import Limits


@dataclass(frozen=True)
class _Cost:
    depth: int
    fields: int
    aliases: int


def check_limits(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """Errors for every limit the document exceeds; safe on documents not yet validated."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    memo: dict[str, _Cost] = {}
    errors: list[GraphQLError] = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        cost = _selection_cost(definition.selection_set, fragments, memo)
        name = definition.name.value if definition.name else "the operation"
        if cost.depth > limits.max_depth:
            errors.append(
                GraphQLError(
                    f"{name} is nested {cost.depth} deep; at most {limits.max_depth} is allowed",
                    definition,
                    extensions={"code": "QUERY_TOO_DEEP"},
                )
            )
        if cost.aliases > limits.max_aliases:
            errors.append(
                GraphQLError(
                    f"{name} uses {cost.aliases} aliases; at most {limits.max_aliases} are allowed",
                    definition,
                    extensions={"code": "TOO_MANY_ALIASES"},
                )
            )
        if cost.fields > limits.max_fields:
            errors.append(
                GraphQLError(
                    f"{name} selects {cost.fields} fields; at most {limits.max_fields} are "
                    "allowed (split it into several queries)",
                    definition,
                    extensions={"code": "QUERY_TOO_COSTLY"},
                )
            )
    return errors


def _selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    memo: dict[str, _Cost],
) -> _Cost:
    if selection_set is None:
        return _Cost(0, 0, 0)
    depth = fields = aliases = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = _selection_cost(selection.selection_set, fragments, memo)
            depth = max(depth, inner.depth + 1)
            fields += 1 + inner.fields
            aliases += inner.aliases + (1 if selection.alias is not None else 0)
        else:
            if isinstance(selection, FragmentSpreadNode):
                inner = _fragment_cost(selection.name.value, fragments, memo)
            elif isinstance(selection, InlineFragmentNode):
                inner = _selection_cost(selection.selection_set, fragments, memo)
            else:  # pragma: no cover - the grammar has no other selection
                continue
            depth = max(depth, inner.depth)
            fields += inner.fields
            aliases += inner.aliases
    return _Cost(depth, fields, aliases)


def _fragment_cost(
    name: str, fragments: dict[str, FragmentDefinitionNode], memo: dict[str, _Cost]
) -> _Cost:
    # Limits run before validation (validating a huge document is itself the
    # attack), so a fragment cycle must end here: it is seeded as free and
    # validation then rejects it. The memo makes a fragment used many times
    # cost one walk while still counting every use.
    cost = memo.get(name)
    if cost is None:
        memo[name] = _Cost(0, 0, 0)
        fragment = fragments.get(name)
        cost = (
            _selection_cost(fragment.selection_set, fragments, memo)
            if fragment is not None
            else _Cost(0, 0, 0)
        )
        memo[name] = cost
    return cost
