"""Pretrained weights shipped with nmc (MS-GAT post-filter), each with its training record."""
