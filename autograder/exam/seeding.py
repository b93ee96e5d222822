"""Variant seeds: a keyed hash, so a TA can regenerate a variant and students cannot.

seed = HMAC-SHA256(key = course secret,
                   message = exam id, student id (or "form:A"), question id, template version)

The digest seeds a ``numpy.random.Generator`` (PCG64 through ``SeedSequence``); Python's
``hash()`` (salted per process) and the global random state are never used. Without the
secret, knowing one's own numbers reveals nothing about a classmate's.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np

# Separates the fields unambiguously (no field may contain it; see ``_field``).
_SEPARATOR = "\x1f"


class SecretError(ValueError):
    """The course secret is missing or too short to key the seeds."""


MIN_SECRET_BYTES = 16


def read_secret(path) -> bytes:
    """The course secret from a file (surrounding whitespace dropped); at least 16 bytes."""
    from pathlib import Path

    data = Path(path).read_bytes().strip()
    if len(data) < MIN_SECRET_BYTES:
        raise SecretError(f"{path}: the course secret must be at least {MIN_SECRET_BYTES} bytes "
                          f"(got {len(data)}); e.g. `python -c 'import secrets; "
                          f"print(secrets.token_hex(32))' > {path}`")
    return data


def _field(value) -> str:
    text = str(value)
    if _SEPARATOR in text:
        raise ValueError(f"seed field {text!r} contains a control character")
    return text


def variant_seed(secret: bytes, exam_id: str, student: str, question_id: str, version: int) -> str:
    """The variant's seed as 64 hex digits (the full HMAC-SHA256 digest)."""
    message = _SEPARATOR.join(_field(v) for v in ("exam-v1", exam_id, student, question_id, version))
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()


def generator(seed_hex: str) -> np.random.Generator:
    """A fresh Generator from a seed written by ``variant_seed`` (all 256 bits used)."""
    words = [int(seed_hex[i:i + 8], 16) for i in range(0, len(seed_hex), 8)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))


def secret_fingerprint(secret: bytes) -> str:
    """Identifies which secret built a manifest without revealing it."""
    return hmac.new(secret, b"exam-secret-fingerprint", hashlib.sha256).hexdigest()[:16]


def form_label(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label
