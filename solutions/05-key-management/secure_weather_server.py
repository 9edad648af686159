"""A weather MCP server over streamable HTTP: one API key per client, from a key store.

    KEY_PEPPER=... KEYS_DB=keys.db AUDIT_LOG=audit.jsonl uvicorn secure_weather_server:app --port 5000 --no-proxy-headers

Keys are issued with `python -m keys issue --client NAME --tools get_forecast`.
The MCP endpoint is /mcp and needs the X-API-Key header; / and /health are
public. Each key may call only its own tools, failed attempts are rate-limited,
and every MCP request is written to the audit log. The weather comes from the
National Weather Service API, answered from recorded responses unless NWS_LIVE=1.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
from dotenv import load_dotenv
from mcp.server import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse

from audit import AuditLog, AuditTrail
from auth_middleware import ApiKeyAuthMiddleware
from key_store import KeyStore
from rate_limit import FailureLimiter
from tool_rights import ToolRights, current_caller
from workshop.weather import NWS_API_BASE, nws_client

# A .env file next to this one may hold KEY_PEPPER, KEYS_DB and AUDIT_LOG; real environment variables win.
load_dotenv()

# Without KEY_PEPPER the server refuses to start (fail closed): see key_store.require_pepper.
store = KeyStore.from_env()
audit = AuditLog.from_env()

# Outermost first: the audit trail sees every request, including the ones ToolRights refuses.
mcp = MCPServer("weather", log_level="WARNING", middleware=[AuditTrail(audit), ToolRights()])


async def make_nws_request(url: str) -> dict[str, Any] | None:
    """GET a NWS resource; None when it fails, so the tools can say so in words."""
    async with nws_client() as client:
        try:
            response = await client.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError):
            return None


def format_alert(feature: dict) -> str:
    props = feature["properties"]
    return (f"{props.get('event', 'Alert')} ({props.get('severity', 'unknown severity')})\n"
            f"Area: {props.get('areaDesc', 'unknown')}\n"
            f"{props.get('headline', '')}\n"
            f"Instructions: {props.get('instruction') or 'none given'}")


@mcp.tool()
async def get_alerts(state: str) -> str:
    """Get active weather alerts for a US state.

    Args:
        state: Two-letter US state code, e.g. CA, NY, WA, TX.
    """
    code = state.strip().upper()
    if len(code) != 2 or not code.isalpha():
        return f"{state!r} is not a two-letter US state code (try CA, NY, WA or TX)."
    data = await make_nws_request(f"{NWS_API_BASE}/alerts/active/area/{code}")
    if not data or "features" not in data:
        return f"Unable to fetch alerts for {code}."
    if not data["features"]:
        return f"No active alerts for {code}."
    return "\n---\n".join(format_alert(feature) for feature in data["features"])


@mcp.tool()
async def get_forecast(latitude: float, longitude: float) -> str:
    """Get the weather forecast for a location in the US.

    Args:
        latitude: Latitude of the location, e.g. 40.7128.
        longitude: Longitude of the location, e.g. -74.0060.
    """
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return f"({latitude}, {longitude}) is not a valid latitude and longitude."
    points = await make_nws_request(f"{NWS_API_BASE}/points/{latitude:.4f},{longitude:.4f}")
    if not points:
        return f"Unable to fetch forecast data for ({latitude}, {longitude}); the NWS covers the US only."
    try:
        forecast_url = points["properties"]["forecast"]
    except KeyError:
        return "Unable to find the forecast for this location."
    forecast = await make_nws_request(forecast_url)
    if not forecast:
        return "Unable to fetch the detailed forecast."
    periods = forecast["properties"]["periods"][:5]
    return "\n---\n".join(
        f"{p['name']}: {p['temperature']}°{p['temperatureUnit']}, wind {p['windSpeed']} {p['windDirection']}. "
        f"{p['detailedForecast']}"
        for p in periods
    )


@mcp.tool()
async def whoami() -> str:
    """Tell who is calling: the client name and key id of the API key this request carries."""
    caller = current_caller.get()
    return json.dumps({"client": caller.client, "key_id": caller.key_id} if caller else {"client": None})


# Public routes, for people and load balancers: no key needed, nothing secret.
@mcp.custom_route("/", methods=["GET"])
async def root(request: Request) -> JSONResponse:
    return JSONResponse({
        "name": "Secure Weather MCP Server",
        "mcp_endpoint": "/mcp",
        "authentication": "X-API-Key header required on /mcp",
        "tools": ["get_alerts", "get_forecast", "whoami"],
    })


@mcp.custom_route("/health", methods=["GET"])
async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "healthy"})


# The MCP app serves /mcp (and, through custom_route, / and /health). Its
# lifespan starts the session manager, so the middleware must let lifespan through.
mcp_app = mcp.streamable_http_app()

# Wrap the whole app: /mcp needs a key from the store, / and /health stay public.
app = ApiKeyAuthMiddleware(mcp_app, store=store, limiter=FailureLimiter.from_env(), audit=audit,
                           protected_paths=["/mcp"])


if __name__ == "__main__":
    import uvicorn

    port = int(os.environ.get("PORT", "5000"))
    # Loopback only. Nothing here prints a key or the pepper: logs are read by more people than keys are.
    print(f"Secure weather MCP server on http://127.0.0.1:{port}/mcp (X-API-Key required; / and /health public)")
    # The client address is the TCP peer: X-Forwarded-For is believed only from the proxies named in
    # FORWARDED_ALLOW_IPS (a proxy you run), never by default, or anyone picks their own address.
    uvicorn.run(app, host="127.0.0.1", port=port, proxy_headers=bool(os.environ.get("FORWARDED_ALLOW_IPS")))
