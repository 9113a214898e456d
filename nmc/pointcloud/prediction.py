"""Prediction of a level's node colours from reconstructed neighbours (G-PCC's RAHT
prediction, with sub-node neighbours).

A child at corner ``d`` of its parent is predicted as the weighted mean of the reconstructed
colours of its parent (weight :data:`PARENT_WEIGHT`), of the parent's neighbours that touch
the child (the three face neighbours on the child's side, :data:`FACE_WEIGHT`, and the three
edge neighbours between them, :data:`EDGE_WEIGHT`) and, when they are already reconstructed,
of the child's own face neighbours one level down in those face-neighbour parents
(:data:`SUBNODE_WEIGHT`). Where no neighbour exists the prediction is the parent's colour,
which predicts every high-pass coefficient as zero, i.e. plain RAHT. Edge neighbours are
reached through a face neighbour (x then y, or y then x), so one whose two connecting faces
are both empty is not used; encoder and decoder agree on that.
"""

from __future__ import annotations

import numpy as np

PARENT_WEIGHT = 6.0
FACE_WEIGHT = 2.0
EDGE_WEIGHT = 0.5
SUBNODE_WEIGHT = 3.0
# _BELOW[byte, k]: number of set bits of ``byte`` below bit k.
_BELOW = np.array(
    [[bin(byte & ((1 << k) - 1)).count("1") for k in range(8)] for byte in range(256)],
    dtype=np.int64,
)


def _step(table: np.ndarray, nodes: np.ndarray, column: np.ndarray | int) -> np.ndarray:
    """Neighbour of ``nodes`` through ``column`` of the padded face table (-1 = none).

    The table's last row is all -1, so a missing node (-1) has no neighbours.
    """
    return table[nodes, column]


def child_index(
    occupancy: np.ndarray, first_child: np.ndarray, parent: np.ndarray, corner: np.ndarray
) -> np.ndarray:
    """Index one level down of child ``corner`` of each ``parent`` (-1: parent or child absent).

    ``first_child`` (int64 [P]) is the index of each parent's first child.
    """
    byte = np.where(parent >= 0, occupancy[parent], 0).astype(np.int64)
    present = ((byte >> corner) & 1) == 1
    return np.where(present, first_child[parent] + _BELOW[byte, corner], -1)


class Predictor:
    """Predicts the colours of one level's nodes.

    Args:
        neighbours: int32 ``[P, 6]`` face-neighbour table of the level above.
        occupancy: uint8 ``[P]`` occupancy bytes of the level above.
        parent: int64 ``[n]`` parent index of every node of the level.
        corner: int64 ``[n]`` child index ``4 x + 2 y + z`` of every node.
    """

    def __init__(
        self, neighbours: np.ndarray, occupancy: np.ndarray, parent: np.ndarray, corner: np.ndarray
    ) -> None:
        self.neighbours = np.vstack([neighbours, np.full((1, 6), -1, dtype=neighbours.dtype)])
        self.occupancy = occupancy
        self.parent = parent
        self.corner = corner
        counts = _BELOW[occupancy.astype(np.int64), 7] + (occupancy >> 7)
        self.first_child = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def predict(
        self,
        nodes: np.ndarray,
        parent_colour: np.ndarray,
        child_colour: np.ndarray | None = None,
        known: np.ndarray | None = None,
    ) -> np.ndarray:
        """Predicted colours (float64 ``[len(nodes), C]``) of the level's ``nodes``.

        Args:
            nodes: int64 indices of the nodes to predict.
            parent_colour: float64 ``[P, C]`` reconstructed colours of the level above.
            child_colour: float64 ``[n, C]`` reconstructed colours of this level, valid where
                ``known`` (bool ``[n]``) is True; None = no sub-node neighbours.
        """
        parent, corner = self.parent[nodes], self.corner[nodes]
        bits = [(corner >> 2) & 1, (corner >> 1) & 1, corner & 1]
        toward = [2 * axis + bits[axis] for axis in range(3)]
        # Index -1 (no neighbour) picks the zero row appended to the colour tables.
        parents = np.vstack([parent_colour, np.zeros((1, parent_colour.shape[1]))])
        total = np.full(nodes.size, PARENT_WEIGHT)
        acc = PARENT_WEIGHT * parent_colour[parent]

        def add(index: np.ndarray, colour: np.ndarray, weight: float) -> None:
            np.add(acc, weight * colour[index], out=acc)
            np.add(total, weight * (index >= 0), out=total)

        table = self.neighbours
        faces = [_step(table, parent, toward[axis]) for axis in range(3)]
        for face in faces:
            add(face, parents, FACE_WEIGHT)
        for first, second in ((0, 1), (0, 2), (1, 2)):
            edge = _step(table, faces[first], toward[second])
            other = _step(table, faces[second], toward[first])
            add(np.where(edge >= 0, edge, other), parents, EDGE_WEIGHT)
        if child_colour is not None:
            children = np.vstack([child_colour, np.zeros((1, child_colour.shape[1]))])
            usable = np.append(known, False)
            for axis in range(3):
                mirrored = corner ^ (1 << (2 - axis))
                sub = child_index(self.occupancy, self.first_child, faces[axis], mirrored)
                add(np.where(usable[sub], sub, -1), children, SUBNODE_WEIGHT)
        return acc / total[:, None]
