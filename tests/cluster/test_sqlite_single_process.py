"""SQLite is single-process by design (DESIGN.md §4): the real ``tidegate serve`` refuses
``server.workers`` > 1 with SQLite state or audit (config.md §2), before it binds or creates anything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cluster.processes import free_ports

REDIS = {"backend": "redis", "url": "redis://127.0.0.1:6379/0"}
POSTGRES_AUDIT = {"backend": "postgres", "url": "postgresql://postgres@127.0.0.1:5432/test"}


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        (
            {"state": {"backend": "sqlite"}, "stream": REDIS, "audit": POSTGRES_AUDIT},
            "config: server.workers: 2 workers need state.backend redis or postgres (got 'sqlite')",
        ),
        (
            {"state": REDIS, "audit": {"backend": "sqlite"}},
            "config: server.workers: 2 workers need audit.backend postgres or audit.enabled = false "
            "(got 'sqlite')",
        ),
    ],
    ids=["sqlite-state", "sqlite-audit"],
)
def test_serve_refuses_several_workers_on_sqlite(
    tmp_path: Path, sections: dict[str, object], problem: str
) -> None:
    (tmp_path / "tidegate.yaml").write_text(yaml.safe_dump({"server": {"workers": 2}, **sections}))
    [port] = free_ports(1)
    command = [sys.executable, "-m", "tidegate", "serve", "--config", "tidegate.yaml", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # it started serving: stop it and its worker processes
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 2, stderr
    assert stderr.splitlines() == [problem]
    assert not (tmp_path / "data").exists()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
        pass
