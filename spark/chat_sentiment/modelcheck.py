"""The scorer's part of the job's ``--check``: load the configured model once, as a worker would, and score a probe.

A model that cannot load (a tokenizer file and the package that reads it, weights, the ONNX file, a label map
that does not fit its classes) fails here, with the missing piece named, before the job starts -- never in the
middle of a stream, where each Python worker builds the scorer on its first batch.

    python -m chat_sentiment.modelcheck [--config FILE]

prints what was loaded as JSON and exits 0, or names the problem on stderr and exits 2 (a configuration error, as
the job does). The sentiment_job role runs it as the job's user after staging a model and before the job's
settings name it (``stream --check`` checks the settings and the connector jars, not the model).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import config
from .scorers import ScorerUnavailable, get_scorer

#: Chat as the job sees it: Korean, English, emotes, emoji, an empty message.
PROBE = ("ㅋㅋㅋㅋ 개꿀잼 PogChamp", "this stream is so boring ResidentSleeper", "노잼 ㅠㅠ", "gg wp ❤️", "")


def check(settings: config.ScorerSettings) -> dict[str, Any]:
    """Build the scorer ``settings`` describe and score :data:`PROBE`; what was loaded, as a JSON-ready dict.
    Raises config.ConfigError naming the setting and the missing piece."""
    if settings.name != "transformers":
        return {"name": settings.name}
    try:
        scorer = get_scorer("transformers", model=settings.model or None, **settings.options())
        scores = scorer.score_batch(list(PROBE))
    except (ScorerUnavailable, ValueError) as exc:
        raise config.ConfigError(f"scorer (model {settings.model or 'default'!r}): {exc}") from None
    except Exception as exc:  # a model that loads but cannot score
        raise config.ConfigError(f"scorer (model {settings.model or 'default'!r}): scoring a probe failed: "
                                 f"{type(exc).__name__}: {exc}") from None
    return {"name": settings.name, **scorer.describe(),  # type: ignore[attr-defined]
            "probe": [{"text": text, **score.to_dict()} for text, score in zip(PROBE, scores, strict=True)]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_sentiment.modelcheck", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None,
                        help=f"TOML settings file (or ${config.CONFIG_ENV_VAR}); CHAT_SENTIMENT_* variables override")
    args = parser.parse_args(argv)
    try:
        report = check(config.load(args.config).scorer)
    except config.ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
