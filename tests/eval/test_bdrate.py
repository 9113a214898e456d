"""BD-rate / BD-PSNR against the reference implementation in the ``bjontegaard`` package."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmc.errors import InputError
from nmc.eval.bdrate import bd_psnr, bd_rate

bjontegaard = pytest.importorskip("bjontegaard")

# x265-like and x264-like curves of carphone (bpp, PSNR-YUV dB), measured by nmc.eval.anchors.
ANCHOR = ([0.0121, 0.0181, 0.0588, 0.2549], [26.47, 28.97, 34.50, 40.93])
TEST = ([0.0172, 0.0234, 0.0537, 0.1944], [26.38, 28.36, 33.01, 39.07])


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_matches_bjontegaard_on_measured_curves(method: str) -> None:
    expected_rate = bjontegaard.bd_rate(*ANCHOR, *TEST, method=method, min_overlap=0)
    expected_psnr = bjontegaard.bd_psnr(*ANCHOR, *TEST, method=method, min_overlap=0)
    assert bd_rate(*ANCHOR, *TEST, method=method) == pytest.approx(expected_rate, abs=1e-6)
    assert bd_psnr(*ANCHOR, *TEST, method=method) == pytest.approx(expected_psnr, abs=1e-6)


def test_identical_curves_give_zero() -> None:
    assert bd_rate(*ANCHOR, *ANCHOR) == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(*ANCHOR, *ANCHOR) == pytest.approx(0.0, abs=1e-12)


def test_halving_every_rate_is_minus_fifty_percent() -> None:
    half = ([r / 2 for r in ANCHOR[0]], ANCHOR[1])
    assert bd_rate(*ANCHOR, *half) == pytest.approx(-50.0, abs=1e-9)


def test_point_order_does_not_matter() -> None:
    shuffled = (ANCHOR[0][::-1], ANCHOR[1][::-1])
    assert bd_rate(*shuffled, *TEST) == pytest.approx(bd_rate(*ANCHOR, *TEST), abs=1e-12)


_curve = st.lists(st.tuples(st.floats(0.05, 1.0), st.floats(0.3, 3.0)), min_size=4, max_size=6).map(
    lambda steps: (
        list(np.cumsum([0.01] + [s[0] for s in steps[1:]]) * 0.5),
        list(25 + np.cumsum([s[1] for s in steps])),
    )
)


@settings(max_examples=60, deadline=None)
@given(anchor=_curve, test=_curve, method=st.sampled_from(["pchip", "cubic"]))
def test_matches_bjontegaard_on_random_monotone_curves(anchor, test, method) -> None:
    n = min(len(anchor[0]), len(test[0]))
    anchor, test = (anchor[0][:n], anchor[1][:n]), (test[0][:n], test[1][:n])
    try:
        ours = bd_rate(*anchor, *test, method=method)
    except InputError:
        return  # no overlap: bjontegaard returns nan with a warning
    theirs = bjontegaard.bd_rate(*anchor, *test, method=method, min_overlap=0)
    assert ours == pytest.approx(theirs, abs=1e-6)
    ours_psnr = bd_psnr(*anchor, *test, method=method)
    theirs_psnr = bjontegaard.bd_psnr(*anchor, *test, method=method, min_overlap=0)
    assert ours_psnr == pytest.approx(theirs_psnr, abs=1e-6)


def test_too_few_points() -> None:
    with pytest.raises(InputError, match="at least 4"):
        bd_rate(ANCHOR[0][:3], ANCHOR[1][:3], *TEST)


def test_non_monotone_curve() -> None:
    bent = (ANCHOR[0], [26.47, 28.97, 28.50, 40.93])
    with pytest.raises(InputError, match="not monotone"):
        bd_rate(*bent, *TEST)


def test_no_overlap() -> None:
    far = (ANCHOR[0], [v + 30 for v in ANCHOR[1]])
    with pytest.raises(InputError, match="do not overlap"):
        bd_rate(*ANCHOR, *far)


def test_unknown_method_and_bad_values() -> None:
    with pytest.raises(InputError, match="unknown BD interpolation"):
        bd_rate(*ANCHOR, *TEST, method="akima")
    with pytest.raises(InputError, match="positive"):
        bd_rate([0, 0.1, 0.2, 0.3], ANCHOR[1], *TEST)
    with pytest.raises(InputError, match="metric values"):
        bd_rate(ANCHOR[0], ANCHOR[1][:3], *TEST)
