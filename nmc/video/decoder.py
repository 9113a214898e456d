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
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from nmc.bitstream import Container, read_file, unpack
from nmc.entropy.stream import StreamReader
from nmc.errors import BitstreamError, InputError, NmcError
from nmc.media import Video
from nmc.video.descriptor import CODEC_ID
from nmc.video.format import INTRA, FrameGroup, VideoHeader, unpack_groups
from nmc.video.inter import Reference, decode_predicted, max_frame_symbols, zero_vectors
from nmc.video.intra import decode_intra
from nmc.video.planes import from_grid, to_grid
from nmc.video.prior import prior_for_stream
from nmc.video.render import render, torch_threads

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
        self._groups = unpack_groups(
            container.chunks,
            self.header.num_frames,
            max_frame_symbols(self.header.spec, self.header.motion_block),
        )
        self._check_kinds()
        self.height, self.width = self.header.spec.height, self.header.spec.width
        if device not in ("cpu", "cuda") or (device == "cuda" and not torch.cuda.is_available()):
            raise InputError(f"device must be 'cpu' or an available 'cuda', got {device!r}")
        self.device = torch.device(device)
        self._model = self.header.spec.build().to(self.device)
        self._cpu_model = self.header.spec.build()
        self._prior = prior_for_stream(self.header.prior, self.header.spec)

    def _check_kinds(self) -> None:
        # Scheduled I frames start groups; the encoder may also start one at a scene cut.
        firsts = {group.first for group in self._groups}
        for index in range(0, self.header.num_frames, self.header.gop):
            if index not in firsts:
                raise BitstreamError(f"frame {index}: a P frame where an {INTRA} frame is due")

    @property
    def num_frames(self) -> int:
        return self.header.num_frames

    @property
    def fps(self) -> Fraction:
        return self.header.fps

    @staticmethod
    @contextmanager
    def _damage_as_bitstream_error(index: int) -> Iterator[None]:
        """Errors of decoding damaged data become :class:`BitstreamError` naming the frame."""
        try:
            yield
        except BitstreamError as exc:
            raise BitstreamError(f"frame {index}: {exc}") from exc
        except (NmcError, KeyError, RuntimeError, ValueError, OverflowError) as exc:
            raise BitstreamError(f"frame {index}: damaged frame data ({exc})") from exc

    def _decode_group(self, group: FrameGroup) -> Iterator[Planes]:
        """The planes of every frame of ``group``, in order (one torch thread while decoding:
        small tensors, where synchronization costs much on shared cores)."""
        reader = StreamReader(group.stream, group.symbols, f"frames {group.first}+")
        updates = iter(group.updates)
        reference = None
        for index in range(group.first, group.first + group.count):
            with torch_threads(1), self._damage_as_bitstream_error(index):
                planes, reference = self._decode(group, reader, updates, reference)
            yield planes
        if reader.remaining or next(updates, None) is not None:
            raise BitstreamError(f"frames {group.first}+: data left over after the group")

    def _decode(
        self,
        group: FrameGroup,
        reader: StreamReader,
        updates: Iterator[bytes],
        reference: Reference | None,
    ) -> tuple[Planes, Reference]:
        """The next frame's planes and the reference the frame after it predicts from: the
        group's I frame when ``reference`` is None, else a P frame."""
        residual = None if self._prior is None else self._prior.residual_context
        if reference is None:
            networks = None if self._prior is None else self._prior.networks
            state = decode_intra(self.header.spec, group.networks, reader, networks)
            planes = render(self._model, {n: t.to(self.device) for n, t in state.items()})
            block = self.header.motion_block
            vectors, statistics = zero_vectors(self.height, self.width, block), None
        else:
            result = decode_predicted(self._cpu_model, reference, reader, updates)
            planes = from_grid(result.frame, self.height, self.width)
            state, vectors, statistics = result.state, result.vectors, result.statistics
        return planes, Reference(to_grid(*planes), vectors, self.header.motion_block, state,
                                 residual, statistics)  # fmt: skip

    def frames(self, start: int = 0, count: int | None = None) -> Iterator[Planes]:
        """Yield ``(y, u, v)`` uint8 planes of frames ``start .. start+count-1``.

        Decoding begins at the I frame that starts the group holding ``start``; frames before
        ``start`` are decoded but not returned.
        """
        if not 0 <= start < self.num_frames:
            raise InputError(f"start must be in 0..{self.num_frames - 1}, got {start}")
        stop = self.num_frames if count is None else min(self.num_frames, start + count)
        if count is not None and count < 1:
            raise InputError(f"frames must be >= 1, got {count}")
        for group in self._groups:
            if group.first + group.count <= start or group.first >= stop:
                continue
            # Small tensors: one thread avoids synchronization costs (large on shared cores).
            with torch_threads(1):
                frames = self._decode_group(group)
                for index, planes in enumerate(frames, group.first):
                    if index >= stop:
                        break
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


def decode(
    source: Container | bytes | str | os.PathLike[str],
    start: int = 0,
    frames: int | None = None,
    **options: Any,
) -> Video:
    """Decode frames ``start .. start+frames-1`` of a video ``.nmc`` (bytes, path or container).

    ``options``: ``device``. Returns 8-bit 4:2:0 planes as a
    :class:`Video`; ``video.rgb()`` gives ``uint8 [T, H, W, 3]``.
    """
    return VideoDecoder(source, **options).read(start, frames)
