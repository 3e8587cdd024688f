"""Filebeat for the mirror, built from source fetched through the Go module proxy.

Elastic's download site is out of reach, so ``build`` compiles Filebeat from the Go module
``github.com/elastic/beats/v7`` at ``FILEBEAT_VERSION`` and packs it in the layout of Elastic's tarball:
``beats/filebeat/filebeat-<ver>-linux-x86_64.tar.gz`` with one top directory ``filebeat-<ver>-linux-x86_64/``.
Everything but the binary and ``fields.yml`` is copied (or, for ``README.md``, rendered) from the module source in
GOMODCACHE, following the packaging rules in beats' ``dev-tools/packaging/packages.yml`` and
``filebeat/scripts/mage/package.go``.

How the result differs from Elastic's ``filebeat-<ver>-linux-x86_64.tar.gz``:

* Elastic builds that tarball from ``x-pack/filebeat`` (Elastic License: x-pack inputs and modules on top). We build
  the Apache-2.0 ``filebeat`` package, so binary, ``LICENSE.txt`` (Apache 2.0), ``filebeat.yml``,
  ``filebeat.reference.yml``, ``fields.yml``, ``module/``, ``modules.d/`` and ``kibana/`` are those of Elastic's
  ``filebeat-oss-<ver>-linux-x86_64.tar.gz``. filestream input and Kafka output, all this project uses, are in both.
  (``x-pack/filebeat`` also builds with this wrapper and go 1.26.8, should that distribution be wanted.)
* The journald input is left out: Elastic adds ``-tags=withjournald``, which needs the libsystemd-dev headers
  (``systemd/sd-journal.h``); this pipeline reads log files with filestream only. See ``BUILD_TAGS``.
* Elastic builds with its golang-crossbuild image (Debian 8 glibc and Elastic's Go release); we use the local
  toolchain and gcc, so the binary needs the build host's glibc symbols (GLIBC_2.34 when built on Debian 12, whose
  2.36 the test bed runs too), where Elastic's build is checked against the older glibc of CentOS/RHEL.
* Elastic's ``buildTime`` is the wall-clock time of its build; ours is the tag's commit time from the proxy, so
  that rebuilding gives the same bytes.

Every file of the official tarball is otherwise reproduced: ``filebeat``, ``filebeat.yml``,
``filebeat.reference.yml``, ``fields.yml`` (generated with beats' own ``libbeat/scripts/cmd/global_fields``),
``module/``, ``modules.d/``, ``kibana/``, ``LICENSE.txt``, ``NOTICE.txt``, ``README.md``, ``.build_hash.txt``.

Go compatibility: v7.17.29 (its go.mod says go 1.23.10) builds and links with go 1.26.8 as is, so the wrapper
module needs no ``require`` bumps and the link needs no ``-checklinkname=0``. Should a future pin need a newer Go,
run with ``GOTOOLCHAIN=go1.27.3`` in the environment (left untouched here).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scripts import paths
from scripts.mirror import archive, manifest
from scripts.mirror.archive import Member

# Newest 7.17.x the Go module proxy serves: v7.17.30 to v7.17.36 and v7.17.40 answer "403 This module version is
# not available" (probed one by one; the proxy's version list is refused too). Beats 8.x tags are not valid
# versions of the /v7 module path, hence 7.x.
FILEBEAT_VERSION = "7.17.29"
BEATS_MODULE = "github.com/elastic/beats/v7"
FILEBEAT_PACKAGE = f"{BEATS_MODULE}/filebeat"
GLOBAL_FIELDS_PACKAGE = f"{BEATS_MODULE}/libbeat/scripts/cmd/global_fields"
VERSION_PACKAGE = f"{BEATS_MODULE}/libbeat/version"
GOOS = "linux"
GOARCH = "amd64"
PLATFORM = "linux-x86_64"
# Elastic's linux/amd64 build adds "withjournald" (see the module docstring for why we do not).
BUILD_TAGS: tuple[str, ...] = ()
# devtools.BeatDescription in beats' filebeat/magefile.go, rendered into README.md.
DESCRIPTION = "Filebeat sends log files to Logstash or directly to Elasticsearch."
# prepareModulePackaging in filebeat/scripts/mage/package.go: regexes searched in each path of module/.
MODULE_EXCLUDES = (re.compile("/_meta"), re.compile("/test"), re.compile("fields.go"))
WRAPPER_MODULE = "chat-sentiment.invalid/filebeat-mirror"
TAIL_LINES = 40


@dataclass(frozen=True)
class BeatsSource:
    """The beats module as ``go mod download -json`` reports it."""

    version: str  # the module version, "v7.17.29"
    dir: Path  # the extracted source in GOMODCACHE
    go_mod: Path  # its go.mod
    commit: str  # the git commit of the tag (Origin.Hash)
    time: datetime  # the commit time (from the .info file), in UTC


def top_dir(version: str = FILEBEAT_VERSION) -> str:
    return f"filebeat-{version}-{PLATFORM}"


def tarball_path(root: Path, version: str = FILEBEAT_VERSION) -> Path:
    """Where the mirror keeps the tarball: the path of ``artifacts.elastic.co/downloads/beats/filebeat/``."""
    return root / "beats" / "filebeat" / f"{top_dir(version)}.tar.gz"


def build_dir() -> Path:
    return paths.cache_root() / "build" / "filebeat"


def build(root: Path) -> list[Path]:
    """Build the Filebeat tarball into the mirror at ``root`` (a no-op when the manifest already holds it)."""
    tarball = tarball_path(root)
    if manifest.recorded(root, tarball):
        return [tarball]
    work = build_dir()
    work.mkdir(parents=True, exist_ok=True)
    with _locked(work / ".lock"):
        if manifest.recorded(root, tarball):  # another process built it while we waited
            return [tarball]
        build_tarball(tarball, work)
        manifest.record(root, tarball)
    return [tarball]


def build_tarball(tarball: Path, work: Path) -> None:
    """Compile Filebeat in ``work`` (the wrapper module and scratch space) and write its tarball to ``tarball``.

    Every member and the gzip header carry the tag's commit time, so the same source gives the same bytes.
    """
    env = _go_env()
    source = _download(f"{BEATS_MODULE}@v{FILEBEAT_VERSION}", work, env)
    wrapper = work / "wrapper"
    wrapper.mkdir(exist_ok=True)
    (wrapper / "go.mod").write_text(_wrapper_go_mod(source, env))
    _seed_go_sum(source, wrapper / "go.sum")
    with tempfile.TemporaryDirectory(prefix="out-", dir=work) as out_name:
        out = Path(out_name)
        binary = _build_filebeat(source, wrapper, out, env)
        fields = _build_fields_yml(source, wrapper, out, env)
        top = top_dir()
        members = [
            Member(top, 0o755),
            *(dataclasses.replace(member, name=f"{top}/{member.name}") for member in _members(source, binary, fields)),
        ]
        stamp = int(source.time.timestamp())
        archive.write_tgz(tarball, members, mtime=stamp, gzip_mtime=stamp)


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _go_env() -> dict[str, str]:
    """The environment for every go command: module mode writes go.mod/go.sum; GOMODCACHE/GOCACHE stay default."""
    if shutil.which("go") is None:
        raise RuntimeError(f"go is not on PATH ({os.environ.get('PATH', '')}); it is needed to build Filebeat")
    env = dict(os.environ)
    env.update(GOFLAGS="-mod=mod", CGO_ENABLED="1", GOOS=GOOS, GOARCH=GOARCH, GOWORK="off")
    return env


def _run_go(args: Sequence[str], cwd: Path, env: dict[str, str], what: str) -> None:
    """Run ``go args`` in ``cwd``, streaming its output to stderr; on failure raise with go's last lines."""
    command = ["go", *args]
    print(f"mirror: filebeat: {what}: {shlex.join(command)}", file=sys.stderr, flush=True)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stderr.write(line)
            sys.stderr.flush()
            if not line.startswith("go: downloading "):
                tail.append(line.rstrip("\n"))
    if process.returncode != 0:
        quoted = "\n".join(tail) or "(no output)"
        raise RuntimeError(
            f"{what} failed: `{shlex.join(command)}` in {cwd} exited with {process.returncode}; go said:\n{quoted}"
        )


def _go_json(args: Sequence[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    command = ["go", *args]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    try:
        data = json.loads(result.stdout) if result.stdout.strip() else {}
    except json.JSONDecodeError:
        data = {}
    error = data.get("Error") or (result.stderr.strip() if result.returncode != 0 else "")
    if error:
        raise RuntimeError(f"`{shlex.join(command)}` in {cwd} failed (exit {result.returncode}); go said:\n{error}")
    return data


def _download(module: str, cwd: Path, env: dict[str, str]) -> BeatsSource:
    """Fetch ``module`` (``path@version``) into GOMODCACHE and describe it."""
    data = _go_json(["mod", "download", "-json", module], cwd, env)
    origin = data.get("Origin") or {}
    commit = origin.get("Hash", "")
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise RuntimeError(f"the Go proxy gave no commit hash (Origin.Hash) for {module}: {data}")
    info = json.loads(Path(data["Info"]).read_text())
    stamp = datetime.fromisoformat(info["Time"].replace("Z", "+00:00"))
    return BeatsSource(
        version=data["Version"], dir=Path(data["Dir"]), go_mod=Path(data["GoMod"]), commit=commit, time=stamp
    )


def _wrapper_go_mod(source: BeatsSource, env: dict[str, str]) -> str:
    """go.mod of the throwaway main module: require beats, restating its replace and exclude directives.

    Replace and exclude directives only apply in the main module, so beats' own (its sarama fork above all) would
    be ignored if not copied here. Parsed with ``go mod edit -json`` rather than by hand.
    """
    parsed = _go_json(["mod", "edit", "-json", str(source.go_mod)], source.go_mod.parent, env)

    def spec(mod: dict[str, str]) -> str:
        return f"{mod['Path']} {mod['Version']}" if mod.get("Version") else mod["Path"]

    replaces = []
    for rule in parsed.get("Replace") or []:
        if not rule["New"].get("Version"):
            raise RuntimeError(
                f"{source.go_mod}: replace {spec(rule['Old'])} => {rule['New']['Path']} points into beats' own tree, "
                "which a wrapper module cannot restate"
            )
        replaces.append(f"\t{spec(rule['Old'])} => {spec(rule['New'])}\n")
    excludes = [f"\t{spec(mod)}\n" for mod in parsed.get("Exclude") or []]
    text = (
        f"// Generated by scripts/mirror/filebeat.py to build {FILEBEAT_PACKAGE}; do not edit.\n"
        f"module {WRAPPER_MODULE}\n\ngo {parsed['Go']}\n\nrequire {BEATS_MODULE} {source.version}\n"
    )
    if replaces:
        text += "\n// Restated from beats' go.mod.\nreplace (\n" + "".join(replaces) + ")\n"
    if excludes:
        text += "\nexclude (\n" + "".join(excludes) + ")\n"
    return text


def _seed_go_sum(source: BeatsSource, go_sum: Path) -> None:
    """Start from beats' own go.sum, so every dependency it pins is checked against the hashes Elastic built with.

    It also spares sumdb lookups for forks the checksum database does not know (x-pack's elastic/azure-sdk-for-go
    fork gets a 404 there).
    """
    upstream = source.dir / "go.sum"
    lines = set(go_sum.read_text().splitlines()) if go_sum.is_file() else set()
    lines |= set(upstream.read_text().splitlines()) if upstream.is_file() else set()
    go_sum.write_text("".join(f"{line}\n" for line in sorted(lines) if line.strip()))


def _build_filebeat(source: BeatsSource, wrapper: Path, out: Path, env: dict[str, str]) -> Path:
    """Compile the filebeat binary the way beats' mage DefaultBuildArgs does (cgo, PIE, version variables)."""
    helper = source.dir / "libbeat" / "version" / "helper.go"
    for name in ("buildTime", "commit"):  # `-X` silently ignores a variable that does not exist
        if not re.search(rf"^\s*{name}\s*=", helper.read_text(), re.MULTILINE):
            raise RuntimeError(f"{helper} no longer declares `{name}`; fix the -X ldflags in {__file__}")
    build_time = source.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    ldflags = f"-s -w -X {VERSION_PACKAGE}.buildTime={build_time} -X {VERSION_PACKAGE}.commit={source.commit}"
    binary = out / "filebeat"
    args = ["build", "-v", "-trimpath", "-buildmode=pie", "-ldflags", ldflags, "-o", str(binary)]
    if BUILD_TAGS:
        args.append("-tags=" + ",".join(BUILD_TAGS))
    _run_go([*args, FILEBEAT_PACKAGE], wrapper, env, f"go build {FILEBEAT_PACKAGE}@{source.version}")
    version = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=False)
    expected = f"filebeat version {FILEBEAT_VERSION} "
    if version.returncode != 0 or expected not in version.stdout or source.commit not in version.stdout:
        raise RuntimeError(
            f"{binary} built from {FILEBEAT_PACKAGE}@{source.version} does not report version {FILEBEAT_VERSION} "
            f"and commit {source.commit}: {version.stdout.strip()} {version.stderr.strip()}"
        )
    return binary


def _build_fields_yml(source: BeatsSource, wrapper: Path, out: Path, env: dict[str, str]) -> Path:
    """fields.yml as beats' ``mage fields`` makes it: global_fields over libbeat, filebeat and its modules."""
    tool = out / "global_fields"
    _run_go(
        ["build", "-trimpath", "-o", str(tool), GLOBAL_FIELDS_PACKAGE],
        wrapper,
        {**env, "CGO_ENABLED": "0"},
        f"go build {GLOBAL_FIELDS_PACKAGE}@{source.version}",
    )
    fields = out / "fields.yml"
    beat = source.dir / "filebeat"
    command = [str(tool), "-es_beats_path", str(source.dir), "-beat_path", str(beat), "-out", str(fields)]
    result = subprocess.run([*command, str(beat / "module")], cwd=out, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not fields.is_file():
        raise RuntimeError(f"generating fields.yml from {beat} failed: {result.stderr.strip()}")
    return fields


def _members(source: BeatsSource, binary: Path, fields: Path) -> list[Member]:
    """Everything in the top directory (named relative to it), per beats' packages.yml and package.go.

    That is packages.yml's binary_files plus the OSS license; excludes match these relative names, like mage's.
    """
    beat = source.dir / "filebeat"
    members = [
        Member("filebeat", 0o755, source=binary),
        Member("fields.yml", 0o644, source=fields),
        # The OSS package replaces the repository's LICENSE.txt by the Apache license (apache_license_for_binaries).
        Member("LICENSE.txt", 0o644, source=source.dir / "licenses" / "APACHE-LICENSE-2.0.txt"),
        Member("NOTICE.txt", 0o644, source=source.dir / "NOTICE.txt"),
        Member("README.md", 0o644, data=_readme(source).encode()),
        Member(".build_hash.txt", 0o644, data=f"{source.commit}\n".encode()),
        Member("filebeat.reference.yml", 0o644, source=beat / "filebeat.reference.yml"),
        Member("filebeat.yml", 0o600, source=beat / "filebeat.yml"),
    ]
    members += archive.tree(beat / "module", "module", excludes=MODULE_EXCLUDES)
    members += archive.tree(beat / "modules.d", "modules.d")
    # KibanaDashboards in dev-tools/mage/kibana.go: filebeat/_meta/kibana (absent in 7.17) then each module's
    # _meta/kibana, merged into one kibana/ directory (a later file would win, as with mage's copy).
    kibana: dict[str, Member] = {"kibana": Member("kibana", 0o755)}
    for src in [beat / "_meta" / "kibana", *sorted((beat / "module").glob("*/_meta/kibana"))]:
        if src.is_dir():
            kibana.update((member.name, member) for member in archive.tree(src, "kibana"))
    members += kibana.values()
    for member in members:
        if member.source is not None and not member.source.is_file():
            raise RuntimeError(f"{member.source} is missing from {source.dir}; cannot pack {member.name}")
    return members


def _readme(source: BeatsSource) -> str:
    """beats' dev-tools/packaging/templates/common/README.md.tmpl, rendered for this release."""
    template = source.dir / "dev-tools" / "packaging" / "templates" / "common" / "README.md.tmpl"
    version_doc = (source.dir / "libbeat" / "docs" / "version.asciidoc").read_text()
    branch = re.search(r"^:doc-branch:\s*(\S+)", version_doc, re.MULTILINE)
    values = {
        ".BeatName": "filebeat",
        ".BeatName | title": "Filebeat",
        ".Version": FILEBEAT_VERSION,
        ".Description": DESCRIPTION,
        "beat_doc_branch": branch.group(1) if branch else ".".join(FILEBEAT_VERSION.split(".")[:2]),
    }
    text = template.read_text().replace("{{if .Snapshot}}-SNAPSHOT{{end}}", "")

    def substitute(match: re.Match[str]) -> str:
        action = " ".join(match.group(1).split())
        if action not in values:
            raise RuntimeError(f"{template}: unknown template action {match.group(0)!r}; teach _readme about it")
        return values[action]

    return re.sub(r"\{\{(.*?)\}\}", substitute, text)
