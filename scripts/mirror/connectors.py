"""The Spark Kafka connector and Delta Lake jars, in Maven layout under ``maven2/``, for Spark ``SPARK_VERSION``.

The versions are the ones that Spark release declares: the compile/runtime dependencies of
``org.apache.spark:spark-sql-kafka-0-10_2.13:<SPARK_VERSION>``'s pom (``${...}`` expanded from its parent
``spark-parent_2.13``) give the versions of ``spark-token-provider-kafka-0-10_2.13``, ``org.apache.kafka:kafka-clients``
and ``org.apache.commons:commons-pool2``, cross-checked against what Maven's ``dependency:collect`` resolves (poms
only, no jars). For Spark 4.2.0 that is kafka-clients 3.9.2 and commons-pool2 2.13.1. Delta Lake's two jars
(``DELTA``) come beside them.

The jars land at ``maven2/<group path>/<artifact>/<ver>/<artifact>-<ver>.jar`` and
``maven2/spark-kafka-<SPARK_VERSION>.txt`` lists them, one path a line, relative to ``maven2/`` (so each line also
works against the upstream ``https://repo1.maven.org/maven2/``). Put them on the driver and executor class path
with ``--jars`` / ``spark.jars`` instead of ``--packages``, which would need to reach a repository.

What else they need at run time is in pyspark's own ``pyspark/jars/`` (zstd-jni, lz4-java, snappy-java, slf4j,
the Hadoop client, Scala's library; for Delta: Jackson, Parquet, RoaringBitmap, ANTLR 4); kafka-clients,
commons-pool2 and Delta's jars are not, so they are staged. spark-sql, spark-core and the rest of Spark are
``provided``: pyspark brings them.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree

from scripts.mirror import manifest
from scripts.mirror.maven import DEPENDENCY_PLUGIN, parse_dependency_list, probe_pom, run_maven

SPARK_VERSION = "4.2.0"
SPARK_SCALA_VERSION = "2.13"
#: Delta Lake for that Spark (delta-spark 4.4.0 is built against Spark 4.2.0): the jars pyspark does not ship.
#: Its other runtime dependencies (delta-kernel-*, unitycatalog-*) serve only catalog-managed tables; the job's
#: path-based tables need these two, and everything else they use is in pyspark's jars.
DELTA_VERSION = "4.4.0"
DELTA = (
    ("io.delta", f"delta-spark_{SPARK_SCALA_VERSION}", DELTA_VERSION),
    ("io.delta", "delta-storage", DELTA_VERSION),
)
HELP_PLUGIN = "org.apache.maven.plugins:maven-help-plugin:3.5.1"

SQL_KAFKA = ("org.apache.spark", f"spark-sql-kafka-0-10_{SPARK_SCALA_VERSION}")
# What spark-sql-kafka must declare, in the order of the list file (the connector itself comes first).
DECLARED = (
    ("org.apache.spark", f"spark-token-provider-kafka-0-10_{SPARK_SCALA_VERSION}"),
    ("org.apache.kafka", "kafka-clients"),
    ("org.apache.commons", "commons-pool2"),
)
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def list_path(root: Path) -> Path:
    """The file naming the connector jars of ``SPARK_VERSION``, one path a line relative to ``maven2/``."""
    return root / "maven2" / f"spark-kafka-{SPARK_VERSION}.txt"


def maven_path(group: str, artifact: str, version: str) -> str:
    """``group/path/artifact/version/artifact-version.jar``, the jar's path in a Maven repository."""
    return f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"


def build(root: Path) -> list[Path]:
    """Stage (or keep, when the manifest still matches) the four connector jars and their list file."""
    listing = list_path(root)
    kept = _recorded_listing(root, listing)
    if kept is not None:
        return kept

    with tempfile.TemporaryDirectory(prefix=f"mirror-spark-kafka-{SPARK_VERSION}-") as work_name:
        work = Path(work_name)
        coordinates = [(*SQL_KAFKA, SPARK_VERSION), *declared_versions(work), *DELTA]
        pom = work / "pom.xml"
        pom.write_text(probe_pom(f"spark-kafka-{SPARK_VERSION}", [":".join(c) for c in coordinates], transitive=False))
        staged = work / "repository"
        run_maven(
            [
                "-f",
                str(pom),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                "-Dmdep.useRepositoryLayout=true",
                f"-DoutputDirectory={staged}",
            ],
            what=f"spark {SPARK_VERSION} kafka connector jars",
        )
        relative = [maven_path(*coordinate) for coordinate in coordinates]
        artifacts = []
        for rel in relative:
            source = staged / rel
            if not source.is_file():
                raise RuntimeError(f"spark {SPARK_VERSION}: Maven did not stage {rel}")
            target = root / "maven2" / rel
            if manifest.recorded(root, target) is None:
                _install(source, target)
                manifest.record(root, target)
            artifacts.append(target)

    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("".join(f"{rel}\n" for rel in relative))
    manifest.record(root, listing)
    return [*artifacts, listing]


def declared_versions(work: Path) -> list[tuple[str, str, str]]:
    """``(group, artifact, version)`` of ``DECLARED`` as spark-sql-kafka ``SPARK_VERSION``'s pom declares them.

    ``dependency:collect`` fetches the poms only (no jars) and reports the versions Maven mediates; the pom and its
    parents are then read from the local repository, and both answers must agree.
    """
    what = f"{':'.join(SQL_KAFKA)}:{SPARK_VERSION}"
    pom = work / "pom.xml"
    pom.write_text(probe_pom("spark-kafka-poms", [what]))
    collected, repository = work / "collected.txt", work / "local-repository.txt"
    run_maven(
        [
            "-f",
            str(pom),
            f"{DEPENDENCY_PLUGIN}:collect",
            f"-DoutputFile={collected}",
            f"{HELP_PLUGIN}:evaluate",
            "-Dexpression=settings.localRepository",
            f"-Doutput={repository}",
        ],
        what=f"poms of {what}",
    )
    chain = pom_chain(Path(repository.read_text().strip()), *SQL_KAFKA, SPARK_VERSION)
    declared = parse_declared(chain, what)
    mediated = {tuple(c.split(":")[:2]): c.split(":")[-2] for c in parse_dependency_list(collected.read_text())}
    for group, artifact, version in declared:
        if mediated.get((group, artifact)) != version:
            raise RuntimeError(
                f"{what}: its pom declares {group}:{artifact}:{version} but Maven resolves "
                f"{mediated.get((group, artifact))!r} (a profile or dependencyManagement this reader does not model?)"
            )
    return declared


def pom_chain(repository: Path, group: str, artifact: str, version: str) -> list[str]:
    """The text of ``group:artifact:version``'s pom and of its parents (child first) from a local repository."""
    chain: list[str] = []
    coordinate: tuple[str, str, str] | None = (group, artifact, version)
    while coordinate is not None:
        if len(chain) > 20:
            raise RuntimeError(f"{group}:{artifact}:{version}: more than 20 parent poms (a cycle?)")
        g, a, v = coordinate
        path = repository / g.replace(".", "/") / a / v / f"{a}-{v}.pom"
        if not path.is_file():
            raise RuntimeError(f"{group}:{artifact}:{version}: pom {g}:{a}:{v} is not in the local repository ({path})")
        text = path.read_text()
        chain.append(text)
        parent = _parse_pom(text, f"{g}:{a}:{v}").find("m:parent", _POM_NS)
        coordinate = None if parent is None else _coordinate(parent)
    return chain


def parse_declared(chain: Sequence[str], what: str) -> list[tuple[str, str, str]]:
    """Versions of ``DECLARED`` among the compile/runtime jar dependencies of the first pom of ``chain``.

    ``chain`` is the pom text of ``what`` followed by its parents'. ``${...}`` is expanded from the chain's
    properties and ``project.*``; a dependency without a version takes it from the chain's dependencyManagement.
    Profiles are not modelled (``declared_versions`` cross-checks against Maven).
    """
    poms = [_parse_pom(text, f"{what} (pom {depth} of the parent chain)") for depth, text in enumerate(chain)]
    properties: dict[str, str] = {}
    for pom in reversed(poms):  # the child's properties override its parents'
        for prop in pom.findall("m:properties/*", _POM_NS):
            properties[prop.tag.split("}", 1)[-1]] = (prop.text or "").strip()
    child = poms[0]
    parent = child.find("m:parent", _POM_NS)
    for field in ("groupId", "artifactId", "version"):
        value = child.findtext(f"m:{field}", "", _POM_NS).strip()
        if not value and parent is not None:
            value = parent.findtext(f"m:{field}", "", _POM_NS).strip()
        properties[f"project.{field}"] = properties[f"pom.{field}"] = value

    def expand(value: str) -> str:
        for _ in range(10):
            expanded = re.sub(r"\$\{([^}]+)\}", lambda m: properties.get(m.group(1), m.group(0)), value)
            if expanded == value:
                break
            value = expanded
        return value

    managed: dict[tuple[str, str], str] = {}
    for pom in reversed(poms):
        for dependency in pom.findall("m:dependencyManagement/m:dependencies/m:dependency", _POM_NS):
            managed[tuple(expand(v) for v in _coordinate(dependency)[:2])] = _coordinate(dependency)[2]

    found: dict[tuple[str, str], str] = {}
    for dependency in child.findall("m:dependencies/m:dependency", _POM_NS):
        group, artifact, version = (expand(value) for value in _coordinate(dependency))
        scope = expand(dependency.findtext("m:scope", "compile", _POM_NS).strip())
        kind = expand(dependency.findtext("m:type", "jar", _POM_NS).strip())
        if (group, artifact) in DECLARED and scope in ("compile", "runtime") and kind == "jar":
            found[(group, artifact)] = expand(version or managed.get((group, artifact), ""))

    declared = []
    for group, artifact in DECLARED:
        version = found.get((group, artifact), "")
        if not version or "${" in version:
            raise RuntimeError(
                f"{what} does not declare a usable compile/runtime version of {group}:{artifact} "
                f"(found {version!r}); cannot pick the connector's {artifact}"
            )
        declared.append((group, artifact, version))
    return declared


def _parse_pom(text: str, what: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise RuntimeError(f"the pom of {what} is not XML: {error}") from error


def _coordinate(element: ElementTree.Element) -> tuple[str, str, str]:
    return (
        element.findtext("m:groupId", "", _POM_NS).strip(),
        element.findtext("m:artifactId", "", _POM_NS).strip(),
        element.findtext("m:version", "", _POM_NS).strip(),
    )


def _recorded_listing(root: Path, listing: Path) -> list[Path] | None:
    if manifest.recorded(root, listing) is None:
        return None
    artifacts = [root / "maven2" / line.strip() for line in listing.read_text().splitlines() if line.strip()]
    expected = 1 + len(DECLARED) + len(DELTA)
    if len(artifacts) != expected or any(manifest.recorded(root, path) is None for path in artifacts):
        return None
    return [*artifacts, listing]


def _install(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        shutil.copyfile(source, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
