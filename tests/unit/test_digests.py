"""Landing files' digests, read again only when a file changed (core/ingest/digests.py)."""

import os

from core.ingest import digests
from core.ingest.contract import file_sha256
from core.ingest.upstream import write_atomically


def test_a_file_is_hashed_again_only_once_it_changed(tmp_path, monkeypatch):
    reads = []
    monkeypatch.setattr(digests, "file_sha256", lambda path: reads.append(path) or file_sha256(path))
    path, known = tmp_path / "2013-03-01.csv", digests.FileDigests()
    write_atomically(path, "a,b\n1,2\n")
    first = known.digest(path)
    assert known.digest(path) == first and len(reads) == 1  # unchanged: not read again

    write_atomically(path, "a,b\n1,3\n")  # a corrected delivery, same size: a new inode
    assert known.digest(path) == file_sha256(path) != first and len(reads) == 2

    stat = path.stat()
    path.write_text("a,b\n1,4\n")  # rewritten in place, same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert known.digest(path) == file_sha256(path) and len(reads) == 3
