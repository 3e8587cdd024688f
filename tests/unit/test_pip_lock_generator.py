"""The lock generator's parts: pins read from the project's files, the lock format, the merge of per-Python
resolutions, and the choice of a release's files from an index page."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from scripts.lock import __main__ as lock_main
from scripts.lock import lockfile, pypi
from scripts.lock.lockfile import Entry
from scripts.lock.sets import InstallSet, parse_pin, wheel_requirements

A = "a" * 64
B = "b" * 64
C = "c" * 64


def test_pins_are_exact_and_normalized() -> None:
    assert parse_pin("Kafka_Python==3.0.12", where="x") == ("kafka-python", "3.0.12")
    with pytest.raises(ValueError, match=r"spark defaults: 'pandas>=2' is not an exact pin"):
        parse_pin("pandas>=2", where="spark defaults")


def test_render_and_parse_round_trip() -> None:
    entries = [Entry("tzdata", "2026.6", "", (B, A)),
               Entry("networkx", "3.6.1", 'python_version == "3.11"', (C,))]
    text = lockfile.render(entries, ["made by a test"])
    assert text.startswith("# made by a test\nnetworkx==3.6.1 ; python_version == \"3.11\" \\\n")
    assert f"    --hash=sha256:{A} \\\n    --hash=sha256:{B}\n" in text
    parsed = lockfile.parse(text, where="t")
    assert sorted(parsed, key=lambda e: e.name) == [
        Entry("networkx", "3.6.1", 'python_version == "3.11"', (C,)), Entry("tzdata", "2026.6", "", (A, B))]


def test_parse_refuses_an_unpinned_line() -> None:
    with pytest.raises(ValueError, match=r"lock\.txt: logical line 2: 'pandas>=2' is not name==version"):
        lockfile.parse(f"numpy==1.26.4 --hash=sha256:{A}\npandas>=2 --hash=sha256:{B}\n", where="lock.txt")


def test_a_local_build_meets_its_public_pin_but_not_another_release() -> None:
    assert lockfile.same_release("2.13.0", "2.13.0+cpu")
    assert not lockfile.same_release("2.13.0", "2.13.1+cpu")
    assert not lockfile.same_release("2.13.0+cu121", "2.13.0+cpu")
    assert lockfile.same_release("1.0", "1.0.0")


def test_problems_name_each_disagreement() -> None:
    install_set = InstallSet("s", Path("s.lock"), {"numpy": "1.26.4", "pandas": "2.2.3", "torch": "2.13.0"},
                             ("3.11",), "v", "pins.toml")
    entries = [Entry("numpy", "1.26.3", "", (A,)), Entry("torch", "2.13.0+cpu", "", ()),
               Entry("six", "1.0", 'python_version == "3.11"', (B,)), Entry("six", "1.0", 'python_version == "3.11"',
                                                                              (B,))]
    assert lockfile.problems(install_set, entries) == [
        "s.lock (set s): torch==2.13.0+cpu has no --hash=sha256",
        "s.lock (set s): six is locked more than once for the same Pythons",
        "s.lock (set s): numpy is pinned 1.26.4 in pins.toml but locked at 1.26.3; run make lock",
        "s.lock (set s): pandas==2.2.3 is pinned in pins.toml but not locked; run make lock",
    ]


def test_merge_marks_only_what_differs_between_pythons() -> None:
    merged = lockfile.merge({
        "3.11": [Entry("numpy", "1.26.4", "", ()), Entry("networkx", "3.6.1", "", ())],
        "3.12": [Entry("numpy", "1.26.4", "", ()), Entry("networkx", "3.7", "", ()),
                 Entry("setuptools", "84.2.1", "", ())],
    })
    assert sorted(merged, key=lambda e: (e.name, e.version)) == [
        Entry("networkx", "3.6.1", 'python_version == "3.11"', ()),
        Entry("networkx", "3.7", 'python_version == "3.12"', ()),
        Entry("numpy", "1.26.4", "", ()),
        Entry("setuptools", "84.2.1", 'python_version == "3.12"', ()),
    ]
    assert lockfile.python_marker(["3.12", "3.10"]) == 'python_version == "3.10" or python_version == "3.12"'


def test_release_hashes_take_every_file_of_that_release_only() -> None:
    page = {"files": [
        {"filename": "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
         "hashes": {"sha256": A}},
        {"filename": "numpy-1.26.4-cp312-cp312-win_amd64.whl", "hashes": {"sha256": B}},
        {"filename": "numpy-1.26.4.tar.gz", "hashes": {"sha256": C}},
        {"filename": "numpy-1.26.40-cp311-cp311-manylinux_2_17_x86_64.whl", "hashes": {"sha256": "d" * 64}},
        {"filename": "numpy-1.26.4rc1.tar.gz", "hashes": {"sha256": "e" * 64}},
        {"filename": "numpy-1.26.4.win32-py3.11.exe", "hashes": {"sha256": "f" * 64}},
        {"filename": "numpy-1.26.4-cp39-cp39-macosx_10_9_x86_64.whl", "hashes": {"md5": "0" * 32}},
    ]}
    assert sorted(pypi.release_hashes(page, "NumPy", "1.26.4").values()) == [A, B, C]


def test_index_hashes_fail_naming_the_release() -> None:
    with pytest.raises(LookupError, match=r"https://idx/simple: no file of kafka_python==9.9 with a sha256"):
        pypi.index_hashes("kafka_python", "9.9", index="https://idx/simple", fetch=lambda url: {"files": []})
    seen = []
    pypi.index_hashes("Kafka_Python", "3.0.12", index="https://idx/simple/", fetch=lambda url: (
        seen.append(url) or {"files": [{"filename": "kafka_python-3.0.12-py3-none-any.whl", "hashes": {"sha256": A}}]}))
    assert seen == ["https://idx/simple/kafka-python/"]


def _wheel(folder: Path, name: str, requires: list[str]) -> Path:
    path = folder / name
    meta = "Metadata-Version: 2.1\nName: torch\nVersion: 2.13.0+cpu\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires) + "\nRequires-Dist: in the description, not a header\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("torch-2.13.0+cpu.dist-info/METADATA", meta)
    return path


def test_cpu_wheels_and_their_requirements(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
                   ["filelock", "sympy>=1.13.3", 'optree>=0.13.0; extra == "optree"'])
    _wheel(tmp_path, "torch-2.12.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl", [])
    _wheel(tmp_path, "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl", [])  # PyPI's CUDA build
    assert lock_main.cpu_wheels([tmp_path], "2.13.0") == [wheel]
    assert wheel_requirements(wheel) == ["filelock", "sympy>=1.13.3"]
    assert pypi.file_sha256(wheel) == hashlib.sha256(wheel.read_bytes()).hexdigest()
