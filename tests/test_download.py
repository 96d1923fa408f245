"""Downloads against a local HTTP server (success, sha256, retries, atomicity) and safe extraction."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mmrec_lite.data import (DataError, download, ensure_amazon_2014, ensure_movielens_100k, ensure_movies_dataset,
                             safe_extract)

from mmrec_lite.data import downloads as download_module

BODY = b"user\titem\n" * 1000
BODY_SHA = hashlib.sha256(BODY).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """``/ok`` serves BODY; ``/flaky`` answers 503 ``fail`` times first; ``/short`` promises more
    bytes than it sends; anything else is 404."""

    state: dict = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.state["requests"] += 1
        if self.path == "/flaky" and self.state["requests"] <= self.state["fail"]:
            self.send_error(503)
        elif self.path in ("/ok", "/flaky"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY) + 500))
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("MMREC_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    Handler.state = {"requests": 0, "fail": 0}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler.state
    httpd.shutdown()
    httpd.server_close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_download_success_verifies_and_reuses(server, tmp_path):
    base, state = server
    dest = download(f"{base}/ok", tmp_path / "data" / "file.tsv", sha256=BODY_SHA, progress=False)
    assert dest.read_bytes() == BODY and leftovers(dest.parent) == ["file.tsv"]
    assert download(f"{base}/ok", dest, sha256=BODY_SHA, progress=False) == dest
    assert state["requests"] == 1


def test_download_removes_part_files_of_killed_processes(server, tmp_path):
    """A download killed before its clean-up leaves ``.<name>.<pid>-<hex>.part``; the next
    download of the same file deletes it when that process is gone, and keeps a live one's."""
    import subprocess
    import sys
    base, _ = server
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / f".file.tsv.{int(dead.stdout)}-deadbeef.part").write_bytes(b"half a file")
    (tmp_path / ".file.tsv.notapid-0000.part").write_bytes(b"not ours to judge")
    download(f"{base}/ok", tmp_path / "file.tsv", sha256=BODY_SHA, progress=False)
    assert leftovers(tmp_path) == [".file.tsv.notapid-0000.part", "file.tsv"]
    assert not download_module._process_alive(int(dead.stdout)) and download_module._process_alive(os.getpid())


def test_download_sha_mismatch_leaves_nothing(server, tmp_path):
    base, _ = server
    with pytest.raises(DataError, match="sha256 mismatch"):
        download(f"{base}/ok", tmp_path / "file.tsv", sha256="0" * 64, progress=False)
    assert leftovers(tmp_path) == []


def test_download_retries_with_backoff(server, tmp_path):
    base, state = server
    state["fail"] = 2
    dest = download(f"{base}/flaky", tmp_path / "file.tsv", retries=3, backoff=0.0, progress=False)
    assert dest.read_bytes() == BODY and state["requests"] == 3
    state.update(requests=0, fail=10)
    with pytest.raises(DataError, match=r"/flaky .*HTTP 503.*" + str(tmp_path / "again")):
        download(f"{base}/flaky", tmp_path / "again" / "file.tsv", retries=2, backoff=0.0, progress=False)
    assert state["requests"] == 3 and leftovers(tmp_path / "again") == []


def test_download_truncated_transfer_is_atomic(server, tmp_path):
    base, state = server
    with pytest.raises(DataError, match="IncompleteRead"):
        download(f"{base}/short", tmp_path / "file.tsv", retries=1, backoff=0.0, progress=False)
    assert state["requests"] == 2 and leftovers(tmp_path) == []


def test_download_does_not_retry_client_errors(server, tmp_path):
    base, state = server
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{base}/missing", tmp_path / "file.tsv", retries=3, backoff=0.0, progress=False)
    assert state["requests"] == 1


def test_download_offline_names_url_and_folder(server, tmp_path, monkeypatch):
    base, state = server
    monkeypatch.setenv("MMREC_OFFLINE", "1")
    with pytest.raises(DataError, match=r"/ok \(offline.*" + str(tmp_path)):
        download(f"{base}/ok", tmp_path / "file.tsv", progress=False)
    assert state["requests"] == 0


def test_download_file_url_and_existing_mismatch(tmp_path, monkeypatch):
    monkeypatch.delenv("MMREC_OFFLINE", raising=False)
    source = tmp_path / "source.bin"
    source.write_bytes(BODY)
    dest = download(source.as_uri(), tmp_path / "out" / "copy.bin", sha256=BODY_SHA, progress=False)
    assert dest.read_bytes() == BODY
    dest.write_bytes(b"edited")
    with pytest.raises(DataError, match="differs from the pinned"):
        download(source.as_uri(), dest, sha256=BODY_SHA, progress=False)
    assert dest.read_bytes() == b"edited"


# ---------------------------------------------------------------------------------------------
# archives

def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info in members:
            tf.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def tar_member(name: str, kind=tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


def test_safe_extract_zip_and_tar(tmp_path):
    files = safe_extract(make_zip(tmp_path / "a.zip", {"d/one.txt": b"1", "d/two.txt": b"2"}), tmp_path / "out")
    assert sorted(p.name for p in files) == ["one.txt", "two.txt"]
    assert (tmp_path / "out" / "d" / "two.txt").read_bytes() == b"2"
    tar = make_tar(tmp_path / "a.tar.gz", [tar_member("d/f.txt"), tar_member("d/link", tarfile.SYMTYPE, "f.txt")])
    safe_extract(tar, tmp_path / "tar-out")
    assert (tmp_path / "tar-out" / "d" / "link").read_bytes() == b"x"


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "d/../../evil.txt", "C:/evil.txt"])
def test_safe_extract_rejects_zip_traversal(tmp_path, name):
    archive = make_zip(tmp_path / "bad.zip", {"ok.txt": b"1", name: b"2"})
    with pytest.raises(DataError, match="nothing extracted"):
        safe_extract(archive, tmp_path / "out")
    assert leftovers(tmp_path / "out") == [] and not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("member", [
    tar_member("../evil.txt"),
    tar_member("/tmp/evil.txt"),
    tar_member("d/escape", tarfile.SYMTYPE, "../../outside"),
    tar_member("d/absolute", tarfile.SYMTYPE, "/etc/passwd"),
    tar_member("d/hard", tarfile.LNKTYPE, "../outside"),
    tar_member("d/fifo", tarfile.FIFOTYPE),
])
def test_safe_extract_rejects_tar_escapes(tmp_path, member):
    archive = make_tar(tmp_path / "bad.tar.gz", [tar_member("ok.txt"), member])
    with pytest.raises(DataError, match="nothing extracted"):
        safe_extract(archive, tmp_path / "out")
    assert leftovers(tmp_path / "out") == []


def test_safe_extract_rejects_other_files(tmp_path):
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(DataError, match="not a zip or tar"):
        safe_extract(tmp_path / "plain.txt", tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# dataset fetchers

def fake_ml100k_zip(path: Path) -> dict[str, str]:
    members = {"ml-100k/u.data": b"1\t1\t5\t100\n", "ml-100k/u.item": b"1|Toy|||u|0\n", "ml-100k/u.genre": b"a|0\n"}
    make_zip(path, members)
    return {name.split("/")[1]: hashlib.sha256(data).hexdigest() for name, data in members.items()}


def test_ensure_movielens_checks_pinned_files(tmp_path, monkeypatch):
    monkeypatch.delenv("MMREC_OFFLINE", raising=False)
    shas = fake_ml100k_zip(tmp_path / "served.zip")
    root = tmp_path / "cache"
    with pytest.raises(DataError, match="differs from the official release"):
        ensure_movielens_100k(root, url=(tmp_path / "served.zip").as_uri())
    assert leftovers(root) == ["ml-100k.zip"]  # no half-extracted folder
    monkeypatch.setitem(download_module.ML100K_SHA256, "u.data", shas["u.data"])
    monkeypatch.setitem(download_module.ML100K_SHA256, "u.item", shas["u.item"])
    folder = ensure_movielens_100k(root, url=(tmp_path / "served.zip").as_uri())
    assert folder == root / "ml-100k" and (folder / "u.genre").read_bytes() == b"a|0\n"
    monkeypatch.setenv("MMREC_OFFLINE", "1")
    assert ensure_movielens_100k(root) == folder


def test_fetchers_offline_say_where_to_get_the_data(empty_cache):
    with pytest.raises(DataError, match=r"grouplens.org/datasets/movielens/ml-100k.zip.*" + str(empty_cache)):
        ensure_movielens_100k()
    with pytest.raises(DataError, match=r"snap.stanford.edu/.*reviews_Baby_5.json.gz.*amazon-2014-5core"):
        ensure_amazon_2014("Baby")
    with pytest.raises(DataError, match=r"kaggle.com/datasets/rounakbanik/the-movies-dataset.*movies_metadata.csv"):
        ensure_movies_dataset()
    assert download_module.AMAZON_2014_SHA256["reviews_Musical_Instruments_5.json.gz"].startswith("08c80fd5")


def test_a_multi_member_gzip_cut_between_members_needs_a_pin(tmp_path):
    """The documented limit of ``check_archive``: dropping whole trailing gzip members leaves a
    valid gzip file, so only the pinned sha256 tells the cut copy from the real one."""
    import gzip
    first, second = gzip.compress(b"line 1\n"), gzip.compress(b"line 2\n")
    whole, cut = tmp_path / "whole.json.gz", tmp_path / "cut.json.gz"
    whole.write_bytes(first + second)
    cut.write_bytes(first)
    assert gzip.decompress(whole.read_bytes()) == b"line 1\nline 2\n"
    download_module.check_archive(cut)  # passes: nothing inside shows the missing member
    (tmp_path / "half.json.gz").write_bytes((first + second)[:-5])
    with pytest.raises(DataError, match="damaged or truncated"):  # a cut inside a member is caught
        download_module.check_archive(tmp_path / "half.json.gz")
    pin = hashlib.sha256(whole.read_bytes()).hexdigest()
    with pytest.raises(DataError, match="sha256"):
        download(cut.as_uri(), tmp_path / "copy" / "whole.json.gz", sha256=pin, progress=False)


@pytest.mark.skipif(download_module.fcntl is None, reason="file locks need fcntl")
def test_lock_admits_one_holder_at_a_time_although_the_lock_file_is_deleted(tmp_path):
    """Each holder deletes the lock file on release; a waiter that wakes up on the deleted file
    must not share the critical section with a newcomer that locked the new file."""
    dest, inside, overlaps = tmp_path / "file.tsv", [], []

    def worker():
        for _ in range(5):
            with download_module._locked(dest):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(len(inside))
                time.sleep(0.002)
                inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [] and leftovers(tmp_path) == []
