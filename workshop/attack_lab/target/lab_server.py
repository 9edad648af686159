"""The attack lab's server: a team's weather-and-reports MCP service, with three holes to find.

    API_KEY=... uvicorn lab_server:app --port 7000      (or: make serve STAGE=07)

It serves MCP twice, over both transports the workshop uses: streamable HTTP at
/mcp, and HTTP+SSE at /sse (its messages go to /messages/). Both need a key in the
X-API-Key header; / and /health are public. Two people use it: you (API_KEY) and
the team's admin (ADMIN_KEY). Behind each hole waits a flag, a secret this process
takes out of its environment at start (see workshop/attack_lab/lab_secrets.py):

    read_vault      the admin's vault        LAB_FLAG_VAULT   (access.py)
    read_report     the admin's report       LAB_FLAG_REPORT  (reports.py)
    get_forecast    the upstream credential  UPSTREAM_TOKEN   (upstream.py)

This file is the same in the starter and the solution: the holes are in the
three files it imports. Read it to see what they are trusted with.
"""

from __future__ import annotations

import json
import os
import sys

from dotenv import load_dotenv
from mcp.server import MCPServer
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context
from starlette.requests import Request
from starlette.responses import JSONResponse

import access
import upstream
from reports import ReportStore
from workshop.attack_lab.lab_secrets import hide_this_process, take

load_dotenv()  # a .env next to this file may hold API_KEY=...; real environment variables win
hide_this_process()


def require_api_key() -> str:
    key = os.environ.get("API_KEY", "").strip()
    if not key:
        sys.exit("API_KEY is not set: export API_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return key


KEYS = access.key_table(api_key=require_api_key(), admin_key=take("ADMIN_KEY"))
VAULT = take("LAB_FLAG_VAULT")
UPSTREAM_TOKEN = take("UPSTREAM_TOKEN")

reports = ReportStore()
reports.create(owner="admin", title="Incident review",
               body=f"Root cause and the new break-glass code: {take('LAB_FLAG_REPORT')}")

mcp = MCPServer("attack-lab", log_level="WARNING")


def caller(ctx: Context) -> str:
    """Who sent this MCP request: the principal the guard below put on the HTTP request."""
    user = ctx.request_context.request.scope.get("user")
    if not isinstance(user, AuthenticatedUser):
        raise PermissionError("no authenticated caller")  # fail closed: nothing got past the guard
    return user.access_token.subject or ""


@mcp.tool()
async def whoami(ctx: Context) -> str:
    """Tell who is calling."""
    return json.dumps({"principal": caller(ctx)})


@mcp.tool()
async def read_vault(ctx: Context) -> str:
    """The admin's vault. Only the admin may read it."""
    if caller(ctx) != "admin":
        return "Only the admin may read the vault."
    return f"The vault holds: {VAULT}"


@mcp.tool()
async def new_report(title: str, body: str, ctx: Context) -> str:
    """Write a report; the answer is its handle, to read it with read_report."""
    return reports.create(owner=caller(ctx), title=title, body=body).handle


@mcp.tool()
async def my_reports(ctx: Context) -> str:
    """The handles of the reports you wrote."""
    return json.dumps(reports.handles_of(caller(ctx)))


@mcp.tool()
async def read_report(handle: str, ctx: Context) -> str:
    """Read a report by its handle."""
    report = reports.read(handle, caller=caller(ctx))
    if report is None:
        return f"There is no report {handle!r}."
    return json.dumps({"title": report.title, "body": report.body})


@mcp.tool()
async def list_forecasts() -> str:
    """The forecast links the weather service offers (follow one with get_forecast)."""
    return json.dumps(await upstream.fetch(upstream.UPSTREAM_URL + "/forecasts", UPSTREAM_TOKEN))


@mcp.tool()
async def get_forecast(forecast_url: str) -> str:
    """Follow a forecast link of the weather service, as list_forecasts gives them."""
    return json.dumps(await upstream.fetch(forecast_url, UPSTREAM_TOKEN))


@mcp.custom_route("/", methods=["GET"])
async def root(request: Request) -> JSONResponse:
    return JSONResponse({"name": "Attack lab MCP server", "mcp_endpoints": ["/mcp", "/sse"],
                         "authentication": "X-API-Key header", **access.PUBLIC_HELP})


@mcp.custom_route("/health", methods=["GET"])
async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "healthy"})


class KeyGuard:
    """Pure ASGI: every path below needs a key; the principal goes where the SDK binds sessions."""

    PROTECTED = ("/mcp", "/sse", "/messages")

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        if route.startswith(self.PROTECTED):
            presented = [value for name, value in scope["headers"] if name == b"x-api-key"]
            who = access.principal_for(presented[0], KEYS) if len(presented) == 1 else None
            if who is None:
                return await JSONResponse({"error": "a valid X-API-Key header is required"}, status_code=401,
                                          headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})(
                    scope, receive, send)
            scope = {**scope, "user": AuthenticatedUser(AccessToken(token=who, client_id=who, scopes=[],
                                                                    subject=who))}
        await self.app(scope, receive, send)


# Both transports on one app: streamable HTTP (its lifespan runs the session manager), then HTTP+SSE.
mcp_app = mcp.streamable_http_app()
mcp_app.router.routes.extend(mcp.sse_app().routes)
app = KeyGuard(mcp_app)
