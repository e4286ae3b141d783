"""Write ``tidegate/client/_sync.py`` from ``_async.py``: the blocking ``Client`` is the same code with the
awaits taken out, so the two surfaces cannot drift (tests/client/test_unasync.py checks the file is
current). Run ``python tools/unasync_client.py`` after editing ``_async.py``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "src" / "tidegate" / "client"
HEADER = '"""GENERATED from ``_async.py`` by ``tools/unasync_client.py``: edit that file, then re-run it.\n\n'

#: Whole-word replacements, applied in order.
_WORDS = [
    ("AsyncBaseTransport", "BaseTransport"),
    ("AsyncClient", "Client"),
    ("AsyncIterator", "Iterator"),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("aclose", "close"),
    ("aread", "read"),
    ("aiter_lines", "iter_lines"),
    ("asyncio", "time"),
]
_PATTERNS = [
    (r"\basync def ", "def "),
    (r"\basync for ", "for "),
    (r"\basync with ", "with "),
    (r"\bawait ", ""),
    (r"for asyncio code", "for blocking code"),
    (r"  # noqa: ASYNC109[^\n]*", "  # the server's follow limit, sent as a parameter"),
]


def unasync(source: str) -> str:
    text = source
    for pattern, replacement in _PATTERNS:
        text = re.sub(pattern, replacement, text)
    for old, new in _WORDS:
        text = re.sub(rf"\b{old}\b", new, text)
    docstring_end = text.index('"""', 3) + 3
    body = text[docstring_end:]
    return HEADER + text[3:docstring_end].replace("``AsyncClient``", "``Client``") + body


def render() -> str:
    """The generated module, run through ``ruff format`` (removing ``await`` can shorten wrapped lines)."""
    source = unasync((CLIENT / "_async.py").read_text())
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    formatted = subprocess.run(
        [ruff, "format", "--stdin-filename", str(CLIENT / "_sync.py"), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def main() -> int:
    target = CLIENT / "_sync.py"
    target.write_text(render())
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
