"""A local token issuer for the workshop: an RS256 key pair and signed access tokens, offline.

In production an identity provider (Entra ID, Auth0, Keycloak, ...) holds the
private key and issues the tokens; the MCP server only ever sees the public
keys. Here this file plays the identity provider. At the top of the workshop:

    make token                                  # a token for alice (creates the key pair the first time)
    make token SUB=bob SCOPES="weather:read" TTL=60
    export ACCESS_TOKEN=$(make -s token SCOPES="weather:read forecast:read")

or in this folder, with the workshop's Python (it has PyJWT; the system's may not):

    ../../.venv/bin/python -m tokens keys       # .keys/private.pem (secret) and .keys/jwks.json (public)
    ../../.venv/bin/python -m tokens mint --sub bob --scope weather:read --ttl 60 --aud http://127.0.0.1:5000/mcp

`mint` prints the token and nothing else, so it can go straight into a variable.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import uuid
from pathlib import Path

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ModuleNotFoundError as missing:  # a Python outside the workshop's .venv
    sys.exit(f"No module named {missing.name!r}: run this with the workshop's Python, `make token` at the top "
             "of the workshop, or `../../.venv/bin/python -m tokens ...` in this folder.")

HERE = Path(__file__).parent


def keys_folder() -> Path:
    """.keys/ at the top of the workshop: one local issuer for exercises/ and solutions/, never committed."""
    for folder in HERE.parents:
        if (folder / "stages.toml").is_file():
            return folder / ".keys"
    return HERE / ".keys"


KEYS = keys_folder()
DEFAULT_ISSUER = "https://issuer.workshop.invalid"
DEFAULT_AUDIENCE = "http://127.0.0.1:5000/mcp"


def thumbprint(jwk: dict) -> str:
    """RFC 7638: a key id computed from the key itself (its required members, in order, hashed)."""
    canonical = json.dumps({name: jwk[name] for name in ("e", "kty", "n")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def new_key_pair(folder: Path = KEYS) -> str:
    """Write a fresh RSA key pair: the private key as PEM (owner-only), the public key as a JWKS. Returns its kid."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    kid = thumbprint(public_jwk)
    public_jwk.update(kid=kid, use="sig", alg="RS256")
    folder.mkdir(parents=True, exist_ok=True)
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    private_file = folder / "private.pem"
    private_file.touch(mode=0o600)
    private_file.write_bytes(pem)
    (folder / "kid").write_text(kid)
    (folder / "jwks.json").write_text(json.dumps({"keys": [public_jwk]}, indent=2) + "\n")
    return kid


def mint(*, subject: str, scopes: list[str], audience: str, issuer: str = DEFAULT_ISSUER, ttl: int = 600,
         not_before: int = 0, client_id: str = "workshop-cli", folder: Path = KEYS) -> str:
    """An RS256 access token (RFC 9068 claims) signed with the local private key."""
    if not (folder / "private.pem").is_file():
        new_key_pair(folder)
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,  # RFC 8707: the one resource this token is for
        "client_id": client_id,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now + not_before,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    headers = {"kid": (folder / "kid").read_text().strip(), "typ": "at+jwt"}
    return jwt.encode(claims, (folder / "private.pem").read_bytes(), algorithm="RS256", headers=headers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tokens", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("keys", help="create the local issuer's key pair (keeps an existing one)")
    keys.add_argument("--force", action="store_true", help="replace an existing key pair (old tokens stop working)")
    minting = commands.add_parser("mint", help="print a signed access token")
    minting.add_argument("--sub", default="alice", help="subject: who the token speaks for (default alice)")
    minting.add_argument("--scope", action="append", default=[],
                         help='scopes, space-separated or repeated (default "weather:read forecast:read alerts:read")')
    minting.add_argument("--aud", default=os.environ.get("MCP_RESOURCE_URL", DEFAULT_AUDIENCE),
                         help=f"audience: the resource URL of the MCP server (default {DEFAULT_AUDIENCE})")
    minting.add_argument("--iss", default=os.environ.get("TOKEN_ISSUER", DEFAULT_ISSUER), help="issuer")
    minting.add_argument("--ttl", type=int, default=600, help="lifetime in seconds (default 600)")
    minting.add_argument("--not-before", type=int, default=0, help="seconds from now until it becomes valid")
    options = parser.parse_args(argv)

    if options.command == "keys":
        if (KEYS / "private.pem").is_file() and not options.force:
            print(f"{KEYS}/ already holds a key pair (use --force to replace it)", file=sys.stderr)
            return 0
        kid = new_key_pair()
        print(f"wrote {KEYS}/private.pem (keep it secret) and {KEYS}/jwks.json (public), kid {kid}",
              file=sys.stderr)
        return 0
    scopes = [scope for given in options.scope for scope in given.split()] or \
        ["weather:read", "forecast:read", "alerts:read"]
    print(mint(subject=options.sub, scopes=scopes, audience=options.aud, issuer=options.iss, ttl=options.ttl,
               not_before=options.not_before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
