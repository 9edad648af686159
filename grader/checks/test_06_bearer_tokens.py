"""Stage 06: the weather server as an OAuth 2.1 resource server, checked with every bad token.

The grader is the identity provider: a fresh RS256 key pair and issuer URL per
run (grader/tokens.py), trusted by both servers through JWKS_FILE and
TOKEN_ISSUER. Every token is minted for the server it goes to (its audience is
that server's exact resource URL), so the student's and the reference's answers
can be compared row by row.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import httpx
import pytest

from grader.checks import leaks
from grader.checks.common import test_imports, test_server_starts  # noqa: F401  (run first)
from grader.harness import Server, ServerDidNotStart, run_python
from grader.listener import listening_on
from grader.mcp_session import streamable_session
from grader.probes import Answer, Probe, ensure_answering, send, tail
from grader.stages import ROOT
from grader.tokens import Issuer, KeySet, new_private_key, public_jwk, upstream_log
from grader.verdict import CheckFailed, blocked_by, check, not_run

WELL_KNOWN = "/.well-known/oauth-protected-resource"
ENDPOINT = "/mcp"
BASE_SCOPE = "weather:read"  # the stage's contract: needed for /mcp at all
FORECAST_SCOPES = ["weather:read", "forecast:read"]  # what get_forecast needs
ALL_SCOPES = ["weather:read", "forecast:read", "alerts:read"]
ACCEPT = ("Accept", "application/json, text/event-stream")
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "grader", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
NEW_YORK = {"latitude": 40.7128, "longitude": -74.006}
RECORDED_FORECAST = json.loads(
    (ROOT / "workshop/recordings/nws/forecast-OKX-33,35.json").read_text())["properties"]["periods"][0]
MODERN = "2026-07-28"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": MODERN,
               "io.modelcontextprotocol/clientCapabilities": {}}

MINTED: list[str] = []  # every token this run sent: none may show up in a server's output


# -- who is who ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer(launch) -> Issuer:
    return Issuer.for_run()


def resource_of(server: Server) -> str:
    """The exact URL a client uses for the server's MCP endpoint (through the proxy, when there is one)."""
    return f"{server.base_url}{server.root_path or ''}{ENDPOINT}"


def metadata_url_of(server: Server) -> str:
    return f"{server.base_url}{server.root_path or ''}{WELL_KNOWN}{ENDPOINT}"


def subject() -> str:
    return f"student-{secrets.token_hex(3)}"


def bearer(token: str) -> tuple[str, str]:
    MINTED.append(token)
    return ("Authorization", f"Bearer {token}")


def parse_challenge(value: str | None) -> tuple[str, dict[str, str]]:
    """`Bearer error="x", scope="a b"` -> ("bearer", {"error": "x", "scope": "a b"})."""
    if not value:
        return "", {}
    scheme, _, rest = value.strip().partition(" ")
    params = {name.lower(): quoted if quoted or not bare else bare
              for name, quoted, bare in re.findall(r'([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', rest)}
    return scheme.lower(), params


# -- the table of tokens -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    """One way to present (or fail to present) a token, built for the server it goes to."""

    name: str
    build: Callable[[Issuer, str, str], tuple[Headers, str]]  # (issuer, resource, the run's API key) -> headers, query
    hint: str  # the hint topic when a server gets this row wrong
    let_in: bool = False
    presents_token: bool = True  # in the Authorization header, as a bearer token


Headers = tuple[tuple[str, str], ...]
Build = Callable[[Issuer, str, str], tuple[Headers, str]]


def _token(typ: str | None = "at+jwt", written: dict | None = None, **changes) -> Build:
    """A token for the resource, with CHANGES to its claims, WRITTEN over them as they are, and TYP in its header."""
    def build(issuer: Issuer, resource: str, key: str):
        claims = issuer.claims(subject=subject(), scopes=ALL_SCOPES, audience=resource, **changes)
        return (bearer(issuer.sign({**claims, **(written or {})}, typ=typ)),), ""
    return build


def _other_jwt_type(issuer: Issuer, resource: str, key: str):
    """Typed as another kind of JWT the same issuer may sign: a named one, or a made-up <random>+jwt."""
    typ = _RANDOM.choice(["logout+jwt", "secevent+jwt", "dpop+jwt", "id+jwt", f"x{secrets.token_hex(3)}+jwt"])
    return _token(typ=typ)(issuer, resource, key)


def _typ_containing(issuer: Issuer, resource: str, key: str):
    """A typ that ends with, starts with or contains at+jwt, and is not it."""
    part = secrets.token_hex(2)
    typ = _RANDOM.choice([f"{part}at+jwt", f"at+jwt{part}", f"{part}-at+jwt", f"application/at+jwt-{part}"])
    return _token(typ=typ)(issuer, resource, key)


def _time_as_text(name: str) -> Build:
    """A token whose NAME claim (exp, nbf or iat) is a valid time written as a JSON string.

    The time is valid (exp a few minutes ahead, nbf and iat a little in the past, all at random):
    only a check of the claim's type can refuse the token. PyJWT reads such a string as a number."""
    def build(issuer: Issuer, resource: str, key: str):
        claims = issuer.claims(subject=subject(), scopes=ALL_SCOPES, audience=resource,
                               lifetime=240 + secrets.randbelow(240))
        if name != "exp":
            claims[name] -= 1 + secrets.randbelow(60)
        return (bearer(issuer.sign({**claims, name: str(claims[name])})),), ""
    return build


def _shared_audience(issuer: Issuer, resource: str, key: str):
    return _token(written={"aud": [resource, "https://calendar.grader.invalid/mcp"]})(issuer, resource, key)


def _signed(how: str) -> Build:
    def build(issuer: Issuer, resource: str, key: str):
        claims = issuer.claims(subject=subject(), scopes=ALL_SCOPES, audience=resource)
        token = {"stranger": issuer.signed_by_a_stranger, "none": issuer.unsigned,
                 "confusion": issuer.hmac_with_the_public_key,
                 "rs512": lambda c: issuer.sign(c, algorithm="RS512")}[how](claims)
        return (bearer(token),), ""
    return build


def _sibling(resource: str) -> str:
    return resource.removesuffix(ENDPOINT) + "/calendar" + ENDPOINT


def _origin(resource: str) -> str:
    scheme, rest = resource.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}/"


def _audience(pick: Callable[[str], str]) -> Build:
    def build(issuer: Issuer, resource: str, key: str):
        return (bearer(issuer.mint(subject=subject(), scopes=ALL_SCOPES, audience=pick(resource))),), ""
    return build


def _near(resource: str) -> list[str]:
    """Audiences a pattern mistakes for RESOURCE: each contains it, starts with it, or is a piece of it.

    Random parts make sure no list of known siblings in the code under test can refuse them all.
    """
    part = secrets.token_hex(3)
    scheme, rest = resource.split("://", 1)
    netloc, _, path = rest.partition("/")
    return [f"{resource}-{part}",                                   # .../mcp-3fa2b1: a sibling that extends the name
            f"{resource}/{part}",                                   # .../mcp/3fa2b1: a resource under this one
            f"{scheme}://{netloc}{secrets.randbelow(10)}/{path}",   # another port that starts with this one
            f"https://{part}.grader.invalid/?resource={resource}",  # another server that names this one
            resource[:-1]]                                          # a prefix of this one (.../mc)


def _path_case(resource: str, *, shout: bool = False) -> str:
    """RESOURCE with the case of some letters of its path flipped (at least one, chosen at random): another
    resource, since a path compares exactly. SHOUT writes the scheme and host in capitals too (that part
    compares without case), so only the path tells the two apart."""
    scheme, rest = resource.split("://", 1)
    netloc, _, path = rest.partition("/")
    letters = [index for index, char in enumerate(path) if char.isalpha()]
    flipped = set(_RANDOM.sample(letters, 1 + secrets.randbelow(len(letters))))
    path = "".join(char.swapcase() if index in flipped else char for index, char in enumerate(path))
    if shout:
        scheme, netloc = scheme.upper(), netloc.upper()
    return f"{scheme}://{netloc}/{path}"


_RANDOM = secrets.SystemRandom()


def _near_audience(index: int) -> Build:
    return _audience(lambda resource: _near(resource)[index])


def _near_issuer(index: int) -> Build:
    """A token from an issuer a pattern mistakes for the trusted one (it starts with it, contains it...)."""
    def build(issuer: Issuer, resource: str, key: str):
        part = secrets.token_hex(3)
        pretender = [f"{issuer.url}.{part}.invalid", f"{issuer.url}/{part}",
                     f"https://{part}.grader.invalid/{issuer.url}", issuer.url[:-1]][index]
        return _token(issuer=pretender)(issuer, resource, key)
    return build


def _key_named_by_the_token(where: str) -> Build:
    """Signed by a stranger who names its own key in the header: embedded (jwk, x5c) or at a URL (jku, x5u)."""
    def build(issuer: Issuer, resource: str, key: str):
        claims = issuer.claims(subject=subject(), scopes=ALL_SCOPES, audience=resource)
        kid = issuer.kid if where == "jwk, trusted kid" else secrets.token_hex(8)
        header = {"jku": lambda: {"jku": issuer.stranger_jwks_url(kid)},
                  "x5c": lambda: {"x5c": issuer.stranger_x5c()},
                  "x5u": lambda: {"x5u": issuer.stranger_x5u()}}.get(where, lambda: {"jwk": issuer.stranger_jwk(kid)})()
        return (bearer(issuer.signed_by_a_stranger(claims, kid=kid, header=header)),), ""
    return build


# Where a server might look for a token when the Authorization header has none: none of them counts.
ELSEWHERE_COOKIES = ("access_token", "token", "auth_token", "jwt", "bearer", "id_token", "session", "auth")
ELSEWHERE_HEADERS = ("X-Access-Token", "X-Auth-Token", "X-Token", "Token", "X-Authorization", "X-Forwarded-Access-Token")


def _elsewhere(issuer: Issuer, resource: str, key: str):
    (_, value), = _token()(issuer, resource, key)[0]
    token = value.removeprefix("Bearer ")
    cookie = "; ".join(f"{name}={token}" for name in ELSEWHERE_COOKIES)
    return (("Cookie", cookie), *((name, token) for name in ELSEWHERE_HEADERS)), ""


def _two_authorizations(valid_first: bool) -> Build:
    def build(issuer: Issuer, resource: str, key: str):
        (valid,) = _token()(issuer, resource, key)[0]
        other = bearer(secrets.token_urlsafe(24))
        return ((valid, other) if valid_first else (other, valid)), ""
    return build


def _other_host_name(issuer: Issuer, resource: str, key: str):
    """A token for the name the client typed (localhost), sent with that name in Host and its forwarded kin.

    The server answers to both names (the SDK's allowed hosts admit localhost), but its resource
    URL is one of them: a server that takes its name from the request accepts a token for any name."""
    scheme, rest = resource.split("://", 1)
    netloc, _, path = rest.partition("/")
    other = "localhost" + netloc[netloc.index(":"):] if ":" in netloc else "localhost"
    (token,) = _audience(lambda _: f"{scheme}://{other}/{path}")(issuer, resource, key)[0]
    return (token, ("Host", other), ("X-Forwarded-Host", other), ("Forwarded", f"host={other}")), ""


def _lower_case_scheme(issuer: Issuer, resource: str, key: str):
    (name, value), = _token()(issuer, resource, key)[0]
    return ((name, "bearer " + value.removeprefix("Bearer ")),), ""


def _in_query(issuer: Issuer, resource: str, key: str):
    token = issuer.mint(subject=subject(), scopes=ALL_SCOPES, audience=resource)
    MINTED.append(token)
    return (), f"access_token={token}"


def _old_key(as_bearer: bool) -> Build:
    def build(issuer: Issuer, resource: str, key: str):
        return ((("Authorization", f"Bearer {key}"),) if as_bearer else (("X-API-Key", key),)), ""
    return build


ROWS = [
    TokenRow("no Authorization header", lambda issuer, resource, key: ((), ""), "challenge", presents_token=False),
    TokenRow("a valid token", _token(), "valid_token", let_in=True),
    TokenRow("a valid token, scheme written in lower case (bearer)", _lower_case_scheme, "valid_token", let_in=True),
    TokenRow("an expired token (5 minutes ago)", _token(lifetime=-300), "lifetime"),
    TokenRow("a token not valid for another 5 minutes (nbf)", _token(not_before=300, lifetime=900), "lifetime"),
    TokenRow("a token without exp", _token(omit=("exp",)), "lifetime"),
    TokenRow("a token signed by an unknown key (under the trusted kid)", _signed("stranger"), "signature"),
    TokenRow('an unsigned token (alg "none")', _signed("none"), "algorithm"),
    TokenRow("HS256 signed with the server's public key (algorithm confusion)", _signed("confusion"), "algorithm"),
    TokenRow("RS512 signed with the right key (not the pinned RS256)", _signed("rs512"), "algorithm"),
    TokenRow("a token from another issuer", _token(issuer="https://other-issuer.grader.invalid"), "issuer"),
    TokenRow("a token from an issuer whose host starts with the trusted one", _near_issuer(0), "issuer"),
    TokenRow("a token from an issuer under the trusted one (<issuer>/<random>)", _near_issuer(1), "issuer"),
    TokenRow("a token from another issuer whose URL contains the trusted one", _near_issuer(2), "issuer"),
    TokenRow("a token from an issuer that is a prefix of the trusted one", _near_issuer(3), "issuer"),
    TokenRow("a stranger's token with its own key in the header (jwk), under an unknown kid",
             _key_named_by_the_token("jwk"), "key_source"),
    TokenRow("a stranger's token with its own key in the header (jwk), under the trusted kid",
             _key_named_by_the_token("jwk, trusted kid"), "key_source"),
    TokenRow("a stranger's token naming a key set of its own (jku), under an unknown kid",
             _key_named_by_the_token("jku"), "key_source"),
    TokenRow("a stranger's token carrying its own certificate (x5c), under an unknown kid",
             _key_named_by_the_token("x5c"), "key_source"),
    TokenRow("a stranger's token naming a certificate URL of its own (x5u), under an unknown kid",
             _key_named_by_the_token("x5u"), "key_source"),
    TokenRow("a token for a sibling resource (audience .../calendar/mcp)", _audience(_sibling), "audience"),
    TokenRow("a token for the whole origin (audience http://127.0.0.1:<port>/)", _audience(_origin), "audience"),
    TokenRow("a token whose audience extends this one (.../mcp-<random>)", _near_audience(0), "audience"),
    TokenRow("a token for a resource under this one (.../mcp/<random>)", _near_audience(1), "audience"),
    TokenRow("a token for another port that starts with this one (:<port><digit>/mcp)", _near_audience(2), "audience"),
    TokenRow("a token for another server whose URL contains this one", _near_audience(3), "audience"),
    TokenRow("a token whose audience is a prefix of this one (.../mc)", _near_audience(4), "audience"),
    TokenRow("a token whose audience differs in the case of its path (.../MCP, letters flipped at random)",
             _audience(_path_case), "audience_path"),
    TokenRow("a token whose audience has the scheme and host in capitals and its path in another case",
             _audience(lambda resource: _path_case(resource, shout=True)), "audience_path"),
    TokenRow("a token whose audience adds a trailing slash (.../mcp/)", _audience(lambda resource: resource + "/"),
             "audience_path"),
    TokenRow("a token for the other name this server answers to (Host: localhost:<port>)", _other_host_name,
             "resource_host"),
    TokenRow("a token without an audience", _token(omit=("aud",)), "audience"),
    TokenRow("a valid token in the query string (?access_token=...)", _in_query, "header_only",
             presents_token=False),
    TokenRow("the old API key in X-API-Key", _old_key(False), "challenge", presents_token=False),
    TokenRow("a valid token in cookies and other headers, none in Authorization", _elsewhere, "header_only",
             presents_token=False),
    TokenRow("two Authorization headers, the first a valid token", _two_authorizations(True), "header_only"),
    TokenRow("two Authorization headers, the second a valid token", _two_authorizations(False), "header_only"),
    TokenRow("the old API key as a bearer token", _old_key(True), "signature"),
    TokenRow('a JWT not marked as an access token (typ "JWT", as an ID token is)', _token(typ="JWT"), "typ"),
    TokenRow("a JWT with no typ at all", _token(typ=None), "typ"),
    TokenRow("a JWT of another type that also ends in +jwt (logout+jwt, secevent+jwt, ...)", _other_jwt_type, "typ"),
    TokenRow("a JWT whose typ only contains at+jwt (<random>at+jwt, at+jwt<random>)", _typ_containing, "typ"),
    TokenRow("a token whose scopes are separated by an em space (U+2003), not a space",
             _token(written={"scope": "weather:read\u2003forecast:read\u2003alerts:read"}), "scopes"),
    TokenRow("a token whose scope claim is a number", _token(written={"scope": 5}), "crash"),
    TokenRow('a token whose exp is a string (a valid time minutes ahead, "<number>")', _time_as_text("exp"),
             "claim_types"),
    TokenRow('a token whose nbf is a string (a valid time in the past, "<number>")', _time_as_text("nbf"),
             "claim_types"),
    TokenRow('a token whose iat is a string (a valid time in the past, "<number>")', _time_as_text("iat"),
             "claim_types"),
    TokenRow("a token valid for a century", _token(lifetime=100 * 365 * 86400), "lifetime"),
    TokenRow("a token for this server and another one (aud a list of two)", _shared_audience, "audience"),
]

# What the untouched starter already gets right: shown, worth nothing.
STARTER_PASSES = {"no Authorization header", "a valid token", "a valid token, scheme written in lower case (bearer)",
                  "a valid token in the query string (?access_token=...)", "the old API key in X-API-Key",
                  "the old API key as a bearer token",
                  # refused by code the starter already gives (scopes_of, access_token): a student who breaks it loses
                  "a token whose scopes are separated by an em space (U+2003), not a space",
                  "a token whose scope claim is a number",
                  'a token whose exp is a string (a valid time minutes ahead, "<number>")',
                  'a token whose nbf is a string (a valid time in the past, "<number>")',
                  'a token whose iat is a string (a valid time in the past, "<number>")',
                  "a token valid for a century", "a token for this server and another one (aud a list of two)",
                  # refused by the starter's own KeyFile and bearer_token(): a student who widens them loses
                  "a stranger's token with its own key in the header (jwk), under an unknown kid",
                  "a stranger's token naming a key set of its own (jku), under an unknown kid",
                  "a stranger's token carrying its own certificate (x5c), under an unknown kid",
                  "a stranger's token naming a certificate URL of its own (x5u), under an unknown kid",
                  "a valid token in cookies and other headers, none in Authorization",
                  "two Authorization headers, the first a valid token", "two Authorization headers, the second a valid token"}


def probe_for(row: TokenRow, issuer: Issuer, server: Server, session, body: dict = INITIALIZE) -> Probe:
    headers, query = row.build(issuer, resource_of(server), session.key)
    path = ENDPOINT + (f"?{query}&grader_probe={session.marker}" if query else "")
    shown = ENDPOINT + ("?access_token=<a valid token>" if query else "")
    return Probe("POST", path, (ACCEPT, *headers), body, note=row.name, shown_path=shown,
                 outcome="let through" if row.let_in else "refused")


def refused_with_a_bearer_challenge(got: Answer) -> bool:
    return got.status == 401 and parse_challenge(got.challenge)[0] == "bearer"


def judge_token_row(row: TokenRow, issuer: Issuer, student: Server, reference: Server, stage, session) -> None:
    probe = probe_for(row, issuer, student, session)
    got = send(student, probe)
    expected = send(reference, probe_for(row, issuer, reference, session))
    sent = probe.describe()
    if row.let_in:
        check(got.status == expected.status, sent=sent, got=_with_log(got, student),
              expected=f"{expected.describe()} (as the reference answers)",
              hint=stage.hint("crash" if got.status >= 500 else "valid_token"))
        return
    assert refused_with_a_bearer_challenge(expected), f"grader problem: the reference answered {expected.describe()}"
    if got.status >= 500:
        hint = stage.hint("crash")
    elif got.status == 401:
        hint = stage.hint("challenge")
    else:
        hint = stage.hint(row.hint)
    check(refused_with_a_bearer_challenge(got), sent=sent, got=_with_log(got, student),
          expected="401 Unauthorized with a `WWW-Authenticate: Bearer ...` challenge (the reference refuses it)",
          hint=hint)


def _with_log(got: Answer, server: Server) -> str:
    return got.describe() + (f"\nthe server's log ends:\n{tail(server.log(), 12)}" if got.status >= 500 else "")


@pytest.mark.parametrize("row", [pytest.param(row, id=row.name, marks=[pytest.mark.unscored]
                                              if row.name in STARTER_PASSES else []) for row in ROWS])
def test_token(row, issuer, session, student, reference, stage):
    """POST /mcp with {id}: answered like the reference"""
    judge_token_row(row, issuer, student, reference, stage, session)


# -- the challenge -----------------------------------------------------------------------------------


def _challenge_check(got: Answer, expected: Answer, server: Server, *, presented: bool, sent: str, stage) -> None:
    scheme, params = parse_challenge(got.challenge)
    _, wanted = parse_challenge(expected.challenge)
    problems = []
    if got.status != 401 or scheme != "bearer":
        problems.append(f"status {got.status} with challenge {got.challenge!r}, not 401 with a Bearer challenge")
    if presented and params.get("error") != "invalid_token":
        problems.append(f'error={params.get("error")!r}, not "invalid_token" (a token was presented)')
    if not presented and "error" in params:
        problems.append(f'error="{params["error"]}", though no token was sent (RFC 6750 section 3.1: no error code)')
    if params.get("resource_metadata") != metadata_url_of(server):
        problems.append(f"resource_metadata={params.get('resource_metadata')!r}, not {metadata_url_of(server)!r}")
    if set(params.get("scope", "").split()) != set(wanted.get("scope", "").split()):
        problems.append(f"scope={params.get('scope')!r}, not {wanted.get('scope')!r} (the scopes this server needs)")
    check(not problems, sent=sent, got=f"{got.describe()}\n          " + "\n          ".join(problems),
          expected=f"WWW-Authenticate: {expected.challenge} (with this server's own URL)", hint=stage.hint("challenge"))


def test_the_401_without_a_token_points_at_the_metadata_and_names_the_scope(issuer, session, student, reference,
                                                                            stage):
    """the 401 without a token: a Bearer challenge with resource_metadata and scope, and no error code"""
    row = ROWS[0]
    got = send(student, probe_for(row, issuer, student, session))
    expected = send(reference, probe_for(row, issuer, reference, session))
    _challenge_check(got, expected, student, presented=False, sent=f"POST /mcp ({row.name})", stage=stage)


def test_the_401_for_a_bad_token_says_invalid_token(issuer, session, student, reference, stage):
    """the 401 for an expired token: error="invalid_token", resource_metadata and scope"""
    row = ROWS[3]
    got = send(student, probe_for(row, issuer, student, session))
    expected = send(reference, probe_for(row, issuer, reference, session))
    _challenge_check(got, expected, student, presented=True, sent=f"POST /mcp ({row.name})", stage=stage)


# -- the protected resource metadata (RFC 9728) --------------------------------------------------------


def _metadata_check(server: Server, reference: Server, issuer: Issuer, stage, where: str) -> None:
    row = Probe("GET", WELL_KNOWN + ENDPOINT, note="no token")
    got, expected = send(server, row), send(reference, row)
    try:
        document = json.loads(got.body) if got.status == 200 else None
    except ValueError:
        document = None
    wanted = json.loads(expected.body)
    problems = []
    if not isinstance(document, dict):
        problems.append("no JSON document")
    else:
        if document.get("resource") != resource_of(server):
            problems.append(f"resource {document.get('resource')!r}, not the URL clients use: {resource_of(server)!r}")
        if document.get("authorization_servers") != [issuer.url]:
            problems.append(f"authorization_servers {document.get('authorization_servers')!r}, not [TOKEN_ISSUER]")
        if document.get("bearer_methods_supported", ["header"]) != ["header"]:
            problems.append(f"bearer_methods_supported {document.get('bearer_methods_supported')!r}, not ['header']")
        if set(wanted["scopes_supported"]) != set(document.get("scopes_supported") or []):
            problems.append(f"scopes_supported {document.get('scopes_supported')!r}, not the minimal set "
                            f"{wanted['scopes_supported']!r} (more come by step-up, from a 403)")
    check(not problems, sent=f"GET {WELL_KNOWN}{ENDPOINT} {where}",
          got=got.describe() + ("\n          " + "\n          ".join(problems) if problems else ""),
          expected=f"200 and JSON like {expected.body} (with this server's own URL)", hint=stage.hint("metadata"))


def test_the_metadata_names_the_exact_resource_url(issuer, student, reference, stage):
    """GET /.well-known/oauth-protected-resource/mcp: resource is the exact URL of /mcp"""
    _metadata_check(student, reference, issuer, stage, "")


def test_behind_a_proxy_the_metadata_and_the_challenge_carry_the_root_path(issuer, session, behind_proxy, stage):
    """behind a proxy (uvicorn --root-path): the metadata and the challenge name the public URLs"""
    mine, theirs = behind_proxy
    _metadata_check(mine, theirs, issuer, stage, f"(uvicorn --root-path {mine.root_path})")
    row = ROWS[0]
    got = send(mine, probe_for(row, issuer, mine, session))
    _, params = parse_challenge(got.challenge)
    check(got.status == 401 and params.get("resource_metadata") == metadata_url_of(mine),
          sent=f"POST /mcp ({row.name}) to uvicorn --root-path {mine.root_path}", got=got.describe(),
          expected=f'401 with resource_metadata="{metadata_url_of(mine)}" (the root path included)',
          hint=stage.hint("metadata").level(3))


@pytest.mark.unscored
def test_behind_a_proxy_a_token_for_the_public_url_gets_in(issuer, session, behind_proxy, stage):
    """behind a proxy: a token whose audience is the public URL (root path included) gets in"""
    mine, theirs = behind_proxy
    judge_token_row(ROWS[1], issuer, mine, theirs, stage, session)


# -- scopes ---------------------------------------------------------------------------------------------


def _open_session(server: Server, token: str) -> str:
    opened = send(server, Probe("POST", ENDPOINT, (ACCEPT, bearer(token)), INITIALIZE, note="a valid token"))
    session_id = opened.headers.get("mcp-session-id")
    if opened.status != 200 or not session_id:
        blocked_by(f"a session could not be opened with a valid token (got {opened.describe()})")
    send(server, Probe("POST", ENDPOINT, (ACCEPT, bearer(token), ("Mcp-Session-Id", session_id)), INITIALIZED))
    return session_id


def _call_forecast(server: Server, token: str, era: str) -> tuple[Probe, Answer]:
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_forecast", "arguments": NEW_YORK}}
    if era == MODERN:
        call["params"]["_meta"] = MODERN_META
        headers = (ACCEPT, bearer(token), ("MCP-Protocol-Version", MODERN), ("Mcp-Method", "tools/call"),
                   ("Mcp-Name", "get_forecast"))
    else:
        headers = (ACCEPT, bearer(token), ("Mcp-Session-Id", _open_session(server, token)))
    probe = Probe("POST", ENDPOINT, headers, call, note=f"a token with only {BASE_SCOPE}, {era} era")
    return probe, send(server, probe)


@pytest.mark.parametrize("era", ["2025-06-18", MODERN], ids=["in a session (2025-06-18)", f"in one request ({MODERN})"])
def test_a_tool_call_without_the_tools_scope_gets_403(era, issuer, student, reference, stage):
    """tools/call get_forecast with a token that lacks forecast:read, {id}: 403 insufficient_scope"""
    probe, got = _call_forecast(student, issuer.mint(subject=subject(), scopes=[BASE_SCOPE],
                                                     audience=resource_of(student)), era)
    _, expected = _call_forecast(reference, issuer.mint(subject=subject(), scopes=[BASE_SCOPE],
                                                        audience=resource_of(reference)), era)
    _, params = parse_challenge(got.challenge)
    _, wanted = parse_challenge(expected.challenge)
    check(got.status == 403 and params.get("error") == "insufficient_scope"
          and set(params.get("scope", "").split()) == set(wanted["scope"].split()),
          sent=f"tools/call get_forecast {NEW_YORK} ({probe.note})",
          got=f"{got.status}, WWW-Authenticate: {got.challenge}" if got.status in (401, 403) else _with_log(got, student),
          expected=f"403 with WWW-Authenticate: {expected.challenge} (every scope the tool needs)",
          hint=stage.hint("tool_scopes"))


def _lookalike(scope: str) -> list[str]:
    """Scopes a substring or prefix match mistakes for SCOPE (no<random>forecast:read, forecast:read<random>)."""
    return [f"no{secrets.token_hex(2)}{scope}", f"{scope}{secrets.token_hex(2)}"]


def _send_call(server: Server, token: str, era: str, call: dict | bytes, *extra: tuple[str, str],
               note: str) -> tuple[Probe, Answer]:
    """POST a tools/call written as CALL, with EXTRA headers, in a session of ERA or in one 2026-07-28 request."""
    if era == MODERN:
        headers = (ACCEPT, bearer(token), ("MCP-Protocol-Version", MODERN), ("Mcp-Method", "tools/call"))
    else:
        headers = (ACCEPT, bearer(token), ("Mcp-Session-Id", _open_session(server, token)))
    probe = Probe("POST", ENDPOINT, (*headers, *extra), call, note=note)
    return probe, send(server, probe)


def _judge_forecast_refusal(student_side, reference_side, stage, sent: str) -> None:
    """The student's answer to a get_forecast call the token may not make: the reference's 403 and challenge."""
    (probe, got, student), (_, expected, _) = student_side, reference_side
    assert expected.status == 403, f"grader problem: the reference answered {expected.describe()}"
    _, params = parse_challenge(got.challenge)
    _, wanted = parse_challenge(expected.challenge)
    check(got.status == 403 and params.get("error") == "insufficient_scope"
          and set(params.get("scope", "").split()) == set(wanted["scope"].split()),
          sent=f"{sent}: {probe.describe()}",
          got=f"{got.status}, WWW-Authenticate: {got.challenge}" if got.status in (401, 403) else _with_log(got, student),
          expected=f"403 with WWW-Authenticate: {expected.challenge} (as the reference answers)",
          hint=stage.hint("tool_scopes"))


def test_a_scope_that_only_contains_the_tools_scope_gets_403(issuer, student, reference, stage):
    """tools/call get_forecast with a token whose scopes only contain forecast:read in longer names: 403"""
    granted = [BASE_SCOPE, *_lookalike("forecast:read")]
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_forecast", "arguments": NEW_YORK}}

    def ask(server):
        token = issuer.mint(subject=subject(), scopes=granted, audience=resource_of(server))
        return (*_send_call(server, token, "2025-06-18", call, note=f"scopes {' '.join(granted)!r}"), server)
    (probe, got, _), (_, expected, _) = ask(student), ask(reference)
    _, params = parse_challenge(got.challenge)
    _, wanted = parse_challenge(expected.challenge)
    check(got.status == expected.status == 403 and params.get("error") == "insufficient_scope",
          sent=f"tools/call get_forecast {NEW_YORK} with a token whose scope is {' '.join(granted)!r}",
          got=f"{got.status}, WWW-Authenticate: {got.challenge}" if got.status in (401, 403) else _with_log(got, student),
          expected=f"403 with WWW-Authenticate: {expected.challenge} (a scope is a whole word: "
                   "no<x>forecast:read is another scope)",
          hint=stage.hint("scope_match"))


@pytest.mark.unscored
def test_a_scope_that_only_contains_the_servers_scope_gets_403(issuer, student, reference, stage):
    """initialize with a token whose scopes only contain weather:read in longer names: 403"""
    granted = ["forecast:read", "alerts:read", *_lookalike(BASE_SCOPE)]

    def ask(server):
        token = issuer.mint(subject=subject(), scopes=granted, audience=resource_of(server))
        return send(server, Probe("POST", ENDPOINT, (ACCEPT, bearer(token)), INITIALIZE, note="look-alike scopes"))
    got, expected = ask(student), ask(reference)
    # Only the status: the challenge itself is graded on its own (the starter's is still to write).
    check(got.status == expected.status == 403,
          sent=f"POST /mcp initialize with a token whose scope is {' '.join(granted)!r}", got=got.describe(),
          expected=f"403 with WWW-Authenticate: {expected.challenge} (a scope is a whole word)",
          hint=stage.hint("scope_match"))


def _escaped_call() -> bytes:
    """get_forecast written as JSON allows but a byte search misses: escapes, spaces, params first."""
    arguments = json.dumps(NEW_YORK)
    return ('{ "params" : { "arguments" : ' + arguments + ', "name" : "get_\\u0066orecast" },\n'
            '  "method" : "tools\\/call", "id" : 3, "jsonrpc" : "2.0" }').encode()


def _call(era: str, name: str = "get_forecast") -> dict:
    params = {"name": name, "arguments": NEW_YORK if name == "get_forecast" else {}}
    if era == MODERN:
        params["_meta"] = MODERN_META
    return {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}


def _charset() -> tuple[str, str]:
    return ("Content-Type", f"application/json; charset=utf-8; x-{secrets.token_hex(2)}=1")


# Every way of writing the same get_forecast call that the SDK accepts: the scope check must see through each.
REQUEST_SHAPES = {
    "Content-Type with parameters (application/json; charset=utf-8; ...)":
        ("2025-06-18", lambda era: (_call(era), _charset())),
    "Content-Type listing another type first (text/plain, application/json)":
        ("2025-06-18", lambda era: (_call(era), ("Content-Type", "text/plain, application/json"))),
    "Mcp-Name: whoami in a 2025-06-18 session (the body calls get_forecast)":
        ("2025-06-18", lambda era: (_call(era), ("Mcp-Name", "whoami"))),
    "the body written with JSON escapes, spaces and params first":
        ("2025-06-18", lambda era: (_escaped_call(),)),
    "Content-Type with parameters, in one 2026-07-28 request":
        (MODERN, lambda era: (_call(era), _charset(), ("Mcp-Name", "get_forecast"))),
    "Mcp-Name: whoami in a 2026-07-28 request whose body calls get_forecast":
        (MODERN, lambda era: (_call(era), ("Mcp-Name", "whoami"))),
}


@pytest.mark.parametrize("shape", list(REQUEST_SHAPES))
def test_the_tool_scope_holds_however_the_call_is_written(shape, issuer, student, reference, stage):
    """tools/call get_forecast without forecast:read, {id}: 403 as the reference answers"""
    era, build = REQUEST_SHAPES[shape]
    call, *extra = build(era)

    def ask(server):
        token = issuer.mint(subject=subject(), scopes=[BASE_SCOPE], audience=resource_of(server))
        return (*_send_call(server, token, era, call, *extra, note=f"a token with only {BASE_SCOPE}, {shape}"),
                server)
    _judge_forecast_refusal(ask(student), ask(reference), stage,
                            f"tools/call get_forecast without forecast:read, {shape}")


def test_a_token_without_the_servers_scope_gets_403(issuer, student, reference, stage):
    """a token without weather:read at all: 403 insufficient_scope on initialize"""
    def ask(server):
        token = issuer.mint(subject=subject(), scopes=["forecast:read"], audience=resource_of(server))
        return send(server, Probe("POST", ENDPOINT, (ACCEPT, bearer(token)), INITIALIZE, note="only forecast:read"))
    got, expected = ask(student), ask(reference)
    _, params = parse_challenge(got.challenge)
    check(got.status == expected.status == 403 and params.get("error") == "insufficient_scope",
          sent="POST /mcp initialize (a valid token with only forecast:read)", got=got.describe(),
          expected=f"403 with WWW-Authenticate: {expected.challenge}",
          hint=stage.hint("challenge" if got.status == 403 else "tool_scopes"))


INJECTED = 'zz", resource_metadata="https://evil.grader.invalid/.well-known/oauth-protected-resource", scope="admin'


def _challenge_for_a_tool_named(server: Server, issuer: Issuer, name: str) -> tuple[Probe, Answer]:
    token = issuer.mint(subject=subject(), scopes=ALL_SCOPES, audience=resource_of(server))
    call = {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": name, "arguments": {}}}
    probe = Probe("POST", ENDPOINT, (ACCEPT, bearer(token)), call, note=f"a valid token, tools/call of a tool named {name!r}")
    return probe, send(server, probe)


def sdk_reading(challenge: str | None, field: str) -> str | None:
    """What the MCP SDK's client reads from a challenge: the first FIELD=... it finds (mcp.client.auth.utils)."""
    found = re.search(rf'{field}=(?:"([^"]+)"|([^\s,]+))', challenge or "")
    return (found.group(1) or found.group(2)) if found else None


@pytest.mark.parametrize("name", [INJECTED, "prévisions\r\nSet-Cookie: x=y"], ids=["quotes and parameters", "non-ASCII and a line break"])
def test_a_tool_name_never_writes_into_the_challenge(name, issuer, student, reference, stage):
    """tools/call of a tool with {id} in its name: a 403 whose challenge the client reads as the reference's"""
    probe, got = _challenge_for_a_tool_named(student, issuer, name)
    _, expected = _challenge_for_a_tool_named(reference, issuer, name)
    challenge = got.challenge or ""
    problems = []
    if got.status != expected.status:
        problems.append(f"status {got.status}, not {expected.status}")
    if sdk_reading(challenge, "resource_metadata") != metadata_url_of(student):
        problems.append(f"the SDK client reads resource_metadata={sdk_reading(challenge, 'resource_metadata')!r}")
    if sorted((sdk_reading(challenge, "scope") or "").split()) != sorted(sdk_reading(expected.challenge, "scope").split()):
        problems.append(f"the SDK client reads scope={sdk_reading(challenge, 'scope')!r}")
    if not challenge.isascii() or "evil" in challenge or "set-cookie" in got.headers:
        problems.append("the request's text reached the response headers")
    check(not problems, sent=probe.describe(),
          got=(f"{got.status}, WWW-Authenticate: {challenge}" if got.status < 500 else _with_log(got, student))
          + ("\n          " + "\n          ".join(problems) if problems else ""),
          expected=f"{expected.status} with WWW-Authenticate: {expected.challenge}", hint=stage.hint("header_injection"))


# -- sessions and subjects -----------------------------------------------------------------------------------


@pytest.mark.unscored
def test_a_valid_token_opens_a_session_and_the_tool_knows_the_subject(issuer, student, stage):
    """a valid token opens an MCP session; whoami reports the token's subject"""
    ensure_answering(student)
    who = subject()
    token = issuer.mint(subject=who, scopes=ALL_SCOPES, audience=resource_of(student))
    got = streamable_session(resource_of(student), dict([bearer(token)]), "whoami")
    check(got.ok and who in got.result_text,
          sent=f"MCP session with a valid token for subject {who}: initialize, list_tools, call_tool whoami",
          got=got.describe() + (f", result {got.result_text[:200]!r}" if got.ok else
                                f"\nthe server's log ends:\n{tail(student.log(), 12)}"),
          expected=f"the tools listed and whoami answering with the subject {who!r}", hint=stage.hint("session"))


@pytest.mark.unscored
def test_another_subjects_token_cannot_use_the_session(issuer, student, stage):
    """a session opened by one subject is refused to another subject's valid token"""
    ensure_answering(student)
    alice = issuer.mint(subject=subject(), scopes=ALL_SCOPES, audience=resource_of(student))
    mallory = issuer.mint(subject=subject(), scopes=ALL_SCOPES, audience=resource_of(student))
    session_id = _open_session(student, alice)
    probe = Probe("POST", ENDPOINT, (ACCEPT, bearer(mallory), ("Mcp-Session-Id", session_id)), LIST_TOOLS,
                  note="another subject's valid token, with the first subject's Mcp-Session-Id")
    got = send(student, probe)
    check(got.status in (401, 403, 404), sent=probe.describe(), got=got.describe(),
          expected="refused (the SDK answers 404 Session not found): a session id is not a credential",
          hint=stage.hint("session"))


# -- a stream lasts as long as its token ------------------------------------------------------------------------

LEEWAY = 30  # the lesson's clock-skew leeway (LEEWAY_SECONDS): a token still counts this long past its exp
STREAM_GRACE = 3  # how long a stream may take to end once its token no longer counts


def _session_about_to_expire(issuer: Issuer, server: Server) -> tuple[str, int, str]:
    """(token, its exp, a session it opened) for a token that stops counting within seconds.

    First a token that expired LEEWAY - 4 s ago (a server with the lesson's leeway takes it for
    4 s more: the stream should end within seconds, no long wait); a server with less leeway
    refuses it, and gets tokens that expired 4 s ago, then one that expires in 3 s."""
    for offset in (4 - LEEWAY, -4, 3):
        claims = issuer.claims(subject=subject(), scopes=ALL_SCOPES, audience=resource_of(server), lifetime=offset)
        claims["iat"] = claims["nbf"] = claims["exp"] - 60
        token = issuer.sign(claims)
        opened = send(server, Probe("POST", ENDPOINT, (ACCEPT, bearer(token)), INITIALIZE,
                                    note=f"a token whose exp is {offset:+d} s from now"))
        session_id = opened.headers.get("mcp-session-id")
        if opened.status == 200 and session_id:
            send(server, Probe("POST", ENDPOINT, (ACCEPT, bearer(token), ("Mcp-Session-Id", session_id)),
                               INITIALIZED))
            return token, claims["exp"], session_id
    blocked_by(f"no session could be opened with a token about to expire (the last answer: {opened.describe()})")


@pytest.mark.unscored
def test_a_get_stream_ends_when_its_token_does(issuer, student, stage):
    """a GET /mcp event stream ends once the token that opened it is no longer valid"""
    ensure_answering(student)
    token, expires, session_id = _session_about_to_expire(issuer, student)
    deadline = expires + LEEWAY + STREAM_GRACE
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}", "Mcp-Session-Id": session_id,
               "MCP-Protocol-Version": "2025-06-18"}
    sent = (f"POST /mcp initialize with a token whose exp is {expires - int(time.time()):+d} s from now, then "
            "GET /mcp (Accept: text/event-stream, Mcp-Session-Id) with the same token, read until it ends")
    open_after = None
    with httpx.Client(trust_env=False, timeout=httpx.Timeout(5.0, read=max(deadline - time.time(), 1.0))) as client:
        try:
            with client.stream("GET", resource_of(student), headers=headers) as response:
                if response.status_code == 401 and time.time() > expires:
                    return  # a slow machine: the token no longer counted when the GET arrived, and it was refused
                if response.status_code != 200:
                    raise CheckFailed(sent=sent, got=f"{response.status_code} to the GET",
                                      expected="200 and an event stream (the token is still valid)",
                                      hint=stage.hint("stream"))
                for _ in response.iter_raw():  # the SDK pings now and then: a chunk is no end
                    if time.time() > deadline:
                        open_after = time.time() - expires
                        break
        except httpx.ReadTimeout:
            open_after = time.time() - expires
        except httpx.TransportError:
            pass  # the server cut the connection: the stream ended, if not gracefully
    check(open_after is None, sent=sent,
          got=f"the stream was still open {open_after or 0:.0f} s after the token's exp",
          expected=f"the stream ends once the token stops being valid: by its exp plus the {LEEWAY} s of "
                   f"clock-skew leeway (and {STREAM_GRACE} s of grace)", hint=stage.hint("stream"))


# -- keys from a URL: a withdrawn key stops working --------------------------------------------------------------

JWKS_CACHE = 1  # the JWKS_CACHE_SECONDS the server with JWKS_URL gets: a withdrawn key counts no longer than this
JWKS_GRACE = 3  # past it, how long the grader keeps asking before it calls the key still trusted


@pytest.mark.unscored
def test_a_key_withdrawn_from_the_jwks_url_stops_working(issuer, launch, student, stage):
    """with JWKS_URL, a key the issuer withdraws from its key set is refused once JWKS_CACHE_SECONDS have passed"""
    ensure_answering(student)
    withdrawn, kid = new_private_key(), secrets.token_hex(8)
    kept = json.loads(issuer.jwks_file.read_text())["keys"]
    published = KeySet([*kept, public_jwk(withdrawn, kid)])
    env = {**launch.server_env(launch.student_dir), "JWKS_URL": published.url,
           "JWKS_CACHE_SECONDS": str(JWKS_CACHE), "JWKS_FILE": ""}
    started = f"uvicorn {stage.app} with JWKS_URL=<the issuer's key set, served on loopback> JWKS_CACHE_SECONDS={JWKS_CACHE}"
    server = launch.extras["student-jwks-url"] = Server(launch.student_dir, stage.app, env=env, label="student-jwks-url")
    try:
        try:
            server.wait_ready()
        except ServerDidNotStart as error:
            raise CheckFailed(sent=started, got=f"it did not start: {error}\n{tail(server.log())}",
                              expected="a server that takes the issuer's keys from JWKS_URL",
                              hint=stage.hint("jwks_cache")) from None

        def post(token: str, note: str) -> Answer:
            return send(server, Probe("POST", ENDPOINT, (ACCEPT, bearer(token)), INITIALIZE, note=note))

        def claims() -> dict:
            return issuer.claims(subject=subject(), scopes=ALL_SCOPES, audience=resource_of(server))
        token = issuer.sign(claims(), key=withdrawn, kid=kid)
        before = post(token, f"a valid token signed by the key {kid}, published at JWKS_URL")
        check(before.status == 200, sent=f"{started}; POST /mcp initialize (a valid token signed by a key in the set)",
              got=_with_log(before, server), expected="200: the key is in the set JWKS_URL serves",
              hint=stage.hint("jwks_cache"))
        published.keys = kept  # the issuer withdraws the key (after a compromise)
        deadline = time.monotonic() + JWKS_CACHE + JWKS_GRACE
        time.sleep(JWKS_CACHE)
        while True:
            after = post(token, f"the same token, its key {kid} withdrawn from the set")
            if after.status == 401 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        check(after.status == 401, sent=f"{started}; POST /mcp with a token signed by a key, which the issuer then "
                                        f"withdrew from the set; asked again {JWKS_CACHE} s to "
                                        f"{JWKS_CACHE + JWKS_GRACE} s later",
              got=f"{after.describe()}: the withdrawn key still opens the server "
                  f"{JWKS_CACHE + JWKS_GRACE} s after it left the set",
              expected=f"401 once the cached set is older than JWKS_CACHE_SECONDS ({JWKS_CACHE} s): the set is fetched "
                       "again, and the key is gone", hint=stage.hint("jwks_cache"))
        still = post(issuer.sign(claims()), "a valid token signed by the key that stayed in the set")
        check(still.status == 200, sent=f"{started}; POST /mcp initialize with a token signed by the key that stayed",
              got=_with_log(still, server), expected="200: only the withdrawn key stops working",
              hint=stage.hint("jwks_cache"))
    finally:
        published.close()


MODERN_ROWS = [row for row in ROWS if row.name in ("no Authorization header", "a valid token", "an expired token (5 minutes ago)",
                                                "a token for a sibling resource (audience .../calendar/mcp)")]


@pytest.mark.parametrize("row", [pytest.param(row, id=row.name, marks=[pytest.mark.unscored]
                                              if row.name in STARTER_PASSES else []) for row in MODERN_ROWS])
def test_every_2026_request_carries_its_own_token(row, issuer, session, student, reference, stage):
    """a stateless 2026-07-28 tools/call whoami with {id}: answered like the reference"""
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}, "_meta": MODERN_META}}
    modern = (("MCP-Protocol-Version", MODERN), ("Mcp-Method", "tools/call"), ("Mcp-Name", "whoami"))

    def ask(server: Server) -> tuple[Probe, Answer]:
        probe = probe_for(row, issuer, server, session, body=call)
        probe = Probe(probe.method, probe.path, (*probe.headers, *modern), call, note=f"{row.name}, no session",
                      shown_path=probe.shown_path)
        return probe, send(server, probe)

    probe, got = ask(student)
    _, expected = ask(reference)
    good = got.status == expected.status == 200 if row.let_in else refused_with_a_bearer_challenge(got)
    check(good, sent=probe.describe(), got=_with_log(got, student), expected=f"{expected.describe()} (as the reference)",
          hint=stage.hint("valid_token" if row.let_in else row.hint))


# -- no token passthrough ---------------------------------------------------------------------------------------


@pytest.mark.unscored
def test_the_upstream_api_never_receives_the_clients_token(issuer, launch, student, stage):
    """the weather API upstream never receives the client's token"""
    ensure_answering(student)
    token = issuer.mint(subject=subject(), scopes=ALL_SCOPES, audience=resource_of(student))
    got = streamable_session(resource_of(student), dict([bearer(token)]), "get_forecast", NEW_YORK)
    if not got.ok:
        blocked_by(f"a forecast could not be fetched with a valid token ({got.describe()})")
    log = upstream_log(launch.student_dir)
    lines = log.read_text().splitlines() if log.is_file() else []
    if not lines:
        raise CheckFailed(sent="an MCP session with a valid token: call_tool get_forecast",
                          got="the recorded NWS API received no request",
                          expected="the tool fetches the forecast through workshop.weather.nws_client()",
                          hint=stage.hint("passthrough"))
    signature = token.rsplit(".", 1)[1]
    leaked = [line for line in lines if signature in line or '"authorization"' in line.lower()]
    check(not leaked, sent="an MCP session with a valid token: call_tool get_forecast",
          got="the upstream received the token (or an Authorization header):\n"
              + tail("\n".join(line.replace(token, "<the client's token>") for line in leaked), 4),
          expected="upstream requests without the client's token", hint=stage.hint("passthrough"))


# -- the client ---------------------------------------------------------------------------------------------------


@dataclass
class ClientRuns:
    url: str
    right: object  # grader.harness.Finished, with a valid token
    wrong: object  # with an expired token
    tokens: list[str]
    listener: object  # what reached the lesson's default port meanwhile (None: the port was taken)


@pytest.fixture(scope="module")
def client_runs(launch, issuer, stage, reference, imports_ok) -> ClientRuns:
    """The student's client, twice at once against the reference server: a good token, an expired one.

    Meanwhile a listener on the lesson's default port records whatever reaches it: a
    client told to use MCP_SERVER_URL must send nothing there.
    """
    url = resource_of(reference)
    good = issuer.mint(subject=subject(), scopes=FORECAST_SCOPES, audience=url)
    expired = issuer.mint(subject=subject(), scopes=FORECAST_SCOPES, audience=url, lifetime=-300)
    MINTED.extend([good, expired])
    with listening_on(stage.port) as listener, ThreadPoolExecutor(2) as pool:
        right = pool.submit(run_python, launch.student_dir, [stage.client],
                            env={"MCP_SERVER_URL": url, "ACCESS_TOKEN": good}, timeout=90, label="client")
        wrong = pool.submit(run_python, launch.student_dir, [stage.client],
                            env={"MCP_SERVER_URL": url, "ACCESS_TOKEN": expired}, timeout=90, label="client")
        return ClientRuns(url, right.result(), wrong.result(), [good, expired], listener)


def test_the_client_sends_the_token_and_prints_the_forecast(client_runs, session, stage):
    """client.py sends Authorization: Bearer and prints the recorded forecast"""
    url, right = client_runs.url, client_runs.right
    # The recorded weather carries a note new every run: only a client that asked the server has it.
    wanted = f'{RECORDED_FORECAST["detailedForecast"]} {session.forecast_note}'
    check(right.ok and wanted in right.output,
          sent=f"MCP_SERVER_URL={url} ACCESS_TOKEN=<a valid token> python {stage.client}",
          got=f"exit status {right.returncode}:\n{tail(right.output)}",
          expected=f"exit status 0 and the recorded forecast ({wanted!r}) in the output",
          hint=stage.hint("client_header"))


@pytest.mark.unscored
def test_the_client_says_plainly_when_the_token_is_refused(client_runs, stage):
    """with an expired token, client.py says the server answered 401"""
    url, wrong = client_runs.url, client_runs.wrong
    check(not wrong.ok and "401" in wrong.output and "Traceback" not in wrong.output,
          sent=f"MCP_SERVER_URL={url} ACCESS_TOKEN=<an expired token> python {stage.client}",
          got=f"exit status {wrong.returncode}:\n{tail(wrong.output)}",
          expected="a non-zero exit and one plain line that names the 401, no traceback",
          hint="Keep the `with plain_errors(...)` block around asyncio.run(main()) in client.py.")


@pytest.mark.unscored
@pytest.mark.gate
def test_the_client_keeps_the_token_to_itself(session, client_runs, reference, stage):
    """the client prints no token, and never puts one in a URL"""
    signatures = [token.rsplit(".", 1)[1] for token in client_runs.tokens]
    printed = [line for run in (client_runs.right, client_runs.wrong) for line in run.output.splitlines()
               if any(signature in line for signature in signatures)]
    in_urls = [line for line in reference.log().splitlines()
               if session.marker not in line and any(signature in line for signature in signatures)]
    check(not printed and not in_urls, sent=f"python {stage.client} (twice)",
          got=("the token in the client's output" if printed else "the token in the server's access log (a URL)"),
          expected="the token in the Authorization header only: not printed, not in a URL", hint=stage.hint("leak"))


@pytest.mark.unscored
def test_the_client_sends_the_token_nowhere_else(client_runs, stage):
    """the client sends the token to MCP_SERVER_URL only (nothing reaches the lesson's default port)"""
    if client_runs.listener is None:
        not_run(f"another program holds port {stage.port}, so the grader could not listen there for a stray token")
    signatures = [token.rsplit(".", 1)[1].encode() for token in client_runs.tokens]
    strays = [data for data in client_runs.listener.received if any(signature in data for signature in signatures)]
    check(not strays, sent=f"python {stage.client} with MCP_SERVER_URL={client_runs.url}, "
                           f"while 127.0.0.1:{stage.port} listened",
          got=f"{len(strays)} request(s) to port {stage.port} carrying the token",
          expected="nothing sent to any address but MCP_SERVER_URL", hint=stage.hint("client_destination"))


# -- secrets stay out of the logs -------------------------------------------------------------------------------


# A token counts as shown when this many consecutive characters of its signature (or of a token that is
# not a JWT) appear: 72 random bits, never there by chance, and short enough to survive a log handler
# that wraps a long line into narrow columns (rich's does).
TOKEN_PIECE = 12


def token_pieces(tokens: list[str]) -> frozenset[str]:
    """Every TOKEN_PIECE-character slice of each token's signature (the whole token when it is no JWT)."""
    pieces = set()
    for token in tokens:
        parts = token.split(".")
        secret = (parts[2] or parts[1]) if len(parts) == 3 else token  # alg "none": no signature, its claims
        pieces |= {secret[start:start + TOKEN_PIECE] for start in range(len(secret) - TOKEN_PIECE + 1)}
    return frozenset(pieces)


def shows_a_token(text: str, pieces: frozenset[str]) -> bool:
    return any(text[start:start + TOKEN_PIECE] in pieces for start in range(len(text) - TOKEN_PIECE + 1))


@pytest.mark.unscored
@pytest.mark.gate
def test_no_token_appears_in_the_server_output(session, launch, student, stage):
    """no token the grader sent, accepted or refused, appears in the server's output"""
    pieces = token_pieces(MINTED)
    leaked = []
    for server in [student, *launch.extras.values()]:
        for line in server.log().splitlines():
            if session.marker in line:  # the grader's own token-in-the-query probe
                continue
            if shows_a_token(line, pieces):
                leaked.append(f"{server.label}: {_hide_tokens(line, pieces)[:160]}")
    leaked += [f"the file {path}, which {label} wrote during grading, holds one"
               for label, path in leaks.written_elsewhere(launch) if _file_shows_a_token(path, pieces)]
    check(not leaked, sent="every request above (the tokens it refused as well as those it let in)",
          got="a token (or part of one) in the server's output:\n" + tail("\n".join(leaked)),
          expected="no line of output holds any part of a token, valid or refused (no points for this stage "
                   "while one does)",
          hint="Never print or log a token, not even one you refuse (a token refused here may be valid "
               "elsewhere): log why it was refused, not what it was.")


def _hide_tokens(line: str, pieces: frozenset[str]) -> str:
    shown = [False] * len(line)
    for start in range(len(line) - TOKEN_PIECE + 1):
        if line[start:start + TOKEN_PIECE] in pieces:
            shown[start:start + TOKEN_PIECE] = [True] * TOKEN_PIECE
    return "".join("*" if hidden else char for char, hidden in zip(line, shown))


def _file_shows_a_token(path, pieces: frozenset[str]) -> bool:
    try:
        return shows_a_token(path.read_bytes()[:2_000_000].decode(errors="replace"), pieces)
    except OSError:
        return False


@pytest.mark.unscored
@pytest.mark.gate
def test_the_old_api_key_sent_as_a_credential_never_appears_in_the_server_output(session, launch, student, stage):
    """the stage-04 API key the grader presents as a stray credential appears nowhere in the server's output"""
    leaks.test_the_key_never_appears_in_the_server_output(session, launch, student, stage)


from grader.checks.common import test_server_is_still_running  # noqa: E402,F401  (runs last)
