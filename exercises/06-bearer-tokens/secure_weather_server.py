"""The weather MCP server as an OAuth 2.1 resource server: bearer tokens instead of an API key.

    make token                                 # once, at the top: a local issuer's key pair (.keys/)
    make serve STAGE=06                        # or, in this folder: ../../.venv/bin/python -m uvicorn secure_weather_server:app --port 5000

Configuration (environment variables; a .env file next to this one works too):

    TOKEN_ISSUER      the issuer whose tokens this server trusts (the `iss` claim)
    JWKS_FILE         a local JWKS file with the issuer's public keys (default: the local issuer's)
    JWKS_URL          or the issuer's jwks_uri, for a real identity provider
    MCP_RESOURCE_URL  the public URL of /mcp when it differs from what the socket says
                      (behind a load balancer); the audience every token must carry
    TOKEN_AUDIENCE    only for providers that put something else in `aud` (Entra ID v2
                      tokens carry the API's client id): the audience to expect instead
    TOKEN_TYPES       the header `typ` values accepted as access tokens (default at+jwt, RFC 9068);
                      widen it only for an issuer that cannot set at+jwt, and say so where you deploy
    JWKS_CACHE_SECONDS  how long keys from JWKS_URL are trusted before they are fetched again
                      (default 300): how long a withdrawn key may still work

The MCP endpoint is /mcp. / and /health are public, and so is the protected
resource metadata at /.well-known/oauth-protected-resource/mcp.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx
from dotenv import load_dotenv
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from starlette.requests import Request
from starlette.responses import JSONResponse

from bearer_auth import BearerAuthMiddleware
from protected_resource import WELL_KNOWN, canonical_url, metadata, resource_url
from token_verifier import ACCESS_TOKEN_TYPES, KEY_SET_LIFETIME_SECONDS, JwtTokenVerifier, KeyFile, KeyUrl
from tokens import DEFAULT_ISSUER, KEYS as LOCAL_ISSUER_KEYS  # the local issuer of `python -m tokens`
from workshop.weather import NWS_API_BASE, nws_client

load_dotenv()


# Scopes: one to use the server at all, one more per kind of data.
REQUIRED_SCOPES = ["weather:read"]
TOOL_SCOPES = {
    "get_alerts": ["weather:read", "alerts:read"],
    "get_forecast": ["weather:read", "forecast:read"],
    "whoami": ["weather:read"],
}
# What the metadata publishes: the minimal set to start with. A client asks for more when a
# tool's 403 names it (step-up); publishing every scope invites clients to ask for all of them.
SCOPES_SUPPORTED = REQUIRED_SCOPES


def load_keys() -> KeyFile | KeyUrl:
    """The issuer's public keys. Without any, refuse to start: fail closed."""
    if url := os.environ.get("JWKS_URL", "").strip():
        return KeyUrl(url, lifetime=float(os.environ.get("JWKS_CACHE_SECONDS", "").strip()
                                          or KEY_SET_LIFETIME_SECONDS))
    path = Path(os.environ.get("JWKS_FILE", "").strip() or LOCAL_ISSUER_KEYS / "jwks.json")
    try:
        return KeyFile(path)
    except (OSError, ValueError) as error:
        sys.exit(f"No public keys to verify tokens with ({error}).\n"
                 "Create a local issuer with `make token` at the top of the workshop, or set JWKS_FILE "
                 "or JWKS_URL to your identity provider's keys.")


KEYS = load_keys()
ISSUER = os.environ.get("TOKEN_ISSUER", "").strip() or DEFAULT_ISSUER
CONFIGURED_RESOURCE = canonical_url(os.environ.get("MCP_RESOURCE_URL", "").strip()) or None
AUDIENCE_OVERRIDE = os.environ.get("TOKEN_AUDIENCE", "").strip() or None
TOKEN_TYPES = tuple(os.environ.get("TOKEN_TYPES", "").split()) or ACCESS_TOKEN_TYPES
if TOKEN_TYPES != ACCESS_TOKEN_TYPES:  # a deliberate exception to RFC 9068: say so on every start
    print(f"TOKEN_TYPES: JWTs with typ {' or '.join(TOKEN_TYPES)} are accepted as access tokens", file=sys.stderr)

mcp = MCPServer("weather", log_level="WARNING")


async def make_nws_request(url: str) -> dict[str, Any] | None:
    """GET a NWS resource; None when it fails, so the tools can say so in words.

    The client's access token is not sent along: it was issued for this server
    (its audience), and the NWS is not this server. No token passthrough.
    """
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
async def whoami() -> dict:
    """Who is calling: the subject, client and scopes of the caller's access token."""
    token = get_access_token()  # set by the middleware for this very request
    if token is None:
        return {"subject": None}
    return {"subject": token.subject, "client_id": token.client_id, "scopes": sorted(token.scopes)}


# Public routes: for people, load balancers, and clients that look for the way in.
@mcp.custom_route("/", methods=["GET"])
async def root(request: Request) -> JSONResponse:
    return JSONResponse({
        "name": "Secure Weather MCP Server",
        "mcp_endpoint": "/mcp",
        "authentication": "OAuth 2.1 bearer token in the Authorization header",
        "tools": sorted(TOOL_SCOPES),
    })


@mcp.custom_route("/health", methods=["GET"])
async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "healthy"})


@mcp.custom_route(WELL_KNOWN + "/mcp", methods=["GET"])
async def protected_resource_metadata(request: Request) -> JSONResponse:
    """RFC 9728: who issues tokens for /mcp, for which resource URL, with which scopes."""
    resource = resource_url(request.scope, CONFIGURED_RESOURCE)
    return JSONResponse(metadata(resource, ISSUER, SCOPES_SUPPORTED))


def verifier_for(audience: str) -> JwtTokenVerifier:
    """A verifier that accepts only tokens issued for AUDIENCE, this server's resource URL."""
    return JwtTokenVerifier(KEYS, issuer=ISSUER, audience=AUDIENCE_OVERRIDE or audience, token_types=TOKEN_TYPES)


mcp_app = mcp.streamable_http_app()

# The SDK's AuthContextMiddleware makes get_access_token() work inside tools; the
# bearer middleware in front of it decides who gets that far.
app = BearerAuthMiddleware(
    AuthContextMiddleware(mcp_app),
    verifier_for=verifier_for,
    required_scopes=REQUIRED_SCOPES,
    tool_scopes=TOOL_SCOPES,
    protected_paths=["/mcp"],
    resource=CONFIGURED_RESOURCE,
)


if __name__ == "__main__":
    import uvicorn

    port = int(os.environ.get("PORT", "5000"))
    print(f"Secure weather MCP server on http://127.0.0.1:{port}/mcp (Authorization: Bearer required)")
    uvicorn.run(app, host="127.0.0.1", port=port)
