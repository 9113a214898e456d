"""A campaign: plan the points of a recipe, skip the cached ones, run the rest, store each.

Order of work: resolve the datasets, drop codec configurations this installation cannot run
(saying why), turn datasets × configurations × rates into :class:`PointTask` s, subtract the
points already in ``rd.jsonl``, and run what is left on the chosen executor with one progress bar
(and ETA) over the whole campaign. Each finished point is stored before the next is awaited; a
results folder that cannot be created or written is an :class:`~nmc.errors.InputError` before
any point runs, and a write that fails mid-campaign (disk full) stops the campaign with one.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nmc import datasets
from nmc.bitstream import check_output
from nmc.errors import DependencyError, InputError
from nmc.eval.executors import execute
from nmc.eval.fingerprint import codec_fingerprint
from nmc.eval.points import PointTask
from nmc.eval.recipe import CodecConfig, Recipe
from nmc.eval.results import RdStore
from nmc.eval.tmc3 import find_tmc3

RD_FILE = "rd.jsonl"
_CODEC_MODULES = {"video": "nmc.video.codec", "pointcloud": "nmc.pointcloud.codec"}


@dataclass
class CampaignOutcome:
    """What a run produced.

    Attributes:
        records: the recipe's stored points (cached and new), in file order.
        cached: points reused from an earlier run.
        computed: points computed in this run.
        skipped: codec name -> why it could not run here.
        failures: ``"dataset/codec@rate: message"`` per failed point (full text on stderr).
    """

    records: list[dict[str, Any]]
    cached: int = 0
    computed: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _unavailable(codec: CodecConfig, kind: str, tmc3: str | None) -> str | None:
    """Why ``codec`` cannot run here, or ``None`` when it can."""
    if codec.source == "codec":
        module = _CODEC_MODULES.get(codec.target)
        if module is None:
            return f"unknown nmc codec {codec.target!r} (known: {', '.join(_CODEC_MODULES)})"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module.startswith(exc.name):
                return f"the nmc {codec.target} codec is not part of this installation"
            raise
    elif codec.source == "tmc3":
        try:
            find_tmc3(tmc3)
        except DependencyError as exc:
            return str(exc)
    elif codec.source == "points" and not Path(codec.target).is_file():
        try:
            datasets.path(codec.target)
        except InputError as exc:
            return str(exc)
    elif codec.source == "anchor" and kind != "video":
        return "video anchors cannot code point clouds"
    return None


def _points_file(codec: CodecConfig) -> CodecConfig:
    """``codec`` with a registry name in ``points`` replaced by the file's path."""
    if codec.source != "points" or Path(codec.target).is_file():
        return codec
    return CodecConfig(
        codec.name,
        codec.source,
        str(datasets.path(codec.target)),
        codec.rate_option,
        codec.rates,
        codec.options,
    )


def plan(recipe: Recipe, tmc3: str | None = None) -> tuple[list[PointTask], dict[str, str]]:
    """All tasks of ``recipe`` and the codecs skipped (name -> reason)."""
    if not recipe.datasets:
        raise InputError("no datasets: pass --data NAME or list datasets in the recipe")
    sources = [pair for spec in recipe.datasets for pair in datasets.resolve(spec, recipe.kind)]
    skipped, codecs = {}, []
    for codec in recipe.codecs:
        reason = _unavailable(codec, recipe.kind, tmc3)
        if reason is None:
            codecs.append(_points_file(codec))
        else:
            skipped[codec.name] = reason
    # The sources are hashed once per run; every point of an nmc codec carries the result.
    fingerprints = {c.target: codec_fingerprint(c.target) for c in codecs if c.source == "codec"}
    tasks = [
        PointTask(
            recipe.kind,
            label,
            str(path.resolve()),
            recipe.frames,
            recipe.start,
            codec,
            rate,
            tmc3,
            fingerprints[codec.target] if codec.source == "codec" else "",
        )
        for label, path in sources
        for codec in codecs
        for rate in codec.rates
    ]
    return tasks, skipped


def _results_folder(path: str | Path) -> Path:
    """``path`` created if needed; :class:`InputError` when it cannot hold result files."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise InputError(f"results folder {path} is a file; give a folder with -o") from exc
    except OSError as exc:
        raise InputError(f"cannot create results folder {path}: {exc.strerror}") from exc
    check_output(path / RD_FILE)
    return path


def run_campaign(
    recipe: Recipe,
    out_dir: str | Path,
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
    tmc3: str | None = None,
    progress: bool = True,
) -> CampaignOutcome:
    """Run (or resume) ``recipe``, storing points in ``out_dir/rd.jsonl``.

    Args:
        executor: ``"local"`` (``jobs`` worker processes; 1 = this process) or ``"ray"``.
        address: Ray cluster address (``None`` starts a local Ray instance).
        tmc3: path of the G-PCC reference encoder, for ``tmc3`` codecs.
        progress: show a tqdm bar on stderr.
    """
    out_dir = _results_folder(out_dir)
    tasks, skipped = plan(recipe, tmc3)
    store = RdStore(out_dir / RD_FILE)
    done = store.keys()
    pending = [t for t in tasks if t.key not in done]
    # Cheap anchors first, so the first results (and the ETA) appear quickly.
    pending.sort(key=lambda t: t.codec.source == "codec")
    outcome = CampaignOutcome(records=store.records, cached=len(tasks) - len(pending))
    outcome.skipped.update(skipped)
    bar = tqdm(
        total=len(tasks), initial=outcome.cached, unit="pt", desc="eval", disable=not progress
    )
    # closing(): an error while storing a point, or Ctrl-C, stops the workers at once.
    with bar, contextlib.closing(execute(pending, executor, jobs, address)) as outcomes:
        for task, result in outcomes:
            if isinstance(result, dict):
                store.add(result)
                outcome.computed += 1
            else:
                label = f"{task.dataset}/{task.codec.name}@{task.rate}"
                outcome.failures.append(f"{label}: {result.strip().splitlines()[-1]}")
                bar.write(f"nmc eval: point {label} failed:\n{result.rstrip()}")
            bar.update(1)
    # Points of codecs or rates no longer in the recipe stay in the file but out of this report.
    current = {t.key for t in tasks}
    outcome.records = [r for r in store.records if r.get("key") in current]
    return outcome
