"""Where a dispatch spends its time: a layer budget, and cProfile of the pipeline or of the whole app.

    python bench/profile_dispatch.py layers     # µs per request for each layer, no profiler (default)
    python bench/profile_dispatch.py pipeline   # cProfile of sequential gateway.dispatch calls
    python bench/profile_dispatch.py asgi       # cProfile of POST /v1/dispatch through the ASGI app

``layers`` times, in one process and interleaved (best of several rounds, so a noisy machine hurts every
layer alike): a bare Starlette echo, the same echo as a FastAPI route (a reference: POST /v1/dispatch no
longer passes FastAPI's routing), the echo endpoint served the way POST /v1/dispatch is (Tidegate's app,
its dispatch shortcut and edge middleware), Tidegate's POST /v1/dispatch, and ``gateway.dispatch``
alone. The differences are the cost of each layer. No socket is involved: uvicorn's share is the HTTP
figure of dispatch.py minus the echo row here. cProfile makes every call slower (a few times for small
functions), so its µs are for ranking; the unprofiled figure is printed with them."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import uvloop
from fastapi import FastAPI

from _asgi import post
from _config import DISPATCH_BODY, Backend, bench_settings
from _inproc import build_actions
from _serve import echo_app, echo_endpoint, fastapi_echo_app
from tidegate.api.app import TidegateApp, create_app
from tidegate.api.routers import dispatch
from tidegate.api.shortcut import DispatchShortcut
from tidegate.config import Settings
from tidegate.model.caller import ANONYMOUS
from tidegate.pipeline.gateway import Gateway

BODY = orjson.dumps(DISPATCH_BODY)
DISPATCH_PATH = "/v1/dispatch"

Step = Callable[[], Awaitable[object]]


@asynccontextmanager
async def tidegate(backend: Backend, directory: Path) -> AsyncIterator[FastAPI]:
    """Tidegate's app, started (its lifespan tunes the collector as under ``tidegate serve``)."""
    app = create_app(bench_settings(directory, backend))
    async with app.router.lifespan_context(app):
        yield app


def _shortcut_echo(app: FastAPI) -> FastAPI:
    """A second app on ``app``'s services whose POST /v1/dispatch shortcut serves the echo endpoint: the
    edge middleware and the shortcut, with none of the dispatch endpoint's work."""
    settings: Settings = app.state.services.settings
    echo = create_app(settings, services=app.state.services)
    if not isinstance(echo, TidegateApp):
        raise TypeError("create_app no longer returns a TidegateApp")
    route = next(r for r in dispatch.router.routes if getattr(r, "path", None) == DISPATCH_PATH)
    echo._shortcut = DispatchShortcut(route, echo_endpoint, echo.user_middleware)
    echo._shortcut_built = True
    return echo


def _dispatcher(gateway: Gateway, count: int) -> Step:
    actions = iter(build_actions(count))

    async def step() -> object:
        return await gateway.dispatch(next(actions), ANONYMOUS)

    return step


def _poster(app: object, path: str) -> Step:
    async def step() -> object:
        status = await post(app, path, BODY)  # type: ignore[arg-type]
        if status != 200:
            raise RuntimeError(f"POST {path} answered {status}")
        return status

    return step


async def _time(step: Step, count: int) -> float:
    """Mean seconds per call over ``count`` sequential calls."""
    started = time.perf_counter()
    for _ in range(count):
        await step()
    return (time.perf_counter() - started) / count


async def layers(backend: Backend, directory: Path, count: int, rounds: int) -> None:
    async with tidegate(backend, directory) as app:
        gateway: Gateway = app.state.services.gateway
        steps: dict[str, Step] = {
            "starlette echo": _poster(echo_app(), "/"),
            "fastapi echo (reference)": _poster(fastapi_echo_app(), "/"),
            "tidegate edge + shortcut, echo endpoint": _poster(_shortcut_echo(app), DISPATCH_PATH),
            "tidegate POST /v1/dispatch": _poster(app, DISPATCH_PATH),
            "gateway.dispatch": _dispatcher(gateway, (rounds + 1) * count),
        }
        best = dict.fromkeys(steps, float("inf"))
        for round_ in range(rounds + 1):
            for name, step in steps.items():
                mean = await _time(step, count)
                if round_:  # round 0 warms up
                    best[name] = min(best[name], mean)
    us = {name: seconds * 1e6 for name, seconds in best.items()}
    print(
        f"Per request, best of {rounds} rounds of {count:,} sequential calls ({backend} backends), no socket:"
    )
    for name, value in us.items():
        print(f"  {name:<50}{value:9.1f} µs")
    edge = us["tidegate edge + shortcut, echo endpoint"]
    endpoint = us["tidegate POST /v1/dispatch"] - edge - us["gateway.dispatch"]
    print("Layer costs (differences):")
    for name, value in (
        (
            "FastAPI routing over Starlette (not on the path)",
            us["fastapi echo (reference)"] - us["starlette echo"],
        ),
        ("Tidegate edge + shortcut over Starlette", edge - us["starlette echo"]),
        ("dispatch endpoint outside the pipeline", endpoint),
        ("pipeline (gateway.dispatch)", us["gateway.dispatch"]),
    ):
        print(f"  {name:<50}{value:9.1f} µs")


def _short(key: tuple[str, int, str]) -> str:
    path, line, name = key
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path}:{line})" if line else name


def _report(stats: pstats.Stats, count: int, top: int) -> None:
    entries = stats.stats  # type: ignore[attr-defined]
    rows = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    print("per dispatch; µs inflated by the profiler; a coroutine counts one call per resumption")
    print(f"{'own µs':>8}{'total µs':>10}{'calls':>7}  function")
    for key, (_, calls, own, total, _) in rows:
        print(f"{own / count * 1e6:8.2f}{total / count * 1e6:10.2f}{calls / count:7.1f}  {_short(key)}")


async def profile(step: Step, count: int, top: int) -> None:
    for _ in range(min(count, 1000)):
        await step()
    plain = await _time(step, count)
    profiler = cProfile.Profile()
    profiler.enable()
    profiled = await _time(step, count)
    profiler.disable()
    print(f"unprofiled {plain * 1e6:.1f} µs per call; under cProfile {profiled * 1e6:.1f} µs\n")
    _report(pstats.Stats(profiler), count, top)


async def run(args: argparse.Namespace, directory: Path) -> None:
    if args.mode == "layers":
        await layers(args.backend, directory, args.n, args.rounds)
        return
    async with tidegate(args.backend, directory) as app:
        if args.mode == "pipeline":
            step = _dispatcher(app.state.services.gateway, 2 * args.n + 1000)
        else:
            step = _poster(app, DISPATCH_PATH)
        await profile(step, args.n, args.top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Profile the dispatch path (see the module docstring).")
    parser.add_argument("mode", nargs="?", choices=("layers", "pipeline", "asgi"), default="layers")
    parser.add_argument("--backend", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--n", type=int, default=5_000, help="calls per measurement (default 5,000)")
    parser.add_argument("--rounds", type=int, default=5, help="layers: rounds to take the best of")
    parser.add_argument("--top", type=int, default=30, help="profiles: functions listed (default 30)")
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(logging.WARNING)  # the log provider logs at debug: keep it silent
    with (
        tempfile.TemporaryDirectory(prefix="tidegate-profile-") as tmp,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        runner.run(run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
