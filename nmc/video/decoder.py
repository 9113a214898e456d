"""Streaming decoder: rebuilds each frame's parameters from integers and steps, renders it.

I frames decode on their own (networks, then the latents under the decoded context model); a
P frame adds its coded step to the previous frame's state, so decoding can start at any I frame
(:meth:`VideoDecoder.frames` seeks to the last I frame at or before the requested start).
Parameters are rebuilt with the same functions the encoder used, so they match the encoder's
bit for bit; rendering is single-threaded on CPU so frames do not depend on the torch thread
count.
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
from nmc.video.format import INTRA, VideoHeader, parse_intra, unpack_frames
from nmc.video.inter import Reference, decode_predicted, zero_vectors
from nmc.video.intra import decode_intra
from nmc.video.planes import from_grid, to_grid
from nmc.video.prior import prior_for_stream
from nmc.video.render import render, torch_threads

CODEC_ID = 1
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]  # y [H, W], u / v [Hc, Wc], uint8


class VideoDecoder:
    """Decode a video ``.nmc`` file frame by frame.

    Args:
        source: a parsed :class:`~nmc.bitstream.Container`, the file's bytes, or its path.
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
        self._frames = unpack_frames(container.chunks, self.header.num_frames)
        self._check_kinds()
        self.height, self.width = self.header.spec.height, self.header.spec.width
        if device not in ("cpu", "cuda") or (device == "cuda" and not torch.cuda.is_available()):
            raise InputError(f"device must be 'cpu' or an available 'cuda', got {device!r}")
        self.device = torch.device(device)
        self._model = self.header.spec.build().to(self.device)
        self._cpu_model = self.header.spec.build()
        self._prior = prior_for_stream(self.header.prior, self.header.spec)

    def _check_kinds(self) -> None:
        for index, (kind, _) in enumerate(self._frames):
            # Scheduled I frames are I; the encoder may also code a scene cut as an I frame.
            if self.header.kind_of(index) == INTRA and kind != INTRA:
                raise BitstreamError(f"frame {index}: kind {kind!r}, expected {INTRA!r}")

    @property
    def num_frames(self) -> int:
        return self.header.num_frames

    @property
    def fps(self) -> Fraction:
        return self.header.fps

    def _decode(self, index: int, reference: Reference | None) -> tuple[Planes, Reference]:
        """Frame ``index``'s planes and the reference the next frame predicts from."""
        kind, body = self._frames[index]
        try:
            if kind == INTRA:
                networks = None if self._prior is None else self._prior.networks
                state = decode_intra(self.header.spec, *parse_intra(body, index), networks)
                on_device = {n: t.to(self.device) for n, t in state.items()}
                planes = render(self._model, on_device)
                vectors, statistics = zero_vectors(self.height, self.width), None
            else:
                assert reference is not None
                result = decode_predicted(self._cpu_model, reference, body)
                state, vectors, statistics = result.state, result.vectors, result.motion_statistics
                planes = from_grid(result.frame, self.height, self.width)
            residual = None if self._prior is None else self._prior.residual_context
            return planes, Reference(to_grid(*planes), vectors, state, residual, statistics)
        except BitstreamError:
            raise
        except (NmcError, KeyError, RuntimeError, ValueError, OverflowError) as exc:
            raise BitstreamError(f"frame {index} ({kind}): damaged frame payload ({exc})") from exc

    def frames(self, start: int = 0, count: int | None = None) -> Iterator[Planes]:
        """Yield ``(y, u, v)`` uint8 planes of frames ``start .. start+count-1``.

        Decoding begins at the last I frame at or before ``start``; frames before ``start``
        are decoded but not returned.
        """
        if not 0 <= start < self.num_frames:
            raise InputError(f"start must be in 0..{self.num_frames - 1}, got {start}")
        stop = self.num_frames if count is None else min(self.num_frames, start + count)
        if count is not None and count < 1:
            raise InputError(f"frames must be >= 1, got {count}")
        first = max(i for i in range(start + 1) if self._frames[i][0] == INTRA)
        reference = None
        for index in range(first, stop):
            # Small tensors: one thread avoids synchronization costs (large on shared cores).
            with torch_threads(1):
                planes, reference = self._decode(index, reference)
            if index >= start:
                yield planes

    def __iter__(self) -> Iterator[Planes]:
        return self.frames()

    def read(self, start: int = 0, count: int | None = None, progress: bool = False) -> Video:
        """Frames ``start .. start+count-1`` as a :class:`~nmc.media.Video`.

        ``progress`` shows a tqdm bar (stderr).
        """
        frames = tqdm(self.frames(start, count), desc="decode", unit="frame", disable=not progress)
        return Video.concat([Video(y[None], u[None], v[None], self.fps) for y, u, v in frames])
