"""The roles' pip locks agree with the pins: every pinned release is locked with its hashes, nothing is locked at
another version, and the sets that share the Spark virtualenv agree on every name (``make lock`` regenerates them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scripts.lock import __main__ as lock_main
from scripts.lock import lockfile
from scripts.lock.sets import InstallSet, install_sets

REPO = Path(__file__).resolve().parents[2]
SETS = install_sets(REPO)


def test_the_install_sets_are_the_roles_pip_runs() -> None:
    assert [s.name for s in SETS] == ["spark-venv", "job-stream", "job-transformers", "job-torch-cpu", "x-producer"]
    assert {s.lock.parts[2] for s in SETS} == {"spark", "sentiment_job", "twitter_producer"}


@pytest.mark.parametrize("install_set", SETS, ids=lambda s: s.name)
def test_each_lock_serves_its_pins(install_set: InstallSet) -> None:
    entries = lockfile.parse((REPO / install_set.lock).read_text(), where=str(install_set.lock))
    assert install_set.pins, f"{install_set.name}: no pins read from {install_set.source}"
    assert lockfile.problems(install_set, entries) == []
    # Every hash is a sha256 of a file: 64 hex digits (the parser takes nothing else).
    assert all(len(h) == 64 for e in entries for h in e.hashes)


def test_the_repository_check_passes() -> None:
    assert lock_main.check(SETS, REPO) == []


def test_the_torch_lock_is_the_cpu_build_alone() -> None:
    [entry] = lockfile.parse((REPO / "ansible/roles/sentiment_job/files/locks/torch-cpu.lock").read_text(),
                             where="torch-cpu.lock")
    assert (entry.name, entry.version.endswith("+cpu")) == ("torch", True)
    transformers = lockfile.parse((REPO / "ansible/roles/sentiment_job/files/locks/transformers.lock").read_text(),
                                  where="transformers.lock")
    names = {e.name for e in transformers}
    # torch never comes from the general index, but what it needs does.
    assert "torch" not in names
    assert {"filelock", "sympy", "networkx", "jinja2", "fsspec", "typing-extensions"} <= names
    assert not any(e.name.startswith("nvidia-") or e.name == "triton" for e in transformers)


def _copy_repo_inputs(tmp_path: Path) -> Path:
    """The files the pins and locks are read from, copied so a test can change them."""
    for install_set in SETS:
        target = tmp_path / install_set.lock
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((REPO / install_set.lock).read_text())
    for relative in ("ansible/roles/spark/defaults/main.yml", "ansible/roles/twitter_producer/defaults/main.yml",
                     "spark/pyproject.toml"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text((REPO / relative).read_text())
    return tmp_path


def test_a_pin_changed_without_make_lock_fails_the_check(tmp_path: Path) -> None:
    repo = _copy_repo_inputs(tmp_path)
    pyproject = repo / "spark/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pandas==2.2.3"', '"pandas==2.2.2"'))
    found = lock_main.check(install_sets(repo), repo)
    assert any("pandas is pinned 2.2.2 in spark/pyproject.toml [stream] but locked at 2.2.3" in p for p in found)


def test_a_new_pin_without_a_locked_hash_fails_the_check(tmp_path: Path) -> None:
    repo = _copy_repo_inputs(tmp_path)
    defaults = repo / "ansible/roles/spark/defaults/main.yml"
    defaults.write_text(defaults.read_text().replace("  - numpy==1.26.4\n", "  - numpy==1.26.4\n  - polars==1.0.0\n"))
    found = lock_main.check(install_sets(repo), repo)
    assert any("polars==1.0.0 is pinned in ansible/roles/spark/defaults/main.yml" in p and "not locked" in p
               for p in found)


def test_a_lock_edited_to_another_version_in_one_set_fails_the_check(tmp_path: Path) -> None:
    repo = _copy_repo_inputs(tmp_path)
    stream = repo / "ansible/roles/sentiment_job/files/locks/stream.lock"
    stream.write_text(stream.read_text().replace("tzdata==2026.6", "tzdata==2026.5"))
    found = lock_main.check(install_sets(repo), repo)
    assert any(p.startswith("tzdata (every Python) is locked at 2026.6 by spark-venv and at 2026.5 by job-stream")
               for p in found)


def test_a_missing_lock_fails_the_check(tmp_path: Path) -> None:
    repo = _copy_repo_inputs(tmp_path)
    (repo / "ansible/roles/twitter_producer/files/requirements.lock").unlink()
    assert lock_main.check(install_sets(repo), repo) == [
        "ansible/roles/twitter_producer/files/requirements.lock (set x-producer) is missing; run make lock"]


def _pip_installs() -> list[tuple[str, str]]:
    """(where, argv as text) of every task of every role that runs ``pip install`` on a host."""
    found = []
    for tasks_file in sorted((REPO / "ansible/roles").glob("*/tasks/*.yml")):
        for task in yaml.safe_load(tasks_file.read_text()) or []:
            command = task.get("ansible.builtin.command") if isinstance(task, dict) else None
            argv = command.get("argv") if isinstance(command, dict) else None
            text = " ".join(argv) if isinstance(argv, list) else str(argv or "")
            if "pip" in text and "install" in text:
                found.append((f"{tasks_file.relative_to(REPO)}: {task['name']}", text))
    return found


def test_every_pip_install_on_a_host_is_hash_checked_and_has_no_extra_index() -> None:
    installs = _pip_installs()
    assert len(installs) == 5, installs  # spark; the job's locks, torch, its own wheel; the X producer
    for where, text in installs:
        assert "--extra-index-url" not in text and "extra_index" not in text, where
        if "--require-hashes" not in text:
            # The one exception: the job's wheel, built from this checkout on the controller (no hash can be known
            # in advance), installed alone and without dependencies after the locked runs.
            assert "--no-deps" in text and "__sentiment_job_wheel_src" in text, where
        else:
            assert "-r" in text, where  # from a lock file, never a bare requirement
