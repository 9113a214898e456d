"""Graph operators of MS-GAT, one per module (PyG style)."""

import warnings

with warnings.catch_warnings():
    # PyG 2.8 runs torch.jit.script on its own classes at import time, which torch 2.14
    # deprecates; the FutureWarning would reach every user of the post-filter, who can do
    # nothing about it. Importing PyG here first, once, keeps it out of their output.
    warnings.filterwarnings(
        "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
    )
    import torch_geometric.nn  # noqa: F401

from nmc.pointcloud.msgat.layers.artifact_attention import ArtifactAttention  # noqa: E402
from nmc.pointcloud.msgat.layers.cheb_conv_csr import CSRChebConv  # noqa: E402
from nmc.pointcloud.msgat.layers.cheb_stage import ChebStage  # noqa: E402
from nmc.pointcloud.msgat.layers.scale_branch import ScaleBranch  # noqa: E402

__all__ = ["ArtifactAttention", "CSRChebConv", "ChebStage", "ScaleBranch"]
