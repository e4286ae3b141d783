"""The backends benchmark's parts: the settings of each combination, the run's private namespace on the
real Redis and PostgreSQL, the latency floor arithmetic, the process tree, the verdicts and the report."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

import _backends_inproc
from _backends_config import COMBOS, HTTP_COMBO, Combo, Namespace, combo_settings, isolated, new_namespace
from _backends_floor import Floor, ceiling, waits
from _backends_http import HttpRun, process_tree, tree_cpu_seconds
from _backends_inproc import ComboResult, Run, Stop, measure_combo, run_interruptible
from _backends_report import BackendsFigures, BackendsShape, render_json, render_table, verdict
from _loadgen import LoadResult
from _run import handle_sigterm
from tests.postgres.pg_support import postgres_url
from tests.store.redis_support import redis_url

COMBO = {combo.name: combo for combo in COMBOS}


@pytest.fixture(autouse=True)
def _sigterm_restored() -> Iterator[None]:
    """A run installs the scripts' SIGTERM handler (``_run.handle_sigterm``): not for the test process."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def _namespace() -> Namespace:
    return Namespace("abc123", "redis://127.0.0.1:6379", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: c.name)
def test_each_combination_is_valid_settings_on_the_runs_namespace(combo: Combo, tmp_path: Path) -> None:
    settings = combo_settings(combo, tmp_path, _namespace())
    assert settings.state.backend == combo.state
    assert settings.state.key_prefix == "bench_abc123"
    assert settings.audit.enabled is (combo.audit != "none")
    if combo.audit != "none":
        assert settings.audit.backend == combo.audit
    expected_log = combo.state if combo.state in ("redis", "postgres") else "local"
    assert settings.stream_backend == expected_log
    for url in (settings.state.url, settings.audit.url if settings.audit.enabled else None):
        if url is not None and url.startswith("postgresql"):
            assert url.endswith("?search_path=tg_bench_abc123")
    assert [p.name for p in settings.providers] == ["log"]
    assert not list((tmp_path / "rules").iterdir())  # no rules: every action is allowed


def test_redis_state_gets_the_postgres_audit_url_explicitly(tmp_path: Path) -> None:
    settings = combo_settings(COMBO["redis/postgres"], tmp_path, _namespace())
    assert settings.state.url == "redis://127.0.0.1:6379"
    assert settings.audit.url == "postgresql://postgres@127.0.0.1:5432/test?search_path=tg_bench_abc123"
    assert settings.audit.sync is True
    assert combo_settings(HTTP_COMBO, tmp_path, _namespace(), audit_sync=False).audit.sync is False


def test_the_scoped_url_keeps_an_existing_query() -> None:
    namespace = Namespace("x1", "redis://h", "postgresql://u@h/db?sslmode=disable")
    assert namespace.scoped_postgres_url == "postgresql://u@h/db?sslmode=disable&search_path=tg_bench_x1"


def test_targets_are_twice_the_published_figures() -> None:
    assert {c.name: c.target for c in COMBOS} == {
        "redis/none": 4000,
        "redis/postgres": 2200,
        "postgres/postgres": 1700,
        "sqlite/sqlite": None,
        "memory/none": None,
    }
    assert verdict(COMBO["redis/none"], 4000.0) == "met"
    assert verdict(COMBO["redis/none"], 3999.0) == "MISSED"
    assert verdict(COMBO["memory/none"], 1.0) is None


def test_the_floor_counts_the_round_trips_a_sequential_dispatch_waits_for() -> None:
    assert {c.name: waits(c) for c in COMBOS} == {
        "redis/none": (1, 0),  # the event log append
        "redis/postgres": (1, 1),  # and the audit commit, side by side
        "postgres/postgres": (0, 1),  # event log and audit: one transaction
        "sqlite/sqlite": (0, 0),
        "memory/none": (0, 0),
    }
    floor = Floor(redis_us=100.0, postgres_commit_us=400.0)
    assert ceiling(COMBO["redis/none"], floor) == pytest.approx(10_000)
    assert ceiling(COMBO["redis/postgres"], floor) == pytest.approx(2_500)  # the slower of the two
    assert ceiling(COMBO["postgres/postgres"], floor) == pytest.approx(2_500)
    assert ceiling(COMBO["sqlite/sqlite"], floor) is None
    assert ceiling(COMBO["redis/postgres"], Floor(100.0, None)) is None  # not measured: no claim
    assert waits(COMBO["redis/postgres"], audit_sync=False) == (1, 0)  # the answer does not wait for it
    assert ceiling(COMBO["redis/postgres"], floor, audit_sync=False) == pytest.approx(10_000)
    assert ceiling(COMBO["postgres/postgres"], floor, audit_sync=False) == pytest.approx(2_500)


def test_the_process_tree_includes_worker_processes() -> None:
    grandchild = "import time; time.sleep(30)"
    child = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', {grandchild!r}]); print(p.pid, flush=True); "
        "time.sleep(30)"
    )
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        grandchild_pid = int(process.stdout.readline())
        tree = process_tree(process.pid)
        assert process.pid in tree and grandchild_pid in tree
        assert process_tree(grandchild_pid) == [grandchild_pid]
        assert tree_cpu_seconds(process.pid) is not None
        os.kill(grandchild_pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()


def _http_run(rows: int, ok: int, bound: int) -> HttpRun:
    result = LoadResult(requests=ok, seconds=1.0, non_2xx=0, socket_errors=0, p50_ms=1.0, p99_ms=2.0)
    return HttpRun(1, True, result, 10.0, 50.0, rows, ok, bound)


def test_the_audit_check_allows_only_the_requests_in_flight_at_stop() -> None:
    assert _http_run(rows=100, ok=100, bound=32).audit_ok
    assert _http_run(rows=132, ok=100, bound=32).audit_ok
    assert not _http_run(rows=133, ok=100, bound=32).audit_ok  # more records than requests sent
    assert not _http_run(rows=99, ok=100, bound=32).audit_ok  # a 2xx without its record


async def _leftovers(namespace: Namespace) -> tuple[int, bool]:
    client = Redis.from_url(namespace.redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace.key_prefix}:*")]
    finally:
        await client.aclose()
    conn = await asyncpg.connect(namespace.postgres_url)
    try:
        schema = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", namespace.schema)
    finally:
        await conn.close()
    return len(keys), schema is not None


def test_a_run_on_redis_and_postgres_leaves_nothing_behind(tmp_path: Path) -> None:
    namespace = new_namespace(redis_url(), postgres_url())
    combo = COMBO["redis/postgres"]
    with isolated(namespace, combo.needs):
        result = measure_combo(combo, tmp_path, namespace, count=40, concurrency=4)
        keys, schema = asyncio.run(_leftovers(namespace))
        assert keys > 0 and schema  # the event log and the audit trail were really used

        async def rows() -> int:
            conn = await asyncpg.connect(namespace.scoped_postgres_url)
            try:
                count: int = await conn.fetchval(
                    f'SELECT count(*) FROM "{namespace.key_prefix}_audit_records"'
                )
                return count
            finally:
                await conn.close()

        assert asyncio.run(rows()) == 500 + 40 + 40  # warm-up, sequential, concurrent
    assert result.event_log == "redis"
    assert result.sequential.actions == 40 and result.sequential.concurrency == 1
    assert result.concurrent is not None and result.concurrent.concurrency == 4
    assert asyncio.run(_leftovers(namespace)) == (0, False)


def test_an_interrupted_run_still_cleans_up() -> None:
    namespace = new_namespace(redis_url(), postgres_url())

    async def write() -> None:
        client = Redis.from_url(namespace.redis_url)
        try:
            await client.set(f"{namespace.key_prefix}:probe", b"x")
        finally:
            await client.aclose()

    with pytest.raises(KeyboardInterrupt), isolated(namespace, frozenset({"redis", "postgres"})):
        asyncio.run(write())
        raise KeyboardInterrupt
    assert asyncio.run(_leftovers(namespace)) == (0, False)


def _timed(concurrency: int, rate: float) -> Run:
    seconds = 1000 / rate
    return Run(concurrency, 1000, seconds, seconds / 2, 100.0, 900.0)


def _figures() -> BackendsFigures:
    results = [
        ComboResult(COMBO["redis/none"], "redis", True, _timed(1, 4100.0), _timed(32, 9000.0)),
        ComboResult(COMBO["postgres/postgres"], "postgres", True, _timed(1, 800.0), _timed(32, 3000.0)),
        ComboResult(COMBO["memory/none"], "local", True, _timed(1, 50_000.0), None),
    ]
    floors = {"redis/none": Floor(70.0, None), "postgres/postgres": Floor(None, 500.0)}
    return BackendsFigures(floors, results, {"redis/postgres": "postgres not reachable"}, None, None, [])


def _shape() -> BackendsShape:
    return BackendsShape(1000, 32, True, 0.0, "redis://h", "postgresql://h/db")


def test_the_table_compares_sequential_figures_with_twice_the_reference() -> None:
    table = render_table(_shape(), _figures())
    redis = next(line for line in table.splitlines() if line.startswith("  Redis (audit off)"))
    assert ">= 4,000: met" in redis and "2.05×" in redis and "14,286" in redis  # floor 1e6 / 70 µs
    postgres = next(line for line in table.splitlines() if line.startswith("  PostgreSQL + PostgreSQL"))
    assert ">= 1,700: MISSED" in postgres and "2,000" in postgres  # floor: one 500 µs commit
    assert "Redis + PostgreSQL audit          skipped: postgres not reachable" in table
    assert "32 CONCURRENT" in table and "3.8×" in table  # 3,000 / 800 over sequential
    assert "HTTP" not in table
    assert "redis/none         Redis round trip 70 µs" in table
    assert "postgres/postgres  durable PostgreSQL commit 500 µs" in table


def test_the_json_report_carries_every_figure() -> None:
    report = orjson.loads(render_json(_shape(), _figures()))
    redis = report["in_process"]["redis/none"]
    assert redis["met"] is True and redis["target_per_second"] == 4000
    assert redis["sequential"]["actions_per_second"] == pytest.approx(4100)
    assert redis["concurrent"]["concurrency"] == 32
    assert report["in_process"]["memory/none"]["met"] is None
    assert report["skipped"] == {"redis/postgres": "postgres not reachable"}
    assert redis["floor"] == {"redis_round_trip_us": 70.0, "postgres_commit_us": None}
    assert redis["floor_per_second"] == pytest.approx(1e6 / 70)
    assert report["in_process"]["postgres/postgres"]["floor_per_second"] == pytest.approx(2000)
    assert report["in_process"]["memory/none"]["floor"] is None
    assert report["http"] is None


def test_the_cli_refuses_unknown_combinations() -> None:
    done = subprocess.run(
        [sys.executable, "backends.py", "--combos", "redis/mysql"],
        cwd=Path(__file__).resolve().parents[2] / "bench",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "choose from redis/none" in done.stderr


class _StuckGateway:
    """Stands in for a pipeline whose writes never return (a deadlocked spool, a hung backend)."""

    async def dispatch(self, action: object, caller: object) -> None:
        await asyncio.Event().wait()


async def test_a_stalled_series_is_abandoned_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_backends_inproc, "STALL_SECONDS", 0.05)
    with pytest.raises(RuntimeError, match="the run stalled: 0 of 10 dispatches"):
        await _backends_inproc._series(_StuckGateway(), 10, 4, Stop())  # type: ignore[arg-type]


class _CountingGateway:
    def __init__(self, stop: Stop, after: int) -> None:
        self.calls, self._stop, self._after = 0, stop, after

    async def dispatch(self, action: object, caller: object) -> None:
        self.calls += 1
        if self.calls == self._after:
            self._stop.requested = True
        await asyncio.sleep(0)


async def test_a_stop_request_ends_the_series_before_the_next_dispatch() -> None:
    stop = Stop()
    gateway = _CountingGateway(stop, after=3)
    await _backends_inproc._series(gateway, 100, 4, stop)  # type: ignore[arg-type]
    assert 3 <= gateway.calls <= 6  # the dispatches already under way finish; no new one starts


def test_sigterm_lets_the_run_finish_its_cleanup_then_interrupts() -> None:
    cleaned = []

    async def run(stop: Stop) -> str:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the signal arrives within a loop iteration or two
                if stop.requested:
                    return "stopped"
                await asyncio.sleep(0.01)
            return "never stopped"
        finally:
            cleaned.append(True)

    with pytest.raises(KeyboardInterrupt):
        run_interruptible(run)
    assert cleaned == [True]
    installed = signal.getsignal(signal.SIGTERM)
    handle_sigterm()
    assert installed is signal.getsignal(signal.SIGTERM)  # the scripts' handler again, not SIG_DFL
