"""The effective configuration as text (``tidegate check-config --show``), with every secret masked."""

from __future__ import annotations

import json
from typing import Literal

import yaml

from tidegate.config._base import mask_url
from tidegate.config.settings import Settings

__all__ = ["render_settings"]


def _mask(value: object) -> object:
    # SecretStr values already dump as "**********"; what is left are passwords inside URLs.
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def render_settings(settings: Settings, fmt: Literal["yaml", "json"] = "yaml") -> str:
    """Every key with its effective value, in the file's own key names; paths shown resolved."""
    data = _mask(settings.model_dump(mode="json", by_alias=True))
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
