"""API key authentication for the MCP endpoints only.

Requests to /mcp and everything below it need the key; the rest of the app
(/items/, /docs) stays public.
"""

import hmac
import os
import sys

from dotenv import load_dotenv
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

# A .env file in the folder you start the server from may hold API_KEY=...;
# a real environment variable wins over it.
load_dotenv()

# The header that carries the key. HTTP header names are case-insensitive:
# x-api-key and X-API-KEY name the same header.
HEADER = "X-API-Key"


def load_api_key() -> str:
    """The key clients must present, from the environment; no key, no server."""
    key = os.environ.get("API_KEY", "").strip()
    if not key:
        # Fail closed: a default key would be a key everyone who read this file knows.
        sys.exit("API_KEY is not set: export API_KEY=<a long random key> (or put it in .env) and start again.")
    return key


API_KEY = load_api_key()

# TODO: where main.py mounts the MCP server, as a constant (change both together).


def needs_key(request: Request) -> bool:
    """Whether this request must carry the key."""
    # TODO: /mcp itself and every path below it, for every HTTP method; nothing else.
    #       Mind the reverse-proxy trap: behind `uvicorn --root-path /api`, the path
    #       the request carries starts with that root path, while routing matches
    #       what follows it (lesson 03 shows both).
    return False


def key_is_valid(request: Request) -> bool:
    """True only for exactly one X-API-Key header whose value is the key."""
    presented = request.headers.getlist(HEADER)
    if len(presented) != 1:
        # No header, or a repeated one: which copy would we trust? Refuse both.
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
