"""scripts/mirror/archive.py: the reproducible tar.gz writer behind the mirror's Kafka and Filebeat tarballs."""

from __future__ import annotations

import gzip
import os
import re
import struct
import tarfile
from pathlib import Path

import pytest

from scripts.mirror import archive
from scripts.mirror.archive import Member

MTIME = 1_600_000_000


def _source_tree(base: Path) -> Path:
    """A small tree whose on-disk modes and times are deliberately not the ones the archive should record."""
    top = base / "pkg"
    (top / "conf").mkdir(parents=True)
    (top / "lib" / "_meta").mkdir(parents=True)
    (top / "conf" / "app.yml").write_text("a: 1\n")
    (top / "lib" / "b.jar").write_bytes(b"\x00jar")
    (top / "lib" / "a.jar").write_bytes(b"\x01jar")
    (top / "lib" / "_meta" / "fields.yml").write_text("skip me\n")
    (top / "conf" / "app.yml").chmod(0o600)
    (top / "lib").chmod(0o700)
    os.utime(top / "lib" / "a.jar", (12345, 12345))
    return top


def _members(top: Path) -> list[Member]:
    return [
        *archive.tree(top, "pkg", excludes=[re.compile("/_meta")]),
        Member("pkg/run", 0o755, data=b"#!/bin/sh\n"),
        Member("pkg/secret.yml", 0o600, source=top / "conf" / "app.yml"),
    ]


def test_same_members_give_identical_bytes(tmp_path: Path) -> None:
    members = _members(_source_tree(tmp_path / "src"))
    first, second = tmp_path / "first.tar.gz", tmp_path / "out" / "second.tar.gz"
    archive.write_tgz(first, members, mtime=MTIME)
    os.utime(members[-1].source, (99, 99))  # a source's own mtime never reaches the archive
    archive.write_tgz(second, reversed(members), mtime=MTIME)
    assert first.read_bytes() == second.read_bytes()
    assert not list(tmp_path.rglob("*.part"))


def test_entries_modes_times_and_owner(tmp_path: Path) -> None:
    dest = tmp_path / "pkg.tgz"
    archive.write_tgz(dest, _members(_source_tree(tmp_path / "src")), mtime=MTIME, gzip_mtime=MTIME + 1)
    with tarfile.open(dest) as tar:
        infos = tar.getmembers()
        names = [info.name for info in infos]
        assert names == sorted(names)
        assert names == [
            "pkg",
            "pkg/conf",
            "pkg/conf/app.yml",
            "pkg/lib",
            "pkg/lib/a.jar",
            "pkg/lib/b.jar",
            "pkg/run",
            "pkg/secret.yml",
        ]
        modes = {info.name: info.mode for info in infos}
        assert modes == {
            "pkg": 0o755,
            "pkg/conf": 0o755,
            "pkg/conf/app.yml": 0o644,  # tree() gives files 0644 whatever the disk says
            "pkg/lib": 0o755,
            "pkg/lib/a.jar": 0o644,
            "pkg/lib/b.jar": 0o644,
            "pkg/run": 0o755,
            "pkg/secret.yml": 0o600,
        }
        assert {(info.mtime, info.uid, info.gid, info.uname, info.gname) for info in infos} == {
            (MTIME, 0, 0, "root", "root")
        }
        assert [info.name for info in infos if info.isdir()] == ["pkg", "pkg/conf", "pkg/lib"]
        assert all(info.isreg() for info in infos if not info.isdir())
        extracted = tar.extractfile("pkg/run")
        assert extracted is not None
        assert extracted.read() == b"#!/bin/sh\n"
    header = dest.read_bytes()[:10]
    assert header[3] == 0  # FLG: no file name in the gzip header
    assert struct.unpack("<I", header[4:8])[0] == MTIME + 1
    with gzip.open(dest) as raw:  # PAX format: the first header block ends with the ustar magic
        assert raw.read(512)[257:263] == b"ustar\x00"


def test_gzip_time_defaults_to_none_and_level_is_honoured(tmp_path: Path) -> None:
    members = [Member("x", 0o755), Member("x/y", 0o644, data=b"y" * 4096)]
    fast, best = tmp_path / "fast.tgz", tmp_path / "best.tgz"
    archive.write_tgz(fast, members, mtime=MTIME, compresslevel=1)
    archive.write_tgz(best, members, mtime=MTIME, compresslevel=9)
    assert fast.read_bytes()[4:8] == b"\x00\x00\x00\x00"
    assert (fast.read_bytes()[8], best.read_bytes()[8]) == (4, 2)  # XFL: fastest, maximum compression


def test_refuses_duplicates_symlinks_and_bad_members(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"duplicate members .*\['a'\]"):
        archive.write_tgz(tmp_path / "dup.tgz", [Member("a", 0o755), Member("a", 0o644, data=b"")], mtime=MTIME)
    assert not (tmp_path / "dup.tgz").exists()
    assert not (tmp_path / "dup.tgz.part").exists()
    top = _source_tree(tmp_path / "src")
    (top / "conf" / "link").symlink_to("app.yml")
    with pytest.raises(RuntimeError, match="symlink"):
        archive.tree(top, "pkg")
    with pytest.raises(ValueError, match="not both"):
        Member("a", 0o644, source=top / "conf" / "app.yml", data=b"")
    for name in ("/abs", "a/", "a//b", "a/../b", ""):
        with pytest.raises(ValueError, match="relative path"):
            Member(name, 0o644)
