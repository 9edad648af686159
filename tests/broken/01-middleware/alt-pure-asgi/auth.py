"""A correct alternative: a pure ASGI middleware instead of BaseHTTPMiddleware, the key from os.environ."""

import hmac
import os

from starlette.responses import JSONResponse

API_KEY = os.environ["API_KEY"].strip()  # no key: a KeyError at import, so the server never starts
if not API_KEY:
    raise SystemExit("set API_KEY")
HEADER = "X-API-Key"


class ApiKeyMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        values = [value for name, value in scope["headers"] if name == HEADER.lower().encode()]
        if len(values) == 1 and hmac.compare_digest(values[0], API_KEY.encode()):
            return await self.app(scope, receive, send)
        response = JSONResponse({"detail": "Unauthorized"}, status_code=401,
                                headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})
        await response(scope, receive, send)
