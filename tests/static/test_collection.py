"""ansible/ is the chat_sentiment.pipeline collection: it builds, installs offline, and its playbooks run by name.

The build and the install are what a user does (`ansible-galaxy collection build ansible/`, then `install` of the
tarball); the playbooks are then checked from a directory outside the repository with a configuration of its own,
so nothing of the checkout (its roles_path, the kafka role's library/) can stand in for the installed collection.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "ansible"
GALAXY = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
PLAYBOOKS = sorted(p.stem for p in (COLLECTION / "playbooks").glob("*.yml"))
# A module, filter or lookup named by its collection: namespace.collection.name.
FQCN_USE = re.compile(r"\b([a-z_]+\.[a-z_]+)\.[a-z_0-9]+\b")
COLLECTION_PREFIX = re.compile(r"^(?:ansible\.(?:posix|utils|netcommon)|community\.[a-z_]+|amazon\.aws)$")

pytestmark = pytest.mark.skipif(shutil.which("ansible-galaxy") is None, reason="ansible-galaxy is not installed")


@dataclass(frozen=True)
class Installed:
    tarball: Path
    collections: Path
    workdir: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "ANSIBLE_CONFIG": str(self.workdir / "ansible.cfg"),
                "ANSIBLE_COLLECTIONS_PATH": str(self.collections), "ANSIBLE_NOCOLOR": "1"}

    def playbook(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["ansible-playbook", *args], cwd=self.workdir, env=self.env(), capture_output=True,
                                text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result


def run(*command: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The collection built from ansible/ and installed from its tarball, offline, into a directory of its own."""
    tmp = tmp_path_factory.mktemp("collection")
    workdir = tmp / "user"
    workdir.mkdir()
    (workdir / "ansible.cfg").write_text("[defaults]\ninterpreter_python = auto_silent\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(workdir / "ansible.cfg")}
    run("ansible-galaxy", "collection", "build", str(COLLECTION), "--output-path", str(tmp / "dist"), cwd=workdir,
        env=env)
    (tarball,) = (tmp / "dist").glob("*.tar.gz")
    run("ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", str(tmp / "collections"),
        str(tarball), cwd=workdir, env=env)
    groups = ["zookeeper", "kafka", "spark", "shipper", "web"]
    inventory = {"all": {"children": {group: {"hosts": {f"{group}-1": {}}} for group in groups}}}
    (workdir / "hosts.yml").write_text(yaml.safe_dump(inventory))
    return Installed(tarball=tarball, collections=tmp / "collections", workdir=workdir)


def test_the_artifact_holds_what_runs_only(installed: Installed):
    with tarfile.open(installed.tarball) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names
    assert "meta/runtime.yml" in names
    assert "CHANGELOG.md" in names
    assert "roles/kafka/tasks/main.yml" in names
    assert "playbooks/site.yml" in names
    unwanted = [n for n in names if "__pycache__" in n or "/molecule" in n or n.endswith((".pyc", ".png", ".tar.gz"))]
    assert not unwanted
    assert installed.tarball.stat().st_size < 500_000


def test_it_installs_where_it_was_asked_to(installed: Installed):
    root = installed.collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    manifest = (root / "MANIFEST.json").read_text()
    assert f'"version": "{GALAXY["version"]}"' in manifest
    # The kafka role's modules are the collection's plugins too, so its tasks find them once installed.
    for module in ("kafka_topic", "kafka_acl", "kafka_scram"):
        assert (root / "plugins/modules" / f"{module}.py").read_text() == (
            COLLECTION / "roles/kafka/library" / f"{module}.py").read_text()


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_each_playbook_passes_its_syntax_check_from_the_collection(installed: Installed, playbook: str):
    """By name where the name is an identifier (site); a name with a hyphen is not one, so by its installed path."""
    path = installed.collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"] / "playbooks"
    target = f"{FQCN}.{playbook}" if playbook.isidentifier() else str(path / f"{playbook}.yml")
    result = installed.playbook("--syntax-check", "-i", "hosts.yml", target)
    assert str(path / f"{playbook}.yml") in result.stdout


def test_the_site_playbook_lists_the_collections_roles(installed: Installed):
    """The playbooks name roles by their short names; run from the collection, those are the collection's roles."""
    listed = installed.playbook("--list-tasks", "--tags", "kafka", "-i", "hosts.yml", f"{FQCN}.site").stdout
    assert f"{FQCN}.kafka : The broker is enabled and running" in listed
    assert f"{FQCN}.kafka : Topics have their declared partitions, replication factor and configs" in listed
    roles = set(re.findall(r"^ {6}([\w.]+) : ", listed, re.MULTILINE))
    assert roles >= {f"{FQCN}.{role}" for role in ("common", "java", "zookeeper", "kafka", "httpd")}
    assert all(role.startswith(f"{FQCN}.") for role in roles), roles


def used_collections() -> set[str]:
    used = set()
    for path in [*COLLECTION.rglob("*.yml"), *COLLECTION.rglob("*.j2"), *(REPO / "inventories").rglob("*.yml")]:
        for match in FQCN_USE.finditer(path.read_text()):
            if COLLECTION_PREFIX.match(match[1]):
                used.add(match[1])
    return used


def test_the_collections_used_are_required_and_depended_on():
    used = used_collections()
    assert {"ansible.posix", "community.general", "community.crypto", "amazon.aws"} <= used
    requirements = yaml.safe_load((COLLECTION / "requirements.yml").read_text())["collections"]
    pinned = {entry["name"]: entry["version"] for entry in requirements}
    assert set(pinned) == used
    assert set(GALAXY["dependencies"]) == used
    for name, version in pinned.items():
        assert GALAXY["dependencies"][name].startswith(f">={version},"), name


def test_requires_ansible_admits_the_pinned_ansible_core():
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    (core,) = [pin.split("==")[1] for pin in pins if pin.startswith("ansible-core==")]
    runtime = yaml.safe_load((COLLECTION / "meta/runtime.yml").read_text())
    minimum = re.fullmatch(r">=(\d+)\.(\d+)\.(\d+)", runtime["requires_ansible"])
    assert minimum, runtime["requires_ansible"]
    assert tuple(int(part) for part in minimum.groups())[:2] == tuple(int(part) for part in core.split(".")[:2])
    assert tuple(int(part) for part in minimum.groups()) <= tuple(int(part) for part in core.split("."))

