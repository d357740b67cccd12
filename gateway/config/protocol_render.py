"""The sharing protocol as a document the agencies sign: Markdown or a standalone HTML page.

``fame-gateway protocol render`` writes it. The document says, for every data item
each agency shares, who receives it, for which purposes and on what basis, and the
terms around it (relationships, consent, break-glass, sealed items). It is built
once as a small document model (:mod:`gateway.config.protocol_blocks`) and then written
in either format, so the two cannot say different things; the terms of section 1
(purposes, relationships, categories, consent evidence, break-glass, governance)
are built in :mod:`gateway.config.protocol_terms`. The output is deterministic (no
timestamps, stable order) so that the rendering of the shipped protocol can be
kept under version control and checked for drift.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence

from gateway.config.protocol import Clause, SharingProtocol
from gateway.config.protocol_blocks import (
    Block,
    Bullets,
    Heading,
    Namer,
    Para,
    Table,
    Text,
    code,
    codes,
    declared_order,
    slug,
    strong,
    t,
)
from gateway.config.protocol_terms import terms
from gateway.core.catalogue import Catalogue
from gateway.core.registration import AgencyConfig

__all__ = ["render_html", "render_markdown"]

# ----------------------------------------------------------------------------- ordering


def _item_key(catalogue: Catalogue) -> Callable[[str], tuple[int, str]]:
    order = {name: position for position, name in enumerate(catalogue.items)}

    def key(item: str) -> tuple[int, str]:
        return (order.get(item, len(order)), item)

    return key


def _item_patterns(items: Iterable[str], catalogue: Catalogue) -> list[str]:
    """Item names, whole record sets shortened to ``<record set>.*``, in catalogue order."""
    remaining = set(items)
    patterns: list[str] = []
    for record_set in catalogue.record_sets:
        names = [spec.name for spec in record_set.items]
        present = [name for name in names if name in remaining]
        if not present:
            continue
        if len(present) == len(names):
            patterns.append(f"{record_set.name}.*")
        else:
            patterns.extend(present)
        remaining.difference_update(present)
    patterns.extend(sorted(remaining))
    return patterns


# ----------------------------------------------------------------------------- the document


def _document(protocol: SharingProtocol, agencies: Sequence[AgencyConfig]) -> list[Block]:
    names = {agency.id: agency.name for agency in agencies}
    # The protocol carries the agencies' rules when the gateway loaded them together;
    # otherwise each registration's own.
    services = {agency.id: protocol.services.get(agency.id, agency.services) for agency in agencies}

    def agency_name(agency_id: str) -> str:
        return names.get(agency_id, agency_id)

    blocks: list[Block] = [
        Heading(1, t(protocol.title)),
        Para(t(strong("Version"), " ", protocol.version)),
        Para(
            t(
                "This protocol lists every data item the agencies below share through the "
                "FAME Gateway: who may receive it, for which purposes and on what basis. "
                "What it does not list is never shared. The gateway applies it to every "
                "request and records each decision, with the clause it relied on, in the "
                "audit trail; values are never written to the audit."
            )
        ),
        Para(
            t(
                "This document is generated from the protocol the gateway runs (",
                code("fame-gateway protocol render"),
                "); change the protocol file, not this document.",
            )
        ),
    ]
    blocks += terms(protocol, services, agency_name)

    blocks.append(Heading(2, t("2. Clauses"), "clauses"))
    for clause in protocol.clauses:
        blocks += _clause_blocks(protocol, clause, agency_name)

    blocks.append(Heading(2, t("3. Items by agency"), "items"))
    blocks.append(
        Para(
            t("Every item each agency shares, in catalogue order, with the clause that governs it.")
        )
    )
    covered: dict[str, dict[str, Clause]] = {}
    for clause in protocol.clauses:
        for agency_id in clause.agencies:
            for item in clause.items:
                covered.setdefault(agency_id, {})[item] = clause
    mapped = {agency.id: agency.items for agency in agencies}
    for agency_id in sorted(set(covered) | set(mapped)):
        blocks += _agency_blocks(
            protocol, agency_id, agency_name(agency_id), covered.get(agency_id, {}), mapped
        )

    blocks += [
        Heading(2, t("4. Sign-off"), "sign-off"),
        Para(
            t(
                "Signed for each agency by its Caldicott Guardian or information governance "
                "lead, for version ",
                protocol.version,
                ".",
            )
        ),
        Table(
            ("Agency", "Name", "Role", "Signature", "Date"),
            tuple(
                (t(agency_name(a)), t(""), t(""), t(""), t(""))
                for a in sorted(set(covered) | set(mapped))
            ),
        ),
    ]
    return blocks


def _basis_text(clause: Clause) -> Text:
    if clause.sealed:
        return t(strong("SEALED"))
    return t(clause.basis.value)


def _clause_blocks(protocol: SharingProtocol, clause: Clause, agency_name: Namer) -> list[Block]:
    agencies = sorted(clause.agencies, key=lambda a: (agency_name(a), a))
    lines: list[Text] = [
        t(strong("Shared by:"), " ", ", ".join(agency_name(a) for a in agencies) or "none"),
        t(strong("Items:"), " ", codes(_item_patterns(clause.items, protocol.catalogue))),
        t(strong("Category:"), " ", code(clause.category)),
    ]
    if clause.sealed:
        lines.append(
            t(
                strong("Sealed:"),
                " never leaves the owning agency; no role, purpose, consent or break-glass "
                "opens it.",
            )
        )
    else:
        lines += [
            t(
                strong("Recipients:"),
                " ",
                codes(declared_order(clause.roles, protocol.roles)),
            ),
            t(
                strong("Purposes:"),
                " ",
                codes(declared_order(clause.purposes, protocol.purposes)),
            ),
            t(strong("Basis:"), " ", clause.basis.value),
        ]
    blocks: list[Block] = [
        Heading(3, t(clause.id, " ", clause.title), slug(clause.id)),
        Bullets(tuple(lines)),
    ]
    if clause.note:
        blocks.append(Para(t(clause.note)))
    return blocks


def _agency_blocks(
    protocol: SharingProtocol,
    agency_id: str,
    name: str,
    covered: dict[str, Clause],
    mapped: dict[str, frozenset[str]],
) -> list[Block]:
    blocks: list[Block] = [Heading(3, t(name, " (", code(agency_id), ")"), slug(agency_id))]
    if not covered:
        blocks.append(Para(t("This agency shares nothing under this protocol.")))
    else:
        rows: list[tuple[Text, ...]] = []
        for item in sorted(covered, key=_item_key(protocol.catalogue)):
            clause = covered[item]
            spec = protocol.catalogue.items.get(item)
            described = t(code(item), " — ", spec.description) if spec else t(code(item))
            if clause.sealed:
                recipients = t("none outside the agency")
                purposes: Text = t("none")
            else:
                recipients = codes(declared_order(clause.roles, protocol.roles))
                purposes = codes(declared_order(clause.purposes, protocol.purposes))
            rows.append(
                (
                    described,
                    t(code(clause.category)),
                    recipients,
                    purposes,
                    _basis_text(clause),
                    t(clause.id),
                )
            )
        blocks.append(
            Table(("Item", "Category", "Recipients", "Purposes", "Basis", "Clause"), tuple(rows))
        )
    if agency_id in mapped:
        item_key = _item_key(protocol.catalogue)
        unmapped = sorted(set(covered) - mapped[agency_id], key=item_key)
        unlisted = sorted(mapped[agency_id] - set(covered), key=item_key)
        if unmapped:
            blocks.append(
                Para(
                    t(
                        "Listed above but not mapped by the agency's registration, so there is "
                        "nothing to share yet: ",
                        codes(unmapped),
                        ".",
                    )
                )
            )
        if unlisted:
            blocks.append(
                Para(
                    t(
                        strong("Mapped by the agency but in no clause, so never shared:"),
                        " ",
                        codes(unlisted),
                        ".",
                    )
                )
            )
    return blocks


# ----------------------------------------------------------------------------- writers


def _md_escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace("*", "\\*")
        .replace("\n", " ")
    )


def _md_inline(text: Text, in_table: bool = False) -> str:
    out: list[str] = []
    for run in text:
        if run.style == "code":
            fence = "``" if "`" in run.text else "`"
            pad = " " if fence == "``" else ""
            literal = run.text.replace("\n", " ")
            if in_table:
                # A table cell ends at an unescaped pipe even inside code; elsewhere a
                # backslash in code would be shown as written.
                literal = literal.replace("|", "\\|")
            out.append(f"{fence}{pad}{literal}{pad}{fence}")
        elif run.style == "strong":
            out.append(f"**{_md_escape(run.text)}**")
        else:
            out.append(_md_escape(run.text))
    return "".join(out)


def render_markdown(protocol: SharingProtocol, agencies: Sequence[AgencyConfig]) -> str:
    """The protocol as a Markdown document for the agencies' information governance leads.

    ``agencies`` gives each owning agency's display name and the items it maps; the
    output depends only on its arguments, so it can be kept in version control.
    """
    chunks: list[str] = []
    for block in _document(protocol, agencies):
        if isinstance(block, Heading):
            chunks.append(f"{'#' * block.level} {_md_inline(block.text)}")
        elif isinstance(block, Para):
            chunks.append(_md_inline(block.text))
        elif isinstance(block, Bullets):
            chunks.append("\n".join(f"- {_md_inline(item)}" for item in block.items))
        else:
            lines = [
                "| " + " | ".join(block.header) + " |",
                "|" + "|".join("---" for _ in block.header) + "|",
            ]
            lines += [
                "| " + " | ".join(_md_inline(cell, in_table=True) for cell in row) + " |"
                for row in block.rows
            ]
            chunks.append("\n".join(lines))
    return "\n\n".join(chunks) + "\n"


_CSS = """\
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.45; color: #1d1d1d; }
table { border-collapse: collapse; margin: 0.5rem 0 1.25rem; width: 100%; }
th, td { border: 1px solid #c8c8c8; padding: 0.3rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #eef1f5; }
code { font-size: 0.92em; background: #f3f3f3; padding: 0 0.2em; }
h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.2rem; margin-top: 2.5rem; }
strong { color: #7a1010; }
"""


def _html_inline(text: Text) -> str:
    out: list[str] = []
    for run in text:
        escaped = html.escape(run.text)
        if run.style == "code":
            out.append(f"<code>{escaped}</code>")
        elif run.style == "strong":
            out.append(f"<strong>{escaped}</strong>")
        else:
            out.append(escaped)
    return "".join(out)


def render_html(protocol: SharingProtocol, agencies: Sequence[AgencyConfig]) -> str:
    """The protocol as a standalone HTML page (inline CSS, every text escaped).

    Says the same as :func:`render_markdown`, for printing and signing.
    """
    body: list[str] = []
    for block in _document(protocol, agencies):
        if isinstance(block, Heading):
            anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
            level = block.level
            body.append(f"<h{level}{anchor}>{_html_inline(block.text)}</h{level}>")
        elif isinstance(block, Para):
            body.append(f"<p>{_html_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            items = "\n".join(f"<li>{_html_inline(item)}</li>" for item in block.items)
            body.append(f"<ul>\n{items}\n</ul>")
        else:
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.header)
            rows = "\n".join(
                "<tr>" + "".join(f"<td>{_html_inline(cell)}</td>" for cell in row) + "</tr>"
                for row in block.rows
            )
            body.append(
                f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
            )
    title = html.escape(f"{protocol.title} — version {protocol.version}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>\n{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
