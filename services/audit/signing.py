"""The checkpoint signature: Ed25519 over a checkpoint's canonical statement (domain.statement).

The key is the audit context's own (AUDIT_CHECKPOINT_KEY), not identity's token-signing key: those
rotate every few days and sign tokens for minutes, while a checkpoint must verify for years, and an
operator keeps the public key with the exported checkpoints."""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM = "Ed25519"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CheckpointSigner:
    def __init__(self, seed: bytes = b""):
        # No configured seed: a key of this process only (AUDIT_CHECKPOINT_KEY says so).
        self.ephemeral = not seed
        self._key = Ed25519PrivateKey.from_private_bytes(seed) if seed else Ed25519PrivateKey.generate()
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = _b64(raw)
        self.key_id = hashlib.sha256(raw).hexdigest()

    def sign(self, statement: bytes) -> str:
        return _b64(self._key.sign(statement))


def verify(public_key: str, signature: str, statement: bytes) -> bool:
    """Whether `signature` is `public_key`'s over `statement`; malformed input is simply False."""
    try:
        Ed25519PublicKey.from_public_bytes(_unb64(public_key)).verify(_unb64(signature), statement)
    except (InvalidSignature, ValueError):
        return False
    return True


def key_id_of(public_key: str) -> str:
    try:
        return hashlib.sha256(_unb64(public_key)).hexdigest()
    except ValueError:
        return ""
