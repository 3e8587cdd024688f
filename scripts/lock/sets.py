"""The install sets: what each role's pip run installs, read from the pins where the project keeps them.

A set's pins are exact (``name==version``). The lock of a set holds those pins and the closure they pull in, each
with the sha256 of every file of its release; the sets that share a virtualenv (the Spark venv holds the spark
role's set and the job's) are resolved together, so a name has one version in all of them.
"""

from __future__ import annotations

import re
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from scripts.paths import REPO

ROLES = Path("ansible/roles")
SPARK_DEFAULTS = ROLES / "spark/defaults/main.yml"
PRODUCER_DEFAULTS = ROLES / "twitter_producer/defaults/main.yml"
JOB_PYPROJECT = Path("spark/pyproject.toml")
# torch is the one pin whose files do not come from the general index: its CPU build has a local version (+cpu).
TORCH = "torch"
TORCH_CPU_LOCAL = "cpu"

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)\s*$")


def normalize(name: str) -> str:
    """A project name as indexes and pip compare it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pin(text: str, *, where: str) -> tuple[str, str]:
    """``name==version`` as (normalized name, version); anything looser is refused, naming where it was read."""
    match = PIN.match(text)
    if not match:
        raise ValueError(f"{where}: {text!r} is not an exact pin (name==version)")
    return normalize(match.group(1)), match.group(2)


@dataclass(frozen=True)
class InstallSet:
    """One pip run on a host: its pins, the lock file it installs from, the oldest Python it must work on."""

    name: str
    lock: Path  # relative to the repository
    pins: dict[str, str]
    pythons: tuple[str, ...]  # the Python versions of the hosts the role supports
    venv: str  # sets with the same venv are resolved together
    source: str  # where the pins are read, for the lock's header and error messages


def _spark_pins(repo: Path) -> dict[str, str]:
    defaults = yaml.safe_load((repo / SPARK_DEFAULTS).read_text())
    version = str(defaults["spark_version"])
    pins = [str(p).replace("{{ spark_version }}", version) for p in defaults["spark_pip_packages"]]
    return dict(parse_pin(p, where=f"{SPARK_DEFAULTS}: spark_pip_packages") for p in pins)


def _extra_pins(repo: Path, extra: str) -> dict[str, str]:
    with (repo / JOB_PYPROJECT).open("rb") as handle:
        extras = tomllib.load(handle)["project"]["optional-dependencies"]
    if extra not in extras:
        raise ValueError(f"{JOB_PYPROJECT}: no optional-dependencies extra {extra!r}")
    return dict(parse_pin(p, where=f"{JOB_PYPROJECT} [{extra}]") for p in extras[extra])


def _producer_pins(repo: Path) -> dict[str, str]:
    defaults = yaml.safe_load((repo / PRODUCER_DEFAULTS).read_text())
    return {"kafka-python": str(defaults["twitter_producer_kafka_python_version"])}


# The Pythons the roles pick: the spark role (and the job, in its virtualenv) 3.11 on Debian 12, EL 8/9, Amazon Linux
# 2023 and Ubuntu 22.04, 3.12 on Ubuntu 24.04 (roles/spark/vars); the X producer the distro's python3 on the Debian
# family (3.10 to 3.13) and 3.11 elsewhere (roles/twitter_producer/vars). The job's pins (numpy 1.26.4, which onnx
# outgrows on 3.13) stop at 3.12, as the spark role's distros do.
SPARK_PYTHONS = ("3.11", "3.12")
PRODUCER_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def install_sets(repo: Path = REPO) -> list[InstallSet]:
    """Every pip run the roles make, in the order they run on a host."""
    transformers = _extra_pins(repo, "transformers")
    return [
        InstallSet("spark-venv", ROLES / "spark/files/requirements.lock", _spark_pins(repo), SPARK_PYTHONS, "spark",
                   f"{SPARK_DEFAULTS} spark_pip_packages"),
        InstallSet("job-stream", ROLES / "sentiment_job/files/locks/stream.lock", _extra_pins(repo, "stream"),
                   SPARK_PYTHONS, "spark", f"{JOB_PYPROJECT} [stream]"),
        # The transformers extra less torch, whose CPU build is the next set; torch's own dependencies are added
        # to this set when it is resolved (they come from the general index like the rest).
        InstallSet("job-transformers", ROLES / "sentiment_job/files/locks/transformers.lock",
                   {k: v for k, v in transformers.items() if k != TORCH}, SPARK_PYTHONS, "spark",
                   f"{JOB_PYPROJECT} [transformers] without torch"),
        InstallSet("job-torch-cpu", ROLES / "sentiment_job/files/locks/torch-cpu.lock",
                   {TORCH: transformers[TORCH]} if TORCH in transformers else {}, SPARK_PYTHONS, "spark",
                   f"{JOB_PYPROJECT} [transformers] torch, CPU build"),
        InstallSet("x-producer", ROLES / "twitter_producer/files/requirements.lock", _producer_pins(repo),
                   PRODUCER_PYTHONS, "x-producer", f"{PRODUCER_DEFAULTS} twitter_producer_kafka_python_version"),
    ]


def wheel_requirements(wheel: Path) -> list[str]:
    """A wheel's unconditional Requires-Dist (extras left out), read from its METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        [meta] = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        text = archive.read(meta).decode()
    out = []
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line; the description follows
        if line.startswith("Requires-Dist:"):
            requirement = line.split(":", 1)[1].strip()
            if "extra ==" not in requirement.replace('extra=="', 'extra == "'):
                out.append(requirement)
    return out
