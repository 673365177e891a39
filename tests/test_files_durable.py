"""Every atomic write makes its new name durable too: the folder is fsynced after the rename."""

import os
import sys

import pytest

from mgie_desktop.core import files


@pytest.mark.skipif(os.name == "nt", reason="POSIX folders have handles to fsync")
def test_atomic_write_fsyncs_the_file_and_then_its_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def watching(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}") if sys.platform.startswith("linux") else fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", watching)
    files.atomic_write(tmp_path / "out.bin", lambda fh: fh.write(b"data"), "the test file")
    assert (tmp_path / "out.bin").read_bytes() == b"data"
    assert len(synced) == 2
    if sys.platform.startswith("linux"):
        assert synced[-1] == os.path.realpath(tmp_path)  # the folder, after the file
