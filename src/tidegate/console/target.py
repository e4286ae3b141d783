"""Which server and credential a client command uses: flags, then ``TIDEGATE_*`` variables, then defaults."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass

from tidegate.client import DEFAULT_URL

__all__ = ["Target", "target_of"]


@dataclass(frozen=True)
class Target:
    url: str
    api_key: str | None
    token: str | None


def target_of(args: argparse.Namespace, environ: Mapping[str, str]) -> Target:
    return Target(
        url=args.url or environ.get("TIDEGATE_URL") or DEFAULT_URL,
        api_key=args.api_key or environ.get("TIDEGATE_API_KEY") or None,
        token=args.token or environ.get("TIDEGATE_TOKEN") or None,
    )
