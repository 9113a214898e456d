"""Inter-component prediction: slopes fitted, applied and refused as the format says."""

from __future__ import annotations

import numpy as np
import pytest

from nmc.errors import BitstreamError
from nmc.pointcloud.components import LIMIT, SCALE, ComponentPrediction, values


def test_fit_recovers_the_slopes_of_correlated_residuals():
    rng = np.random.default_rng(0)
    y = rng.normal(0, 10, 5000)
    cb = rng.normal(0, 3, 5000)
    decoded = np.stack([y, cb, np.zeros_like(y)], axis=1)
    residual = np.stack(
        [y, 0.25 * y + rng.normal(0, 1, y.size), -0.5 * y + 0.375 * cb + rng.normal(0, 1, y.size)],
        axis=1,
    )
    fitted = ComponentPrediction.fit(decoded, residual)
    assert fitted.as_tuple() == (8, -16, 12)
    assert ComponentPrediction.fit(np.zeros((10, 3)), residual[:10]) == ComponentPrediction()


def test_values_add_each_channel_its_prediction_in_steps():
    step = np.array([4.0, 2.0, 2.0])
    matrix = ComponentPrediction(8, -16, 12).matrix(step)
    q = np.array([[3, 1, -2], [0, 0, 0], [-1, 0, 5]])
    got = values(q, matrix)
    y = q[:, 0] * step[0]
    cb = q[:, 1] * step[1] + 0.25 * y
    cr = q[:, 2] * step[2] - 0.5 * y + 0.375 * cb
    np.testing.assert_allclose(got * step, np.stack([y, cb, cr], axis=1))
    np.testing.assert_array_equal(values(q, ComponentPrediction().matrix(step)), q)


def test_slopes_outside_the_format_are_refused():
    ComponentPrediction(LIMIT, -LIMIT, 0)
    with pytest.raises(BitstreamError, match=f"/{SCALE}"):
        ComponentPrediction(0, LIMIT + 1, 0)
