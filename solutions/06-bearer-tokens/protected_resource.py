"""Who this server is, in OAuth terms: its resource URL and its RFC 9728 metadata.

A protected MCP server is an OAuth 2.1 resource server. Clients learn three
things from it before they ask anyone for a token:

- the resource URL: the exact URL they use for the MCP endpoint. It is the RFC
  8707 resource indicator a client asks the authorization server for, and the
  audience (`aud`) every token for this server must carry;
- where the metadata document is (the `resource_metadata` in every 401);
- the metadata itself: which authorization servers issue tokens for it, which
  scopes exist, and that tokens go in the Authorization header only.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from mcp.shared.auth import ProtectedResourceMetadata

# RFC 9728 section 3.1: the well-known prefix goes in front of the resource's own path.
WELL_KNOWN = "/.well-known/oauth-protected-resource"


def canonical_url(url: str) -> str:
    """URL with its scheme and host in lower case: one spelling per resource (RFC 3986 section 6.2.2.1).

    HTTPS://Weather.Example.com/mcp and https://weather.example.com/mcp name the same
    resource; the path keeps its case (/MCP is another resource). Not a URL: unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


def public_base(scope, configured_resource: str | None, endpoint: str) -> str:
    """Scheme, host, port and reverse-proxy prefix: what every public URL of this server starts with.

    A configured resource URL (MCP_RESOURCE_URL, set behind a real proxy or load
    balancer) wins. Otherwise the URL is built from the socket the request came in
    on and the ASGI root_path, never from the Host header: a Host header is
    whatever the client typed, and a server that takes its own name from it would
    accept tokens meant for any server the client names.
    """
    if configured_resource:
        return configured_resource.removesuffix(endpoint)
    # uvicorn takes the scheme from X-Forwarded-Proto when a trusted proxy sends it: accept only these two.
    scheme = scope.get("scheme") if scope.get("scheme") in ("http", "https") else "http"
    host, port = scope["server"]
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port == default_port else f"{host}:{port}"
    return f"{scheme}://{netloc}{scope.get('root_path', '')}"


def resource_url(scope, configured_resource: str | None = None, endpoint: str = "/mcp") -> str:
    """The exact URL clients use for the MCP endpoint, e.g. http://127.0.0.1:5000/mcp."""
    return public_base(scope, configured_resource, endpoint) + endpoint


def metadata_url(scope, configured_resource: str | None = None, endpoint: str = "/mcp") -> str:
    """Where this server publishes its metadata: the well-known path for its endpoint."""
    return public_base(scope, configured_resource, endpoint) + WELL_KNOWN + endpoint


def metadata(resource: str, issuer: str, scopes: list[str]) -> dict:
    """The RFC 9728 document, built with the MCP SDK's own model of it."""
    document = ProtectedResourceMetadata(
        resource=resource,                 # must equal the URL the client used, byte for byte
        authorization_servers=[issuer],    # who issues tokens for this resource
        scopes_supported=scopes,           # what a client may ask for
        bearer_methods_supported=["header"],  # Authorization: Bearer only; never the query or a form body
        resource_name="Weather MCP server",
    )
    return document.model_dump(mode="json", exclude_none=True)
