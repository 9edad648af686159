"""API key authentication as a Starlette middleware.

Every request passes through ApiKeyMiddleware before it reaches a route.
Requests without the right key in the X-API-Key header get a 401 and never
reach the shopping list or the MCP tools.
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
        if not key_is_valid(request):
            return unauthorized()
        return await call_next(request)
