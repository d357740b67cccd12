"""Which FHIR searches one fetch needs: per group of people with the same permitted items, a
Patient search by NHS number and one search per many-row record set, each naming in
``_elements`` only what those items need."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from connectors.base import DateRange, FetchRequest
from connectors.fhir_paths import DATE_PARAMS, PATIENT_ELEMENT, ElementPath
from gateway.core.catalogue import Catalogue, record_set_of

#: The NHS number identifier system; a fhir agency's local ids are NHS numbers.
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
_NHS_NUMBER = re.compile(r"\d{10}")


@dataclass(frozen=True)
class Search:
    """One FHIR search of a fetch.

    ``group`` numbers the people it is about (the Patient search of a group comes
    before the group's other searches, so its answer links theirs to people);
    ``record_set`` is None for the Patient search, which also yields the one-row
    record sets; ``many_sets`` are the group's many-row record sets.
    """

    group: int
    resource_type: str
    record_set: str | None
    items: tuple[str, ...]
    nhs_numbers: tuple[str, ...]
    elements: tuple[str, ...]
    url: str
    many_sets: tuple[str, ...] = ()

    def describe(self) -> str:
        """The search, for messages: ``Encounter search (timeline)``."""
        about = f" ({self.record_set})" if self.record_set else ""
        return f"{self.resource_type} search{about}"

    @classmethod
    def probe(cls, page_size: int) -> Search:
        """A search for no one, to prove that searching (and its token) works."""
        return cls(
            group=0,
            resource_type="Patient",
            record_set=None,
            items=(),
            nhs_numbers=(),
            elements=("identifier",),
            url=_url(
                "Patient",
                [
                    ("identifier", f"{NHS_NUMBER_SYSTEM}|0000000000"),
                    ("_elements", "identifier"),
                    ("_count", str(min(page_size, 10))),
                ],
            ),
        )


def valid_nhs_number(local_id: str) -> bool:
    """Whether a local id can be an NHS number (ten digits); nothing else is searched for,
    which also keeps the search syntax's own characters (``,|$``) out of the values."""
    return bool(_NHS_NUMBER.fullmatch(local_id))


def plan_searches(
    items: Mapping[str, ElementPath],
    request: FetchRequest,
    page_size: int,
    catalogue: Catalogue,
) -> list[Search]:
    """The searches a request needs, in order: per group, Patient first."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for group in request.groups:
        wanted = tuple(sorted(item for item in group.items if item in items))
        people = [local_id for local_id in group.local_ids if valid_nhs_number(local_id)]
        if wanted and people:
            groups[wanted].extend(people)
    searches: list[Search] = []
    for number, (wanted, people) in enumerate(groups.items()):
        nhs_numbers = tuple(dict.fromkeys(people))
        identifiers = ",".join(f"{NHS_NUMBER_SYSTEM}|{nhs}" for nhs in nhs_numbers)
        by_set: dict[str, list[str]] = defaultdict(list)
        for item in wanted:
            by_set[record_set_of(item)].append(item)
        one_row = [
            item for item in wanted if not catalogue.record_sets_by_name[record_set_of(item)].many
        ]
        many_sets = tuple(rs for rs in by_set if catalogue.record_sets_by_name[rs].many)
        patient_elements = _elements(["identifier"], (items[item] for item in one_row))
        searches.append(
            Search(
                group=number,
                resource_type="Patient",
                record_set=None,
                items=tuple(one_row),
                nhs_numbers=nhs_numbers,
                elements=patient_elements,
                url=_url(
                    "Patient",
                    [
                        ("identifier", identifiers),
                        ("_elements", ",".join(patient_elements)),
                        ("_count", str(page_size)),
                    ],
                ),
                many_sets=many_sets,
            )
        )
        for rs_name in many_sets:
            rs_items = by_set[rs_name]
            resource_type = items[rs_items[0]].resource_type
            elements = _elements(
                [PATIENT_ELEMENT[resource_type]], (items[item] for item in rs_items)
            )
            params = [
                ("patient.identifier", identifiers),
                ("_elements", ",".join(elements)),
                ("_count", str(page_size)),
            ]
            params += _date_params(items, rs_name, request.ranges.get(rs_name), catalogue)
            searches.append(
                Search(
                    group=number,
                    resource_type=resource_type,
                    record_set=rs_name,
                    items=tuple(rs_items),
                    nhs_numbers=nhs_numbers,
                    elements=elements,
                    url=_url(resource_type, params),
                )
            )
    return searches


def _elements(first: list[str], paths: Iterable[ElementPath]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*first, *(path.element for path in paths)]))


def _date_params(
    items: Mapping[str, ElementPath],
    rs_name: str,
    bounds: DateRange | None,
    catalogue: Catalogue,
) -> list[tuple[str, str]]:
    """The date search parameters for a range, where the record set's date is searchable.

    Only when the agency maps the date item into the element the parameter searches;
    otherwise the range is applied to the rows alone (the server would filter on another
    date). The filter is sent even when the date item itself is not permitted: it narrows
    the rows without disclosing the element."""
    date_field = catalogue.record_sets_by_name[rs_name].date_field
    if bounds is None or bounds.open or date_field is None:
        return []
    date_item = f"{rs_name}.{date_field}"
    if date_item not in items:
        return []
    path = items[date_item]
    param = DATE_PARAMS.get((path.resource_type, path.element))
    if param is None:
        return []
    params = []
    if bounds.start is not None:
        params.append((param, f"ge{bounds.start.isoformat()}"))
    if bounds.end is not None:
        params.append((param, f"le{bounds.end.isoformat()}"))
    return params


def _url(resource_type: str, params: list[tuple[str, str]]) -> str:
    return f"{resource_type}?{urlencode(params, safe=',|:/')}"
