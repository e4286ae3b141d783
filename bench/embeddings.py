"""Embeddings benchmark (features.md §18): the local model's load time and quality, encode latency, what
``semantic_match`` adds to rule evaluation, and the similarity endpoint's throughput over HTTP.

``make bench`` runs ``python bench/embeddings.py``; ``--quick`` is a smoke run. bench/README.md says what
each figure means and records the model choice. ``--m2v DIR`` adds a model2vec static model (for example
one made by ``tools/distill_minilm.py``) to the load, quality and latency comparison when the
``model2vec`` package is installed. The server child and its temp dir are gone when this returns."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import importlib.util
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import orjson
import uvloop

from _load import _content_length, _request
from _run import handle_sigterm, progress
from _stats import percentile

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach a model hub

from tidegate.clock import SystemClock
from tidegate.config.sections import EmbeddingSettings
from tidegate.embeddings import Embedder, Semantics, cosine, unit
from tidegate.embeddings.local import LocalProvider, load_local_encoder
from tidegate.model.action import Action, ActionRequest
from tidegate.pipeline.gateway import HANDLED_VERDICTS
from tidegate.pipeline.rulebook import RuleBook
from tidegate.rules import RuleSet, loads_rules_text
from tidegate.store.memory import MemoryStateStore

MODEL = "wordllama-l2-supercat-256"
_ROOT = Path(__file__).resolve().parent.parent
_SERVE = Path(__file__).with_name("_embeddings_serve.py")
_PATH = "/v1/embeddings/similarity"
_NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
_TOPIC = "Infrastructure outage, servers down"
_PLAIN_RULES = """\
rules:
  - {name: spam, condition: {field: action.action_type, eq: spam}, action: {type: suppress}}
  - {name: vip, condition: {field: action.payload.to, ends_with: "@vip.example.com"}, action: {type: deny}}
"""
_SEMANTIC_RULES = (
    _PLAIN_RULES
    + f"""\
  - name: outage
    condition:
      all:
        - {{field: action.payload.severity, eq: critical}}
        - {{semantic_match: "{_TOPIC}", threshold: 0.3, text_field: action.payload.description}}
    action: {{type: reroute, target_provider: pager}}
"""
)

Encode = Callable[[list[str]], Sequence[Sequence[float]]]


def _pairs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pairs", _ROOT / "tests" / "embeddings" / "pairs.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("tests/embeddings/pairs.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _us(seconds: Sequence[float], p: float) -> float:
    return percentile(sorted(seconds), p) * 1e6


def _texts(n: int) -> list[str]:
    pairs = _pairs()
    base = [s for pair in (*pairs.RELATED, *pairs.UNRELATED) for s in pair]
    return [f"{base[i % len(base)]} #{i}" for i in range(n)]


def quality(encode: Encode) -> dict[str, float]:
    pairs = _pairs()

    def score(a: str, b: str) -> float:
        va, vb = encode([a, b])
        return cosine(unit(va), unit(vb))

    related = [score(a, b) for a, b in pairs.RELATED]
    unrelated = [score(a, b) for a, b in pairs.UNRELATED]
    return {
        "related_min": min(related),
        "related_mean": statistics.fmean(related),
        "unrelated_max": max(unrelated),
        "unrelated_mean": statistics.fmean(unrelated),
        "gap": min(related) - max(unrelated),
    }


def encode_latency(encode: Encode, n: int) -> dict[str, float]:
    texts = _texts(n)
    encode(["warm up"])
    times = []
    for text in texts:
        start = time.perf_counter()
        encode([text])
        times.append(time.perf_counter() - start)
    return {"p50_us": _us(times, 50), "p99_us": _us(times, 99)}


def candidate(name: str, load: Callable[[], Encode], n: int) -> dict[str, object]:
    progress(f"{name}: load, quality, encode latency")
    start = time.perf_counter()
    encode = load()
    loaded = time.perf_counter() - start
    return {"load_s": loaded, "quality": quality(encode), "encode": encode_latency(encode, n)}


def _m2v_loader(path: Path) -> Callable[[], Encode]:
    def load() -> Encode:
        from model2vec import StaticModel

        model = StaticModel.from_pretrained(str(path))
        return lambda texts: model.encode(texts).tolist()  # type: ignore[no-any-return]

    return load


def _action(description: str) -> Action:
    payload = {"severity": "critical", "description": description, "to": "a@example.com"}
    request = ActionRequest.model_validate(
        {"namespace": "n", "tenant": "t", "provider": "log", "action_type": "alert", "payload": payload}
    )
    return request.normalize(_NOW)


async def evaluation_cost(encode: Encode, n: int) -> dict[str, float]:
    """Microseconds per rule evaluation: no semantic rules (with and without embeddings configured), a
    semantic rule with warm caches (decided on the loop), and with a new text each time (worker thread)."""
    settings = EmbeddingSettings(enabled=True)
    semantics = Semantics(
        Embedder(LocalProvider(MODEL, encode), settings, SystemClock()), fail_open=True, clock=SystemClock()
    )
    refs = {"log", "pager"}
    plain = loads_rules_text("p.yaml", _PLAIN_RULES, providers=refs)
    semantic = loads_rules_text("s.yaml", _SEMANTIC_RULES, providers=refs, embedding_enabled=True)

    async def book(rules: RuleSet, with_semantics: bool) -> RuleBook:
        result = RuleBook(
            load=lambda missing_ok: rules,
            store=MemoryStateStore(SystemClock()),
            supported=HANDLED_VERDICTS,
            semantics=semantics if with_semantics else None,
        )
        await result.start()
        return result

    figures: dict[str, float] = {}
    action = _action("The production database server crashed")
    for label, rules, with_semantics in (
        ("plain_rules_no_embeddings_us", plain, False),
        ("plain_rules_embeddings_on_us", plain, True),
    ):
        rule_book = await book(rules, with_semantics)
        start = time.perf_counter()
        for _ in range(n * 10):
            rule_book.evaluate(action, _NOW)
        figures[label] = (time.perf_counter() - start) / (n * 10) * 1e6
    rule_book = await book(semantic, True)
    await semantics.embedder.wait_warm()
    await rule_book.decide(action, _NOW)
    start = time.perf_counter()
    for _ in range(n * 10):
        rule_book.evaluate(action, _NOW)  # warm: no await, no thread
    figures["semantic_warm_us"] = (time.perf_counter() - start) / (n * 10) * 1e6
    cold = [_action(text) for text in _texts(n)]
    times = []
    for item in cold:
        begin = time.perf_counter()
        await rule_book.decide(item, _NOW)
        times.append(time.perf_counter() - begin)
    figures["semantic_cold_p50_us"] = _us(times, 50)
    figures["semantic_cold_p99_us"] = _us(times, 99)
    return figures


# --- HTTP -------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}):\n{log.read_text(errors='replace')}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not answer within 60 s")


async def _load(url: str, connections: int, seconds: float, unique: bool) -> dict[str, float]:
    """``connections`` keep-alive connections posting for ``seconds`` (raw asyncio, as ``_load.py``);
    ``unique`` gives every request a new text, so every request runs the model."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    failures = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    def request() -> bytes:
        nonlocal counter
        counter += 1
        text = f"The database server crashed, request {counter}" if unique else "The database crashed"
        return _request(host, port, _PATH, orjson.dumps({"text": text, "topic": _TOPIC}))

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                writer.write(request())
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(_content_length(head))
                latencies.append(time.perf_counter() - start)
                if head[9:12] != b"200":
                    failures += 1
        finally:
            writer.close()

    begin = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - begin
    return {
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": _us(latencies, 50) / 1000,
        "p99_ms": _us(latencies, 99) / 1000,
        "non_200": failures,
    }


def http_throughput(connections: int, seconds: float) -> dict[str, dict[str, float]]:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="tidegate-bench-emb-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, str(_SERVE), str(port), tmp],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_ready(port, process, log)
            url = f"http://127.0.0.1:{port}"
            uvloop.run(_load(url, connections, min(1.0, seconds), unique=True))  # warm-up
            progress("HTTP: similarity, same text (cached)")
            cached = uvloop.run(_load(url, connections, seconds, unique=False))
            progress("HTTP: similarity, a new text per request (model in a worker thread)")
            uncached = uvloop.run(_load(url, connections, seconds, unique=True))
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return {"cached": cached, "uncached": uncached}


def render(result: dict[str, object]) -> str:
    lines = ["Embeddings benchmark (features.md §18)", ""]
    models = result["models"]
    assert isinstance(models, dict)
    lines.append(
        f"{'model':<28}{'load s':>8}{'rel min':>9}{'rel mean':>9}{'unrel max':>10}{'unrel mean':>11}"
        f"{'gap':>7}{'enc p50 µs':>12}{'enc p99 µs':>12}"
    )
    for name, figures in models.items():
        q, e = figures["quality"], figures["encode"]
        lines.append(
            f"{name:<28}{figures['load_s']:>8.2f}{q['related_min']:>9.3f}{q['related_mean']:>9.3f}"
            f"{q['unrelated_max']:>10.3f}{q['unrelated_mean']:>11.3f}{q['gap']:>7.3f}"
            f"{e['p50_us']:>12.1f}{e['p99_us']:>12.1f}"
        )
    lines.append("")
    lines.append("Rule evaluation, µs per action (in process)")
    evaluation = result["evaluation"]
    assert isinstance(evaluation, dict)
    for key, value in evaluation.items():
        lines.append(f"  {key:<34}{value:>10.2f}")
    http_figures = result.get("http")
    if isinstance(http_figures, dict):
        lines.append("")
        lines.append(
            f"POST /v1/embeddings/similarity, {result['connections']} connections (route limit lifted)"
        )
        for key, value in http_figures.items():
            lines.append(
                f"  {key:<10}{value['requests_per_s']:>9.0f} req/s   p50 {value['p50_ms']:.2f} ms"
                f"   p99 {value['p99_ms']:.2f} ms   non-200 {value['non_200']:.0f}"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 300, 2 s of HTTP load")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--n", type=int, default=3000, help="texts encoded per latency figure")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of HTTP load per figure")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--m2v", type=Path, help="a model2vec model directory to compare")
    args = parser.parse_args()
    handle_sigterm()
    n = 300 if args.quick else args.n
    duration = 2.0 if args.quick else args.duration
    models: dict[str, object] = {MODEL: candidate(MODEL, lambda: load_local_encoder(MODEL), n)}
    if args.m2v is not None:
        if importlib.util.find_spec("model2vec") is None:
            progress("--m2v ignored: the model2vec package is not installed")
        else:
            models[f"model2vec:{args.m2v.name}"] = candidate("model2vec", _m2v_loader(args.m2v), n)
    progress("rule evaluation")
    result: dict[str, object] = {
        "models": models,
        "evaluation": asyncio.run(evaluation_cost(load_local_encoder(MODEL), n)),
        "connections": args.connections,
    }
    if not args.skip_http:
        result["http"] = http_throughput(args.connections, duration)
    print(orjson.dumps(result).decode() if args.json else render(result))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
