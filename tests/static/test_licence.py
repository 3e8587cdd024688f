"""One licence everywhere: every role's meta/main.yml, both pyproject.toml files and the collection's galaxy.yml name
the licence of the LICENSE file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent for p in (REPO / "ansible/roles").glob("*/meta/main.yml"))
# The first line of each licence text as its SPDX identifier; the LICENSE file must be one of these.
SPDX_BY_FIRST_LINE = {"MIT License": "MIT", "Apache License": "Apache-2.0"}


def licence_of_the_repository() -> str:
    first_line = (REPO / "LICENSE").read_text().splitlines()[0].strip()
    assert first_line in SPDX_BY_FIRST_LINE, f"LICENSE starts with {first_line!r}, not a licence this test knows"
    return SPDX_BY_FIRST_LINE[first_line]


def test_the_roles_are_found():
    assert len(ROLES) >= 10, [r.name for r in ROLES]


@pytest.mark.parametrize("role", [pytest.param(r, id=r.name) for r in ROLES])
def test_each_role_has_the_repository_licence(role: Path):
    meta = yaml.safe_load((role / "meta/main.yml").read_text())
    assert meta["galaxy_info"]["license"] == licence_of_the_repository(), f"{role}/meta/main.yml"


@pytest.mark.parametrize("path", ["pyproject.toml", "spark/pyproject.toml"])
def test_each_python_project_has_the_repository_licence(path: str):
    project = tomllib.loads((REPO / path).read_text())["project"]
    assert project["license"] == licence_of_the_repository(), path



def test_the_collection_has_the_repository_licence():
    galaxy = yaml.safe_load((REPO / "ansible/galaxy.yml").read_text())
    assert galaxy["license"] == [licence_of_the_repository()]
