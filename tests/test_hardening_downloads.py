"""Downloads and archives under hostile but fair conditions: two processes fetching one file,
transfers cut without a length, damaged cached archives, link tricks in tar and zip files."""
from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mmrec_lite.data import DataError, download, ensure_movielens_100k, safe_extract
from mmrec_lite.data import checksums
from mmrec_lite.data.downloads import check_archive

BODY = bytes(range(256)) * 4096          # 1 MiB
BODY_SHA = hashlib.sha256(BODY).hexdigest()
REPO = Path(__file__).resolve().parents[1]


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


GOOD_ZIP = zip_bytes({"ml-100k/u.data": b"1\t1\t5\t100\n" * 50, "ml-100k/u.item": b"1|Toy|||u|0\n"})


class Handler(BaseHTTPRequestHandler):
    """``/slow``: BODY with a length, in 32 slices 20 ms apart. ``/nolength/<name>``: the bytes in
    ``routes[name]`` with no Content-Length, then the connection closes (HTTP/1.0 style)."""

    protocol_version = "HTTP/1.0"
    state: dict = {}

    def do_GET(self):  # noqa: N802
        self.state["requests"] += 1
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            step = len(BODY) // 32
            for start in range(0, len(BODY), step):
                self.wfile.write(BODY[start:start + step])
                self.wfile.flush()
                time.sleep(0.02)
        elif self.path.startswith("/nolength/"):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(self.state["routes"][self.path.split("/")[-1]])
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("MMREC_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    Handler.state = {"requests": 0, "routes": {}}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler.state
    httpd.shutdown()
    httpd.server_close()


WORKER = textwrap.dedent("""
    import os, sys, time, torch
    torch.set_num_threads(1)
    from pathlib import Path
    from mmrec_lite.data import download
    url, dest, sha, ready, go = sys.argv[1:6]
    Path(ready).touch()
    deadline = time.time() + 60
    while not Path(go).exists() and time.time() < deadline:
        time.sleep(0.01)
    path = download(url, dest, sha256=None if sha == "-" else sha, progress=False, retries=0)
    print(path.stat().st_size)
""")


@pytest.mark.parametrize("pinned", [True, False])
def test_two_processes_download_one_destination(server, tmp_path, pinned):
    base, state = server
    dest = tmp_path / "cache" / "body.bin"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    procs = []
    for i in range(2):
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, f"{base}/slow", str(dest), BODY_SHA if pinned else "-",
             str(tmp_path / f"ready{i}"), str(tmp_path / "go")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.time() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)) and time.time() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err
        assert out.strip() == str(len(BODY))
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == BODY_SHA
    assert sorted(p.name for p in dest.parent.iterdir()) == ["body.bin"]   # no part or lock file left
    assert state["requests"] == 1    # the second process waited on the lock and reused the file


def test_transfer_without_length_or_pin_is_never_saved(server, tmp_path):
    base, state = server
    state["routes"].update({"table.tsv": BODY[:1000], "cut.zip": GOOD_ZIP[:len(GOOD_ZIP) // 2],
                            "whole.zip": GOOD_ZIP})
    with pytest.raises(DataError, match="no Content-Length and no sha256 is pinned.*nothing was saved"):
        download(f"{base}/nolength/table.tsv", tmp_path / "table.tsv", progress=False)
    with pytest.raises(DataError, match="incomplete or damaged.*nothing was saved"):
        download(f"{base}/nolength/cut.zip", tmp_path / "cut.zip", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # with a pinned sha256, or when the archive checks out whole, the file is kept
    assert download(f"{base}/nolength/table.tsv", tmp_path / "table.tsv", progress=False,
                    sha256=hashlib.sha256(BODY[:1000]).hexdigest()).read_bytes() == BODY[:1000]
    assert download(f"{base}/nolength/whole.zip", tmp_path / "whole.zip", progress=False).read_bytes() == GOOD_ZIP


def crc_corrupt(data: bytes) -> bytes:
    """A stored (uncompressed) zip whose first member's bytes were altered: the CRC no longer matches."""
    position = data.index(b"1\t1\t5")
    return data[:position] + b"9" + data[position + 1:]


def test_damaged_archives_name_the_file_to_delete(tmp_path):
    stored = zip_bytes({"ml-100k/u.data": b"1\t1\t5\t100\n" * 50}, zipfile.ZIP_STORED)
    cases = {"truncated.zip": GOOD_ZIP[: len(GOOD_ZIP) - 30], "crc.zip": crc_corrupt(stored),
             "empty.zip": b"", "cut.tar.gz": gzip_tar()[:200]}
    for name, data in cases.items():
        archive = tmp_path / name
        archive.write_bytes(data)
        with pytest.raises(DataError, match=f"{name}: damaged or truncated.*delete .*{name}"):
            safe_extract(archive, tmp_path / f"out-{name}")
        assert list((tmp_path / f"out-{name}").iterdir()) == []
        with pytest.raises(DataError, match="damaged or truncated"):
            check_archive(archive)
    check_archive(archive_with(tmp_path / "good.zip", GOOD_ZIP))


def gzip_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        data = os.urandom(5000)
        info = tarfile.TarInfo("d/big.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def archive_with(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_damaged_cached_zip_is_fetched_again(tmp_path, monkeypatch):
    monkeypatch.delenv("MMREC_OFFLINE", raising=False)
    served = archive_with(tmp_path / "served.zip", GOOD_ZIP)
    with zipfile.ZipFile(served) as zf:
        for name in ("u.data", "u.item"):
            monkeypatch.setitem(checksums.ML100K_SHA256, name,
                                hashlib.sha256(zf.read(f"ml-100k/{name}")).hexdigest())
    for damaged in (GOOD_ZIP[:100], crc_corrupt(zip_bytes({"ml-100k/u.data": b"1\t1\t5\t100\n" * 50},
                                                          zipfile.ZIP_STORED))):
        root = tmp_path / f"root{len(damaged)}"
        archive_with(root.mkdir() or root / "ml-100k.zip", damaged)
        monkeypatch.setenv("MMREC_OFFLINE", "1")
        with pytest.raises(DataError, match=f"delete {root / 'ml-100k.zip'}"):
            ensure_movielens_100k(root, url=served.as_uri())
        assert sorted(p.name for p in root.iterdir()) == ["ml-100k.zip"]
        monkeypatch.delenv("MMREC_OFFLINE")
        folder = ensure_movielens_100k(root, url=served.as_uri())
        assert (folder / "u.data").read_bytes() == b"1\t1\t5\t100\n" * 50
        assert (root / "ml-100k.zip").read_bytes() == GOOD_ZIP


# ---- links ------------------------------------------------------------------------------------

def make_tar(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """members: (name, kind "file" | "dir" | "sym" | "hard", link target)."""
    kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}
    with tarfile.open(path, "w") as tf:
        for name, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kinds[kind], link
            data = f"content of {name}".encode() if kind == "file" else b""
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)
    return path


@pytest.mark.parametrize("members, why", [
    ([("x", "sym", "."), ("x/y", "sym", ".."), ("x/y/evil", "file", "")], "x"),
    ([("a", "sym", "."), ("c", "sym", "a/../outside"), ("c2", "file", "")], "escapes|does not resolve"),
    ([("d", "dir", ""), ("d/up", "sym", ".."), ("d/up/evil", "file", "")], "does not resolve to a file"),
    ([("sub", "dir", ""), ("sub/f", "file", ""), ("s", "sym", "sub/f"), ("s/g", "file", "")], "goes through the link"),
    ([("a", "sym", "b"), ("b", "sym", "a"), ("c", "sym", "a")], "loop"),
    ([("f", "file", ""), ("l", "sym", "f"), ("l", "file", "")], "both a link and a file"),
    ([("sub", "dir", ""), ("l", "sym", "sub")], "does not resolve to a file"),
    ([("h", "hard", "../etc/passwd")], "escapes"),
])
def test_tar_link_tricks_are_refused_before_anything_is_written(tmp_path, members, why):
    archive = make_tar(tmp_path / "links.tar", [("ok.txt", "file", "")] + members)
    with pytest.raises(DataError, match=f"(?s)({why}).*nothing extracted"):
        safe_extract(archive, tmp_path / "box" / "out")
    assert sorted(p.name for p in (tmp_path / "box").iterdir()) == ["out"]
    assert list((tmp_path / "box" / "out").iterdir()) == []
    assert not (tmp_path / "box" / "evil").exists() and not (tmp_path / "evil").exists()


def test_links_inside_the_archive_become_copies(tmp_path):
    archive = make_tar(tmp_path / "ok.tar", [("d/f.txt", "file", ""), ("d/sym", "sym", "f.txt"),
                                              ("e/up", "sym", "../d/./f.txt"), ("hard", "hard", "d/f.txt"),
                                              ("chain", "sym", "e/up")])
    out = tmp_path / "out"
    files = safe_extract(archive, out)
    assert sorted(str(p.relative_to(out)) for p in files) == ["chain", "d/f.txt", "d/sym", "e/up", "hard"]
    for name in ("d/sym", "e/up", "hard", "chain"):
        assert not (out / name).is_symlink() and (out / name).read_bytes() == b"content of d/f.txt"


def zip_with_symlink(path: Path, link: str, target: str, then: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        info = zipfile.ZipInfo(link)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
        zf.writestr(then, b"evil")
    return path


@pytest.mark.parametrize("link, target, then", [("x", "..", "x/evil.txt"), ("x", "/tmp", "x/evil.txt"),
                                                ("d/x", "../..", "d/x/evil.txt"), ("x", ".", "x/y.txt")])
def test_zip_symlink_entries_leave_no_partial_output(tmp_path, link, target, then):
    archive = zip_with_symlink(tmp_path / "s.zip", link, target, then)
    with pytest.raises(DataError, match="nothing extracted"):
        safe_extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == [] and not (tmp_path / "evil.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s.zip"]   # no staging folder left


def test_extraction_replaces_only_after_every_member_is_accepted(tmp_path):
    out = tmp_path / "out"
    safe_extract(archive_with(tmp_path / "v1.zip", zip_bytes({"ml-100k/u.data": b"old"})), out)
    bad = zip_with_symlink(tmp_path / "v2.zip", "ml-100k", ".", "ml-100k/u.data")
    with pytest.raises(DataError):
        safe_extract(bad, out)
    assert (out / "ml-100k" / "u.data").read_bytes() == b"old"
    safe_extract(archive_with(tmp_path / "v3.zip", zip_bytes({"ml-100k/u.data": b"new"})), out)
    assert (out / "ml-100k" / "u.data").read_bytes() == b"new"


def test_plain_tar_cut_at_a_member_boundary_is_damaged(tmp_path):
    whole = make_tar(tmp_path / "whole.tar", [(f"f{i}", "file", "") for i in range(3)]).read_bytes()
    for cut in (512 * 2, 512 * 4):                       # after one or two whole members, no end marker
        archive = archive_with(tmp_path / "cut.tar", whole[:cut])
        with pytest.raises(DataError, match="damaged or truncated.*end-of-archive"):
            check_archive(archive)
        with pytest.raises(DataError, match="end-of-archive.*delete"):
            safe_extract(archive, tmp_path / "out")
    check_archive(tmp_path / "whole.tar")


def test_damaged_unpinned_cached_gz_is_fetched_again(tmp_path, monkeypatch):
    import gzip
    served = tmp_path / "served" / "table.json.gz"
    served.parent.mkdir()
    served.write_bytes(gzip.compress(b'{"a": 1}\n' * 5000))
    dest = tmp_path / "cache" / "table.json.gz"
    dest.parent.mkdir()
    dest.write_bytes(served.read_bytes()[:-10])
    monkeypatch.setenv("MMREC_OFFLINE", "1")
    with pytest.raises(DataError, match=f"damaged or truncated.*delete {dest}"):
        download(served.as_uri(), dest, progress=False)
    monkeypatch.delenv("MMREC_OFFLINE")
    assert download(served.as_uri(), dest, progress=False).read_bytes() == served.read_bytes()


def test_a_name_used_as_file_and_folder_is_refused(tmp_path):
    archive = archive_with(tmp_path / "clash.zip", zip_bytes({"a": b"file", "a/b": b"nested"}))
    with pytest.raises(DataError, match="'a' is both a file and a folder; nothing extracted"):
        safe_extract(archive, tmp_path / "out")
