"""API key authentication as a Starlette middleware.

Every request passes through ApiKeyMiddleware before it reaches a route.
Requests without the right key in the X-API-Key header get a 401 and never
reach the shopping list or the MCP tools.
"""

# TODO: this is the guard as the source lesson wrote it: register it in main.py
#       first, then harden it (the three TODOs below); `make grade` shows which
#       probe each weakness fails.

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
    """The key clients must present, from the environment."""
    # TODO (harden 1): this falls back to a key printed in a tutorial. What should a
    #       server do when nobody configured a key (unset, empty, only spaces)?
    return os.environ.get("API_KEY", "super_secret_value")


API_KEY = load_api_key()


def key_is_valid(request: Request) -> bool:
    """Whether the request carries the key."""
    # TODO (harden 2): this reads one copy of the header and compares text with ==.
    #       What if the header comes twice? What does == leak, and what does a
    #       str comparison do with bytes that are not ASCII?
    return request.headers.get(HEADER) == API_KEY


def unauthorized() -> JSONResponse:
    # TODO (harden 3): a 401 must tell the client how to authenticate (RFC 9110).
    return JSONResponse({"detail": "Invalid or missing API key"}, status_code=401)


class ApiKeyMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        if not key_is_valid(request):
            return unauthorized()
        return await call_next(request)
