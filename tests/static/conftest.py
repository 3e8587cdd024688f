"""What the host-less template tests share: one play run on this machine as a role would run it on its hosts."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

LocalPlay = Callable[..., None]


def run_local_play(work: Path, inventory: dict[str, Any], *, name: str, hosts: str, role: Path,
                   tasks: list[dict[str, Any]], play_vars: dict[str, Any] | None = None) -> None:
    """Run ``tasks`` on ``hosts`` of ``inventory`` (connection local, no facts) with ``role``'s ``vars/main.yml`` and
    ``role_path``, as ``ansible-playbook`` with the repository's ansible.cfg; fails the test with its output.
    The role's defaults belong in the inventory's ``all`` vars (below any host variable, as in a real run)."""
    play = {
        "name": name,
        "hosts": hosts,
        "connection": "local",
        "gather_facts": False,
        "vars_files": [str(role / "vars" / "main.yml")],
        "vars": {"role_path": str(role), "ansible_python_interpreter": shutil.which("python3") or "python3",
                 **(play_vars or {})},
        "tasks": tasks,
    }
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (work / "play.yml").write_text(yaml.safe_dump([play]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        ["ansible-playbook", "-i", str(work / "inventory.yml"), str(work / "play.yml")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.fixture(scope="session")
def local_play() -> LocalPlay:
    return run_local_play
