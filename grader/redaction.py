"""Find a secret, or any part of it, in text, and hide it before anyone reads the text.

A secret counts as shown when 8 consecutive characters of it appear, in plain
form or in the encodings a careless program prints (hex, base64, reversed).
"""

from __future__ import annotations

import base64
import functools
import re

WIDTH = 8
SHOWN = "<part of the key>"


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, raw.hex(), base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="), secret[::-1]]


@functools.lru_cache(maxsize=32)  # asked for every answer the grader reads, always of the same few keys
def secret_slices(secret: str, width: int = WIDTH) -> frozenset[str]:
    """Every WIDTH-character slice of the secret and of its printed forms."""
    slices = set()
    for form in forms(secret) if secret else []:
        slices |= {form[start:start + width] for start in range(max(len(form) - width + 1, 1))}
    return frozenset(slices)


def shows(text: str, secret: str) -> bool:
    return bool(secret) and any(piece in text for piece in secret_slices(secret))


def redact(text: str, secret: str, width: int = WIDTH) -> str:
    """TEXT with every character that belongs to a shown slice of SECRET (WIDTH characters) replaced:
    no part survives."""
    if not secret or not text:
        return text
    hidden = [False] * len(text)
    for piece in secret_slices(secret, width):
        for match in re.finditer(re.escape(piece), text):
            for index in range(match.start(), match.end()):
                hidden[index] = True
    if not any(hidden):
        return text
    out, index = [], 0
    while index < len(text):
        if hidden[index]:
            while index < len(text) and hidden[index]:
                index += 1
            out.append(SHOWN)
        else:
            out.append(text[index])
            index += 1
    return "".join(out)
