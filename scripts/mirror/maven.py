"""Maven as the mirror's resolver of Java artifacts, shared by the Kafka tarballs and the Spark connector jars.

A builder writes a throw-away ``pom`` project listing the coordinates it wants (``probe_pom``), runs a goal of the
pinned ``DEPENDENCY_PLUGIN`` against it (``run_maven``: batch mode, strict checksums, ``~/.m2`` as the cache) and
reads what Maven resolved from the ``dependency:list``/``dependency:collect`` output (``parse_dependency_list``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
MAVEN_TIMEOUT_S = 1800


def probe_pom(name: str, coordinates: Sequence[str], *, transitive: bool = True) -> str:
    """A throw-away ``pom`` project whose dependencies are ``coordinates`` (``group:artifact:version``)."""
    exclusions = (
        ""
        if transitive
        else "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>"
    )
    dependencies = []
    for coordinate in coordinates:
        parts = coordinate.split(":")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"{name}: {coordinate!r} is not group:artifact:version")
        group, artifact, version = parts
        dependencies.append(
            f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version>{exclusions}</dependency>\n"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>local.mirror</groupId><artifactId>{name}</artifactId><version>0</version>\n"
        "  <packaging>pom</packaging>\n"
        "  <dependencies>\n" + "".join(dependencies) + "  </dependencies>\n"
        "</project>\n"
    )


def run_maven(args: Sequence[str], *, what: str, cwd: Path | None = None) -> None:
    """Run ``mvn -B -C -q ARGS`` (batch mode, strict checksums, no colour); raise naming ``what`` on failure."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError(f"{what}: 'mvn' is not on PATH (Maven resolves the mirror's Java artifacts)")
    command = [mvn, "-B", "-C", "-q", "-Dstyle.color=never", *args]
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{what}: {' '.join(command)} took more than {MAVEN_TIMEOUT_S}s") from error
    if result.returncode != 0:
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # jansi resets despite -B
        tail = "\n".join(output.strip().splitlines()[-30:])
        raise RuntimeError(f"{what}: {' '.join(command)} exited {result.returncode}:\n{tail}")


def parse_dependency_list(text: str) -> list[str]:
    """Coordinates ``group:artifact:type[:classifier]:version:scope`` from ``dependency:list`` output."""
    coordinates = []
    for line in text.splitlines():
        token = line.strip().split(" ", 1)[0]
        if token.count(":") in (4, 5):
            coordinates.append(token)
    if not coordinates:
        raise RuntimeError(f"no dependencies in the dependency:list output:\n{text[:2000]}")
    return coordinates


def jar_name(coordinate: str) -> str:
    """The file name Maven's copy-dependencies gives ``group:artifact:type[:classifier]:version:scope``."""
    parts = coordinate.split(":")
    if len(parts) == 5:
        _group, artifact, kind, version, _scope = parts
        classifier = ""
    elif len(parts) == 6:
        _group, artifact, kind, classifier, version, _scope = parts
        classifier = f"-{classifier}"
    else:
        raise ValueError(f"{coordinate!r} is not group:artifact:type[:classifier]:version:scope")
    if kind != "jar":
        raise RuntimeError(f"{coordinate}: only jar dependencies belong on a class path")
    return f"{artifact}-{version}{classifier}.jar"
