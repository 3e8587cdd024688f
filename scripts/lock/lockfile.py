"""The lock format (pip's requirements file with ``--hash``, as ``pip install --require-hashes -r`` reads it) and
the checks that a lock still agrees with its pins."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from scripts.lock.sets import InstallSet, normalize

HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})\b")
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;\s*(.+?))?\s*$")


@dataclass(frozen=True)
class Entry:
    """One locked distribution: a release, the environments it is for (a PEP 508 marker), its files' sha256."""

    name: str
    version: str
    marker: str
    hashes: tuple[str, ...]


def render(entries: Iterable[Entry], header: list[str]) -> str:
    """The lock's text: a comment header, then each entry with its hashes, sorted by name (stable diffs)."""
    lines = [f"# {line}" if line else "#" for line in header]
    for entry in sorted(entries, key=lambda e: (e.name, e.marker)):
        requirement = f"{entry.name}=={entry.version}" + (f" ; {entry.marker}" if entry.marker else "")
        lines.append(" \\\n".join([requirement] + [f"    --hash=sha256:{h}" for h in sorted(entry.hashes)]))
    return "\n".join(lines) + "\n"


def parse(text: str, *, where: str) -> list[Entry]:
    """The entries of a lock; a line that is neither a comment nor a pinned, hashed requirement is an error."""
    entries: list[Entry] = []
    logical = re.sub(r"\\\n", " ", text)
    for number, raw in enumerate(logical.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        hashes = tuple(HASH.findall(line))
        requirement = re.sub(r"--hash=\S+", "", line).strip()
        match = REQUIREMENT.match(requirement)
        if not match:
            raise ValueError(f"{where}: logical line {number}: {requirement!r} is not name==version [; marker]")
        entries.append(Entry(normalize(match.group(1)), match.group(2), match.group(3) or "", hashes))
    return entries


def same_release(pinned: str, locked: str) -> bool:
    """Whether a locked version is the pinned one. A pin without a local part (torch==2.13.0) is met by a local
    build of that release (2.13.0+cpu), as pip's == does; otherwise the versions must be equal."""
    try:
        pin, lock = Version(pinned), Version(locked)
    except InvalidVersion:
        return pinned == locked
    return pin == lock or (pin.local is None and lock.public == pin.public)


def problems(install_set: InstallSet, entries: list[Entry]) -> list[str]:
    """Why a set's lock does not serve its pins (empty when it does): a pin not locked, a locked version that is
    not the pinned one, an entry without a hash, a name locked twice for the same environments."""
    out: list[str] = []
    where = f"{install_set.lock} (set {install_set.name})"
    locked: dict[str, list[Entry]] = {}
    for entry in entries:
        locked.setdefault(entry.name, []).append(entry)
        if not entry.hashes:
            out.append(f"{where}: {entry.name}=={entry.version} has no --hash=sha256")
    for name, group in locked.items():
        markers = [e.marker for e in group]
        if len(set(markers)) != len(markers) or (len(group) > 1 and "" in markers):
            out.append(f"{where}: {name} is locked more than once for the same Pythons")
    for name, version in sorted(install_set.pins.items()):
        if name not in locked:
            out.append(f"{where}: {name}=={version} is pinned in {install_set.source} but not locked; run make lock")
            continue
        for entry in locked[name]:
            if not same_release(version, entry.version):
                out.append(f"{where}: {name} is pinned {version} in {install_set.source} but locked at "
                           f"{entry.version}; run make lock")
    return out


def disagreements(locks: dict[str, list[Entry]]) -> list[str]:
    """Names locked at different versions by sets that install into one virtualenv: each pip run would replace
    the other's version, and no converge would ever be idempotent."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    out = []
    for set_name, entries in locks.items():
        for entry in entries:
            key = (entry.name, entry.marker)
            if key in seen and seen[key][1] != entry.version:
                out.append(f"{entry.name} ({entry.marker or 'every Python'}) is locked at {seen[key][1]} by "
                           f"{seen[key][0]} and at {entry.version} by {set_name}")
            seen.setdefault(key, (set_name, entry.version))
    return out


def python_marker(pythons: list[str]) -> str:
    """A PEP 508 marker for exactly these Python versions (``==`` each: ``in "3.11 3.12"`` is a substring test)."""
    return " or ".join(f'python_version == "{p}"' for p in sorted(pythons, key=Version))


def merge(by_python: dict[str, list[Entry]]) -> list[Entry]:
    """One lock from one resolution per Python: a release chosen for every Python has no marker; otherwise each
    version carries a marker naming the Pythons it is for."""
    pythons = list(by_python)
    versions: dict[str, dict[str, list[str]]] = {}
    for python, entries in by_python.items():
        for entry in entries:
            versions.setdefault(entry.name, {}).setdefault(entry.version, []).append(python)
    out = []
    for name, chosen in versions.items():
        for version, where in chosen.items():
            marker = "" if sorted(where) == sorted(pythons) else python_marker(where)
            out.append(Entry(name, version, marker, ()))
    return out
