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
