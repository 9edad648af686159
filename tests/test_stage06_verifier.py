"""Stage 06's verifier, in process: keys from a JWKS URL (a real identity provider's way), claims as providers write them.

The grader checks the verifier through real servers with a JWKS file; these
tests cover what those servers are not started with: JWKS_URL, served here on
loopback, and the claim names of other providers.
"""

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bench.guards import reference
from grader.tokens import Issuer
from workshop import weather

AUDIENCE = "http://127.0.0.1:5000/mcp"


verifier = reference("06-bearer-tokens", "token_verifier")


@pytest.fixture
def jwks_url():
    """The run issuer's JWKS on a loopback HTTP server; yields its URL and the list of paths asked for."""
    body, asked = Issuer.for_run().jwks_file.read_bytes(), []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", asked
    finally:
        server.shutdown()
        server.server_close()


def verify(keys, token: str, audience: str = AUDIENCE, **options):
    checker = verifier.JwtTokenVerifier(keys, issuer=Issuer.for_run().url, audience=audience, **options)
    return asyncio.run(checker.verify_token(token))


def test_keys_from_a_jwks_url_verify_a_token_and_are_fetched_once(jwks_url):
    url, asked = jwks_url
    keys = verifier.KeyUrl(url)
    issuer = Issuer.for_run()
    for name in ("alice", "bob"):
        access = verify(keys, issuer.mint(subject=name, scopes=["weather:read"], audience=AUDIENCE))
        assert access is not None and access.subject == name and access.scopes == ["weather:read"]
    assert asked == ["/jwks.json"], "the key set is cached between tokens"


def test_a_token_signed_by_a_key_the_url_does_not_publish_is_refused(jwks_url):
    url, _ = jwks_url
    issuer = Issuer.for_run()
    stranger = issuer.sign(issuer.claims(subject="mallory", scopes=[], audience=AUDIENCE), kid="not-published")
    assert verify(verifier.KeyUrl(url), stranger) is None


def test_the_audience_comes_from_the_verifier_not_the_token(jwks_url):
    url, _ = jwks_url
    token = Issuer.for_run().mint(subject="alice", scopes=[], audience="http://127.0.0.1:5000/other/mcp")
    assert verify(verifier.KeyUrl(url), token) is None
    assert verify(verifier.KeyUrl(url), token, audience="http://127.0.0.1:5000/other/mcp") is not None


def test_scopes_read_as_rfc_9068_entra_id_and_okta_write_them():
    assert verifier.scopes_of({"scope": "weather:read forecast:read"}) == ["weather:read", "forecast:read"]
    assert verifier.scopes_of({"scp": "weather:read"}) == ["weather:read"]
    assert verifier.scopes_of({"scp": ["a", "b"]}) == ["a", "b"]
    assert verifier.scopes_of({"scope": " a  b "}) == ["a", "b"]
    assert verifier.scopes_of({}) == []


@pytest.mark.parametrize("claims", [{"scope": ["a", "b"]}, {"scope": 5}, {"scp": [1]}, {"scope": "a\u2003b"},
                                    {"scope": "a\tb"}, {"scope": 'a "b"'}, {"scope": "a\\b"}])
def test_a_scope_claim_rfc_6749_does_not_allow_is_malformed(claims):
    with pytest.raises(verifier.MalformedClaim):
        verifier.scopes_of(claims)


@pytest.mark.parametrize("typ, accepted", [("at+jwt", True), ("AT+JWT", True), ("application/at+jwt", True),
                                           ("JWT", False), (None, False), (5, False), ("at+jwt ", False)])
def test_the_access_token_type_is_read_as_rfc_9068_and_rfc_7515_spell_it(typ, accepted):
    assert verifier.is_access_token({"typ": typ}) is accepted


def test_an_issuer_that_cannot_set_at_jwt_is_accepted_only_when_configured():
    issuer = Issuer.for_run()
    token = issuer.sign(issuer.claims(subject="alice", scopes=["weather:read"], audience=AUDIENCE), typ="JWT")
    keys = verifier.KeyFile(issuer.jwks_file)
    assert verify(keys, token) is None
    assert verify(keys, token, token_types=("at+jwt", "JWT")).subject == "alice"


def test_a_verifier_built_with_capitals_expects_the_canonical_audience():
    issuer = Issuer.for_run()
    token = issuer.mint(subject="alice", scopes=[], audience="https://weather.example.com/mcp")
    keys = verifier.KeyFile(issuer.jwks_file)
    assert verify(keys, token, audience="HTTPS://Weather.Example.COM/mcp") is not None
    assert verify(keys, token, audience="https://weather.example.com/MCP") is None


def test_the_recorded_nws_writes_down_what_it_receives(tmp_path, monkeypatch):
    log = tmp_path / "upstream.jsonl"
    monkeypatch.setenv("NWS_REQUEST_LOG", str(log))

    async def fetch():
        async with weather.nws_client() as client:
            return await client.get(f"{weather.NWS_API_BASE}/alerts/active/area/CA", headers={"X-Probe": "yes"})

    assert asyncio.run(fetch()).status_code == 200
    entry = json.loads(log.read_text())
    assert entry["url"].endswith("/alerts/active/area/CA")
    assert ["x-probe", "yes"] in entry["headers"] and not any(name == "authorization" for name, _ in entry["headers"])


def test_without_the_variable_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv("NWS_REQUEST_LOG", raising=False)
    monkeypatch.chdir(tmp_path)
    weather.answer_from_recordings(httpx.Request("GET", f"{weather.NWS_API_BASE}/alerts/active/area/CA"))
    assert list(tmp_path.iterdir()) == []
