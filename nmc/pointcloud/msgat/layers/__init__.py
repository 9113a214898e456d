"""Graph operators of MS-GAT, one per module (PyG style, plain torch: decoding does not
import PyG)."""

from nmc.pointcloud.msgat.layers.artifact_attention import ArtifactAttention
from nmc.pointcloud.msgat.layers.cheb_conv_csr import CSRChebConv
from nmc.pointcloud.msgat.layers.cheb_stage import ChebStage
from nmc.pointcloud.msgat.layers.knn_gatv2_conv import KNNGATv2Conv
from nmc.pointcloud.msgat.layers.scale_branch import ScaleBranch

__all__ = ["ArtifactAttention", "CSRChebConv", "ChebStage", "KNNGATv2Conv", "ScaleBranch"]
