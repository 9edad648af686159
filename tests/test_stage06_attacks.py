"""Stage 06's reference server, attacked: each weakness a security review found, sent to a real server.

Every test starts the reference solution under uvicorn on 127.0.0.1 (a free port),
trusting a fresh issuer (grader/tokens.py), and sends the attack as a client would.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp.client.auth.utils import extract_resource_metadata_from_www_auth, extract_scope_from_www_auth

from grader.harness import Server
from grader.stages import SOLUTIONS
from grader.tokens import Issuer

STAGE = SOLUTIONS / "06-bearer-tokens"
ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "attacker", "version": "1"}}}
ALL_SCOPES = ["weather:read", "forecast:read", "alerts:read"]
INJECTION = 'zz", resource_metadata="https://evil.example/.well-known/oauth-protected-resource", scope="admin'


def start(env: dict[str, str]) -> Server:
    issuer = Issuer.for_run()
    return Server(STAGE, "secure_weather_server:app", label="stage06-attacked",
                  env={"JWKS_FILE": str(issuer.jwks_file), "TOKEN_ISSUER": issuer.url, "JWKS_URL": "",
                       "MCP_RESOURCE_URL": "", "TOKEN_AUDIENCE": "", **env}).wait_ready()


@pytest.fixture(scope="module")
def server():
    running = start({})
    yield running
    running.stop()


def resource(server: Server) -> str:
    return f"{server.base_url}/mcp"


def claims(server: Server, **changes) -> dict:
    """A valid token's claims for SERVER, with CHANGES written over them (None removes a claim)."""
    found = Issuer.for_run().claims(subject="mallory", scopes=ALL_SCOPES, audience=resource(server))
    found.update(changes)
    return {name: value for name, value in found.items() if value is not None}


def post(server: Server, token: str, body: dict = INITIALIZE) -> httpx.Response:
    return httpx.post(resource(server), json=body, headers={**ACCEPT, "Authorization": f"Bearer {token}"},
                      timeout=10)


def call(tool: str, arguments: dict | None = None) -> dict:
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments or {}}}


def shown(response) -> str:
    return f"{response.status_code} {response.headers.get('www-authenticate')!r} {response.text[:300]!r}"


# -- 1. a signing key withdrawn from the JWKS ----------------------------------------------------------


class Jwks:
    """A JWKS on a loopback HTTP server whose keys can change while it runs, as an identity provider's do."""

    def __init__(self, keys: list[dict]) -> None:
        self.keys = keys
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"keys": jwks.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/jwks.json"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def public_jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def test_a_key_withdrawn_from_the_jwks_is_refused_once_the_cached_set_expires():
    issuer = Issuer.for_run()
    stolen = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kept = json.loads(issuer.jwks_file.read_text())["keys"]
    jwks = Jwks([*kept, public_jwk(stolen, "compromised")])
    running = start({"JWKS_URL": jwks.url, "JWKS_CACHE_SECONDS": "1"})
    try:
        token = issuer.sign(claims(running), key=stolen, kid="compromised")
        before = post(running, token)
        assert before.status_code == 200, shown(before)
        jwks.keys = kept  # the identity provider withdraws the compromised key
        time.sleep(2.5)  # past the set's cache lifetime
        after = post(running, token)
        assert after.status_code == 401, f"a withdrawn key still opens the server: {shown(after)}"
        still = post(running, issuer.sign(claims(running)))
        assert still.status_code == 200, f"the key that stayed must still work: {shown(still)}"
    finally:
        running.stop()
        jwks.close()


# -- 2. the tool name in WWW-Authenticate ----------------------------------------------------------------


def challenge_as_the_sdk_reads_it(server: Server, tool: str) -> tuple[httpx2.Response, str | None, str | None]:
    token = Issuer.for_run().sign(claims(server))
    response = httpx2.post(resource(server), json=call(tool), timeout=10,
                           headers={**ACCEPT, "Authorization": f"Bearer {token}"})
    return response, extract_resource_metadata_from_www_auth(response), extract_scope_from_www_auth(response)


def test_a_tool_name_cannot_inject_parameters_into_the_challenge(server):
    response, metadata, scope = challenge_as_the_sdk_reads_it(server, INJECTION)
    challenge = response.headers.get("www-authenticate", "")
    assert response.status_code == 403, shown(response)
    assert metadata == f"{server.base_url}/.well-known/oauth-protected-resource/mcp", challenge
    assert "admin" not in (scope or "").split() and "evil.example" not in challenge, challenge
    assert challenge.count("resource_metadata=") == 1 and challenge.count("scope=") == 1, challenge


@pytest.mark.parametrize("tool", ["météo", "zz\r\nSet-Cookie: a=b", "back\\slash"])
def test_a_tool_name_that_is_no_header_text_still_gets_a_clean_challenge(server, tool):
    response, metadata, _ = challenge_as_the_sdk_reads_it(server, tool)
    assert response.status_code == 403, shown(response)
    raw = dict(response.headers.raw)[b"www-authenticate"]
    assert raw.isascii() and b"\r" not in raw and b"\n" not in raw, raw
    assert metadata == f"{server.base_url}/.well-known/oauth-protected-resource/mcp", raw
    assert "set-cookie" not in response.headers


# -- 3. typ must say at+jwt ---------------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", None, "id_token+jwt"], ids=["typ JWT", "no typ", "typ id_token+jwt"])
def test_a_jwt_that_does_not_say_it_is_an_access_token_is_refused(server, typ):
    response = post(server, Issuer.for_run().sign(claims(server), typ=typ))
    assert response.status_code == 401, shown(response)


def test_the_media_type_spelling_of_at_jwt_is_an_access_token_too(server):
    response = post(server, Issuer.for_run().sign(claims(server), typ="application/at+jwt"))
    assert response.status_code == 200, shown(response)


# -- 4. claims as written, malformed or absurd ----------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\u2003", "\t", "\n", "\u00a0"], ids=["em space", "tab", "newline", "nbsp"])
def test_scopes_are_split_on_the_space_character_only(server, separator):
    token = Issuer.for_run().sign(claims(server, scope=f"weather:read{separator}forecast:read"))
    response = post(server, token, call("get_forecast", {"latitude": 40.7128, "longitude": -74.006}))
    assert response.status_code == 401, f"a scope claim split on {separator!r} opened a tool: {shown(response)}"


@pytest.mark.parametrize("changes", [
    {"scope": 5}, {"scope": ["weather:read"]}, {"scope": None, "scp": {"weather:read": True}},
    {"exp": str(int(time.time()) + 300)}, {"nbf": "0"}, {"iat": "0"}, {"client_id": {"id": 1}},
], ids=["scope a number", "scope a list", "scp an object", "exp a string", "nbf a string", "iat a string",
        "client_id an object"])
def test_a_malformed_claim_is_a_401_never_a_500(server, changes):
    response = post(server, Issuer.for_run().sign(claims(server, **changes)))
    assert response.status_code == 401, shown(response)


def test_a_token_for_this_server_and_another_is_refused(server):
    token = Issuer.for_run().sign(claims(server, aud=[resource(server), "https://calendar.example/mcp"]))
    response = post(server, token)
    assert response.status_code == 401, shown(response)


def test_a_one_element_audience_list_naming_this_server_is_accepted(server):
    response = post(server, Issuer.for_run().sign(claims(server, aud=[resource(server)])))
    assert response.status_code == 200, shown(response)


def test_a_token_valid_for_a_century_is_refused(server):
    response = post(server, Issuer.for_run().sign(claims(server, exp=int(time.time()) + 100 * 365 * 86400)))
    assert response.status_code == 401, shown(response)


# -- 5. a stream outliving its token --------------------------------------------------------------------------


def test_a_get_stream_ends_when_its_token_expires(server):
    # Accepted for 30 s past its exp (the clock-skew leeway): this token has about 4 s left.
    token = Issuer.for_run().sign(claims(server, exp=int(time.time()) - 26))
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=httpx.Timeout(20, read=20)) as client:
        opened = client.post(resource(server), json=INITIALIZE, headers=headers)
        assert opened.status_code == 200, shown(opened)
        headers["Mcp-Session-Id"] = opened.headers["mcp-session-id"]
        client.post(resource(server), json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        started = time.monotonic()
        with client.stream("GET", resource(server), headers=headers) as stream:
            assert stream.status_code == 200
            for _ in stream.iter_raw():  # the server pings every 15 s: a chunk at least that often
                if time.monotonic() - started > 10:
                    pytest.fail("the GET stream is still open 10 s after it started; its token ran out after 4 s")
        again = client.get(resource(server), headers=headers)
        assert again.status_code == 401, shown(again)


# -- 6. the metadata and the resource URL ------------------------------------------------------------------


def test_the_metadata_publishes_the_minimal_scopes_only(server):
    document = httpx.get(f"{server.base_url}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
    assert document["scopes_supported"] == ["weather:read"], document


PUBLIC = "https://Weather.Example.com/mcp"  # a configured public URL, spelled with capitals


@pytest.fixture(scope="module")
def behind_a_load_balancer():
    running = start({"MCP_RESOURCE_URL": PUBLIC})
    yield running
    running.stop()


def test_a_configured_resource_url_is_published_in_canonical_form(behind_a_load_balancer):
    url = f"{behind_a_load_balancer.base_url}/.well-known/oauth-protected-resource/mcp"
    document = httpx.get(url, timeout=10).json()
    assert document["resource"] == "https://weather.example.com/mcp", document


@pytest.mark.parametrize("audience", ["https://weather.example.com/mcp", "HTTPS://WEATHER.EXAMPLE.COM/mcp",
                                      PUBLIC])
def test_the_audience_compares_scheme_and_host_without_case(behind_a_load_balancer, audience):
    response = post(behind_a_load_balancer, Issuer.for_run().sign(claims(behind_a_load_balancer, aud=audience)))
    assert response.status_code == 200, shown(response)


def test_the_audience_path_is_compared_exactly(behind_a_load_balancer):
    token = Issuer.for_run().sign(claims(behind_a_load_balancer, aud="https://weather.example.com/MCP"))
    response = post(behind_a_load_balancer, token)
    assert response.status_code == 401, shown(response)
