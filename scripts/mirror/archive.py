"""Reproducible ``tar.gz`` archives for the mirror's tarballs (the Kafka releases, Filebeat).

The same members always give the same bytes: entries sorted by name, every entry stamped with one fixed ``mtime``
and owned by ``root:root`` (uid/gid 0), each with the mode its ``Member`` states, PAX format, and a gzip header
without a file name whose time is ``gzip_mtime``. Nothing of the build host (umask, owner, clock, directory order,
temporary paths) reaches the archive.

A builder lists its members (``Member``: a name, a mode and either bytes or a source file; a directory when it has
neither), usually with ``tree`` for whole directories, and hands them to ``write_tgz``.
"""

from __future__ import annotations

import collections
import gzip
import io
import os
import re
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

DIR_MODE = 0o755
FILE_MODE = 0o644


@dataclass(frozen=True)
class Member:
    """One archive entry; ``name`` is its path in the archive (relative, ``/``-separated, no trailing slash).

    A regular file holding ``data`` or the contents of ``source`` (read when the archive is written), or a directory
    when it has neither.
    """

    name: str
    mode: int
    source: Path | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        if self.source is not None and self.data is not None:
            raise ValueError(f"archive member {self.name!r}: give either source or data, not both")
        if self.name.startswith("/") or any(part in ("", ".", "..") for part in self.name.split("/")):
            raise ValueError(f"archive member {self.name!r}: not a relative path without empty, . or .. parts")

    @property
    def is_dir(self) -> bool:
        return self.source is None and self.data is None


def tree(
    src: Path,
    name: str,
    *,
    excludes: Sequence[re.Pattern[str]] = (),
    dir_mode: int = DIR_MODE,
    file_mode: int = FILE_MODE,
) -> list[Member]:
    """The directory ``src`` and everything below it as members named ``name``, ``name/...``.

    A path whose member name one of ``excludes`` matches (``re.search``) is left out, a directory with all it holds.
    Directories get ``dir_mode`` and files ``file_mode``, whatever their modes on disk. Symlinks and other
    non-regular files are refused: their bytes would depend on what they point at.
    """
    if src.is_symlink() or not src.is_dir():
        raise RuntimeError(f"{src} is not a directory; cannot pack {name}/")
    members = [Member(name, dir_mode)]
    for current, dirs, files in os.walk(src):
        here = Path(current)
        rel = here.relative_to(src).as_posix()
        base = name if rel == "." else f"{name}/{rel}"
        dirs[:] = sorted(d for d in dirs if not any(x.search(f"{base}/{d}") for x in excludes))
        for entry in dirs:
            if (here / entry).is_symlink():
                raise RuntimeError(f"{here / entry}: a symlink; cannot pack it reproducibly")
            members.append(Member(f"{base}/{entry}", dir_mode))
        for entry in sorted(files):
            path = here / entry
            if any(x.search(f"{base}/{entry}") for x in excludes):
                continue
            if path.is_symlink() or not path.is_file():
                raise RuntimeError(f"{path}: a symlink or not a regular file; cannot pack it reproducibly")
            members.append(Member(f"{base}/{entry}", file_mode, source=path))
    return members


def write_tgz(
    dest: Path, members: Iterable[Member], *, mtime: int, gzip_mtime: int = 0, compresslevel: int = 9
) -> None:
    """Write ``members`` to ``dest`` (through ``dest.part``, so ``dest`` is whole or absent) as a reproducible tar.gz.

    Entries are sorted by name and get ``mtime``, uid/gid 0 and owner/group ``root``; the gzip header has no file
    name and the time ``gzip_mtime`` (0: none). Two members with one name are refused.
    """
    members = list(members)
    counts = collections.Counter(member.name for member in members)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise RuntimeError(f"duplicate members for {dest}: {duplicates}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    try:
        with (
            partial.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=gzip_mtime, compresslevel=compresslevel) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for member in sorted(members, key=lambda member: member.name):
                _add(tar, member, mtime)
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)


def _add(tar: tarfile.TarFile, member: Member, mtime: int) -> None:
    info = tarfile.TarInfo(member.name)
    info.mode, info.mtime = member.mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if member.is_dir:
        info.name += "/"
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif member.data is not None:
        info.size = len(member.data)
        tar.addfile(info, io.BytesIO(member.data))
    else:
        assert member.source is not None
        with member.source.open("rb") as handle:
            info.size = os.fstat(handle.fileno()).st_size
            tar.addfile(info, handle)
