"""make demo and make demo-down act on the same host: DEMO_HOST when given (on the command line or in the
environment), else demo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def dry_run(*args: str, env: dict[str, str] | None = None) -> str:
    environ = {key: value for key, value in os.environ.items() if key != "DEMO_HOST"} | (env or {})
    return subprocess.run(["make", "-s", "-n", "-C", str(REPO), *args], env=environ, capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize(("args", "env", "host"), [
    ((), None, "demo"),
    (("DEMO_HOST=solo",), None, "solo"),
    ((), {"DEMO_HOST": "solo2"}, "solo2"),
])
def test_demo_down_removes_the_demo_host(args, env, host):
    assert f'scripts.testbed down "{host}"' in dry_run("demo-down", *args, env=env)


@pytest.mark.parametrize(("args", "host"), [((), "demo"), (("DEMO_HOST=solo3",), "solo3")])
def test_the_demo_reads_the_same_host(args, host):
    # The demo script takes the host from the environment; make exports DEMO_HOST to its recipes.
    environ = {key: value for key, value in os.environ.items() if key != "DEMO_HOST"}
    out = subprocess.run(["make", "-s", "-C", str(REPO), "--eval", "show-demo-host: ; @echo $$DEMO_HOST",
                          "show-demo-host", *args], env=environ, capture_output=True, text=True, check=True).stdout
    assert out.strip() == host


def test_a_demo_host_counts_as_converged_only_when_every_unit_is_active(monkeypatch):
    """`systemctl is-active A B C` succeeds when any one is active: a job systemd had given up on was taken for a
    running one, and the demo replayed into a pipeline that scored nothing."""
    from scripts import demo  # noqa: PLC0415

    sent: list[str] = []

    def ssh(self, command, **_):
        sent.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(demo.Demo, "ssh", ssh)
    assert demo.still_converged(demo.Demo("solo"), "abc")
    for unit in demo.UNITS:
        assert f"systemctl is-active --quiet {unit} " in sent[0] + " "
    assert "is-active --quiet zookeeper kafka" not in sent[0]


def test_the_demo_converges_again_when_the_jobs_code_changed():
    """The role builds the job's wheel from spark/: a change there is a change of what a converge installs."""
    from scripts import demo  # noqa: PLC0415

    before = demo.fingerprint()
    probe = REPO / "spark" / "chat_sentiment" / f"_probe_{os.getpid()}.py"
    probe.write_text("# untracked\n")
    try:
        assert demo.fingerprint() != before
    finally:
        probe.unlink()
    assert demo.fingerprint() == before
