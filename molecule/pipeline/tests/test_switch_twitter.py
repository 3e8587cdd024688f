"""One variable switches the source: chat_source twitch -> twitter -> twitch on p1, converged by site.yml.

Each switch converges, a second run changes nothing, and only the chosen source's shipper runs (the other is stopped
and disabled, its files kept). On the twitter leg the X producer reads the X API v2 test server
(scripts/x_api_server.py, recent search, bearer token) on the bridge address, and the job scores with the
transformers scorer on the onnx runtime (the model exported to int8 on the host by the role) and a tiny
random-weight model built here, binary, whose config.json names its classes the wrong way round: only the explicit
label map makes its one answer "positive", with a score no lexicon gives. Every served post that matches the query
is a scored row exactly once, also across a producer restart and a kill -9. A converge onto a copy of the model
without its tokenizer fails at the model check, naming what is missing, and the running job is left alone. Back on
twitch, the job and the Twitch shipper are as before.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import e2e

SCENARIO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(e2e.REPO))
from scripts.x_api_server import Query, XApiServer  # noqa: E402

X_PORT = 18099  # vars/main.yml: twitter_producer_api_base_url
TOKEN = "test-token"  # vars/main.yml: twitter_producer_bearer_token
QUERY = "#stream OR #스트리머"  # vars/main.yml: twitter_producer_query
TWITCH = ("chat-logger", "filebeat")
TWITTER = ("twitter-producer",)
WAIT_S = 900
# The model's classes as its config.json names them, and as the job is told they are (sentiment_job_model_labels).
MODEL_ID2LABEL = ["positive", "negative"]
LABEL_MAP = ["negative", "positive"]
# Class 1's logit 2 above class 0's for every text: P(class 1) - P(class 0) = tanh(1).
SCORE = 0.7616


def run_converge(*extra: str) -> subprocess.CompletedProcess:
    """site.yml (converge.yml) with the scenario's variables and ``extra``, output without colours."""
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
               "-e", f"@{SCENARIO / 'vars' / 'main.yml'}", *extra, str(SCENARIO / "converge.yml")]
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_NOCOLOR": "true"}
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600, env=env)


def converge(*extra: str) -> int:
    """site.yml (converge.yml) with the scenario's variables and ``extra``; the number of changed tasks."""
    done = run_converge(*extra)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    recap = re.search(r"^p1\s+:.*\bchanged=(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", done.stdout), re.MULTILINE)
    assert recap, done.stdout[-2000:]
    # site.yml ends by saying where the dashboard and the results are
    assert re.search(r"dashboard: https?://[^/\s]+/", done.stdout) and "results: p1:/" in done.stdout, \
        done.stdout[-1500:]
    changed = int(recap.group(1))
    if changed:
        print("\n".join(line for line in done.stdout.splitlines() if line.startswith("changed:")))
    return changed


def transformers(model: Path) -> list[str]:
    """The twitter leg's job: the transformers scorer on the onnx runtime, int8, with an explicit label map."""
    return ["-e", "chat_source=twitter", "-e", "sentiment_job_scorer=transformers",
            "-e", f"sentiment_job_model={model}", "-e", "sentiment_job_batch_size=16",
            "-e", "sentiment_job_model_runtime=onnx", "-e", "sentiment_job_quantize=true",
            "-e", json.dumps({"sentiment_job_model_labels": LABEL_MAP})]


def main_pid(host, service: str) -> int:
    return int(host.check_output(f"systemctl show -p MainPID --value {service}"))


def running(host, service: str) -> tuple[bool, bool]:
    active = host.run(f"systemctl is-active --quiet {service}").rc == 0
    enabled = host.run(f"systemctl is-enabled --quiet {service}").rc == 0
    return active, enabled


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from scripts.localmodel import build_model  # noqa: PLC0415 - transformers is heavy, load it here only

    out = tmp_path_factory.mktemp("tiny-sentiment-model")
    build_model(out, ["PogChamp that was insane", "노잼 ResidentSleeper", "ㅋㅋㅋㅋ 개꿀잼", "gg wp",
                      "와 방금 플레이 진짜 대박이다 #스트리머", "this stream is so boring today"],
                labels=MODEL_ID2LABEL, classifier_bias=[0.0, 2.0])
    return out


@pytest.fixture(scope="module")
def model_without_tokenizer(model, tmp_path_factory) -> Path:
    """The same model with its weights and config but none of its tokenizer files."""
    out = tmp_path_factory.mktemp("tiny-sentiment-model-no-tokenizer")
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(model / name, out / name)
    assert not {p.name for p in out.iterdir()} & {"tokenizer.json", "tokenizer_config.json"}
    return out


@pytest.fixture(scope="module")
def xapi(host):
    server = XApiServer(host=host.ansible.get_variables()["testbed_gateway"], port=X_PORT, token=TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def twitter(host, xapi, model) -> dict[str, int]:
    first = converge(*transformers(model))
    again = converge(*transformers(model))
    return {"first": first, "again": again}


@pytest.fixture(scope="module")
def served(host, twitter, xapi) -> set[str]:
    """Posts served in three rounds, the producer restarted, then killed, between them; the ids the query selects."""
    query = Query(QUERY)
    posts = xapi.add_posts(40)
    time.sleep(8)
    assert host.run("systemctl restart twitter-producer").rc == 0
    posts += xapi.add_posts(40)
    time.sleep(8)
    e2e.kill_and_wait(host, "twitter-producer", timeout=120)
    posts += xapi.add_posts(40)
    users = xapi.store.users
    return {p["id"] for p in posts if query.matches(p, users[p["author_id"]])}


def test_the_switch_to_twitter_converges_and_is_idempotent(twitter):
    assert twitter["first"] > 0
    assert twitter["again"] == 0


def test_only_the_x_producer_ships(host, twitter):
    assert running(host, "twitter-producer") == (True, True)
    for service in TWITCH:
        assert running(host, service) == (False, False), service
    assert host.run("systemctl is-active --quiet logstash").rc != 0
    # Switched off, not removed: the Twitch shipper's files stay for a switch back.
    assert host.file("/etc/filebeat/filebeat.yml").exists
    settings = e2e.job_settings(host)
    assert settings["scorer"]["name"] == "transformers"
    assert (settings["scorer"]["runtime"], settings["scorer"]["quantize"]) == ("onnx", True)
    assert settings["scorer"]["labels"] == LABEL_MAP
    # The job's subscription does not follow the switch (the sentiment_job role's README says why).
    assert settings["sources"] == ["twitch", "twitter"]


def test_every_served_post_is_scored_once_by_the_model(host, twitter, served):
    assert len(served) >= 20, "the query selects enough of the served posts"
    output = e2e.job_settings(host)["output_dir"]
    rows = e2e.wait_scored(host, output, served, WAIT_S)
    mine = [r for r in rows if r["id"] in served]
    counts = Counter(r["id"] for r in mine)
    assert max(counts.values()) == 1, [i for i, n in counts.items() if n > 1]
    # The tiny model's classifier says the same thing of every text, which the lexicon would not; its config.json
    # calls that class "negative": "positive" is the label map's word.
    assert {(r["label"], round(r["score"], 4)) for r in mine} == {("positive", SCORE)}
    assert {r["id"] for r in rows if r["channel"] == "twitter"} == served, "a post the query does not select"
    journal = host.check_output("journalctl -u chat-sentiment --no-pager -o cat | grep ' settings ' | tail -n 1")
    assert '"name": "transformers"' in journal, journal
    assert '"runtime": "onnx"' in journal and '"quantize": true' in journal, journal
    assert f'"labels": {json.dumps(LABEL_MAP)}' in journal, journal


def test_the_role_exported_the_int8_model_as_the_job(host, twitter):
    model = e2e.job_settings(host)["scorer"]["model"]
    exported = host.file(f"{model}/onnx/model_quantized.onnx")
    assert exported.is_file and exported.user == "chat-sentiment", model
    # the staged model itself stays root's: the job writes only its export
    assert host.file(f"{model}/config.json").user == "root"


def test_the_token_is_in_no_log(host, served):
    journal = host.run("journalctl -u twitter-producer -u chat-sentiment --no-pager -o cat").stdout
    assert TOKEN not in journal
    assert host.file("/etc/twitter-producer").exists


def test_a_model_that_cannot_load_fails_the_converge_and_the_job_keeps_running(host, served,
                                                                             model_without_tokenizer):
    before = e2e.job_settings(host)["scorer"]["model"]
    pid = main_pid(host, "chat-sentiment")
    assert pid > 0, "the job runs before the converge"
    done = run_converge(*transformers(model_without_tokenizer))
    assert done.returncode != 0, done.stdout[-3000:]
    # The failed task is the role's model check, and its message (YAML-folded by the callback) names what is missing.
    # ansible-core 2.19 prints the failure (fatal: ...) on stderr; the task headers stay on stdout, and the host
    # stops at its first failure, so the last task it started is the one that failed.
    output = done.stdout + done.stderr
    assert "fatal: [p1]" in output, output[-3000:]
    failed = done.stdout[done.stdout.rindex("TASK ["):]
    assert failed.startswith("TASK [sentiment_job : The job's code loads the model and scores a probe"), failed[:3000]
    message = " ".join(output.replace("''", "'").split())
    assert f"{model_without_tokenizer.name}': no tokenizer (expected tokenizer.json" in message, output[-3000:]
    # Before job.toml named it and before any restart: the job runs on, with its model.
    assert running(host, "chat-sentiment") == (True, True)
    assert main_pid(host, "chat-sentiment") == pid
    assert e2e.job_settings(host)["scorer"]["model"] == before


def test_back_to_twitch_converges_is_idempotent_and_ships_twitch_only(host, served):
    assert converge("-e", "chat_source=twitch") > 0
    assert converge("-e", "chat_source=twitch") == 0
    for service in TWITCH:
        assert running(host, service) == (True, True), service
    assert running(host, "twitter-producer") == (False, False)
    assert e2e.job_settings(host)["scorer"]["name"] == "lexicon"
    # The job reads twitch-chat again: a new line is scored.
    marker = f"back{int(time.time())}"
    e2e.append(host, "switchback", [f"[{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}] <viewer> "
                                    f"gg wp {marker}\n".encode()])

    def scored():
        rows = e2e.tables(host, e2e.job_settings(host)["output_dir"], "messages")["messages"]
        return [r for r in rows if marker in (r.get("text") or "")]

    assert len(e2e.wait_for("the line written after switching back", scored, timeout=WAIT_S)) == 1
