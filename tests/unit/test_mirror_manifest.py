"""The mirror manifest: digests recorded, checked, and tampering noticed."""

from __future__ import annotations

import hashlib

from scripts.mirror import manifest


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
