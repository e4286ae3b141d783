"""Where the approval signing keys come from: config, or one generated key shared through the state store.

With ``approvals.keys`` empty (config.md §4.11), a random 32-byte key with kid ``k0`` is created once with
put-if-absent, so every instance (and every restart) signs and verifies with the same key."""

from __future__ import annotations

import logging
import secrets

from tidegate.approvals.signing import LinkKeys, SigningKey
from tidegate.config import ApprovalsSettings
from tidegate.store import keys
from tidegate.store.base import StateStore

__all__ = ["GENERATED_KID", "load_link_keys"]

log = logging.getLogger(__name__)

GENERATED_KID = "k0"
_GENERATED_BYTES = 32


async def load_link_keys(settings: ApprovalsSettings, store: StateStore) -> LinkKeys:
    """The configured keys in order, else the shared generated key (created by the first instance)."""
    if settings.keys:
        return LinkKeys([SigningKey(key.kid, key.key_bytes) for key in settings.keys])
    key = keys.approval_signing_key(GENERATED_KID)
    await store.put_if_absent(key, secrets.token_hex(_GENERATED_BYTES).encode())
    stored = await store.get(key)
    if stored is None:  # only if the key vanished between the two calls
        raise RuntimeError("the generated approval signing key could not be read back")
    log.warning(
        "approvals.keys is empty: approval links are signed with a generated key kept in the state store "
        "(kid %s); configure approvals.keys to control rotation",
        GENERATED_KID,
    )
    return LinkKeys([SigningKey(GENERATED_KID, bytes.fromhex(stored.decode()))])
