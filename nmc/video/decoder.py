"""Streaming decoder: rebuilds each frame's weights from integers and steps, renders it.

I frames decode on their own; a P frame adds its coded step to the previous frame's weights, so
decoding can start at any I frame (:meth:`VideoDecoder.frames` seeks to the last I frame at or
before the requested start). Weights are rebuilt with the same functions the encoder used, so
they match the encoder's bit for bit; rendering is single-threaded on CPU so frames do not
depend on the torch thread count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import torch
from tqdm import tqdm

from nmc.bitstream import Container, read_file, unpack
from nmc.errors import BitstreamError, InputError, NmcError
from nmc.media import Video
from nmc.video.format import INTRA, PREDICTED, VideoHeader, parse_payload
from nmc.video.networks import lowrank_step, render, torch_threads, update_plan
from nmc.weights import decode_state_dict, decode_update

CODEC_ID = 1
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]  # y [H, W], u / v [Hc, Wc], uint8


class VideoDecoder:
    """Decode a video ``.nmc`` file frame by frame.

    Args:
        source: a parsed :class:`~nmc.bitstream.Container`, the file's bytes, or its path.
        scale: output size factor (``mlp`` family only; 1 = coded size).
        device: ``"cpu"`` (default, bit-exact) or ``"cuda"``.

    Example::

        dec = VideoDecoder("clip.nmc")
        for y, u, v in dec.frames(start=30):   # seeks to the I frame at or before 30
            ...
    """

    def __init__(
        self,
        source: Container | bytes | str | os.PathLike[str],
        *,
        scale: float = 1.0,
        device: str = "cpu",
    ) -> None:
        if isinstance(source, Container):
            container = source
        elif isinstance(source, (bytes, bytearray, memoryview)):
            container = unpack(bytes(source))
        else:
            container = read_file(source)
        if container.codec_id != CODEC_ID:
            raise InputError(
                f"not a video file (codec id {container.codec_id}, video is {CODEC_ID})"
            )
        self.header = VideoHeader.from_bytes(container.header)
        self._chunks = container.chunks
        self._check_chunks()
        spec = self.header.spec
        if not (isinstance(scale, (int, float)) and 0 < scale <= 8):
            raise InputError(f"scale must be a number in (0, 8], got {scale!r}")
        if scale != 1 and spec.family != "mlp":
            raise InputError(
                f"scale {scale} needs the mlp family (a coordinate network); this file holds "
                f"a {spec.family} network, which renders only at its coded size"
            )
        self.height = max(1, round(spec.height * scale))
        self.width = max(1, round(spec.width * scale))
        if device not in ("cpu", "cuda") or (device == "cuda" and not torch.cuda.is_available()):
            raise InputError(f"device must be 'cpu' or an available 'cuda', got {device!r}")
        self.device = torch.device(device)
        self._net = spec.build().to(self.device)
        self._plan = update_plan(self._net, self.header.update, self.header.rank)

    def _check_chunks(self) -> None:
        if len(self._chunks) != self.header.num_frames:
            raise BitstreamError(
                f"header says {self.header.num_frames} frames but the file holds "
                f"{len(self._chunks)} frame chunks (truncated or damaged)"
            )
        for index, chunk in enumerate(self._chunks):
            if chunk.kind != self.header.kind_of(index):
                raise BitstreamError(
                    f"chunk {index}: kind {chunk.kind!r}, expected {self.header.kind_of(index)!r}"
                )

    @property
    def num_frames(self) -> int:
        return self.header.num_frames

    @property
    def fps(self) -> Fraction:
        return self.header.fps

    def _weights(
        self, index: int, previous: dict[str, torch.Tensor] | None
    ) -> dict[str, torch.Tensor]:
        chunk = self._chunks[index]
        try:
            first, second = parse_payload(chunk.kind, chunk.payload, index)
            if chunk.kind == INTRA:
                state = decode_state_dict(first)
                expected = {n: (p.shape, torch.float32) for n, p in self._net.named_parameters()}
                if {n: (t.shape, t.dtype) for n, t in state.items()} != expected:
                    raise BitstreamError(f"chunk {index} (IFRM): weights do not fit the network")
                return state
            assert chunk.kind == PREDICTED and previous is not None
            state = dict(previous)
            state.update(decode_update(first, previous))
            if self._plan.lowrank:
                factors = decode_state_dict(second)
                for name in self._plan.lowrank:
                    u, v = factors[name + ".u"], factors[name + ".v"]
                    state[name] = previous[name] + lowrank_step(u, v, previous[name].shape)
            return state
        except BitstreamError:
            raise
        except (NmcError, KeyError, RuntimeError, ValueError) as exc:
            raise BitstreamError(
                f"chunk {index} ({chunk.kind}): damaged frame payload ({exc})"
            ) from exc

    def frames(self, start: int = 0, count: int | None = None) -> Iterator[Planes]:
        """Yield ``(y, u, v)`` uint8 planes of frames ``start .. start+count-1``.

        Decoding begins at the last I frame at or before ``start``; frames before ``start``
        are rebuilt (weights only) but not rendered.
        """
        if not 0 <= start < self.num_frames:
            raise InputError(f"start must be in 0..{self.num_frames - 1}, got {start}")
        stop = self.num_frames if count is None else min(self.num_frames, start + count)
        if count is not None and count < 1:
            raise InputError(f"frames must be >= 1, got {count}")
        size = (
            None
            if (self.height, self.width) == (self.header.spec.height, self.header.spec.width)
            else (self.height, self.width)
        )
        state = None
        for index in range(start - start % self.header.gop, stop):
            # Small tensors: one thread avoids synchronization costs (large on shared cores).
            with torch_threads(1):
                state = self._weights(index, state)
                if index < start:
                    continue
                planes = render(self._net, {n: t.to(self.device) for n, t in state.items()}, size)
            yield planes

    def __iter__(self) -> Iterator[Planes]:
        return self.frames()

    def read(self, start: int = 0, count: int | None = None, progress: bool = False) -> Video:
        """Frames ``start .. start+count-1`` as a :class:`~nmc.media.Video`.

        ``progress`` shows a tqdm bar (stderr).
        """
        frames = tqdm(self.frames(start, count), desc="decode", unit="frame", disable=not progress)
        return Video.concat([Video(y[None], u[None], v[None], self.fps) for y, u, v in frames])
