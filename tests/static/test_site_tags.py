"""Tags per tier: `ansible-playbook site.yml --tags kafka` (from the repository root) lists the kafka tier's tasks only.

`--list-tasks` needs no host: a small generated inventory with one host per group is enough. Tasks tagged `always`
(the argument spec checks Ansible adds to every role, the dashboard feed's address) are listed whatever the tags;
the JDK play carries the tags of the JVM tiers, since they need the java_home fact it sets.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GROUPS = ["zookeeper", "kafka", "spark", "shipper", "web"]
# "      kafka : The broker is enabled and running	TAGS: [kafka]"; tasks of an include_role have no "role : ".
TASK_LINE = re.compile(r"^ {6}(?:(?P<role>\w+) : )?(?P<name>.+?)\tTAGS: \[(?P<tags>[^\]]*)\]$")

pytestmark = pytest.mark.skipif(shutil.which("ansible-playbook") is None, reason="ansible-playbook is not installed")


def ansible_env() -> dict[str, str]:
    return {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}


def listed_tasks(inventory: Path, tags: str) -> list[tuple[str | None, str, set[str]]]:
    """(role or None, task name, tags) of every task `site.yml --tags TAGS` would run."""
    result = subprocess.run(
        ["ansible-playbook", "--list-tasks", "--tags", tags, "-i", str(inventory), "site.yml"],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = []
    for line in result.stdout.splitlines():
        match = TASK_LINE.match(line)
        if match:
            tags_of_task = {t.strip() for t in match["tags"].split(",") if t.strip()}
            tasks.append((match["role"], match["name"], tags_of_task))
    assert tasks, result.stdout
    return tasks


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    children = {group: {"hosts": {f"{group}-1": {}}} for group in GROUPS}
    path.write_text(yaml.safe_dump({"all": {"children": children}}))
    return path


def roles_doing_work(tasks: list[tuple[str | None, str, set[str]]]) -> set[str | None]:
    """The roles with a task other than an `always` one (None: a task of an include_role, listed without role)."""
    return {role for role, _name, tags in tasks if "always" not in tags}


def test_kafka_lists_the_brokers_and_their_jdk_only(inventory: Path):
    tasks = listed_tasks(inventory, "kafka")
    for role, name, tags in tasks:
        assert tags & {"kafka", "always"}, (role, name, tags)
    assert roles_doing_work(tasks) == {"java", "kafka", None}
    names = {name for role, name, _ in tasks if role == "kafka"}
    assert "The broker is enabled and running" in names
    assert "Topics have their declared partitions, replication factor and configs" in names
    # ZooKeeper's, the job's and the shippers' roles are there with their argument spec checks only.
    for role in ("zookeeper", "spark", "sentiment_job", "filebeat", "httpd", "common"):
        assert all("always" in tags for r, _n, tags in tasks if r == role), role


def test_web_lists_httpd_and_the_closing_lines_only(inventory: Path):
    tasks = listed_tasks(inventory, "web")
    assert roles_doing_work(tasks) == {"httpd", None}
    unnamed = {name for role, name, tags in tasks if role is None and "always" not in tags}
    assert "The dashboard's URLs and the job's results" in unnamed
    assert not any(role in {"java", "kafka", "zookeeper"} and "always" not in tags for role, _n, tags in tasks)


def test_every_play_of_the_site_playbook_is_tagged():
    plays = yaml.safe_load((REPO / "ansible/playbooks/site.yml").read_text())
    tiers = {"base", "java", "zookeeper", "kafka", "spark", "job", "shipper", "web", "summary"}
    found: set[str] = set()
    for play in plays:
        tags = set(play.get("tags", []))
        for role in play.get("roles", []):
            tags |= set(role.get("tags", []))
        assert tags, f"play {play['name']!r} has no tag"
        found |= tags
    assert found == tiers
