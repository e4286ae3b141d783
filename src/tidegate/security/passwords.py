"""Password checks for login (security.md §2): argon2id, off the event loop, with bounded concurrency.

Each verification costs about 0.1-0.2 s of CPU and 64 MiB of memory (argon2-cffi's defaults, read from
the stored hash), so it runs in a worker thread, and at most ``concurrency`` run at once: a login flood
then queues instead of exhausting memory. An unknown username is verified against a fixed dummy hash
with the same parameters, so its answer takes as long as a wrong password's."""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["DUMMY_HASH", "PasswordVerifier"]

#: argon2id of a random, discarded secret, with argon2-cffi's default parameters (m=64 MiB, t=3, p=4).
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$KxC9zRvxG0X/nZ3Lq87aAQ$in2Pi4O8GvbzZEqpkgLqudS0JufG9MJswezr+RfNZxQ"
)


class PasswordVerifier:
    def __init__(self, concurrency: int | None = None) -> None:
        self._hasher = PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency or max(2, os.cpu_count() or 2))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; ``None`` (unknown user) costs the same and is always False."""
        target = DUMMY_HASH if password_hash is None else password_hash
        async with self._slots:
            matches = await asyncio.to_thread(self._matches, target, password)
        return matches and password_hash is not None

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
