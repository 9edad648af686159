"""Verify a JWT access token: signed by whom, for whom, and valid when.

JwtTokenVerifier implements the MCP SDK's TokenVerifier protocol
(mcp.server.auth.provider): `verify_token(token)` returns an AccessToken for a
token it trusts and None for anything else. PyJWT does the cryptography; the
verifier's job is to ask it the right questions.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anyio.to_thread
import jwt
from mcp.server.auth.provider import AccessToken

logger = logging.getLogger("bearer")

# The one algorithm this server accepts. The token's own header never chooses:
# a server that lets it choose can be handed "none", or an HMAC "signed" with its
# public key (which is public).
ALGORITHMS = ["RS256"]
# Clocks drift a little between the issuer and this server; a few seconds, not minutes.
LEEWAY_SECONDS = 30
# A token without these is refused, whatever else it says.
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


class KeyFile:
    """The issuer's public keys, read once from a local JWKS file (JWKS_FILE)."""

    def __init__(self, path: str | Path) -> None:
        keys = jwt.PyJWKSet.from_dict(json.loads(Path(path).read_text()))
        self._by_kid = {key.key_id: key for key in keys.keys if key.key_type == "RSA"}
        if not self._by_kid:
            raise ValueError(f"{path} holds no RSA public key")

    async def signing_key(self, kid: str | None) -> jwt.PyJWK | None:
        return self._by_kid.get(kid)


class KeyUrl:
    """The issuer's public keys from its jwks_uri (JWKS_URL): what a real identity provider publishes.

    PyJWKClient caches the set and fetches it again when a token names a key id it
    has not seen (the issuer rotated its keys). It blocks, so it runs in a thread.
    """

    def __init__(self, url: str) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=10)

    async def signing_key(self, kid: str | None) -> jwt.PyJWK | None:
        if not kid:
            return None
        try:
            return await anyio.to_thread.run_sync(self._client.get_signing_key, kid)
        except jwt.PyJWKClientError:
            return None


def scopes_of(claims: dict) -> list[str]:
    """RFC 9068 `scope` (a space-separated string); Entra ID calls it `scp`."""
    granted = claims.get("scope", claims.get("scp", ""))
    return granted.split() if isinstance(granted, str) else [str(scope) for scope in granted]


class JwtTokenVerifier:
    """Trust a token only if this issuer signed it with RS256, for this audience, and it is valid now."""

    def __init__(self, keys: KeyFile | KeyUrl, *, issuer: str, audience: str) -> None:
        self.keys, self.issuer, self.audience = keys, issuer, audience

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            header = jwt.get_unverified_header(token)  # only to pick the key; nothing in it is trusted yet
            key = await self.keys.signing_key(header.get("kid"))
            if key is None:
                logger.warning("bearer token refused: signed with a key this server does not know")
                return None
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,  # pinned: RS256 and nothing else
                audience=self.audience,  # RFC 8707: issued for this server, not a sibling
                issuer=self.issuer,  # by the issuer this server trusts
                leeway=LEEWAY_SECONDS,  # exp and nbf are checked by default, with a little slack
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as error:
            # Log why, never the token itself: a log line is read by more people than a token is.
            logger.warning("bearer token refused: %s", error.__class__.__name__)
            return None
        return AccessToken(
            token=token,
            # RFC 9068 names the client `client_id`; OpenID Connect providers say `azp`.
            client_id=str(claims.get("client_id") or claims.get("azp") or claims["sub"]),
            scopes=scopes_of(claims),
            expires_at=int(claims["exp"]),
            resource=self.audience,
            subject=str(claims["sub"]),
            claims=claims,  # the SDK binds sessions to (client_id, iss, sub)
        )
