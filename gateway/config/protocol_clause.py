"""A ``[[clause]]`` to propose for an agency's items the sharing protocol does not list.

Where another agency's clause already covers the same items, the proposal copies its
category, roles, purposes and basis (the agencies agreed those for such data) and says
that adding the agency to that clause is the other way. Otherwise the values to agree
are written ``TO-AGREE``, which the protocol refuses until someone decides them.
"""

from __future__ import annotations

import json
from collections import defaultdict

from gateway.config.protocol import Clause, SharingProtocol
from gateway.core.catalogue import Catalogue, record_set_of
from gateway.core.registration import AgencyConfig

_TO_AGREE = "TO-AGREE"


def _patterns(items: list[str], catalogue: Catalogue) -> list[str]:
    """Items, with a whole record set written ``set.*``."""
    by_set: dict[str, set[str]] = defaultdict(set)
    for item in items:
        by_set[record_set_of(item)].add(item)
    out: list[str] = []
    for rs_name, chosen in sorted(by_set.items()):
        every = {spec.name for spec in catalogue.record_sets_by_name[rs_name].items}
        out.extend([f"{rs_name}.*"] if chosen == every else sorted(chosen))
    return out


def _model(protocol: SharingProtocol, agency: str, item: str) -> Clause | None:
    """The clause covering this item for another agency, if any."""
    for clause in protocol.clauses:
        if item in clause.items and agency not in clause.agencies:
            return clause
    return None


def _array(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def proposed_clauses(
    agency: AgencyConfig, items: tuple[str, ...], protocol: SharingProtocol
) -> str:
    """TOML text of one clause per group of items, grouped by the clause that covers them
    for other agencies."""
    groups: dict[str, list[str]] = defaultdict(list)
    models: dict[str, Clause | None] = {}
    for item in items:
        model = _model(protocol, agency.id, item)
        key = model.id if model is not None else ""
        groups[key].append(item)
        models[key] = model
    blocks: list[str] = []
    for number, (key, grouped) in enumerate(sorted(groups.items()), start=1):
        model = models[key]
        lines = ["[[clause]]"]
        if model is not None:
            lines.insert(
                0,
                f"# as clause {model.id} ({model.title}) for {', '.join(sorted(model.agencies))};"
                f' or add "{agency.id}" to that clause\'s agencies',
            )
        title = f"{agency.name}: {', '.join(sorted({record_set_of(i) for i in grouped}))}"
        lines += [
            f'id = "{_TO_AGREE}-{number}"   # the clause number the agencies give it',
            f"title = {json.dumps(title)}",
            f"agencies = {_array([agency.id])}",
            f"items = {_array(_patterns(grouped, agency.catalogue))}",
        ]
        if model is not None:
            lines += [
                f"category = {json.dumps(model.category)}",
                f"roles = {_array(sorted(model.roles))}",
                f"purposes = {_array(sorted(model.purposes))}",
                f"basis = {json.dumps(model.basis.value)}",
            ]
            if model.sealed:
                lines.append("sealed = true")
        else:
            lines += [
                f'category = "{_TO_AGREE}"   # one of: {", ".join(sorted(protocol.categories))}',
                f'roles = ["{_TO_AGREE}"]    # from: {", ".join(sorted(protocol.roles))}',
                f'purposes = ["{_TO_AGREE}"] # from: {", ".join(sorted(protocol.purposes))}',
                f'basis = "{_TO_AGREE}"      # explicit, implied or statutory',
            ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
