"""The mirror's sha512 manifest: ``SHA512SUMS`` at the root plus ``<file>.sha512`` beside each artifact."""

from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path

MANIFEST = "SHA512SUMS"


def sha512_of(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(manifest: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    if manifest.exists():
        for line in manifest.read_text().splitlines():
            if line.strip():
                digest, rel = line.split(maxsplit=1)
                entries[rel.lstrip("*")] = digest
    return entries


def record(root: Path, artifact: Path) -> str:
    """Hash ``artifact`` (inside ``root``), write its ``.sha512`` file and its manifest line; return the digest."""
    rel = artifact.resolve().relative_to(root.resolve()).as_posix()
    digest = sha512_of(artifact)
    artifact.with_name(artifact.name + ".sha512").write_text(f"{digest}  {artifact.name}\n")
    manifest = root / MANIFEST
    lock = root / (MANIFEST + ".lock")
    root.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as lock_handle:
        fcntl.flock(lock_handle, fcntl.LOCK_EX)
        entries = _read(manifest)
        entries[rel] = digest
        tmp = manifest.with_suffix(".tmp")
        tmp.write_text("".join(f"{entries[key]}  {key}\n" for key in sorted(entries)))
        tmp.replace(manifest)
    return digest


def forget(root: Path, artifact: Path) -> None:
    """Remove ``artifact``'s manifest line (the caller deletes the file and its ``.sha512``)."""
    rel = artifact.resolve().relative_to(root.resolve()).as_posix()
    manifest = root / MANIFEST
    with (root / (MANIFEST + ".lock")).open("w") as lock_handle:
        fcntl.flock(lock_handle, fcntl.LOCK_EX)
        entries = _read(manifest)
        if entries.pop(rel, None) is None:
            return
        tmp = manifest.with_suffix(".tmp")
        tmp.write_text("".join(f"{entries[key]}  {key}\n" for key in sorted(entries)))
        tmp.replace(manifest)


def recorded(root: Path, artifact: Path) -> str | None:
    """The digest the manifest holds for ``artifact``, if the file exists and still matches it."""
    if not artifact.is_file():
        return None
    rel = artifact.resolve().relative_to(root.resolve()).as_posix()
    digest = _read(root / MANIFEST).get(rel)
    if digest is None or sha512_of(artifact) != digest:
        return None
    return digest


def verify(root: Path) -> list[str]:
    """Paths whose file is missing or no longer matches the manifest (empty when all is well)."""
    bad = []
    for rel, digest in sorted(_read(root / MANIFEST).items()):
        path = root / rel
        if not path.is_file() or sha512_of(path) != digest:
            bad.append(rel)
    return bad
