"""The Python wheelhouse for the job's virtualenv on the hosts: ``<mirror>/wheels/``, a pip ``--find-links`` folder.

The hosts install with ``pip --require-hashes`` from the roles' locks (``make lock``, ``scripts/lock``), so the
wheelhouse holds exactly the files of those locks for CPython 3.11 on x86_64 (the test bed's Python, Debian 12's):
``pip download --require-hashes`` of each lock, the same files as PyPI's (pyspark as its sdist, which the hosts
build), torch's CPU build from ``PIP_FIND_LINKS`` when the Makefile sets it (PyPI's own torch is a CUDA build).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scripts.lock import lockfile, pypi
from scripts.lock.sets import install_sets
from scripts.mirror import manifest
from scripts.paths import REPO

STAMP = ".requirements"


def lock_files(repo: Path = REPO) -> list[Path]:
    """The roles' hash locks, in the order the hosts install them."""
    return [repo / install_set.lock for install_set in install_sets(repo)]


def served(house: Path) -> list[Path]:
    """The files the wheelhouse serves: wheels and sdists."""
    return sorted([*house.glob("*.whl"), *house.glob("*.tar.gz")])


def cuda_build(wheels: list[Path]) -> list[Path]:
    """The wheels that belong to PyPI's CUDA build of torch (torch without ``+cpu``, NVIDIA's libraries)."""
    return [w for w in wheels
            if w.name.startswith("nvidia_") or (w.name.startswith("torch-") and "+cpu" not in w.name)]


def _clear(root: Path, house: Path) -> None:
    for wheel in served(house):
        manifest.forget(root, wheel)
        wheel.unlink()
        wheel.with_name(wheel.name + ".sha512").unlink(missing_ok=True)
    (house / STAMP).unlink(missing_ok=True)


def locked_hashes(repo: Path = REPO) -> set[str]:
    """Every sha256 the roles' locks accept."""
    return {h for lock in lock_files(repo) for entry in lockfile.parse(lock.read_text(), where=str(lock))
            for h in entry.hashes}


def build(root: Path) -> list[Path]:
    house = root / "wheels"
    house.mkdir(parents=True, exist_ok=True)
    wanted = "".join(lock.read_text() for lock in lock_files())
    stamp = house / STAMP
    wheels = sorted(house.glob("*.whl"))
    if cuda_build(wheels):  # built once without the CPU torch at hand: never serve that to the hosts
        print("mirror: wheels: the wheelhouse holds PyPI's CUDA build of torch; building it again", file=sys.stderr)
        _clear(root, house)
        wheels = []
    if stamp.exists() and stamp.read_text() == wanted and wheels and all(manifest.recorded(root, w)
                                                                           for w in served(house)):
        return served(house)
    env = dict(os.environ)
    # Each lock's files for this Python, hash-checked as the hosts will check them (pip's cache keeps the downloads;
    # a file already in the folder with its hash is not fetched again). torch's CPU wheel comes from PIP_FIND_LINKS.
    for lock in lock_files():
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
                                 "--dest", str(house), "-r", str(lock)], check=False, env=env)
        if result.returncode != 0:
            raise RuntimeError(f"mirror: wheels: pip could not fetch the files of {lock.relative_to(REPO)} with their "
                               "locked hashes (torch's CPU wheel: point PIP_FIND_LINKS at its folder, as the Makefile "
                               "does for ../shared/wheels or SHARED_WHEELS=DIR)")
    wheels = served(house)
    if cuda := cuda_build(wheels):
        _clear(root, house)
        raise RuntimeError(
            f"mirror: wheels: pip took PyPI's CUDA build of torch ({', '.join(w.name for w in cuda[:3])}, ...), "
            "gigabytes the hosts must never install: put torch's CPU wheel (torch-<version>+cpu-cp311-...whl) in a "
            "folder and point PIP_FIND_LINKS at it (the Makefile does so for ../shared/wheels, or SHARED_WHEELS=DIR)")
    # Exactly the locks' files: anything else (an older release, a wheel built here from an sdist) has no locked
    # hash, and pip on a find-links folder does not skip such a file: it takes it and fails the hash check.
    accepted = locked_hashes()
    digests = {}
    for wheel in wheels:
        digests[wheel.name] = pypi.file_sha256(wheel)
        if digests[wheel.name] not in accepted:
            manifest.forget(root, wheel)
            wheel.unlink()
            wheel.with_name(wheel.name + ".sha512").unlink(missing_ok=True)
    wheels = served(house)
    for wheel in wheels:
        if not manifest.recorded(root, wheel):
            manifest.record(root, wheel)
    _write_index(house, wheels, digests)
    (house / "requirements.in").unlink(missing_ok=True)
    stamp.write_text(wanted)
    return wheels


def _write_index(house: Path, wheels: list[Path], digests: dict[str, str]) -> None:
    """A plain index.html, so ``pip --find-links http://mirror/wheels/`` works whatever serves the folder; each
    link carries its file's sha256, which pip checks and uses to choose among files."""
    links = "\n".join(f'<a href="{w.name}#sha256={digests[w.name]}">{w.name}</a><br>' for w in wheels)
    (house / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}\n</body></html>\n")
