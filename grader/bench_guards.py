"""The app the guard benchmark serves: stage 04's weather server, behind one guard chosen by name.

    BENCH_GUARD=pure-asgi API_KEY=... uvicorn grader.bench_guards:app

Every row of the benchmark serves the same app (the reference solution of stage
04: a plain GET /health, and MCP tools over streamable HTTP at /mcp); the only
thing that changes between rows is the guard around it. Each guard protects
every path, so the plain endpoint pays for the guard too.

Adding a guard is one line in GUARDS: a name, what it is, and a function that
wraps the app (imports go inside it, so the benchmark reads this list without
loading any web framework).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from grader.stages import SOLUTIONS


@dataclass(frozen=True)
class Guard:
    name: str
    label: str
    wrap: Callable  # (asgi app, key) -> asgi app


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


GUARDS = [
    Guard("none", "no guard", _no_guard),
    Guard("base-http", "BaseHTTPMiddleware (stage 01/03)", _base_http_middleware),
    Guard("pure-asgi", "pure ASGI middleware (stage 04)", _pure_asgi),
    # When stage 05 (key store) and stage 06 (token verifier) are on main, one line each:
    # Guard("key-store", "key store, hash checked per request (stage 05)", _key_store),
    # Guard("key-store-cached", "key store with a cache (stage 05)", _key_store_cached),
    # Guard("bearer", "bearer token, signature checked per request (stage 06)", _token_verifier),
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
