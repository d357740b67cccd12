"""The sharing protocol as a document the agencies sign: Markdown or a standalone HTML page.

``fame-gateway protocol render`` writes it. The document says, for every data item
each agency shares, who receives it, for which purposes and on what basis, and the
terms around it (relationships, consent, break-glass, sealed items). It is built
once as a small document model and then written in either format, so the two
cannot say different things. The output is deterministic (no timestamps, stable
order) so that the rendering of the shipped protocol can be kept under version
control and checked for drift.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gateway.agencies import AgencyConfig
from gateway.catalogue import ITEMS, RECORD_SETS
from gateway.protocol import Clause, SharingProtocol

__all__ = ["render_html", "render_markdown"]

# ----------------------------------------------------------------------------- document model


@dataclass(frozen=True)
class _Run:
    """One run of inline text: its style ("" plain, "code" or "strong") and its text."""

    style: str
    text: str


#: Inline text: runs in order.
Text = tuple[_Run, ...]
#: An agency's display name from its id.
_Namer = Callable[[str], str]


@dataclass(frozen=True)
class _Heading:
    level: int
    text: Text
    anchor: str = ""


@dataclass(frozen=True)
class _Para:
    text: Text


@dataclass(frozen=True)
class _Bullets:
    items: tuple[Text, ...]


@dataclass(frozen=True)
class _Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Text, ...], ...]


_Block = _Heading | _Para | _Bullets | _Table


def _t(*parts: str | _Run | Text) -> Text:
    """Inline text from plain strings, styled runs and other texts, in order."""
    runs: list[_Run] = []
    for part in parts:
        if isinstance(part, str):
            runs.append(_Run("", part))
        elif isinstance(part, _Run):
            runs.append(part)
        else:
            runs.extend(part)
    return tuple(runs)


def _code(text: str) -> _Run:
    return _Run("code", text)


def _strong(text: str) -> _Run:
    return _Run("strong", text)


def _codes(names: Iterable[str]) -> Text:
    """Identifiers as code, separated by commas; "none" when there are none."""
    runs: list[_Run] = []
    for position, name in enumerate(names):
        if position:
            runs.append(_Run("", ", "))
        runs.append(_code(name))
    return tuple(runs) or (_Run("", "none"),)


# ----------------------------------------------------------------------------- ordering

_ITEM_ORDER = {name: position for position, name in enumerate(ITEMS)}


def _item_key(item: str) -> tuple[int, str]:
    return (_ITEM_ORDER.get(item, len(_ITEM_ORDER)), item)


def _declared_order(names: Iterable[str], declared: Iterable[str]) -> list[str]:
    """``names`` in the order the protocol declares them; undeclared ones last, sorted."""
    order = {name: position for position, name in enumerate(declared)}
    return sorted(names, key=lambda name: (order.get(name, len(order)), name))


def _item_patterns(items: Iterable[str]) -> list[str]:
    """Item names, whole record sets shortened to ``<record set>.*``, in catalogue order."""
    remaining = set(items)
    patterns: list[str] = []
    for record_set in RECORD_SETS:
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


def _hours(hours: float) -> str:
    amount = f"{hours:g}"
    return f"{amount} hour" if amount == "1" else f"{amount} hours"


# ----------------------------------------------------------------------------- the document

_BASES: tuple[tuple[str, str], ...] = (
    (
        "Explicit",
        "Shared only while the person's recorded consent is in force: consent for the item "
        "or for its category, given to the recipient's agency or role (or to everyone). "
        "An objection withholds it.",
    ),
    (
        "Implied",
        "Shared with the clause's roles for the clause's purposes unless the person has "
        "objected (to the item or its category, for the recipient's agency or role).",
    ),
    (
        "Statutory",
        "Shared under a legal duty, for the clause's purposes only, whatever the person's "
        "consent or objection. Every disclosure is recorded in the audit trail.",
    ),
    (
        "Sealed",
        "Never leaves the owning agency: no role, purpose, consent or break-glass opens it.",
    ),
)


def _document(protocol: SharingProtocol, agencies: Sequence[AgencyConfig]) -> list[_Block]:
    names = {agency.id: agency.name for agency in agencies}
    team_scoped = set(protocol.team_scoped_agencies) | {
        agency.id for agency in agencies if agency.teams_matter
    }

    def agency_name(agency_id: str) -> str:
        return names.get(agency_id, agency_id)

    blocks: list[_Block] = [
        _Heading(1, _t(protocol.title)),
        _Para(_t(_strong("Version"), " ", protocol.version)),
        _Para(
            _t(
                "This protocol lists every data item the agencies below share through the "
                "FAME Gateway: who may receive it, for which purposes and on what basis. "
                "What it does not list is never shared. The gateway applies it to every "
                "request and records each decision, with the clause it relied on, in the "
                "audit trail; values are never written to the audit."
            )
        ),
        _Para(
            _t(
                "This document is generated from the protocol the gateway runs (",
                _code("fame-gateway protocol render"),
                "); change the protocol file, not this document.",
            )
        ),
        _Heading(2, _t("1. How the protocol is applied"), "how"),
        _Heading(3, _t("Bases for sharing"), "bases"),
        _Table(("Basis", "Meaning"), tuple((_t(_strong(b)), _t(m)) for b, m in _BASES)),
        _Para(
            _t(
                "Whatever the basis, a recipient must hold one of the clause's roles, ask for "
                "one of its purposes, and have a legitimate relationship with the person: "
                "their own agency currently involved with the person, or an active "
                "break-glass grant. A role alone is not enough."
            )
        ),
    ]
    if team_scoped:
        blocks.append(
            _Para(
                _t(
                    "For ",
                    _joined([agency_name(a) for a in sorted(team_scoped)]),
                    " the relationship is with the practitioner's own team: a practitioner of "
                    "another team of the same agency has none.",
                )
            )
        )
    blocks.append(
        _Para(
            _t(
                "An agency's own practitioners with a relationship see the agency's own "
                "records; the clauses govern what passes between agencies."
            )
        )
    )

    blocks += [
        _Heading(3, _t("Purposes of use"), "purposes"),
        _Table(
            ("Purpose", "Meaning"),
            tuple((_t(_code(name)), _t(text)) for name, text in protocol.purposes.items()),
        ),
        _Heading(3, _t("Roles"), "roles"),
        _Table(
            ("Role", "Description", "May break glass", "Governance"),
            tuple(
                (
                    _t(_code(name)),
                    _t(text),
                    _t("yes" if name in protocol.break_glass_roles else "no"),
                    _t("yes" if name in protocol.governance_roles else "no"),
                )
                for name, text in protocol.roles.items()
            ),
        ),
        _Heading(3, _t("Categories"), "categories"),
        _Para(
            _t(
                "Consent and objections are recorded per category or per item. A record for a "
                "category covers its sub-categories: one for ",
                _code("health"),
                " also covers ",
                _code("health.mental"),
                ".",
            )
        ),
        _Table(
            ("Category", "Description"),
            tuple((_t(_code(name)), _t(text)) for name, text in protocol.categories.items()),
        ),
        _Heading(3, _t("Break-glass"), "break-glass"),
    ]
    bg_roles = _declared_order(protocol.break_glass_roles, protocol.roles)
    if bg_roles:
        blocks.append(
            _Bullets(
                (
                    _t(
                        "Who may: practitioners in the roles ",
                        _codes(bg_roles),
                        ", for a person they have no relationship with, stating the reason.",
                    ),
                    _t(
                        "How long: the grant lasts ",
                        _hours(protocol.break_glass_hours),
                        ", covers one person, is the practitioner's alone, and can be ended "
                        "sooner.",
                    ),
                    _t(
                        "What it opens: under a grant the purpose of use is ",
                        _code("emergency"),
                        ". Only clauses that list that purpose and the practitioner's role "
                        "apply; explicit items still need consent and an objection still "
                        "withholds an implied item.",
                    ),
                    _t(_strong("Sealed items never open"), ", break-glass included."),
                    _t(
                        "Every access under a grant is marked as break-glass in the audit "
                        "trail and reviewed by the governance roles."
                    ),
                )
            )
        )
    else:
        blocks.append(_Para(_t("No role may break glass under this protocol.")))
    blocks += [
        _Heading(3, _t("Governance"), "governance"),
        _Para(
            _t(
                "The roles ",
                _codes(_declared_order(protocol.governance_roles, protocol.roles)),
                " sign this protocol for their agency and review the audit trail: "
                "every disclosure and every break-glass access.",
            )
        ),
    ]

    blocks.append(_Heading(2, _t("2. Clauses"), "clauses"))
    for clause in protocol.clauses:
        blocks += _clause_blocks(protocol, clause, agency_name)

    blocks.append(_Heading(2, _t("3. Items by agency"), "items"))
    blocks.append(
        _Para(
            _t(
                "Every item each agency shares, in catalogue order, with the clause that "
                "governs it."
            )
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
        _Heading(2, _t("4. Sign-off"), "sign-off"),
        _Para(
            _t(
                "Signed for each agency by its Caldicott Guardian or information governance "
                "lead, for version ",
                protocol.version,
                ".",
            )
        ),
        _Table(
            ("Agency", "Name", "Role", "Signature", "Date"),
            tuple(
                (_t(agency_name(a)), _t(""), _t(""), _t(""), _t(""))
                for a in sorted(set(covered) | set(mapped))
            ),
        ),
    ]
    return blocks


def _joined(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _basis_text(clause: Clause) -> Text:
    if clause.sealed:
        return _t(_strong("SEALED"))
    return _t(clause.basis.value)


def _clause_blocks(protocol: SharingProtocol, clause: Clause, agency_name: _Namer) -> list[_Block]:
    agencies = sorted(clause.agencies, key=lambda a: (agency_name(a), a))
    lines: list[Text] = [
        _t(_strong("Shared by:"), " ", ", ".join(agency_name(a) for a in agencies) or "none"),
        _t(_strong("Items:"), " ", _codes(_item_patterns(clause.items))),
        _t(_strong("Category:"), " ", _code(clause.category)),
    ]
    if clause.sealed:
        lines.append(
            _t(
                _strong("Sealed:"),
                " never leaves the owning agency; no role, purpose, consent or break-glass "
                "opens it.",
            )
        )
    else:
        lines += [
            _t(
                _strong("Recipients:"),
                " ",
                _codes(_declared_order(clause.roles, protocol.roles)),
            ),
            _t(
                _strong("Purposes:"),
                " ",
                _codes(_declared_order(clause.purposes, protocol.purposes)),
            ),
            _t(_strong("Basis:"), " ", clause.basis.value),
        ]
    blocks: list[_Block] = [
        _Heading(3, _t(clause.id, " ", clause.title), _slug(clause.id)),
        _Bullets(tuple(lines)),
    ]
    if clause.note:
        blocks.append(_Para(_t(clause.note)))
    return blocks


def _agency_blocks(
    protocol: SharingProtocol,
    agency_id: str,
    name: str,
    covered: dict[str, Clause],
    mapped: dict[str, frozenset[str]],
) -> list[_Block]:
    blocks: list[_Block] = [_Heading(3, _t(name, " (", _code(agency_id), ")"), _slug(agency_id))]
    if not covered:
        blocks.append(_Para(_t("This agency shares nothing under this protocol.")))
    else:
        rows: list[tuple[Text, ...]] = []
        for item in sorted(covered, key=_item_key):
            clause = covered[item]
            spec = ITEMS.get(item)
            described = _t(_code(item), " — ", spec.description) if spec else _t(_code(item))
            if clause.sealed:
                recipients = _t("none outside the agency")
                purposes: Text = _t("none")
            else:
                recipients = _codes(_declared_order(clause.roles, protocol.roles))
                purposes = _codes(_declared_order(clause.purposes, protocol.purposes))
            rows.append(
                (
                    described,
                    _t(_code(clause.category)),
                    recipients,
                    purposes,
                    _basis_text(clause),
                    _t(clause.id),
                )
            )
        blocks.append(
            _Table(("Item", "Category", "Recipients", "Purposes", "Basis", "Clause"), tuple(rows))
        )
    if agency_id in mapped:
        unmapped = sorted(set(covered) - mapped[agency_id], key=_item_key)
        unlisted = sorted(mapped[agency_id] - set(covered), key=_item_key)
        if unmapped:
            blocks.append(
                _Para(
                    _t(
                        "Listed above but not mapped by the agency's registration, so there is "
                        "nothing to share yet: ",
                        _codes(unmapped),
                        ".",
                    )
                )
            )
        if unlisted:
            blocks.append(
                _Para(
                    _t(
                        _strong("Mapped by the agency but in no clause, so never shared:"),
                        " ",
                        _codes(unlisted),
                        ".",
                    )
                )
            )
    return blocks


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


# ----------------------------------------------------------------------------- writers


def _md_escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace("*", "\\*")
        .replace("\n", " ")
    )


def _md_inline(text: Text) -> str:
    out: list[str] = []
    for run in text:
        if run.style == "code":
            fence = "``" if "`" in run.text else "`"
            pad = " " if fence == "``" else ""
            code = run.text.replace("|", "\\|").replace("\n", " ")
            out.append(f"{fence}{pad}{code}{pad}{fence}")
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
        if isinstance(block, _Heading):
            chunks.append(f"{'#' * block.level} {_md_inline(block.text)}")
        elif isinstance(block, _Para):
            chunks.append(_md_inline(block.text))
        elif isinstance(block, _Bullets):
            chunks.append("\n".join(f"- {_md_inline(item)}" for item in block.items))
        else:
            lines = [
                "| " + " | ".join(block.header) + " |",
                "|" + "|".join("---" for _ in block.header) + "|",
            ]
            lines += [
                "| " + " | ".join(_md_inline(cell) for cell in row) + " |" for row in block.rows
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
        if isinstance(block, _Heading):
            anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
            level = block.level
            body.append(f"<h{level}{anchor}>{_html_inline(block.text)}</h{level}>")
        elif isinstance(block, _Para):
            body.append(f"<p>{_html_inline(block.text)}</p>")
        elif isinstance(block, _Bullets):
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
