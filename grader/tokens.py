"""The grader's own token issuer (stage 06 on): a fresh RS256 key pair per run, and every bad token.

The servers under test trust this issuer through the environment the stage's
prepare hook (stages.toml) gives them (JWKS_FILE, TOKEN_ISSUER); the checks mint tokens with
the private key, which never leaves the grader's run folder. Nothing here is
fixed in advance: the issuer URL, the key and the subjects are new every run.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from grader.harness import run_dir

_LOCK = threading.Lock()
_ISSUERS: dict[Path, "Issuer"] = {}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issuer:
    """One run's identity provider: its URL, its key pair, and what it publishes (a JWKS file)."""

    url: str
    kid: str
    private_key: rsa.RSAPrivateKey
    folder: Path
    _stranger: rsa.RSAPrivateKey | None = None
    _certificate: x509.Certificate | None = None  # the stranger's, self-signed in the issuer's name
    _published: dict[str, str] = field(default_factory=dict)  # kid -> URL of a JWKS the stranger serves

    @classmethod
    def for_run(cls) -> "Issuer":
        """The run's issuer, created (and its JWKS written) the first time anyone asks."""
        folder = run_dir() / "token-issuer"
        with _LOCK:
            if folder not in _ISSUERS:
                folder.mkdir(parents=True, exist_ok=True)
                issuer = cls(url=f"https://issuer-{secrets.token_hex(4)}.grader.invalid", kid=secrets.token_hex(8),
                             private_key=new_private_key(), folder=folder)
                public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.private_key.public_key()))
                public.update(kid=issuer.kid, use="sig", alg="RS256")
                issuer.jwks_file.write_text(json.dumps({"keys": [public]}))
                _ISSUERS[folder] = issuer
            return _ISSUERS[folder]

    @property
    def jwks_file(self) -> Path:
        return self.folder / "jwks.json"

    @property
    def public_pem(self) -> bytes:
        """The public key as PEM: public, so anyone (an attacker included) has exactly these bytes."""
        return self.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)

    def claims(self, *, subject: str, scopes: list[str], audience: str | list[str], lifetime: int = 300,
               not_before: int = 0, issuer: str | None = None, omit: tuple[str, ...] = ()) -> dict:
        now = int(time.time())
        claims = {"iss": issuer or self.url, "sub": subject, "aud": audience, "client_id": "grader",
                  "scope": " ".join(scopes), "iat": now, "nbf": now + not_before, "exp": now + lifetime,
                  "jti": secrets.token_hex(8)}
        return {name: value for name, value in claims.items() if name not in omit}

    def sign(self, claims: dict, *, algorithm: str = "RS256", key: rsa.RSAPrivateKey | None = None,
             kid: str | None = None, typ: str | None = "at+jwt", header: dict | None = None) -> str:
        """Signed with the run's key (or KEY), as ALGORITHM: RS256, or another RSA algorithm.

        TYP is the header's token type: at+jwt marks an access token (RFC 9068); None leaves it out.
        HEADER adds fields to the header (a jwk, a jku): what a forger writes there.
        """
        # A typ of None leaves it out: PyJWT writes "JWT" unless told otherwise.
        return jwt.encode(claims, key or self.private_key, algorithm=algorithm,
                          headers={"kid": kid or self.kid, "typ": typ, **(header or {})})

    def mint(self, **claims) -> str:
        return self.sign(self.claims(**claims))

    @property
    def stranger(self) -> rsa.RSAPrivateKey:
        """A key pair nobody trusts: the forger's."""
        if self._stranger is None:
            self._stranger = new_private_key()
        return self._stranger

    def signed_by_a_stranger(self, claims: dict, *, kid: str | None = None, header: dict | None = None) -> str:
        """Signed by a key nobody trusts, under KID (the trusted key's kid unless told), with HEADER fields."""
        return self.sign(claims, key=self.stranger, kid=kid, header=header)

    def stranger_jwk(self, kid: str) -> dict:
        """The stranger's public key as a JWK under KID: what a forger embeds in a token's header."""
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.stranger.public_key()))
        return {**public, "kid": kid, "use": "sig", "alg": "RS256"}

    def stranger_jwks_url(self, kid: str) -> str:
        """A loopback URL serving the stranger's JWKS under KID: what a forger names in a jku header."""
        with _LOCK:
            if kid not in self._published:
                self._published[kid] = _serve_json({"keys": [self.stranger_jwk(kid)]})
            return self._published[kid]

    @property
    def stranger_certificate(self) -> x509.Certificate:
        """The stranger's public key in a certificate it signed itself, naming the trusted issuer's host."""
        with _LOCK:
            if self._certificate is None:
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.url.removeprefix("https://"))])
                now = datetime.datetime.now(datetime.timezone.utc)
                self._certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                                     .public_key(self.stranger.public_key()).serial_number(x509.random_serial_number())
                                     .not_valid_before(now - datetime.timedelta(days=1))
                                     .not_valid_after(now + datetime.timedelta(days=1))
                                     .sign(self.stranger, hashes.SHA256()))
            return self._certificate

    def stranger_x5c(self) -> list[str]:
        """The stranger's certificate chain as an x5c header carries it (RFC 7515: base64 DER, not base64url)."""
        der = self.stranger_certificate.public_bytes(serialization.Encoding.DER)
        return [base64.b64encode(der).decode()]

    def stranger_x5u(self) -> str:
        """A loopback URL serving the stranger's certificate as PEM: what a forger names in an x5u header."""
        pem = self.stranger_certificate.public_bytes(serialization.Encoding.PEM)
        with _LOCK:
            if "x5u" not in self._published:
                self._published["x5u"] = _serve(pem, "application/pem-certificate-chain", "cert.pem")
            return self._published["x5u"]

    def unsigned(self, claims: dict) -> str:
        """alg "none": no signature at all."""
        return self._by_hand({"alg": "none", "typ": "at+jwt", "kid": self.kid}, claims, lambda data: b"")

    def hmac_with_the_public_key(self, claims: dict) -> str:
        """Algorithm confusion: HS256 "signed" with the server's public key (PEM) as the shared secret.

        A verifier that lets the header pick the algorithm and hands the same key
        material to HMAC accepts it. PyJWT refuses to sign with a PEM key as an HMAC
        secret, so the token is put together by hand.
        """
        secret = self.public_pem
        return self._by_hand({"alg": "HS256", "typ": "at+jwt", "kid": self.kid}, claims,
                             lambda data: hmac.new(secret, data, hashlib.sha256).digest())

    @staticmethod
    def _by_hand(header: dict, claims: dict, signature) -> str:
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        return f"{signing_input}.{_b64(signature(signing_input.encode()))}"


def public_jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict:
    """The public half of PRIVATE_KEY as a JWK under KID, as an identity provider publishes it."""
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


class KeySet:
    """A JWKS served on a loopback port whose keys change while it runs, as an identity provider's do
    (JWKS_URL): `keys` is what it serves now. Closed with close()."""

    def __init__(self, keys: list[dict]) -> None:
        self.keys = list(keys)
        published = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"keys": published.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/{secrets.token_hex(4)}/jwks.json"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _serve_json(document: dict) -> str:
    """Serve DOCUMENT at every path of a loopback port, for the rest of the run; its URL."""
    return _serve(json.dumps(document).encode(), "application/json", "jwks.json")


def _serve(body: bytes, content_type: str, name: str) -> str:
    """Serve BODY at every path of a loopback port, for the rest of the run; its URL, ending in NAME."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # quiet: the grader's output is the student's
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/{secrets.token_hex(4)}/{name}"


def upstream_log(folder: Path) -> Path:
    """The file where the recorded NWS (workshop/weather.py) writes what the servers in FOLDER sent it."""
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    return Issuer.for_run().folder / f"upstream-{digest}.jsonl"


def prepare_bearer_tokens(folder: Path, private: Path) -> dict[str, str]:
    """The environment a stage-06 server starts with: trust the run's issuer, log the upstream."""
    issuer = Issuer.for_run()
    return {"JWKS_FILE": str(issuer.jwks_file), "TOKEN_ISSUER": issuer.url, "JWKS_URL": "", "MCP_RESOURCE_URL": "",
            "TOKEN_AUDIENCE": "",
            "NWS_REQUEST_LOG": str(upstream_log(folder))}
