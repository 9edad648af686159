"""The upstream weather service: this server calls it with its own credential, UPSTREAM_TOKEN.

Challenge 3 (exploit_upstream_token.py): a credential goes only where it belongs.
"""

from __future__ import annotations

import os

import httpx

UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:7001").rstrip("/")


def same_origin(url: str, allowed: str) -> bool:
    """True when URL has exactly ALLOWED's scheme, host and port, and no user info.

    Parsed by httpx, the library that sends the request: two parsers can disagree
    about one URL (http://good@evil/ is "good" to a prefix test, evil to a client).
    """
    # TODO(fix 3): exploit this first (exploit_upstream_token.py). Every link passes today, so the
    #      caller decides where this server's credential goes. Keep the promise of the docstring.
    return True


async def fetch(url: str, token: str) -> dict:
    """GET URL from the weather service, with this server's credential."""
    # Checked before any request leaves: the credential is only ever sent to the service's origin.
    if not same_origin(url, UPSTREAM_URL):
        return {"error": "that link is not the weather service's"}
    # No redirects followed (httpx's default): a redirect is a new destination, not checked here.
    async with httpx.AsyncClient(timeout=5.0, trust_env=False, follow_redirects=False) as client:
        response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    try:
        return response.json()
    except ValueError:
        return {"status": response.status_code}
