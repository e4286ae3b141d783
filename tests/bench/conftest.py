"""The benchmark scripts import their helpers by bare name (``_config``, ``_stats``...), as they run from
``bench/``: put that directory on the path for their tests."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
