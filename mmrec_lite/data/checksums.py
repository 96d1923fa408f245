"""The official files' sha256 and line counts, and the check every loader runs on them.

A loader that reads a file with an official name (``u.data``, ``ratings_small.csv``, ...) calls
:func:`verify_official` first, wherever the file was found (a fresh download, an old cache, a
folder filled by hand). A file that differs from the release raises a :class:`DataError` naming
the file, the expected and the actual sha256 and its line count against the official one.
A deliberately modified copy (a subsample, a fixture) is loaded with ``verify=False`` or with
the environment variable ``MMREC_VERIFY=0``. Only hashes of the official files are stored here,
never data. A verified file is remembered for the rest of the process by its path, inode, size,
modification and status-change times (``st_ctime`` moves on every write, even one that restores
the modification time), so an edit in place is always hashed again.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import NamedTuple

from .recdata import DataError

__all__ = ["Pinned", "ML100K_SHA256", "OFFICIAL_FILES", "verify_official", "verification_enabled", "sha256_of"]

_CHUNK = 1 << 20


class Pinned(NamedTuple):
    """sha256 of an official file and its number of lines (of the decompressed text for ``.gz``)."""

    sha256: str
    lines: int | None = None


#: sha256 of the files of the official GroupLens ``ml-100k.zip`` that the loader needs.
ML100K_SHA256 = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
}
_ML100K_LINES = {"u.data": 100_000, "u.item": 1_682, "u.genre": 20, "u.user": 943}

#: Official files per dataset folder: ``{folder: {file: Pinned}}``.
OFFICIAL_FILES: dict[str, dict[str, Pinned]] = {
    "ml-100k": {
        "u.genre": Pinned("9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb", 20),
        "u.user": Pinned("f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c", 943),
    },
    "ml-100k-tmdb": {
        "item_features.csv": Pinned("fcbb689639d21ac8c581b0681699edafe01e96ef7afffa45a0afb9a6ba99e250"),
        "links.csv": Pinned("7c5457869a1d5519111beec4c3ff0baec1940fad79f1f465396bf86f86f55058", 1_682),
    },
    "the-movies-dataset": {
        "ratings_small.csv": Pinned("821795331fd974bbe7a8416f2a7eec2b548a485dedb47a073580b0a9a8a0a8d2", 100_005),
    },
    "amazon-2014-5core": {
        "reviews_Musical_Instruments_5.json.gz": Pinned(
            "08c80fd5a66639eb40b7f81a2153470270fe3f7e86d22b1b78b22b9d4c24a82e", 10_261),
    },
    "amazon-2018-5core": {
        "All_Beauty_5.json.gz": Pinned("8e49737fefaec9290187c69bf92889452df8be0ab5e36c9476520d6639683279", 5_269),
    },
}

_verified: set[tuple] = set()


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verification_enabled(verify: bool | None = None) -> bool:
    """``verify`` when given, else False only when ``MMREC_VERIFY`` is ``0``/``false``/``no``."""
    if verify is not None:
        return bool(verify)
    return os.environ.get("MMREC_VERIFY", "1").strip().lower() not in {"0", "false", "no", "off"}


def _pinned(folder: str, name: str) -> Pinned | None:
    if folder == "ml-100k" and name in ML100K_SHA256:  # looked up each time: tests may patch the dict
        return Pinned(ML100K_SHA256[name], _ML100K_LINES.get(name))
    return OFFICIAL_FILES.get(folder, {}).get(name)


def _count_lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            return sum(block.count(b"\n") for block in iter(lambda: handle.read(_CHUNK), b""))
    except (OSError, EOFError):
        return -1


def verify_official(path: str | Path, folder: str, verify: bool | None = None) -> None:
    """Raise :class:`DataError` when ``path`` (an official file of dataset ``folder``) is not the release's.

    Files without a pin, and every file when verification is off (``verify=False`` or
    ``MMREC_VERIFY=0``), pass unchecked.
    """
    path = Path(path)
    pinned = _pinned(folder, path.name)
    if pinned is None or not verification_enabled(verify) or not path.is_file():
        return
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, pinned.sha256)
    if memo in _verified:
        return
    actual = sha256_of(path)
    if actual != pinned.sha256:
        lines = _count_lines(path)
        count = "" if pinned.lines is None else (
            f"; it has {lines:,} lines, the official file {pinned.lines:,}" if lines >= 0
            else f"; it cannot be read to the end (the official file has {pinned.lines:,} lines)")
        raise DataError(f"{path} is not the official {folder} file: sha256 {actual}, expected {pinned.sha256}"
                        f"{count}. Delete it and download it again, or, for a deliberately modified copy, "
                        "pass verify=False (or set MMREC_VERIFY=0)")
    _verified.add(memo)
