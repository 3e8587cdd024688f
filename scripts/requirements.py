"""Print a pyproject's pinned extra as a requirements list: ``python scripts/requirements.py pyproject.toml dev``."""

from __future__ import annotations

import sys
import tomllib


def main(argv: list[str]) -> int:
    path, extra = argv
    with open(path, "rb") as handle:
        project = tomllib.load(handle)["project"]
    try:
        print("\n".join(project["optional-dependencies"][extra]))
    except KeyError:
        raise SystemExit(f"{path}: no optional-dependencies extra {extra!r}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
