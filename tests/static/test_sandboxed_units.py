"""Every systemd unit a role writes is sandboxed (issue 12, item 4), so a new unit cannot ship without it.

A role that templates a ``*.service.j2`` either includes ``common``'s ``tasks/sandbox.yml`` for it (the drop-in
10-sandbox.conf, scored on the test bed against molecule/shared/tests/sandbox_thresholds.yml) or carries the
sandbox in the unit itself (ProtectSystem=strict and an empty capability bounding set at least). httpd's unit is
the distribution package's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "ansible" / "roles"
THRESHOLDS = Path(__file__).resolve().parents[2] / "molecule" / "shared" / "tests" / "sandbox_thresholds.yml"


def tasks(role: Path) -> list[dict]:
    out: list[dict] = []

    def walk(items: list) -> None:
        for task in items or []:
            out.append(task)
            for key in ("block", "rescue", "always"):
                walk(task.get(key, []))

    for path in sorted((role / "tasks").glob("*.yml")):
        walk(yaml.safe_load(path.read_text()) or [])
    return out


def unit_templates(role: Path) -> list[str]:
    found = []
    for task in tasks(role):
        spec = task.get("ansible.builtin.template") or task.get("template")
        if isinstance(spec, dict) and str(spec.get("src", "")).endswith(".service.j2"):
            found.append(spec["src"])
    return found


def includes_sandbox(role: Path) -> bool:
    for task in tasks(role):
        spec = task.get("ansible.builtin.include_role") or task.get("include_role")
        if isinstance(spec, dict) and spec.get("name") == "common" and spec.get("tasks_from") == "sandbox":
            return True
    return False


def sandboxed_inline(text: str) -> bool:
    lines = {line.strip() for line in text.splitlines()}
    return "ProtectSystem=strict" in lines and "CapabilityBoundingSet=" in lines


ROLES_WITH_UNITS = [p.name for p in sorted(ROLES.iterdir()) if (p / "tasks").is_dir() and unit_templates(p)]


def test_the_scan_finds_the_units():
    assert {"kafka", "zookeeper", "sentiment_job", "filebeat", "chat_logger"} <= set(ROLES_WITH_UNITS)


@pytest.mark.parametrize("role", ROLES_WITH_UNITS)
def test_every_unit_a_role_writes_is_sandboxed(role):
    path = ROLES / role
    if includes_sandbox(path):
        return
    bare = [src for src in unit_templates(path) if not sandboxed_inline((path / "templates" / src).read_text())]
    assert not bare, f"{role} writes {bare} without common's sandbox drop-in or a sandbox of its own"


def test_an_unsandboxed_unit_is_caught():
    """The check above can fail: a unit with only some hardening is not taken as sandboxed."""
    assert not sandboxed_inline("[Service]\nNoNewPrivileges=true\nProtectSystem=full\n")
    assert sandboxed_inline("[Service]\nProtectSystem=strict\nCapabilityBoundingSet=\n")
    assert not includes_sandbox(ROLES / "java")


def test_every_sandboxed_unit_of_the_roles_has_a_threshold():
    thresholds = yaml.safe_load(THRESHOLDS.read_text())
    assert all(0 < value < 10 for value in thresholds.values()), thresholds
    names = {"zookeeper", "kafka", "chat-sentiment", "chat-logger", "filebeat", "twitter-producer", "logstash",
             "spark-master", "spark-worker"}
    assert names <= set(thresholds), names - set(thresholds)
