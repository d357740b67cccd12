"""Hostile GraphQL and HTTP requests: each gets its 4xx (or a clean field error), never a
5xx, an INTERNAL error, a suggestion or a traceback, and the gateway stays healthy."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx

from gateway.edge.documents import MAX_TOKENS
from tests.hostile.support import Case, first_error, healthy, is_json, problems
from tests.support import World

ME = "{ me { agency } }"


def _q(query: str, **extra: Any) -> bytes:
    return json.dumps({"query": query, **extra}).encode()


def _nested(field: str, levels: int, leaf: str = "id") -> str:
    return "{ " + (field + " { ") * levels + leaf + " }" * levels + " }"


def _chain(length: int) -> str:
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(length - 1))
    return f"query Q {{ ...F0 }} {fragments} fragment F{length - 1} on Query {{ me {{ agency }} }}"


def _fan(width: int, levels: int) -> str:
    names = [f"F{i}" for i in range(levels)]
    parts = [f"query Q {{ ...{names[0]} }}"]
    for here, below in itertools.pairwise(names):
        parts.append(f"fragment {here} on Query {{ {' '.join([f'...{below}'] * width)} }}")
    parts.append(f"fragment {names[-1]} on Query {{ me {{ agency name team }} }}")
    return " ".join(parts)


def _deep_introspection(levels: int) -> str:
    inner = "name"
    for _ in range(levels):
        inner = f"fields {{ type {{ {inner} }} }}"
    return "{ __schema { types { %s } } }" % inner


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append

    # Bodies that are not one GraphQL request.
    for name, raw, says in [
        ("truncated JSON", b'{"query": "{ me ', "not valid JSON"),
        ("bare word", b"nul", "not valid JSON"),
        ("empty body", b"", "not valid JSON"),
        ("JSON string", b'"{ me { agency } }"', "must be a JSON object"),
        ("JSON number", b"42", "must be a JSON object"),
        ("JSON true", b"true", "must be a JSON object"),
        ("JSON null", b"null", "must be a JSON object"),
        (
            "batch of two",
            b'[{"query": "{ me { agency } }"}, {"query": "{ me { agency } }"}]',
            "batch",
        ),
        ("empty batch", b"[]", "batch"),
        ("query null", b'{"query": null}', 'no "query"'),
        ("query number", b'{"query": 5}', 'no "query"'),
        ("query list", b'{"query": ["{ me { agency } }"]}', 'no "query"'),
        ("query empty", b'{"query": ""}', 'no "query"'),
        ("query blank", b'{"query": "  \\n\\t "}', 'no "query"'),
        ("variables string", _q(ME, variables="x"), '"variables"'),
        ("variables list", _q(ME, variables=[1]), '"variables"'),
        ("operationName number", _q(ME, operationName=5), '"operationName"'),
        ("operationName object", _q(ME, operationName={}), '"operationName"'),
        ("BOM before JSON", b"\xef\xbb\xbf" + _q(ME), "not valid JSON"),
        ("UTF-16 body", _q(ME).decode().encode("utf-16"), "not valid JSON"),
        (
            "Latin-1 body",
            '{"query": "{ me { agency } } # café"}'.encode("latin-1"),
            "not valid JSON",
        ),
        ("invalid UTF-8", b'{"query": "{ me \xff\xfe }"}', "not valid JSON"),
        ("lone surrogate escape", b'{"query": "{ me { agency } } # \\ud800"}', "not valid JSON"),
        (
            "JSON nested 5000 deep",
            b'{"query": "{ me { agency } }", "variables": {"a": '
            + b"[" * 5000
            + b"]" * 5000
            + b"}}",
            "not valid JSON",
        ),
        (
            "NaN in JSON",
            b'{"query": "{ me { agency } }", "variables": {"a": NaN}}',
            "not valid JSON",
        ),
        (
            "duplicate keys, last wins empty",
            b'{"query": "{ me { agency } }", "query": ""}',
            'no "query"',
        ),
    ]:
        add(Case(name, raw, says=says, code="BAD_REQUEST"))

    # Sizes.
    add(Case("body over 64 KB", _q(ME + " " * 70_000), status=413, code=None))
    add(Case("body of 1 MB", b"{" + b" " * 1_000_000 + b"}", status=413, code=None))
    add(Case("query over the character cap", _q(ME + "#" * 30_000), code="QUERY_TOO_LARGE"))
    add(
        Case(
            "9,000 fields",
            _q("{ " + "me { agency } " * 1_800 + "}"),
            code="QUERY_TOO_LARGE",
            says="split it",
        )
    )
    add(
        Case(
            "42 KB over the character cap",
            _q("{ " + "a " * 20_000 + "}"),
            code="QUERY_TOO_LARGE",
        )
    )
    add(
        Case(
            "over the token limit",
            _q("{ " + "a " * 5_000 + "}"),
            code="GRAPHQL_PARSE_FAILED",
            says=f"more than {MAX_TOKENS} tokens",
        )
    )
    add(
        Case("20 KB string literal", _q('{ person(id: "%s") { id } }' % ("x" * 20_000)), status=200)
    )

    # Content types and methods.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/graphql",
        "application/json-patch+json",
        "application/xml",
        "application/json\u0000",
    ]:
        add(
            Case(
                f"content type {content_type!r}",
                _q(ME),
                status=415,
                content_type=content_type,
                code="BAD_REQUEST",
            )
        )
    add(Case("no content type", _q(ME), status=415, content_type=None, code="BAD_REQUEST"))
    for method in ["PUT", "DELETE", "PATCH"]:
        add(Case(f"{method} /graphql", _q(ME), status=405, method=method, code=None))
    add(
        Case(
            "GET with a query",
            None,
            status=200,
            method="GET",
            path="/graphql?query=%7Bme%7Bagency%7D%7D",
        )
    )
    for name, query, status, code in [
        ("GET with a mutation", "mutation%7B__typename%7D", 405, "METHOD_NOT_ALLOWED"),
        (
            "GET with a real mutation",
            "mutation%7BrecordConsent(input:%7BpersonId:%22x%22%7D)%7Bconsent%7Bid%7D%7D%7D",
            400,  # it does not validate (the input is short); a valid one is a 405
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("GET with no query", "", 400, "BAD_REQUEST"),
        (
            "GET with the query twice",
            "%7Bme%7Bagency%7D%7D&query=%7Bme%7Bname%7D%7D",
            400,
            "BAD_REQUEST",
        ),
        ("GET with variables not JSON", "%7Bme%7Bagency%7D%7D&variables=%7Bx", 400, "BAD_REQUEST"),
        ("GET with variables a list", "%7Bme%7Bagency%7D%7D&variables=%5B1%5D", 400, "BAD_REQUEST"),
        ("GET with extensions a number", "%7Bme%7Bagency%7D%7D&extensions=5", 400, "BAD_REQUEST"),
        ("GET with a syntax error", "%7Bme%7B", 400, "GRAPHQL_PARSE_FAILED"),
    ]:
        add(
            Case(name, None, status=status, method="GET", path=f"/graphql?query={query}", code=code)
        )
    add(
        Case(
            "GET with a URL over its limit",
            None,
            status=414,
            method="GET",
            path="/graphql?query=" + "%20" * 12_000 + "%7Bme%7Bagency%7D%7D",
            code="BAD_REQUEST",
        )
    )

    # Media types a client accepts, and bodies in other charsets.
    for accept, status in [
        ("text/plain", 406),
        ("application/xml, text/html;q=0.9", 406),
        ("application/json;q=0, application/graphql-response+json;q=0", 406),
        ("application/*", 200),
        ("*/*;q=0.1", 200),
        ("application/json;q=abc", 406),
    ]:
        add(
            Case(
                f"Accept {accept!r}",
                _q(ME),
                status=status,
                accept=accept,
                code="NOT_ACCEPTABLE" if status == 406 else None,
            )
        )
    add(
        Case(
            "charset latin-1",
            _q(ME),
            status=415,
            content_type="application/json; charset=latin-1",
            code="BAD_REQUEST",
            says="UTF-8",
        )
    )
    # Under the legacy application/json, a request error is a 200 with errors and no data.
    for name, body, code in [
        ("syntax error", _q("{ me { "), "GRAPHQL_PARSE_FAILED"),
        ("unknown field", _q("{ nobody }"), "GRAPHQL_VALIDATION_FAILED"),
        ("too deep", _q(_nested("a", 11)), "QUERY_TOO_DEEP"),
        (
            "variable that does not coerce",
            _q("query($id: ID!) { person(id: $id) { id } }", variables={"id": None}),
            "BAD_USER_INPUT",
        ),
    ]:
        add(
            Case(
                f"application/json: {name}", body, status=200, accept="application/json", code=code
            )
        )

    # Persisted documents.
    for name, extensions, code in [
        ("persistedQuery a string", {"persistedQuery": "x"}, "BAD_REQUEST"),
        ("persistedQuery hash too short", {"persistedQuery": {"sha256Hash": "ab"}}, "BAD_REQUEST"),
        (
            "persistedQuery version 2",
            {"persistedQuery": {"version": 2, "sha256Hash": "a" * 64}},
            "BAD_REQUEST",
        ),
        (
            "persistedQuery hash of another query",
            {"persistedQuery": {"version": 1, "sha256Hash": "a" * 64}},
            "PERSISTED_QUERY_HASH_MISMATCH",
        ),
        ("extensions a list", [1], "BAD_REQUEST"),
    ]:
        add(Case(name, _q(ME, extensions=extensions), code=code))
    add(
        Case(
            "persistedQuery unknown hash",
            json.dumps(
                {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "b" * 64}}}
            ).encode(),
            code="PERSISTED_QUERY_NOT_FOUND",
        )
    )
    add(Case("unknown path", _q(ME), status=404, path="/graphql2", code=None))
    add(
        Case(
            "path with NUL and newline",
            None,
            status=404,
            method="GET",
            path="/%00%0aadmin",
            code=None,
        )
    )
    add(Case("POST /metrics", b"", status=405, path="/metrics", code=None))

    # Headers.
    add(Case("no Authorization header", _q(ME), status=401, as_=None, code="UNAUTHENTICATED"))
    add(
        Case(
            "two Authorization headers",
            _q(ME),
            status=401,
            headers=(("Authorization", "Bearer x.y.z"),),
            code="UNAUTHENTICATED",
            says="more than one Authorization",
        )
    )

    # Syntax.
    for name, query in [
        ("unclosed brace", "{ me { agency }"),
        ("extra closing brace", "{ me { agency } } }"),
        ("only a comment", "# nothing here"),
        ("bare keyword", "query"),
        ("unterminated string", '{ person(id: "x) { id } }'),
        ("unterminated block string", '{ person(id: """x) { id } }'),
        ("invalid character", "{ me { agency } } \u0007"),
        ("number as name", "{ 123 }"),
        ("spread without name", "{ ... }"),
        ("variable without type", "query($x) { me { agency } }"),
        ("nested 3000 deep", "{ a " * 3_000 + "}" * 3_000),
        (
            "list literal nested 3000 deep",
            "{ person(id: " + "[" * 3_000 + "]" * 3_000 + ") { id } }",
        ),
        (
            "object literal nested 3000 deep",
            "{ person(id: " + "{a: " * 3_000 + "1" + "}" * 3_000 + ") { id } }",
        ),
        (
            "inline fragments 1000 deep",
            "{ " + "... on Query { " * 1_000 + "me { agency }" + " }" * 1_000 + " }",
        ),
    ]:
        add(Case(f"syntax: {name}", _q(query), code="GRAPHQL_PARSE_FAILED"))

    # Validation, with nothing suggested.
    for name, query in [
        ("misspelt root field", "{ mee { agency } }"),
        ("misspelt field", "{ me { agencyy } }"),
        ("misspelt argument", "{ caseload(frist: 5) { id } }"),
        ("misspelt type", "query($n: Strin) { me { agency } }"),
        ("misspelt enum", "{ sharingProtocol { clauses(basis: EXPLCIT) { id } } }"),
        (
            "misspelt input field",
            'mutation { recordConsent(input: {persnId: "x"}) { consent { id } } }',
        ),
        ("missing required argument", "{ person { id } }"),
        ("null required argument", "{ person(id: null) { id } }"),
        ("first: null", "{ caseload(first: null) { id } }"),
        ("offset: null", "{ caseload(offset: null) { id } }"),
        ("pending: null", "{ breakGlassReviews(pending: null) { note } }"),
        ("first over Int range", "{ caseload(first: 2147483648) { id } }"),
        ("first as float", "{ caseload(first: 1e100) { id } }"),
        ("first as string", '{ caseload(first: "5") { id } }'),
        ("leaf with selection", "{ me { agency { id } } }"),
        ("object without selection", "{ me }"),
        ("subscription", "subscription { me { agency } }"),
        ("duplicate operation names", "query A { me { agency } } query A { me { agency } }"),
        ("anonymous among named", "{ me { agency } } query B { me { agency } }"),
        ("unknown fragment", "{ ...Nowhere }"),
        ("unused fragment", "{ me { agency } } fragment F on Query { me { agency } }"),
        ("fragment on a wrong type", "{ me { ...F } } fragment F on Person { id }"),
        (
            "duplicate fragment names",
            "{ ...F } fragment F on Query { me { agency } } fragment F on Query { me { name } }",
        ),
        ("conflicting aliases", "{ x: me { agency } x: agencies { id } }"),
        ("unknown directive", "{ me @nope { agency } }"),
        ("skip without if", "{ me @skip { agency } }"),
        ("include with a string", '{ me @include(if: "yes") { agency } }'),
        ("repeated directive", "{ me @skip(if: false) @skip(if: false) { agency } }"),
        ("deprecated used in a query", "{ me @deprecated { agency } }"),
        ("directive on the operation", "query @skip(if: true) { me { agency } }"),
        ("undefined variable", "{ person(id: $x) { id } }"),
        ("unused variable", "query($x: ID) { me { agency } }"),
        ("variable of a wrong type", "query($x: Int) { person(id: $x) { id } }"),
        ("variable of an object type", "query($x: Person) { me { agency } }"),
        (
            "date out of range: usage since",
            '{ usage(since: "0001-01-01T00:00:00+14:00") { sources { agency } } }',
        ),
        (
            "date out of range: usage until",
            '{ usage(until: "9999-12-31T23:59:59-12:00") { sources { agency } } }',
        ),
        (
            "date out of range: disclosures from",
            '{ disclosures(personId: "x", from: "0001-01-01T00:00:00+00:00") { seq } }',
        ),
        (
            "date out of range: disclosures to",
            '{ disclosures(personId: "x", to: "9999-12-31T23:59:59+14:00") { seq } }',
        ),
        ("date not a date", '{ usage(since: "yesterday") { sources { agency } } }'),
        ("date as a number", "{ usage(since: 1700000000) { sources { agency } } }"),
        (
            "timeline from year 0",
            '{ person(id: "x") { timeline(from: "0000-01-01") { agency { id } } } }',
        ),
        (
            "timeline to year 9999",
            '{ person(id: "x") { timeline(to: "9999-12-31") { agency { id } } } }',
        ),
        (
            "date of birth 31 February",
            '{ findPeople(surname: "x", dateOfBirth: "2000-02-31", postcode: "x") { personId } }',
        ),
    ]:
        add(Case(f"invalid: {name}", _q(query), says=None))

    # Cost: depth, aliases, fields, fragments, introspection.
    for name, query, code in [
        ("depth 11", _nested("a", 11), "QUERY_TOO_DEEP"),
        ("depth 100", _nested("a", 100), "QUERY_TOO_DEEP"),
        ("deep introspection", _deep_introspection(6), "QUERY_TOO_DEEP"),
        (
            "31 aliases",
            "{ " + " ".join(f"a{i}: me {{ agency }}" for i in range(31)) + " }",
            "TOO_MANY_ALIASES",
        ),
        (
            "300 aliases",
            "{ " + " ".join(f"a{i}: __typename" for i in range(300)) + " }",
            "TOO_MANY_ALIASES",
        ),
        (
            "401 fields",
            "{ me { "
            + " ".join(f"a{i}: agency" for i in range(29))
            + " } "
            + "agencies { id name kind status circuit inFlight waiting } " * 54
            + "}",
            "QUERY_TOO_COSTLY",
        ),
        ("one field nine times", "{ " + "__typename " * 9 + "}", "QUERY_TOO_COSTLY"),
        ("400 typenames", "{ " + "__typename " * 400 + "}", "QUERY_TOO_COSTLY"),
        ("fragment fan 8x8x8x8", _fan(8, 5), "QUERY_TOO_COSTLY"),
        ("fragment fan 2 wide, 40 deep", _fan(2, 40), "QUERY_TOO_DEEP"),
        ("fragment chain 17", _chain(17), "QUERY_TOO_DEEP"),
        ("fragment chain 100", _chain(100), "QUERY_TOO_DEEP"),
        ("fragment chain 490", _chain(490), "GRAPHQL_PARSE_FAILED"),
        ("fragment self-cycle", "{ ...A } fragment A on Query { ...A }", "FRAGMENT_CYCLE"),
        (
            "fragment 3-cycle",
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...C } "
            "fragment C on Query { me { agency } ...A }",
            "FRAGMENT_CYCLE",
        ),
        (
            "cycle in an unused fragment",
            "{ me { agency } } fragment A on Query { ...A }",
            "FRAGMENT_CYCLE",
        ),
        (
            "inline fragments 17 deep",
            "{ " + "... on Query { " * 17 + "me { agency }" + " }" * 17 + " }",
            "QUERY_TOO_DEEP",
        ),
        (
            "100 directives",
            "{ me " + "@include(if: true) " * 100 + "{ agency } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "500 directives",
            "{ me " + "@include(if: true) " * 500 + "{ agency } }",
            "GRAPHQL_PARSE_FAILED",
        ),
    ]:
        add(Case(f"cost: {name}", _q(query), code=code))

    # Operation selection.
    add(
        Case(
            "operationName not in the document",
            _q("query A { me { agency } }", operationName="B"),
            code="BAD_REQUEST",
            says="no operation named",
        )
    )
    add(
        Case(
            "two operations, no operationName",
            _q("query A { me { agency } } query B { me { name } }"),
            code="BAD_REQUEST",
            says="several operations",
        )
    )

    # Variables that do not coerce.
    for name, query, variables in [
        ("missing required variable", "query($id: ID!) { person(id: $id) { id } }", {}),
        ("null required variable", "query($id: ID!) { person(id: $id) { id } }", {"id": None}),
        ("object for an ID", "query($id: ID!) { person(id: $id) { id } }", {"id": {"a": 1}}),
        ("float for an Int", "query($n: Int!) { caseload(first: $n) { id } }", {"n": 1.5}),
        ("huge Int", "query($n: Int!) { caseload(first: $n) { id } }", {"n": 10**30}),
        (
            "far date variable",
            "query($d: DateTime) { usage(since: $d) { sources { agency } } }",
            {"d": "0001-01-01T00:00:00+14:00"},
        ),
        (
            "naive far date variable",
            "query($d: DateTime) { usage(until: $d) { sources { agency } } }",
            {"d": "9999-12-31T23:59:59"},
        ),
        (
            "date variable as list",
            'query($d: Date) { findPeople(surname: "x", dateOfBirth: $d, postcode: "y") '
            "{ personId } }",
            {"d": ["2000-01-01"]},
        ),
        (
            "misspelt enum variable",
            "query($b: ReviewOutcome!) { me { agency } }",
            {"b": "APPROPRIAT"},
        ),
        (
            "misspelt input field variable",
            "mutation($i: ConsentInput!) { recordConsent(input: $i) { consent { id } } }",
            {"i": {"persnId": "x"}},
        ),
        (
            "list nested 500 deep for a list",
            'query($a: [String!]) { person(id: "x") { timeline(agencies: $a) { agency { id } } } }',
            {"a": json.loads("[" * 500 + "]" * 500)},
        ),
    ]:
        add(Case(f"variables: {name}", _q(query, variables=variables), code=None))

    # Field errors that leave the request standing: a clean error code, never INTERNAL.
    for name, query, code in [
        ("first 0", "{ caseload(first: 0) { id } }", "BAD_USER_INPUT"),
        ("first over the page limit", "{ caseload(first: 100000) { id } }", "BAD_USER_INPUT"),
        ("negative offset", "{ caseload(offset: -1) { id } }", "BAD_USER_INPUT"),
        (
            "usage without a governance role",
            '{ usage(since: "2020-01-01T00:00:00Z") { sources { agency } } }',
            "FORBIDDEN",
        ),
        (
            "disclosures without a governance role",
            '{ disclosures(personId: "x", from: "1900-01-01T00:00:00-12:00") { seq } }',
            "FORBIDDEN",
        ),
        (
            "findPeople with partial details",
            '{ findPeople(surname: "x") { personId } }',
            "BAD_USER_INPUT",
        ),
    ]:
        add(Case(f"field error: {name}", _q(query), status=200, code=code))

    # Things that are fine, done in odd ways: answered normally.
    add(
        Case(
            "unicode in a string", _q('{ person(id: "\u202e\U0001f600\u0000") { id } }'), status=200
        )
    )
    add(
        Case("introspection of the root type", _q('{ __type(name: "Query") { name } }'), status=200)
    )
    add(
        Case(
            "content type with charset",
            _q(ME),
            status=200,
            content_type="application/json; charset=utf-8",
        )
    )
    add(Case("bearer scheme in lower case", _q(ME), status=200, headers=(), extra={"lower": True}))
    return cases


CASES = _cases()


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 100
    assert len({case.name for case in CASES}) == len(CASES), "case names are unique"


async def _send(world: World, case: Case) -> httpx.Response:
    assert world.client is not None
    headers: list[tuple[str, str]] = []
    if case.as_ is not None:
        scheme = "bearer" if case.extra.get("lower") else "Bearer"
        headers.append(("Authorization", f"{scheme} {world.token(case.as_)}"))
    if case.content_type is not None:
        headers.append(("Content-Type", case.content_type))
    if case.accept is not None:
        headers.append(("Accept", case.accept))
    headers.extend(case.headers)
    return await world.client.request(
        case.method, case.path, content=case.body, headers=httpx.Headers(headers)
    )


async def test_every_hostile_request_gets_its_answer_and_the_gateway_stays_healthy(
    world: World,
) -> None:
    failures = []
    for case in CASES:
        response = await _send(world, case)
        wrong = problems(response)
        if response.status_code != case.status:
            wrong.append(f"status {response.status_code}, expected {case.status}")
        if case.code is not None or case.says is not None:
            error = first_error(response)
            if case.code is not None and error.get("extensions", {}).get("code") != case.code:
                wrong.append(f"code {error.get('extensions')}, expected {case.code}")
            if case.says is not None and case.says not in error["message"]:
                wrong.append(f"message {error['message']!r} lacks {case.says!r}")
        if (400 <= case.status < 500 or case.code is not None) and is_json(response):
            body = response.json()
            if "data" in body and body["data"] is not None:
                wrong.append("a refused request carries data")
        if wrong:
            failures.append(f"{case.name}: {'; '.join(wrong)}: {response.text[:300]}")
        await healthy(world)
    assert not failures, "\n".join(failures)
