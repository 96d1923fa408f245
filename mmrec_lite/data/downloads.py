"""Downloads into the data cache: official URLs, sha256 checks, atomic and concurrent-safe writes,
retries, and archive extraction that resolves links itself.

- :func:`download` streams into a part file private to the process (``.<name>.<pid>-<random>.part``)
  while holding a lock on the destination, checks that part file (length, pinned sha256, or, when
  the server sends no length and nothing is pinned, the archive's own integrity) and only then
  moves it onto ``dest``. Two processes fetching one file never share bytes; the one that waits
  for the lock reuses the finished file; part files left by killed processes are deleted under the
  lock. An existing unpinned ``.zip``/``.gz``/``.tar*`` is
  reused only when it reads to the end intact (checked once per process); a damaged one is
  fetched again (offline: the error names the file to delete).
- :func:`safe_extract` reads every member first and refuses absolute paths, ``..``, paths that go
  through a link, links that resolve outside the archive (resolved here, member by member,
  whatever the Python version), a name used both as a file and as a folder, and devices. Links are never created on disk: a link to a file of
  the archive is written as a copy of it. Members are written into a staging folder beside
  ``dest`` and moved into place only when every member has been read without a CRC or
  truncation error.
- ``ensure_*`` fetch a dataset into ``profiles.data_root()`` unless it is already there. With
  ``MMREC_OFFLINE`` set, or when the network fails, they raise a :class:`DataError` naming the URL
  and the folder to fill by hand. A damaged cached archive is fetched again once; when that is
  impossible the error names the file to delete. Kaggle files cannot be fetched without an
  account: for them the error says where to download and where to put each file.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import secrets
import shutil
import stat
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from tqdm.auto import tqdm

from ..profiles import data_root, is_offline
from .checksums import ML100K_SHA256, OFFICIAL_FILES, sha256_of, verify_official
from .recdata import DataError

try:
    import fcntl
except ImportError:  # Windows: per-process part files alone keep downloads safe
    fcntl = None

__all__ = ["download", "safe_extract", "check_archive", "sha256_of", "ensure_movielens_100k", "ensure_amazon_2014",
           "ensure_movies_dataset", "movies_dataset_instructions", "ML100K_URL", "ML100K_SHA256",
           "AMAZON_2014_URL", "AMAZON_2014_SHA256", "MOVIES_DATASET_URL"]

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
AMAZON_2014_URL = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles/{file}"
AMAZON_2014_SHA256 = {name: pin.sha256 for name, pin in OFFICIAL_FILES["amazon-2014-5core"].items()}
MOVIES_DATASET_URL = "https://www.kaggle.com/datasets/rounakbanik/the-movies-dataset"
MOVIES_DATASET_FILES = ("ratings_small.csv", "links_small.csv", "movies_metadata.csv", "keywords.csv", "credits.csv")

_CHUNK = 1 << 20
_RETRYABLE = (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError)
_ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, NotImplementedError)
_MAX_LINK_DEPTH = 32
_intact: set[tuple] = set()   # (path, inode, size, mtime, ctime) of archives that read to the end intact


class _DamagedCache(DataError):
    """An existing unpinned archive in the cache does not read to the end."""


def _fill_by_hand(url: str, dest: Path, why: str) -> DataError:
    return DataError(f"cannot download {url} ({why}). Download it by hand and save it as {dest} "
                     f"(folder {dest.parent}), or set MMREC_DATA to a folder that has it.")


@contextmanager
def _locked(dest: Path):
    """Hold an exclusive lock on ``.<dest name>.lock`` beside ``dest`` (no-op without ``fcntl``).

    The holder deletes the lock file when it is done, so a process that was waiting on the old
    file may wake up holding a lock nobody else sees; it then checks that the path still names
    the file it locked and, if not, locks the new one — only one process is ever inside.
    """
    lock_path = dest.with_name(f".{dest.name}.lock")
    while True:
        handle = open(lock_path, "a+b")
        if fcntl is None:
            break
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            if os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()  # the file we locked was deleted by the previous holder: take the current one
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        handle.close()


def _fetch(url: str, part: Path, timeout: float, progress: bool) -> tuple[str, bool]:
    """Stream ``url`` into ``part``; return its sha256 and whether completeness is known.

    Completeness is known when the server sent a Content-Length (checked here) or used chunked
    encoding (``http.client`` raises on a cut). Raises on short reads.
    """
    digest, received = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        chunked = "chunked" in (response.headers.get("Transfer-Encoding") or "").lower()
        with tqdm(total=total, unit="B", unit_scale=True, desc=part.name[:-5], disable=not progress) as bar:
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        raise http.client.IncompleteRead(b"", total - received)
    return digest.hexdigest(), total is not None or chunked


def _reusable(dest: Path, sha256: str | None) -> bool:
    """True when ``dest`` exists and matches the pin (or, unpinned, is an intact archive or not an
    archive at all). Raises :class:`DataError` when it does not match the pin and
    :class:`_DamagedCache` when it is an unpinned archive that is cut or corrupt."""
    if not dest.exists():
        return False
    if sha256 is not None:
        if sha256_of(dest) != sha256:
            raise DataError(f"{dest} exists but its sha256 differs from the pinned {sha256}; "
                            f"delete {dest} to download it again")
        return True
    kind = _archive_kind(dest)
    if kind is not None:
        info = dest.stat()
        memo = (str(dest.resolve()), info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if memo not in _intact:
            try:
                check_archive(dest, kind=kind)
            except DataError as exc:
                raise _DamagedCache(str(exc)) from None
            _intact.add(memo)
    return True


def download(url: str, dest: str | Path, sha256: str | None = None, retries: int = 3, backoff: float = 1.0,
             progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically and return ``dest``.

    An existing ``dest`` is reused when its sha256 matches (or none is pinned); one that does not
    match raises, naming the file to delete, rather than being overwritten. The bytes go to a part
    file of this process, which replaces ``dest`` only after a transfer that is complete (length,
    or chunked encoding) and has the pinned sha256; without both a length and a pin, only a
    ``.zip``/``.gz``/``.tar*`` that passes :func:`check_archive` is kept. Concurrent calls for one
    ``dest`` take turns on a lock file. Network errors, time-outs and 5xx/408/429 answers are
    retried ``retries`` times with exponential back-off (``backoff * 2**attempt`` seconds).
    An existing unpinned archive that is cut or corrupt is fetched again and replaced only by a
    download that passes the same checks; offline, the error names it for deletion.
    """
    dest = Path(dest).expanduser()
    try:
        if _reusable(dest, sha256):
            return dest
    except _DamagedCache as exc:
        if is_offline():
            raise DataError(f"{exc}; delete {dest} and fetch it again from {url} (offline: MMREC_OFFLINE is "
                            "set)") from None
    if is_offline():
        raise _fill_by_hand(url, dest, "offline: MMREC_OFFLINE is set")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest):
        try:
            if _reusable(dest, sha256):  # another process finished it while we waited
                return dest
        except _DamagedCache:
            pass  # fetched again below; the damaged file is replaced only by a verified one
        _remove_stale_parts(dest)
        part = dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        try:
            digest, complete = _fetch_with_retries(url, dest, part, retries, backoff, progress, timeout)
            if sha256 is not None and digest != sha256:
                raise DataError(f"sha256 mismatch for {url}: expected {sha256}, got {digest}; nothing was saved")
            if sha256 is None and not complete:
                _accept_unverified(url, part, dest)
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)
    return dest


def _remove_stale_parts(dest: Path) -> None:
    """Delete the part files of ``dest`` left by processes that no longer run (a download killed
    before its ``finally``). Called under the lock, so no live download of ``dest`` owns them;
    the process check also keeps them safe where there is no ``fcntl`` lock."""
    for stale in dest.parent.glob(f".{dest.name}.*.part"):
        owner = stale.name[len(dest.name) + 2:-len(".part")].split("-")[0]
        if owner.isdigit() and not _process_alive(int(owner)):
            stale.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's) or cannot be asked: leave its file alone
    return True


def _fetch_with_retries(url, dest, part, retries, backoff, progress, timeout) -> tuple[str, bool]:
    for attempt in range(retries + 1):
        try:
            return _fetch(url, part, timeout, progress)
        except urllib.error.HTTPError as exc:
            part.unlink(missing_ok=True)
            if (exc.code < 500 and exc.code not in (408, 429)) or attempt == retries:
                raise _fill_by_hand(url, dest, f"HTTP {exc.code} {exc.reason}") from exc
        except _RETRYABLE as exc:
            part.unlink(missing_ok=True)
            if attempt == retries:
                raise _fill_by_hand(url, dest, f"{type(exc).__name__}: {exc} after {retries + 1} attempts") from exc
        time.sleep(backoff * 2 ** attempt)
    raise AssertionError("unreachable")


def _accept_unverified(url: str, part: Path, dest: Path) -> None:
    """A transfer of unknown length with no pinned sha256 is kept only if it is an intact archive."""
    if not _archive_kind(dest):
        raise DataError(f"{url}: the server sent no Content-Length and no sha256 is pinned, so a cut transfer "
                        f"cannot be told from a complete one; nothing was saved as {dest}. Pass sha256=... "
                        "or download it by hand")
    try:
        check_archive(part, kind=_archive_kind(dest))
    except DataError as exc:
        raise DataError(f"{url}: the transfer is incomplete or damaged ({exc}); nothing was saved as {dest}") from None


# ---------------------------------------------------------------------------------------------
# archives

def _archive_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return "tar"
    if name.endswith(".gz"):
        return "gz"
    return None


def check_archive(path: str | Path, kind: str | None = None) -> None:
    """Read a ``.zip`` / ``.tar*`` / ``.gz`` to the end, checking CRCs; raise :class:`DataError` if damaged.

    Limit: a gzip file may hold several members one after another (``cat a.gz b.gz``), and a copy
    cut exactly where one member ends is itself a valid gzip file; nothing inside it tells that
    members are missing. Only a pinned sha256 or the server's length catches that case, which is
    why :func:`download` relies on this check only when it has neither.
    """
    path = Path(path)
    kind = kind or _archive_kind(path)
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
            if bad is not None:
                raise DataError(f"{path}: damaged or truncated archive (member {bad!r} fails its CRC check)")
        elif kind == "tar":
            with tarfile.open(path) as tf:
                for member in tf:
                    if member.isfile():
                        shutil.copyfileobj(tf.extractfile(member), _Discard())
                _check_tar_end(tf, path)
        elif kind == "gz":
            with gzip.open(path, "rb") as handle:
                shutil.copyfileobj(handle, _Discard())
        else:
            raise DataError(f"{path}: not a zip, tar or gzip file")
    except _ARCHIVE_ERRORS as exc:
        raise DataError(f"{path}: damaged or truncated archive ({type(exc).__name__}: {exc})") from None


def _check_tar_end(tf: tarfile.TarFile, path: Path) -> None:
    """Raise unless the two zero blocks that end every tar archive follow the last member: a tar
    cut at a member boundary otherwise reads as a shorter, valid archive."""
    tf.fileobj.seek(tf.offset)
    if tf.fileobj.read(2 * tarfile.BLOCKSIZE) != bytes(2 * tarfile.BLOCKSIZE):
        raise tarfile.ReadError("no end-of-archive marker after the last member")


class _Discard:
    def write(self, block: bytes) -> int:
        return len(block)


class _Member(NamedTuple):
    """An archive entry: normalised path parts, kind (file, dir, symlink, hardlink), link text, source."""

    parts: tuple[str, ...]
    kind: str
    link: str
    source: object


def _parts(name: str, archive: Path) -> tuple[str, ...]:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise DataError(f"{archive}: unsafe member path {name!r} (absolute or '..'); nothing extracted")
    return tuple(p for p in pure.parts if p not in ("", "."))


def _zip_members(zf: zipfile.ZipFile, archive: Path) -> list[_Member]:
    members = []
    for info in zf.infolist():
        mode = info.external_attr >> 16
        if info.is_dir():
            kind, link = "dir", ""
        elif stat.S_ISLNK(mode):
            kind, link = "symlink", zf.read(info).decode("utf-8", "replace")
        elif stat.S_IFMT(mode) in (0, stat.S_IFREG):
            kind, link = "file", ""
        else:
            raise DataError(f"{archive}: member {info.filename!r} is a device or pipe; nothing extracted")
        members.append(_Member(_parts(info.filename, archive), kind, link, info))
    return members


def _tar_members(tf: tarfile.TarFile, archive: Path) -> list[_Member]:
    members = []
    for info in tf.getmembers():
        if info.isdir():
            kind = "dir"
        elif info.issym():
            kind = "symlink"
        elif info.islnk():
            kind = "hardlink"
        elif info.isfile():
            kind = "file"
        else:
            raise DataError(f"{archive}: member {info.name!r} is a device or pipe; nothing extracted")
        members.append(_Member(_parts(info.name, archive), kind, info.linkname, info))
    return members


class _Plan(NamedTuple):
    files: dict[tuple[str, ...], object]          # path -> archive member to write
    copies: dict[tuple[str, ...], tuple[str, ...]]  # link path -> the file path it resolves to
    dirs: set[tuple[str, ...]]


def _plan(members: list[_Member], archive: Path) -> _Plan:
    """Check every member and resolve every link inside the archive; raise before anything is written."""
    symlinks = {m.parts: m for m in members if m.kind == "symlink"}
    files = {m.parts: m.source for m in members if m.kind == "file"}
    dirs = {m.parts for m in members if m.kind == "dir"}

    def refuse(member: _Member, why: str):
        raise DataError(f"{archive}: member {'/'.join(member.parts)!r} {why}; nothing extracted")

    def resolve(parts: tuple[str, ...], member: _Member, depth: int = 0) -> tuple[str, ...]:
        out: list[str] = []
        for part in parts:
            if part in ("", "."):
                continue
            if part == "..":
                if not out:
                    refuse(member, f"-> {member.link!r} escapes the extraction folder")
                out.pop()
                continue
            out.append(part)
            link = symlinks.get(tuple(out))
            if link is not None:
                if depth >= _MAX_LINK_DEPTH:
                    refuse(member, "is part of a link loop")
                out = list(resolve(link.parts[:-1] + tuple(link.link.split("/")), member, depth + 1))
        return tuple(out)

    parents = {m.parts[:i] for m in members for i in range(1, len(m.parts))}
    copies = {}
    for member in members:
        if member.kind in ("file", "hardlink") and member.parts in parents:   # symlinks: "goes through" below
            refuse(member, "is both a file and a folder")
        through = next((member.parts[:i] for i in range(1, len(member.parts)) if member.parts[:i] in symlinks), None)
        if through is not None:
            refuse(member, f"goes through the link {'/'.join(through)!r}")
        if not member.parts and member.kind != "dir":
            refuse(member, "has an empty name")
        if member.kind in ("symlink", "hardlink"):
            if member.link.startswith("/") or PurePosixPath(member.link).is_absolute():
                refuse(member, f"-> {member.link!r} is an absolute link")
            base = member.parts[:-1] if member.kind == "symlink" else ()
            target = resolve(base + tuple(member.link.split("/")), member)
            if target not in files:
                refuse(member, f"-> {member.link!r} does not resolve to a file of the archive")
            if member.parts in files or member.parts in dirs:
                refuse(member, "is both a link and a file or folder")
            copies[member.parts] = target
    return _Plan(files, copies, dirs)


def _write(open_member, plan: _Plan, staging: Path) -> None:
    for parts in sorted(plan.dirs):
        (staging.joinpath(*parts)).mkdir(parents=True, exist_ok=True)
    for parts, source in plan.files.items():
        target = staging.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_member(source) as handle, open(target, "wb") as out:
            shutil.copyfileobj(handle, out, _CHUNK)
    for parts, target in plan.copies.items():
        path = staging.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staging.joinpath(*target), path)


def safe_extract(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract a zip or tar archive into ``dest``, refusing unsafe members; returns the file paths.

    Every member is checked before anything is written (see the module docstring); then the
    archive is extracted into a staging folder beside ``dest`` and its top-level entries are moved
    into ``dest`` (replacing entries of the same name) only when every member was read intact.
    """
    archive, dest = Path(archive), Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    delete_hint = f"delete {archive} and fetch it again"
    try:
        if zipfile.is_zipfile(archive):
            container = zipfile.ZipFile(archive)
            members, opener = _zip_members(container, archive), container.open
        elif tarfile.is_tarfile(archive):
            container = tarfile.open(archive)
            members, opener = _tar_members(container, archive), container.extractfile
            _check_tar_end(container, archive)
        elif _archive_kind(archive) in ("zip", "tar"):
            raise DataError(f"{archive}: damaged or truncated {_archive_kind(archive)} archive; {delete_hint}")
        else:
            raise DataError(f"{archive}: not a zip or tar archive")
    except _ARCHIVE_ERRORS as exc:
        raise DataError(f"{archive}: damaged or truncated archive ({type(exc).__name__}: {exc}); {delete_hint}") from None
    staging = dest.parent / f".{dest.name}.extract-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with container:
            plan = _plan(members, archive)
            staging.mkdir()
            _write(opener, plan, staging)
    except _ARCHIVE_ERRORS as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{archive}: damaged or truncated archive ({type(exc).__name__}: {exc}); nothing "
                        f"extracted; {delete_hint}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for entry in sorted(staging.iterdir()):
        target = dest / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(entry, target)
    staging.rmdir()
    return [dest.joinpath(*parts) for parts in [*plan.files, *plan.copies]]


# ---------------------------------------------------------------------------------------------
# dataset fetchers

def _unpack_movielens(archive: Path, root: Path, folder: Path) -> None:
    """Extract ``archive`` into a staging folder, check the pinned files, move ``ml-100k/`` into place."""
    staging = root / ".ml-100k.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        safe_extract(archive, staging)
        for name, expected in ML100K_SHA256.items():
            path = staging / "ml-100k" / name
            if not path.exists() or sha256_of(path) != expected:
                raise DataError(f"{archive}: ml-100k/{name} is missing or differs from the official release "
                                f"(sha256 {expected}); delete {archive} and try again")
        os.replace(staging / "ml-100k", folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_movielens_100k(root: str | Path | None = None, url: str = ML100K_URL, verify: bool | None = None) -> Path:
    """The ``ml-100k`` folder under ``root`` (default ``data_root()``), downloaded if missing.

    The zip is unpacked into a temporary folder, ``u.data`` and ``u.item`` are checked against
    the pinned sha256 of the official release, and only then is ``ml-100k/`` moved into place.
    An existing folder is verified too (``verify=False`` or ``MMREC_VERIFY=0`` for a modified
    copy). A cached zip that is damaged or not the release is fetched again once (online).
    """
    root = Path(root).expanduser() if root is not None else data_root()
    folder = root / "ml-100k"
    if all((folder / f).exists() for f in ML100K_SHA256):
        for name in ML100K_SHA256:
            verify_official(folder / name, "ml-100k", verify)
        return folder
    if folder.exists():
        raise DataError(f"{folder} exists but lacks {sorted(ML100K_SHA256)}; complete it from {url} or remove it")
    archive = root / "ml-100k.zip"
    cached = archive.exists()
    try:
        download(url, archive)
    except DataError as exc:
        raise DataError(f"{exc} Then unzip it in {root} so that {folder / 'u.data'} exists.") from exc
    try:
        _unpack_movielens(archive, root, folder)
    except DataError:
        if not cached or is_offline():
            raise
        archive.unlink()  # a stale or damaged cached zip: fetch it once more
        download(url, archive)
        _unpack_movielens(archive, root, folder)
    return folder


def ensure_amazon_2014(category: str = "Musical_Instruments", root: str | Path | None = None,
                       meta: bool = False) -> Path:
    """The ``amazon-2014-5core`` folder with ``reviews_<category>_5.json.gz`` (and the product
    metadata ``meta_<category>.json.gz`` when ``meta``), downloaded from the McAuley lab if missing.
    Only the Musical_Instruments reviews have a pinned sha256."""
    folder = (Path(root).expanduser() if root is not None else data_root()) / "amazon-2014-5core"
    files = [f"reviews_{category}_5.json.gz"] + ([f"meta_{category}.json.gz"] if meta else [])
    for name in files:
        download(AMAZON_2014_URL.format(file=name), folder / name, sha256=AMAZON_2014_SHA256.get(name))
    return folder


def movies_dataset_instructions(folder: Path) -> str:
    """How to fetch Kaggle's *The Movies Dataset* by hand (it needs a Kaggle account)."""
    return (f"The Movies Dataset is not in {folder}. It is distributed by Kaggle only: download it from "
            f"{MOVIES_DATASET_URL} (a free Kaggle account is needed), unzip it, and put "
            f"{', '.join(MOVIES_DATASET_FILES)} in {folder} (ratings_small.csv is required, the others add "
            "links to TMDB, text, genres, keywords, cast and director).")


def ensure_movies_dataset(root: str | Path | None = None) -> Path:
    """The ``the-movies-dataset`` folder; raises with download instructions when it is missing."""
    folder = (Path(root).expanduser() if root is not None else data_root()) / "the-movies-dataset"
    if not (folder / "ratings_small.csv").exists():
        raise DataError(movies_dataset_instructions(folder))
    return folder
