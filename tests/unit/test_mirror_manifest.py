"""The mirror manifest: digests recorded, checked, and tampering noticed."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from scripts.mirror import manifest, wheels


def test_record_writes_manifest_and_sidecar(tmp_path):
    artifact = tmp_path / "apache" / "kafka" / "3.0.0" / "kafka_2.13-3.0.0.tgz"
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"kafka bytes")
    digest = manifest.record(tmp_path, artifact)
    assert digest == hashlib.sha512(b"kafka bytes").hexdigest()
    assert (tmp_path / "SHA512SUMS").read_text() == f"{digest}  apache/kafka/3.0.0/kafka_2.13-3.0.0.tgz\n"
    # The sidecar is in sha512sum format, so `sha512sum -c` and Ansible's "sha512:<url>" checksum both read it.
    assert artifact.with_name(artifact.name + ".sha512").read_text() == f"{digest}  kafka_2.13-3.0.0.tgz\n"
    assert manifest.recorded(tmp_path, artifact) == digest
    assert manifest.verify(tmp_path) == []


def test_tampered_or_missing_artifacts_are_reported(tmp_path):
    first, second = tmp_path / "a.jar", tmp_path / "b.jar"
    first.write_bytes(b"a")
    second.write_bytes(b"b")
    manifest.record(tmp_path, first)
    manifest.record(tmp_path, second)
    first.write_bytes(b"changed")
    second.unlink()
    assert manifest.recorded(tmp_path, first) is None
    assert manifest.verify(tmp_path) == ["a.jar", "b.jar"]


def test_recording_again_replaces_the_entry(tmp_path):
    artifact = tmp_path / "w.whl"
    artifact.write_bytes(b"1")
    manifest.record(tmp_path, artifact)
    artifact.write_bytes(b"2")
    digest = manifest.record(tmp_path, artifact)
    assert (tmp_path / "SHA512SUMS").read_text().splitlines() == [f"{digest}  w.whl"]


def test_forget_removes_only_that_line(tmp_path: Path) -> None:
    first, second = tmp_path / "a.bin", tmp_path / "sub" / "b.bin"
    second.parent.mkdir()
    first.write_bytes(b"a")
    second.write_bytes(b"b")
    manifest.record(tmp_path, first)
    manifest.record(tmp_path, second)
    manifest.forget(tmp_path, first)
    manifest.forget(tmp_path, first)  # again: nothing to do
    assert manifest.recorded(tmp_path, first) is None and manifest.recorded(tmp_path, second)
    first.unlink()
    assert manifest.verify(tmp_path) == []


def test_a_wheelhouse_with_pypis_cuda_torch_is_rebuilt_and_refused(tmp_path: Path, monkeypatch) -> None:
    house = tmp_path / "wheels"
    house.mkdir()
    cuda = [house / "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl",
            house / "nvidia_cublas-13.1.1.3-py3-none-manylinux_2_27_x86_64.whl"]
    for wheel in cuda:
        wheel.write_bytes(b"x")
        manifest.record(tmp_path, wheel)
    (house / wheels.STAMP).write_text("".join(lock.read_text() for lock in wheels.lock_files()))
    assert wheels.cuda_build([*cuda, house / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"]) == cuda

    def fake_pip(argv, **_kwargs):  # what pip does without the CPU wheel at hand: PyPI's CUDA build again
        for wheel in cuda:
            wheel.write_bytes(b"y")
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(wheels.subprocess, "run", fake_pip)
    with pytest.raises(RuntimeError, match="CUDA build of torch"):
        wheels.build(tmp_path)
    assert list(house.glob("*.whl")) == [] and manifest.verify(tmp_path) == []


def test_the_wheelhouse_serves_only_the_locks_files_with_their_sha256(tmp_path: Path, monkeypatch) -> None:
    house = tmp_path / "wheels"
    locked = house / "pyspark-4.2.0.tar.gz"
    built_here = house / "pyspark-4.2.0-py2.py3-none-any.whl"  # a wheel built from the sdist: no published hash
    calls = []

    def fake_pip(argv, **_kwargs):  # pip download: the sdist of the lock, beside a leftover of an older build
        calls.append(argv)
        locked.write_bytes(b"sdist")
        built_here.write_bytes(b"wheel")
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(wheels.subprocess, "run", fake_pip)
    monkeypatch.setattr(wheels, "locked_hashes", lambda: {hashlib.sha256(b"sdist").hexdigest()})
    assert wheels.build(tmp_path) == [locked]
    assert all("--require-hashes" in argv and "download" in argv for argv in calls)
    assert len(calls) == len(wheels.lock_files())
    assert not built_here.exists() and manifest.verify(tmp_path) == []
    index = (house / "index.html").read_text()
    assert f'href="pyspark-4.2.0.tar.gz#sha256={hashlib.sha256(b"sdist").hexdigest()}"' in index
    assert "py2.py3-none-any" not in index


def test_a_lock_pip_cannot_fetch_stops_the_build_naming_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(wheels.subprocess, "run", lambda argv, **_: subprocess.CompletedProcess(argv, 1))
    with pytest.raises(RuntimeError, match=r"could not fetch the files of ansible/roles/spark/files/requirements.lock"):
        wheels.build(tmp_path)
