"""What an API key looks like: a prefix, a key id, a secret and a checksum.

    mcpk_3fK9aQ2LmX7p_Vq1...(32 characters)...Zk8Q0a3Xe2
    ^^^^ ^^^^^^^^^^^^ ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
    prefix  key id     secret                      checksum (last 6)

The layout follows GitHub's tokens (ghp_...):
- the prefix makes a leaked key easy to recognise, for people and for secret scanners;
- the key id is not secret: it names the key in the store, the logs and the CLI;
- the secret is 32 random base62 characters, about 190 bits: nobody guesses that;
- the checksum (CRC32 of everything before it) catches a typo or a truncated paste
  before the server touches its database, and lets a scanner tell a real key
  from a random string that merely starts with the prefix.
"""

from __future__ import annotations

import re
import secrets
import string
import zlib
from dataclasses import dataclass

PREFIX = "mcpk"
ALPHABET = string.digits + string.ascii_letters  # base62: no separators, survives copy and paste
ID_LENGTH = 12
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6  # 62**6 > 2**32: room for any CRC32

KEY_PATTERN = re.compile(
    rf"{PREFIX}_(?P<key_id>[0-9A-Za-z]{{{ID_LENGTH}}})_(?P<secret>[0-9A-Za-z]{{{SECRET_LENGTH}}})"
    rf"(?P<checksum>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})"
)


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    full: str  # the whole key as presented: what gets hashed


def random_base62(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def checksum(body: str) -> str:
    """CRC32 of BODY in base62, padded to CHECKSUM_LENGTH characters."""
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def new_key(key_id: str | None = None) -> tuple[str, str]:
    """A fresh (key id, full key). The full key is shown to its owner once and never stored."""
    key_id = key_id or random_base62(ID_LENGTH)
    body = f"{PREFIX}_{key_id}_{random_base62(SECRET_LENGTH)}"
    return key_id, body + checksum(body)


def parse_key(presented: bytes | str) -> ParsedKey | None:
    """The key id of a well-formed key, or None: wrong shape, wrong prefix, or a checksum that does not add up.

    This runs before any lookup, so garbage never reaches the database.
    """
    if isinstance(presented, bytes):
        try:
            presented = presented.decode("ascii")
        except UnicodeDecodeError:
            return None
    match = KEY_PATTERN.fullmatch(presented)
    if match is None:
        return None
    body = presented[:-CHECKSUM_LENGTH]
    # The checksum is public arithmetic, not a secret: a plain comparison is fine here.
    if checksum(body) != match["checksum"]:
        return None
    return ParsedKey(key_id=match["key_id"], full=presented)
