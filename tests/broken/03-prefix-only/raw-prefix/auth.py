"""API key authentication for the MCP endpoints only.

Requests to /mcp and everything below it need the key; the rest of the app
(/items/, /docs) stays public.
"""

import hmac

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

# The secret clients must present. A key written in source code is a teaching
# shortcut: stage 04 reads it from the environment instead.
API_KEY = "super_secret_value"

# The header that carries the key. HTTP header names are case-insensitive:
# x-api-key and X-API-KEY name the same header.
HEADER = "X-API-Key"

# Where main.py mounts the MCP server. Change both together.
MCP_PREFIX = "/mcp"


def route_path(request: Request) -> str:
    """The path the app routes on.

    Behind a reverse proxy (uvicorn --root-path /api) scope["path"] is the full
    path, root path included: "/api/mcp/sse". Routing strips the root path
    before it matches the mount, so the check must strip it too, or "/api/mcp/sse"
    looks public while it still reaches the MCP server.
    """
    path, root = request.scope["path"], request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path or "/"


def needs_key(request: Request) -> bool:
    """/mcp itself and every path below it; not /mcpfoo, which is another route."""
    return request.url.path.startswith(MCP_PREFIX)


def key_is_valid(request: Request) -> bool:
    """True only for exactly one X-API-Key header whose value is the key."""
    presented = request.headers.getlist(HEADER)
    if len(presented) != 1 or not API_KEY:
        # No header, a repeated header (which copy would we trust?), or no
        # key configured at all: fail closed.
        return False
    # Compare bytes in constant time. Starlette decodes header values as
    # latin-1, so encoding back gives the exact bytes the client sent.
    return hmac.compare_digest(presented[0].encode("latin-1"), API_KEY.encode())


def unauthorized() -> JSONResponse:
    # RFC 9110: a 401 must say how to authenticate, in WWW-Authenticate.
    return JSONResponse(
        {"detail": "Invalid or missing API key"},
        status_code=401,
        headers={"WWW-Authenticate": f'ApiKey header="{HEADER}"'},
    )


class ApiKeyMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        # Every method counts: HEAD, OPTIONS or PUT to /mcp must not slip through.
        if needs_key(request) and not key_is_valid(request):
            return unauthorized()
        return await call_next(request)
