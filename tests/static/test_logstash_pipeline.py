"""The rendered Logstash pipeline (logstash_filebeat/producer.conf.j2) parses with a real Logstash-config parser.

Logstash itself cannot be downloaded here, so the pipeline is parsed by github.com/breml/logstash-config
(Apache-2.0; a PEG grammar of Logstash's configuration language), built from the Go module proxy into a small CLI
(tests/static/lsconfig) that prints the plugin tree as JSON. The template is rendered by Ansible with the logstash
role's own defaults and vars, as the role renders it. Skipped only when Go is not installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "ansible" / "roles" / "logstash"
CLI_SOURCE = Path(__file__).resolve().parent / "lsconfig"
TOOLS = Path(os.environ.get("CHAT_SENTIMENT_CACHE", "/var/cache/chat-sentiment")) / "tools"
QUERY = '(#스트리머 OR "great play") lang:ko -is:retweet'


@pytest.fixture(scope="module")
def lsconfig() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed: the Logstash-config parser is built with it")
    digest = hashlib.sha256(b"".join((CLI_SOURCE / f).read_bytes() for f in ("go.mod", "go.sum", "main.go")))
    binary = TOOLS / f"lsconfig-{digest.hexdigest()[:12]}"
    if not binary.exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        partial = binary.with_suffix(".partial")
        build = subprocess.run([go, "build", "-o", str(partial), "."], cwd=CLI_SOURCE, env=env,
                               capture_output=True, text=True, timeout=600, check=False)
        assert build.returncode == 0, f"go build of the parser failed:\n{build.stderr}"
        partial.replace(binary)
    return binary


def parse(lsconfig: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(lsconfig), *map(str, files)], capture_output=True, text=True, timeout=60, check=False)


def render(tmp_path: Path, **variables: Any) -> Path:
    """producer.conf as the logstash role renders it, with its defaults and vars and these variables."""
    dest = tmp_path / "producer.conf"
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                 "ansible_python_interpreter": sys.executable}},
                         "children": {"kafka": {"hosts": {"k1": {"ansible_host": "10.0.0.11"},
                                                          "k2": {"kafka_advertised_host": "kafka-2.example"}}}}}}
    play = [{
        "name": "Render the producer pipeline",
        "hosts": "localhost",
        "gather_facts": False,
        # Role defaults < the inventory's values (play vars here) < vars/main.yml, as in a real run.
        "vars": {**yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()), "role_path": str(ROLE),
                 "ansible_facts": {"architecture": "x86_64"}, **variables},
        "vars_files": [str(ROLE / "vars" / "main.yml")],
        "tasks": [{"name": "The pipeline is rendered",
                   "ansible.builtin.template": {"src": "{{ logstash_pipeline_template }}", "dest": str(dest),
                                                "mode": "0644"}}],
    }]
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, allow_unicode=True))
    ansible = Path(sys.executable).parent / "ansible-playbook"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_RETRY_FILES_ENABLED="0")
    run = subprocess.run([str(ansible if ansible.exists() else "ansible-playbook"), "-i",
                          str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return dest


def unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value


@pytest.fixture(scope="module")
def tree(lsconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("logstash")
    conf = render(tmp, logstash_x_query=QUERY, logstash_x_bearer_token="vault-secret-token", logstash_x_interval=45)
    text = conf.read_text()
    assert "vault-secret-token" not in text  # the pipeline reads the token from the environment
    result = parse(lsconfig, conf)
    assert result.returncode == 0, f"the rendered pipeline does not parse:\n{result.stderr}\n{text}"
    return json.loads(result.stdout)[str(conf)]


def test_the_input_polls_recent_search_with_the_bearer_token(tree: dict[str, Any]) -> None:
    [poller] = tree["input"]
    assert poller["plugin"] == "http_poller"
    attributes = poller["attributes"]
    assert unquote(attributes["codec"]) == "json"
    assert "every" in attributes["schedule"] and "45s" in attributes["schedule"]
    urls = attributes["urls"]
    assert '"Authorization" => "Bearer ${X_BEARER_TOKEN}"' in urls
    url = urls.split('url => "', 1)[1].split('"', 1)[0]
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api.x.com", "/2/tweets/search/recent")
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert params["query"] == QUERY
    assert params["expansions"] == "author_id"
    assert params["max_results"] == "100"
    assert set(params["tweet.fields"].split(",")) >= {"created_at", "author_id", "lang"}


def test_the_filter_splits_pages_into_posts_and_drops_empty_pages(tree: dict[str, Any]) -> None:
    [branch] = tree["filter"]
    assert branch["if"] == "[data]"
    assert [p["plugin"] for p in branch["then"]] == ["split", "ruby", "mutate"]
    assert unquote(branch["then"][0]["attributes"]["field"]) == "[data]"
    assert "@timestamp" in branch["then"][2]["attributes"]["remove_field"]
    assert [b["condition"] for b in branch["else_if"]] == ["[errors]"]
    assert [p["plugin"] for p in branch["else"]] == ["drop"]


def test_the_output_is_kafka_keyed_by_post_id(tree: dict[str, Any]) -> None:
    [kafka] = tree["output"]
    assert kafka["plugin"] == "kafka"
    attributes = {k: unquote(v) for k, v in kafka["attributes"].items()}
    assert attributes["topic_id"] == "twitter"
    assert attributes["codec"] == "json"
    assert attributes["message_key"] == "%{[data][id]}"
    assert attributes["bootstrap_servers"] == "10.0.0.11:9092,kafka-2.example:9092"


def test_the_override_list_wins_for_the_brokers(lsconfig: Path, tmp_path: Path) -> None:
    conf = render(tmp_path, logstash_x_bearer_token="t", logstash_kafka_bootstrap_servers=["b1:9093"],
                  logstash_kafka_topic="twitter-test")
    result = parse(lsconfig, conf)
    assert result.returncode == 0, result.stderr
    [kafka] = json.loads(result.stdout)[str(conf)]["output"]
    assert unquote(kafka["attributes"]["bootstrap_servers"]) == "b1:9093"
    assert unquote(kafka["attributes"]["topic_id"]) == "twitter-test"


@pytest.mark.parametrize("broken", [
    'input { http_poller { urls => { a => "http://x" } }\noutput { stdout {} }\n',  # a brace missing
    'input { http_poller { urls "http://x" } }\n',  # no =>
    'inputs { stdin {} }\n',  # not a section
    'filter { if [data] { split { field => "[data]" } } else if { drop {} } }\n',  # else if without condition
    'output { kafka { topic_id => "twitter } }\n',  # an unterminated string
])
def test_broken_pipelines_are_rejected(lsconfig: Path, tmp_path: Path, broken: str) -> None:
    path = tmp_path / "broken.conf"
    path.write_text(broken)
    result = parse(lsconfig, path)
    assert result.returncode == 1, f"accepted a broken pipeline:\n{broken}\n{result.stdout}"
    assert str(path) in result.stderr
