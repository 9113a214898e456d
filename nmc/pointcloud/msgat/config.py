"""Frozen configuration of the MS-GAT network and of the patch pipeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# mOSD "learn" scans kept out of training, for the benchmark: the four with TMC13 anchors
# (learn0, 20, 30, 40) and three more, so every scene type (boxes 0-16, stacked boxes 17-24,
# occluded objects 25-32, cylindric objects 33-44) has at least one.
HELD_OUT_SCANS = ("learn0", "learn17", "learn20", "learn25", "learn30", "learn33", "learn40")
# Scans that choose checkpoints and calibrate the gating, again one per scene type.
VALIDATION_SCANS = ("learn5", "learn22", "learn28", "learn38")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the MS-GAT network.

    Args:
        channels: feature width of every hidden layer.
        cheb_k: Chebyshev filter size K (number of hops + 1) of every ChebConv.
        cheb_layers: ChebConv layers per scale branch.
        knn: neighbours per point of the k-nearest-neighbour graph, at every scale
            (the graph is symmetrised, so a point has at least ``knn`` edges).
        heads: attention heads of the artifact-attention layer.
        scales: subsampling factors of the branches (1 = the full patch); each factor
            after the first is a farthest-point-sampled subset of 1/factor of the points.
    """

    channels: int = 32
    cheb_k: int = 4
    cheb_layers: int = 2
    knn: int = 12
    heads: int = 4
    scales: tuple[int, ...] = (1, 2, 4)

    def __post_init__(self) -> None:
        if self.channels < 4 or self.channels % self.heads:
            raise ValueError(
                f"channels={self.channels} must be >= 4 and divisible by heads={self.heads}"
            )
        if self.cheb_k < 1 or self.cheb_layers < 1 or self.knn < 1:
            raise ValueError("cheb_k, cheb_layers and knn must all be >= 1")
        if not self.scales or self.scales[0] != 1 or sorted(set(self.scales)) != list(self.scales):
            raise ValueError(f"scales={self.scales} must start at 1 and increase strictly")

    def to_dict(self) -> dict:
        """JSON-able form, the inverse of :meth:`from_dict`."""
        data = asdict(self)
        data["scales"] = list(self.scales)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Build from :meth:`to_dict` output; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        values = dict(data)
        if "scales" in values:
            values["scales"] = tuple(int(s) for s in values["scales"])
        return cls(**values)


@dataclass(frozen=True)
class PatchConfig:
    """How a cloud of any size is cut into overlapping patches.

    Args:
        patch_size: points per patch (the network's receptive field).
        core_size: the k-d tree splits the cloud into cores of at most this many points;
            each patch is one core plus the halo of nearest points around it, and only
            the core gets full weight when overlapping patches are blended.
        batch_patches: patches run through the network together (bounds memory).
    """

    patch_size: int = 2048
    core_size: int = 1792
    batch_patches: int = 16

    def __post_init__(self) -> None:
        if self.patch_size < 16:
            raise ValueError(f"patch_size={self.patch_size} must be >= 16")
        if not 1 <= self.core_size <= self.patch_size:
            raise ValueError(f"core_size={self.core_size} must be in [1, {self.patch_size}]")
        if self.batch_patches < 1:
            raise ValueError(f"batch_patches={self.batch_patches} must be >= 1")
