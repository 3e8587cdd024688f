"""The sentiment_job role's job.toml (templates/job.toml.j2) and its model check's settings, without any host.

One ``ansible-playbook`` run (connection local) renders, for three fake job hosts with the role's defaults and
``vars/main.yml``, the job's settings file and the ``CHAT_SENTIMENT_*`` variables the role's model check runs with
(``__sentiment_job_scorer_env``): one host on the lexicon scorer, one on the transformers scorer with the role's
defaults, one on the onnx runtime, int8, with a label map, threads and the lexicon fallback. The job's own loader
(``chat_sentiment.config``) reads each, and for the transformers hosts both describe the same scorer: the check
tests the model the job will run. The role's argument specs are checked with Ansible's own validator.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from chat_sentiment import config

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "ansible" / "roles" / "sentiment_job"

HOSTS = {
    "job-lexicon": {},
    "job-torch": {
        "sentiment_job_scorer": "transformers",
        "sentiment_job_model_revision": "0123456789abcdef0123456789abcdef01234567",
    },
    "job-onnx": {
        "sentiment_job_scorer": "transformers",
        "sentiment_job_model": "/srv/models/kote-binary/",
        "sentiment_job_model_runtime": "onnx",
        "sentiment_job_quantize": True,
        "sentiment_job_model_labels": ["negative", "positive"],
        "sentiment_job_model_threads": 2,
        "sentiment_job_batch_size": 64,
        "sentiment_job_fallback_scorer": "lexicon",
        "sentiment_job_fallback_budget": 1.5,
    },
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, local_play) -> Path:
    work = tmp_path_factory.mktemp("job-template")
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    inventory = {"all": {
        "vars": {**defaults, "chat_sentiment_pki_dir": str(work / "pki")},
        "children": {"kafka": {"hosts": {"k1": {"ansible_host": "10.0.0.1"}}}, "spark": {"hosts": HOSTS}},
    }}
    out = str(work) + "/{{ inventory_hostname }}"
    local_play(work, inventory, name="Render job.toml and the model check's variables as the role does",
               hosts="spark", role=ROLE, play_vars={"sentiment_job_java_home": "/usr/lib/jvm/java-17"}, tasks=[
                   {"name": "job.toml is rendered",
                    "ansible.builtin.template": {"src": str(ROLE / "templates" / "job.toml.j2"), "dest": f"{out}.toml",
                                                 "mode": "0600"}},
                   {"name": "The model check's environment is written",
                    "ansible.builtin.copy": {"content": "{{ __sentiment_job_scorer_env | to_json }}",
                                             "dest": f"{out}.env.json", "mode": "0600"}},
               ])
    return work


def settings(rendered: Path, host: str) -> config.StreamConfig:
    """The rendered file as the job reads it (not validated as a whole: its Kafka password file is on the host)."""
    path = rendered / f"{host}.toml"
    return config.from_mapping(tomllib.loads(path.read_text(encoding="utf-8")), str(path))


def test_the_lexicon_job_gets_no_transformers_settings(rendered: Path) -> None:
    text = (rendered / "job-lexicon.toml").read_text()
    for key in ("model", "runtime", "labels", "threads", "fallback", "fallback_budget"):
        assert not any(line.startswith(f"{key} =") for line in text.splitlines()), key
    assert settings(rendered, "job-lexicon").scorer.options() == {}


def test_the_onnx_job_reads_its_runtime_label_map_and_threads(rendered: Path) -> None:
    scorer = settings(rendered, "job-onnx").scorer
    assert scorer.name == "transformers"
    # the staged copy on the host, not the controller's path
    assert scorer.model == "/var/lib/chat-sentiment/models/kote-binary"
    assert (scorer.runtime, scorer.quantize, scorer.labels, scorer.threads) == (
        "onnx", True, ("negative", "positive"), 2)
    assert scorer.options() == {"revision": None, "quantize": True, "batch_size": 64, "max_length": 128,
                                "runtime": "onnx", "labels": ["negative", "positive"], "threads": 2}
    assert (scorer.fallback_scorer(), scorer.fallback_budget) == ("lexicon", 1.5)


def test_the_torch_job_keeps_the_scorer_options_it_had(rendered: Path) -> None:
    scorer = settings(rendered, "job-torch").scorer
    assert scorer.model == ("/var/lib/chat-sentiment/models/cardiffnlp--twitter-xlm-roberta-base-sentiment@"
                            "0123456789abcdef0123456789abcdef01234567")
    assert (scorer.runtime, scorer.labels, scorer.threads) == ("torch", (), 0)
    assert (scorer.fallback_scorer(), scorer.fallback_budget) == ("", 3.0)  # no fallback unless asked for
    assert scorer.options() == {"revision": None, "quantize": False, "batch_size": 32, "max_length": 128}


@pytest.mark.parametrize("host", ["job-torch", "job-onnx"])
def test_the_model_check_sees_the_scorer_the_job_runs(rendered: Path, host: str) -> None:
    environ = json.loads((rendered / f"{host}.env.json").read_text())
    assert set(environ) <= set(config.ENV_VARS)
    assert config.from_env(environ).scorer == settings(rendered, host).scorer


SPECS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def validate(**params: Any) -> list[str]:
    spec = {name: {k: v for k, v in option.items() if k != "description"} for name, option in SPECS.items()}
    result = ArgumentSpecValidator(spec).validate(params)
    return [str(error) for error in result.errors]


def test_the_argument_specs_accept_the_documented_values() -> None:
    assert validate(sentiment_job_model_runtime="onnx", sentiment_job_model_labels=["negative", "neutral", "positive"],
                    sentiment_job_model_threads=4, sentiment_job_fallback_scorer="lexicon",
                    sentiment_job_fallback_budget=2.5) == []


@pytest.mark.parametrize(("params", "named"), [
    ({"sentiment_job_model_runtime": "tensorflow"}, "sentiment_job_model_runtime"),
    ({"sentiment_job_model_labels": ["negative", "good"]}, "sentiment_job_model_labels"),
    ({"sentiment_job_model_labels": "negative,positive,maybe"}, "sentiment_job_model_labels"),
    ({"sentiment_job_model_threads": "many"}, "sentiment_job_model_threads"),
    ({"sentiment_job_fallback_scorer": "vader"}, "sentiment_job_fallback_scorer"),
    ({"sentiment_job_fallback_budget": "soon"}, "sentiment_job_fallback_budget"),
])
def test_the_argument_specs_reject_what_the_job_would(params: dict[str, Any], named: str) -> None:
    errors = validate(**params)
    assert errors and named in errors[0], errors
