"""Benchmark nmc.entropy against the order-0 entropy and general-purpose compressors.

    python tools/bench_entropy.py [--json] [--symbols 1000000] [--repeat 3]

One line per case: coded size (side information included), the order-0 empirical entropy,
zstd -19 and lzma -9e on the raw int8/int16 bytes, and encode / decode speed (best of
``--repeat`` runs, millions of symbols per second). Targets (issue 2): <= 1.01 x entropy on
the i.i.d. cases; <= 0.95 x min(zstd, lzma) on the sparse and per-channel cases; >= 5 M
symbols/s both ways.
"""

from __future__ import annotations

import argparse
import json
import lzma
import time

import numpy as np
import zstandard

from nmc.entropy import decode_tensor, encode_tensor


def _entropy_bits(x: np.ndarray) -> float:
    _, counts = np.unique(x, return_counts=True)
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())


def _narrow(x: np.ndarray) -> np.ndarray:
    return x.astype(np.int8) if np.abs(x).max() < 128 else x.astype(np.int16)


def cases(n: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, int | None]]:
    """Case name -> (integer tensor, channel axis)."""
    out: dict[str, tuple[np.ndarray, int | None]] = {}
    for scale in (0.5, 2.0, 8.0):
        out[f"laplace_b{scale:g}"] = (np.round(rng.laplace(0, scale, n)).astype(np.int64), None)
    sparse = np.where(rng.random(n) < 0.9, 0, np.round(rng.laplace(0, 4, n)))
    out["sparse_90pct_zero"] = (sparse.astype(np.int64), None)
    scales = np.geomspace(0.1, 20, 64)[:, None]
    per_channel = np.round(rng.laplace(0, 1, (64, n // 64)) * scales)
    out["per_channel_64_b0.1_to_20"] = (per_channel.astype(np.int64), 0)
    return out


def _best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(n: int, repeat: int, seed: int) -> list[dict]:
    rows = []
    for name, (x, axis) in cases(n, np.random.default_rng(seed)).items():
        data = encode_tensor(x, channel_axis=axis)
        assert np.array_equal(decode_tensor(data), x), f"{name}: round trip failed"
        raw = _narrow(x).tobytes()
        zstd_bits = 8 * len(zstandard.ZstdCompressor(level=19).compress(raw))
        lzma_bits = 8 * len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
        t_enc = _best_time(lambda x=x, axis=axis: encode_tensor(x, channel_axis=axis), repeat)
        t_dec = _best_time(lambda data=data: decode_tensor(data), repeat)
        row = {
            "case": name,
            "symbols": int(x.size),
            "bits_per_symbol": 8 * len(data) / x.size,
            "entropy_bits_per_symbol": _entropy_bits(x) / x.size,
            "zstd_bits_per_symbol": zstd_bits / x.size,
            "lzma_bits_per_symbol": lzma_bits / x.size,
            "encode_msym_s": x.size / t_enc / 1e6,
            "decode_msym_s": x.size / t_dec / 1e6,
        }
        if axis is not None:
            per_channel = sum(_entropy_bits(c) for c in np.moveaxis(x, axis, 0))
            row["entropy_per_channel_bits_per_symbol"] = per_channel / x.size
        row["ratio_to_entropy"] = row["bits_per_symbol"] / row["entropy_bits_per_symbol"]
        row["ratio_to_best_general"] = row["bits_per_symbol"] / min(
            row["zstd_bits_per_symbol"], row["lzma_bits_per_symbol"]
        )
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--symbols", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = run(args.symbols, args.repeat, args.seed)
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{row['case']:<28} {row['bits_per_symbol']:.4f} b/sym "
                f"(entropy {row['entropy_bits_per_symbol']:.4f}, x{row['ratio_to_entropy']:.4f}; "
                f"zstd {row['zstd_bits_per_symbol']:.3f}, lzma {row['lzma_bits_per_symbol']:.3f}, "
                f"x{row['ratio_to_best_general']:.3f})  enc {row['encode_msym_s']:.1f} "
                f"dec {row['decode_msym_s']:.1f} Msym/s"
            )


if __name__ == "__main__":
    main()
