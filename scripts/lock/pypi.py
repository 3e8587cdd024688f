"""The sha256 of every file of a release, from an index's JSON Simple API (PEP 691), and of local wheels.

Every file counts (each wheel and the sdist): pip on a host picks whichever fits its Python and platform, from the
index or from a mirror that holds the same files, and in --require-hashes mode it needs that file's hash.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from scripts.lock.sets import normalize

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
DEFAULT_INDEX = "https://pypi.org/simple"

Fetch = Callable[[str], dict]


def fetch_json(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Accept": SIMPLE_JSON})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def release_of(filename: str) -> tuple[str, Version] | None:
    """(name, version) of a wheel or sdist file name; None for other files (installers, eggs)."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
        else:
            return None
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return str(name), version


def release_hashes(project: dict, name: str, version: str) -> dict[str, str]:
    """{file name: sha256} of the release ``name==version`` in a Simple API project page; yanked files included
    (pip installs a yanked file that is pinned exactly)."""
    wanted = (normalize(name), Version(version))
    out = {}
    for item in project.get("files", []):
        if release_of(item["filename"]) == wanted and "sha256" in item.get("hashes", {}):
            out[item["filename"]] = item["hashes"]["sha256"]
    return out


def index_hashes(name: str, version: str, *, index: str = DEFAULT_INDEX, fetch: Fetch = fetch_json) -> dict[str, str]:
    files = release_hashes(fetch(f"{index.rstrip('/')}/{normalize(name)}/"), name, version)
    if not files:
        raise LookupError(f"{index}: no file of {name}=={version} with a sha256")
    return files


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
