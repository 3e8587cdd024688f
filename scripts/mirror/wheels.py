"""The Python wheelhouse for the job's virtualenv on the hosts: ``<mirror>/wheels/``, a pip ``--find-links`` folder.

What goes in is read from the job package's own extras (``spark/pyproject.toml``: ``stream`` and
``transformers``), so the wheelhouse and the package never disagree. ``pip wheel`` resolves the whole closure for
CPython 3.11 on x86_64 (the hosts' Python: Debian 12's 3.11, or python3.11 on the RedHat family), builds the
sdist-only ones (pyspark) into wheels, and takes torch's CPU build from ``PIP_FIND_LINKS`` when the Makefile sets
it (PyPI's own torch is a CUDA build).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from scripts.mirror import manifest
from scripts.paths import REPO

EXTRAS = ("stream", "transformers")
STAMP = ".requirements"


def requirements(pyproject: Path = REPO / "spark" / "pyproject.toml") -> list[str]:
    with pyproject.open("rb") as handle:
        extras = tomllib.load(handle)["project"].get("optional-dependencies", {})
    missing = [extra for extra in EXTRAS if extra not in extras]
    if missing:
        raise RuntimeError(f"{pyproject}: optional-dependencies lacks {missing}")
    return sorted({req for extra in EXTRAS for req in extras[extra]})


def cuda_build(wheels: list[Path]) -> list[Path]:
    """The wheels that belong to PyPI's CUDA build of torch (torch without ``+cpu``, NVIDIA's libraries)."""
    return [w for w in wheels
            if w.name.startswith("nvidia_") or (w.name.startswith("torch-") and "+cpu" not in w.name)]


def _clear(root: Path, house: Path) -> None:
    for wheel in sorted(house.glob("*.whl")):
        manifest.forget(root, wheel)
        wheel.unlink()
        wheel.with_name(wheel.name + ".sha512").unlink(missing_ok=True)
    (house / STAMP).unlink(missing_ok=True)


def build(root: Path) -> list[Path]:
    house = root / "wheels"
    house.mkdir(parents=True, exist_ok=True)
    wanted = "\n".join(requirements()) + "\n"
    stamp = house / STAMP
    wheels = sorted(house.glob("*.whl"))
    if cuda_build(wheels):  # built once without the CPU torch at hand: never serve that to the hosts
        print("mirror: wheels: the wheelhouse holds PyPI's CUDA build of torch; building it again", file=sys.stderr)
        _clear(root, house)
        wheels = []
    if stamp.exists() and stamp.read_text() == wanted and wheels and all(manifest.recorded(root, w) for w in wheels):
        return wheels
    reqfile = house / "requirements.in"
    reqfile.write_text(wanted)
    env = dict(os.environ)
    # pip's own cache (~/.cache/pip) keeps the downloads and the built pyspark wheel for the next run.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(house), "-r", str(reqfile)],
        check=True,
        env=env,
    )
    wheels = sorted(house.glob("*.whl"))
    if cuda := cuda_build(wheels):
        _clear(root, house)
        raise RuntimeError(
            f"mirror: wheels: pip took PyPI's CUDA build of torch ({', '.join(w.name for w in cuda[:3])}, ...), "
            "gigabytes the hosts must never install: put torch's CPU wheel (torch-<version>+cpu-cp311-...whl) in a "
            "folder and point PIP_FIND_LINKS at it (the Makefile does so for ../shared/wheels, or SHARED_WHEELS=DIR)")
    for wheel in wheels:
        if not manifest.recorded(root, wheel):
            manifest.record(root, wheel)
    _write_index(house, wheels)
    stamp.write_text(wanted)
    return wheels


def _write_index(house: Path, wheels: list[Path]) -> None:
    """A plain index.html, so ``pip --find-links http://mirror/wheels/`` works whatever serves the folder."""
    links = "\n".join(f'<a href="{w.name}">{w.name}</a><br>' for w in wheels)
    (house / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}\n</body></html>\n")
