"""Verify a JWT access token: signed by whom, for whom, and valid when.

JwtTokenVerifier implements the MCP SDK's TokenVerifier protocol
(mcp.server.auth.provider): `verify_token(token)` returns an AccessToken for a
token it trusts and None for anything else. PyJWT does the cryptography; the
verifier's job is to ask it the right questions.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import anyio.to_thread
import jwt
from mcp.server.auth.provider import AccessToken

from protected_resource import canonical_url

logger = logging.getLogger("bearer")

# The one algorithm this server accepts. The token's own header never chooses:
# a server that lets it choose can be handed "none", or an HMAC "signed" with its
# public key (which is public).
ALGORITHMS = ["RS256"]
# Clocks drift a little between the issuer and this server; a few seconds, not minutes.
LEEWAY_SECONDS = 30
# A token without these is refused, whatever else it says.
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
# RFC 9068 section 4: an access token says so in its header (typ). An ID token signed by the
# same issuer does not, and must not open this server. TOKEN_TYPES widens this, on purpose only.
ACCESS_TOKEN_TYPES = ("at+jwt",)
# Access tokens live minutes or hours. One valid for longer is a mistake or a forgery: refuse it.
MAX_LIFETIME_SECONDS = 24 * 3600
# A JWKS fetched from a URL is trusted this long, then fetched again: a key the issuer withdraws
# (after a compromise) is refused at most this long after.
KEY_SET_LIFETIME_SECONDS = 300
# RFC 6749 section 3.3: a scope is printable ASCII without space, " or \; scopes are separated by one space.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


class NotAnAccessToken(jwt.InvalidTokenError):
    """The header's typ is not at+jwt: some other JWT, an ID token perhaps (RFC 9068 section 4)."""


class MalformedClaim(jwt.InvalidTokenError):
    """A claim of the wrong type or form: refused (401), never trusted in part, never a crash (500)."""


class TooLongLived(jwt.InvalidTokenError):
    """exp lies further ahead than any access token should live (MAX_LIFETIME_SECONDS)."""


class SharedAudience(jwt.InvalidAudienceError):
    """aud names other resources too: each of them could replay the token here."""


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

    PyJWKClient keeps the set for LIFETIME seconds, then fetches it again: a key the
    issuer added is picked up, and a key it withdrew stops working. A token naming a
    key id it has not seen makes it fetch at once, at most every 30 s (so random key
    ids cannot make it hammer the issuer). Not cache_keys=True: that cache keeps every
    key it has seen until restart, withdrawn or not. It blocks, so it runs in a thread.
    """

    def __init__(self, url: str, lifetime: float = KEY_SET_LIFETIME_SECONDS) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=False, lifespan=lifetime, timeout=10)

    async def signing_key(self, kid: str | None) -> jwt.PyJWK | None:
        if not kid:
            return None
        try:
            return await anyio.to_thread.run_sync(self._client.get_signing_key, kid)
        except jwt.PyJWKClientError:
            return None


def is_access_token(header: dict, accepted: tuple[str, ...] = ACCESS_TOKEN_TYPES) -> bool:
    """Whether the header's typ is one of ACCEPTED: "at+jwt", also written "application/at+jwt", in any case."""
    typ = header.get("typ")
    return isinstance(typ, str) and typ.lower().removeprefix("application/") in accepted


def scopes_of(claims: dict) -> list[str]:
    """RFC 9068 `scope`: one string, scopes separated by the space character and nothing else.

    Entra ID calls it `scp` (a string), Okta writes `scp` as a list of strings. Anything else
    (a number, an object, a tab or a Unicode space between scopes) is a malformed token.
    """
    if "scope" in claims:
        granted = claims["scope"]
        if not isinstance(granted, str):
            raise MalformedClaim("scope is not a string")
        scopes = granted.split(" ")
    else:
        granted = claims.get("scp", "")
        if isinstance(granted, str):
            scopes = granted.split(" ")
        elif isinstance(granted, list) and all(isinstance(scope, str) for scope in granted):
            scopes = granted
        else:
            raise MalformedClaim("scp is neither a string nor a list of strings")
    scopes = [scope for scope in scopes if scope]  # "a  b" and " a" are sloppy, not malicious
    if not all(SCOPE_TOKEN.fullmatch(scope) for scope in scopes):
        raise MalformedClaim("a scope holds a character RFC 6749 does not allow")
    return scopes


def checked_times(claims: dict) -> None:
    """exp, nbf and iat are JSON numbers (RFC 7519 NumericDate), and exp is not absurdly far ahead.

    PyJWT reads "1700000000" (a string) as a number; a token written that way is refused here.
    """
    for name in ("exp", "nbf", "iat"):
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], (int, float))):
            raise MalformedClaim(f"{name} is not a number")
    if claims["exp"] - time.time() > MAX_LIFETIME_SECONDS:
        raise TooLongLived(f"exp is more than {MAX_LIFETIME_SECONDS} s away")


def text_claim(claims: dict, *names: str) -> str | None:
    """The first of NAMES present in the claims, which must be a string."""
    for name in names:
        if name in claims:
            if not isinstance(claims[name], str):
                raise MalformedClaim(f"{name} is not a string")
            return claims[name]
    return None


class JwtTokenVerifier:
    """Trust a token only if this issuer signed it with RS256 as an access token, for this audience, valid now."""

    def __init__(self, keys: KeyFile | KeyUrl, *, issuer: str, audience: str,
                 token_types: tuple[str, ...] = ACCESS_TOKEN_TYPES) -> None:
        self.keys, self.issuer, self.audience = keys, issuer, canonical_url(audience)
        self.token_types = tuple(typ.lower() for typ in token_types)

    def audiences(self, token: str) -> list[str]:
        """This server's resource URL, and each spelling of it in the token's `aud`.

        Scheme and host compare without case (the MCP specification asks servers to accept
        HTTPS://Weather.example.com/mcp for https://weather.example.com/mcp); the path exactly.
        The unverified claims only say which spellings to accept: jwt.decode then checks
        the signature, and that `aud` holds one of them.
        """
        try:
            claimed = jwt.decode(token, options={"verify_signature": False}).get("aud")
        except jwt.PyJWTError:
            return [self.audience]
        claimed = [claimed] if isinstance(claimed, str) else claimed if isinstance(claimed, list) else []
        return [self.audience, *{aud for aud in claimed if isinstance(aud, str) and aud != self.audience
                                 and canonical_url(aud) == self.audience}]

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            header = jwt.get_unverified_header(token)  # only to pick the key; nothing in it is trusted yet
            # TODO: RFC 9068 section 4: a resource server MUST refuse a JWT that does not say, in its
            #       header's typ, that it is an access token. An ID token from the same issuer is signed
            #       with the same key and may even name this server; its typ is what tells it apart.
            #       Refuse (raise NotAnAccessToken) a typ this verifier was not configured to accept;
            #       a helper in this file already knows the spellings a typ may take.
            key = await self.keys.signing_key(header.get("kid"))
            if key is None:
                logger.warning("bearer token refused: signed with a key this server does not know")
                return None
            # TODO: this only *reads* the token: anyone can write any claims into one. Have jwt.decode
            #       verify it with the key its kid picked (key.key), and check what makes it a token
            #       for this server, each with one of its keyword arguments:
            #       - the algorithm: this server's choice (ALGORITHMS), never the one the header names;
            #       - the audience: this server's resource URL, as the token may spell it
            #         (self.audiences(token)), so a token for another server is refused (RFC 8707);
            #       - the issuer this server trusts;
            #       - exp and nbf, which PyJWT checks unless told not to, with LEEWAY_SECONDS for clock drift;
            #       - that every claim in REQUIRED_CLAIMS is there at all.
            claims = jwt.decode(token, options={"verify_signature": False})
            return self.access_token(token, claims)
        except jwt.PyJWTError as error:
            # Log why, never the token itself: a log line is read by more people than a token is.
            logger.warning("bearer token refused: %s", error.__class__.__name__)
            return None

    def access_token(self, token: str, claims: dict) -> AccessToken:
        """What the SDK keeps of a verified token; a claim of the wrong kind raises MalformedClaim."""
        if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1:
            raise SharedAudience("aud names other resources too")
        checked_times(claims)
        subject = text_claim(claims, "sub")
        return AccessToken(
            token=token,
            # RFC 9068 names the client `client_id`; OpenID Connect providers say `azp`.
            client_id=text_claim(claims, "client_id", "azp") or subject,
            scopes=scopes_of(claims),
            expires_at=int(claims["exp"]) + LEEWAY_SECONDS,  # when this server stops accepting it
            resource=self.audience,
            subject=subject,
            claims=claims,  # the SDK binds sessions to (client_id, iss, sub)
        )
