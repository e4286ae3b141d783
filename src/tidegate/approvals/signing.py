"""Approval link signatures (api.md §7, security.md §6): HMAC-SHA256 over the link's scope and expiry.

The signed message length-prefixes each part, so no (namespace, tenant, id) can be shifted into another
that signs the same bytes. The decision is not signed: one ``sig`` serves the approve and the reject link.
The first key signs; every key verifies (rotation). Everything here is pure; comparisons are
constant-time, and a malformed input is refused before any HMAC is computed."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

__all__ = ["Link", "LinkKeys", "SigningKey", "approval_urls", "signed_message"]

_SIG = re.compile(r"[0-9a-f]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Link:
    """The signature query of a request, exactly as sent (any of them may be missing or malformed)."""

    sig: str | None
    expires_at: str | None
    kid: str | None


def signed_message(namespace: str, tenant: str, approval_id: str, expires_at: int) -> bytes:
    """``"{len(ns)}:{ns}\\n{len(tenant)}:{tenant}\\n{len(id)}:{id}\\n{expires_at}"`` (UTF-8 byte lengths)."""
    parts = [part.encode() for part in (namespace, tenant, approval_id)]
    framed = b"\n".join(str(len(part)).encode() + b":" + part for part in parts)
    return framed + b"\n" + str(expires_at).encode()


class LinkKeys:
    """The configured (or generated) signing keys, in config order: the first signs, all verify."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise ValueError("at least one approval signing key is needed")
        self._keys = tuple(keys)
        self._by_kid = {key.kid: key for key in self._keys}

    @property
    def current(self) -> SigningKey:
        return self._keys[0]

    def sign(self, namespace: str, tenant: str, approval_id: str, expires_at: int) -> tuple[str, str]:
        """``(kid, sig)`` under the current key."""
        key = self.current
        return key.kid, _hmac(key, signed_message(namespace, tenant, approval_id, expires_at))

    def verify(self, namespace: str, tenant: str, approval_id: str, link: Link) -> bool:
        """True when ``link`` is well formed and signed by a listed key (the one ``kid`` names, else any).

        An unknown ``kid`` fails: a retired key's links stop working once it is removed (rotation)."""
        if link.sig is None or link.expires_at is None or not _SIG.fullmatch(link.sig):
            return False
        if not _UNIX_SECONDS.fullmatch(link.expires_at):
            return False
        if link.kid is not None:
            key = self._by_kid.get(link.kid)
            candidates: Sequence[SigningKey] = () if key is None else (key,)
        else:
            candidates = self._keys
        message = signed_message(namespace, tenant, approval_id, int(link.expires_at))
        matched = False
        for key in candidates:  # every key is tried, so the time taken does not say which one matched
            matched |= hmac.compare_digest(_hmac(key, message), link.sig)
        return matched


def approval_urls(
    base_url: str, namespace: str, tenant: str, approval_id: str, expires_at: int, keys: LinkKeys
) -> tuple[str, str]:
    """``(approve_url, reject_url)`` under ``base_url`` (``server.external_url``), path segments
    percent-encoded, both carrying the same signature (features.md §15 step 3)."""
    kid, sig = keys.sign(namespace, tenant, approval_id, expires_at)
    path = "/".join(quote(part, safe="") for part in (namespace, tenant, approval_id))
    query = f"sig={sig}&expires_at={expires_at}&kid={quote(kid, safe='')}"
    base = f"{base_url}/v1/approvals/{path}"
    return f"{base}/approve?{query}", f"{base}/reject?{query}"


def _hmac(key: SigningKey, message: bytes) -> str:
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()
