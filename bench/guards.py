"""The app the guard benchmark serves: stage 04's weather server, behind one guard chosen by name.

    BENCH_GUARD=pure-asgi API_KEY=... uvicorn bench.guards:app

Every row of the benchmark serves the same app (the reference solution of stage
04: a plain GET /health, and MCP tools over streamable HTTP at /mcp); the only
thing that changes between rows is the guard around it. Each guard protects
every path, so the plain endpoint pays for the guard too.

Adding a guard is one line in GUARDS: a name, what it is, a function that wraps
the app, and the credential it expects (made by the benchmark before the servers
start: a key issued into a key store, a token signed by a test issuer). Imports
go inside the functions, so the benchmark reads this list without loading any
web framework, and a served app loads only its own guard.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader.stages import SOLUTIONS

# Stage 06: the resource URL the bearer guards are configured with (as MCP_RESOURCE_URL configures the
# reference server), so one token, minted for it, is good on every server whatever its port.
BENCH_RESOURCE = "http://127.0.0.1/mcp"
# Stage 06's scopes, as its reference server asks for them (secure_weather_server.REQUIRED_SCOPES, TOOL_SCOPES).
REQUIRED_SCOPES = ["weather:read"]
TOOL_SCOPES = {"get_alerts": ["weather:read", "alerts:read"], "get_forecast": ["weather:read", "forecast:read"],
               "whoami": ["weather:read"]}


@dataclass(frozen=True)
class Credential:
    """The header every benchmark request to a guard carries, and what its server starts with beyond API_KEY."""

    header: str
    value: str
    env: dict[str, str] = field(default_factory=dict)


def reference(stage: str, module: str):
    """MODULE from the reference solution of STAGE. Stages reuse module names (auth_middleware is 04's and
    05's), so a module of that folder already imported from another stage's folder is forgotten first."""
    folder = SOLUTIONS / stage
    for path in folder.glob("*.py"):
        loaded = sys.modules.get(path.stem)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").parent != folder:
            del sys.modules[path.stem]  # whoever imported it keeps its objects; new imports get this stage's
    if sys.path[0] != str(folder):
        sys.path.insert(0, str(folder))
    return __import__(module)


# -- the credentials (made in the benchmark's process, before any server starts) ------------------------


def the_api_key(folder: Path, key: str) -> Credential:
    """Stages 01 to 04: the one key every server of the benchmark starts with (API_KEY)."""
    return Credential("X-API-Key", key)


def a_stored_key(folder: Path, key: str) -> Credential:
    """Stage 05: a fresh key store in FOLDER, set up as the grader sets it up, and one key issued into it
    with the stage's own CLI (`python -m keys issue`). The key is read from the CLI's output, never shown."""
    from grader.harness import child_env
    from grader.stage_env import RunValues, prepare_key_store

    stage = SOLUTIONS / "05-key-management"
    folder.mkdir(parents=True, exist_ok=True)
    env = prepare_key_store(stage, folder, RunValues(key))
    issued = subprocess.run([sys.executable, "-m", "keys", "issue", "--client", "bench", "--tools", "*"],
                            cwd=stage, env=child_env(env), capture_output=True, text=True, timeout=60)
    found = re.findall(r"\bmcpk_[0-9A-Za-z_]+", issued.stdout)
    if issued.returncode != 0 or len(found) != 1:
        raise RuntimeError(f"`python -m keys issue` in {stage} exited {issued.returncode} and printed "
                           f"{len(found)} keys; its errors: {issued.stderr[-500:]}")
    return Credential("X-API-Key", found[0], env)


def a_bearer_token(folder: Path, key: str) -> Credential:
    """Stage 06: a token signed by the grader's test issuer (grader/tokens.py), whose JWKS the servers trust.

    It carries every scope and lives an hour: longer than any run, so it never expires mid-measure."""
    from grader.tokens import Issuer

    issuer = Issuer.for_run()
    token = issuer.mint(subject="bench", scopes=sorted({s for scopes in TOOL_SCOPES.values() for s in scopes}),
                        audience=BENCH_RESOURCE, lifetime=3600)
    return Credential("Authorization", f"Bearer {token}",
                      {"JWKS_FILE": str(issuer.jwks_file), "TOKEN_ISSUER": issuer.url})


# -- the guards (in the served process) -------------------------------------------------------------------


def _no_guard(app, key):
    return app


def _base_http_middleware(app, key):
    """Stage 01/03: a Starlette BaseHTTPMiddleware (it reads API_KEY from the environment itself)."""
    sys.path.insert(0, str(SOLUTIONS / "01-middleware"))
    from auth import ApiKeyMiddleware

    return ApiKeyMiddleware(app)


def _pure_asgi(app, key):
    """Stage 04: a pure ASGI middleware, here guarding every path (not only /mcp) like the others."""
    from auth_middleware import ApiKeyAuthMiddleware

    return ApiKeyAuthMiddleware(app, api_key=key, protected_paths=["/"])


def _key_store(app, key):
    """Stage 05 as its reference server builds it (KEYS_DB, KEY_PEPPER, AUDIT_LOG from the environment).

    Per request: the key's shape and checksum, a stat of the store's change log, an HMAC of the key
    compared in constant time with the stored one, and the use counted in memory (a thread writes the
    counts every few seconds, off the event loop: issue 20 measured 0.40x on GET /health while each
    request committed its count). The key's row is read from SQLite again only when a key changed (a
    revoked key is still refused by the very next request), and at least every few seconds. Only
    failures reach the rate limiter: the benchmark's valid key can never be throttled, whatever the
    refused probes counted.
    """
    guard = reference("05-key-management", "auth_middleware")
    store = reference("05-key-management", "key_store").KeyStore.from_env()
    limiter = reference("05-key-management", "rate_limit").FailureLimiter.from_env()
    audit = reference("05-key-management", "audit").AuditLog.from_env()
    return guard.ApiKeyAuthMiddleware(app, store=store, limiter=limiter, audit=audit, protected_paths=["/"])


def _bearer(app, key, *, cached: bool = False):
    """Stage 06 as its reference server builds it: the JWKS from JWKS_FILE, the issuer from TOKEN_ISSUER.

    Per request: the token's RS256 signature, issuer, audience and lifetime (PyJWT), and for a POST the
    body read to check the scopes of the tool it calls."""
    bearer_auth = reference("06-bearer-tokens", "bearer_auth")
    token_verifier = reference("06-bearer-tokens", "token_verifier")
    keys = token_verifier.KeyFile(os.environ["JWKS_FILE"])

    def verifier_for(audience: str):
        verifier = token_verifier.JwtTokenVerifier(keys, issuer=os.environ["TOKEN_ISSUER"], audience=audience)
        return CachedVerifier(verifier) if cached else verifier

    return bearer_auth.BearerAuthMiddleware(app, verifier_for=verifier_for, required_scopes=REQUIRED_SCOPES,
                                            tool_scopes=TOOL_SCOPES, protected_paths=["/"],
                                            resource=BENCH_RESOURCE)


def _bearer_cached(app, key):
    return _bearer(app, key, cached=True)


class CachedVerifier:
    """A benchmark variant, not what stage 06 grades: the reference verifier behind a cache of its yeses.

    Keyed by the token's SHA-256, bounded (the oldest entry goes first), and an entry lasts until the
    token expires or MAX_AGE seconds have passed, whichever comes first. Refusals are not cached, so a
    flood of bad tokens cannot fill it. The security cost is what it is for: for up to MAX_AGE seconds a
    token is not checked again, so if the issuer's key is withdrawn, that token still gets in.
    """

    MAX_ENTRIES = 1024
    MAX_AGE = 60.0

    def __init__(self, verifier) -> None:
        self.verifier = verifier
        self._entries: OrderedDict[bytes, tuple[float, object]] = OrderedDict()

    async def verify_token(self, token: str):
        digest = hashlib.sha256(token.encode()).digest()
        now = time.time()
        entry = self._entries.get(digest)
        if entry is not None:
            until, access = entry
            if now < until:
                return access
            del self._entries[digest]
        access = await self.verifier.verify_token(token)
        if access is not None:
            until = min(now + self.MAX_AGE, access.expires_at if access.expires_at is not None else now)
            if until > now:  # no expiry claim: not cached (the verifier requires one anyway)
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.popitem(last=False)
                self._entries[digest] = (until, access)
        return access


@dataclass(frozen=True)
class Guard:
    name: str
    label: str
    wrap: Callable  # (asgi app, key) -> asgi app, in the served process
    credential: Callable[[Path, str], Credential] = the_api_key  # (private folder, key), before the servers start


GUARDS = [
    Guard("none", "no guard", _no_guard),
    Guard("base-http", "BaseHTTPMiddleware (stage 01/03)", _base_http_middleware),
    Guard("pure-asgi", "pure ASGI middleware (stage 04)", _pure_asgi),
    Guard("key-store", "key store: HMAC per request, row read when a key changed (stage 05)", _key_store,
          a_stored_key),
    Guard("bearer", "bearer JWT, verified per request (stage 06)", _bearer, a_bearer_token),
    Guard("bearer-cached", "bearer JWT, verification cached (stage 06 + bench cache)", _bearer_cached,
          a_bearer_token),
]


def guard_named(name: str) -> Guard:
    for guard in GUARDS:
        if guard.name == name:
            return guard
    raise KeyError(f"no guard named {name!r}; known: {', '.join(guard.name for guard in GUARDS)}")


def build_app():
    sys.path.insert(0, str(SOLUTIONS / "04-pure-asgi"))
    import secure_weather_server  # the reference solution; reads API_KEY, fails closed without one

    return guard_named(os.environ.get("BENCH_GUARD", "none")).wrap(secure_weather_server.mcp_app,
                                                                   secure_weather_server.API_KEY)


if os.environ.get("BENCH_GUARD"):  # only when served: the benchmark itself imports GUARDS alone
    app = build_app()
