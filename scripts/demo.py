"""``make demo``: the whole Twitch pipeline on one test-bed host, fed with chat, and its per-minute table.

    python -m scripts.demo [--speed 3] [--tail 75] [--skip-converge] [--timeout 600]

1. boots the all-in-one host ``demo`` (every group: zookeeper, kafka, spark, shipper, web);
2. starts the Twitch-dialect IRC test server (scripts/twitch_irc_server.py) on the bridge address with a live
   channel, ``#irc_live``, which the host's chat logger joins like it would join Twitch;
3. converges ``ansible/playbooks/site.yml`` on the host with ``chat_source: twitch`` and the demo's variables
   (scripts/demo/vars.yml: small heaps, a short watermark);
4. replays the bundled sample (scripts/demo/sample-chat/: three channels, Korean and English, ~3,100 lines) into
   the chat logger's folder at ``--speed`` times its own pace, stamped with the wall clock, then keeps a slow
   chat going for ``--tail`` seconds so the job closes the last minutes;
5. waits until every replayed chat message is a scored row, and prints the job's per-channel, per-minute table
   (``chat-sentiment report`` on the host) and where the results live.

Running it again replays the sample again (new lines, new minutes; the table shows only this run). ``make
demo-down`` removes the host.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from scripts import testbed
from scripts.paths import REPO

HOST = "demo"
GROUPS = ("zookeeper", "kafka", "spark", "shipper", "web")
SAMPLE = REPO / "scripts" / "demo" / "sample-chat"
VARS = REPO / "scripts" / "demo" / "vars.yml"
REMOTE = "/var/tmp/chat-demo"
IRC_CHANNEL = "irc_live"


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def host_vars() -> dict[str, str]:
    """What the demo needs to know of the converged host, from the inventory and the job role's defaults."""
    import yaml  # noqa: PLC0415 - in the controller venv

    defaults = yaml.safe_load((REPO / "ansible/roles/sentiment_job/defaults/main.yml").read_text())
    demo = yaml.safe_load(VARS.read_text())
    out = {
        "output_dir": demo.get("sentiment_job_output_dir", "/var/lib/chat-sentiment/output"),
        "venv": demo.get("sentiment_job_venv_dir", "/opt/spark/venv"),
        "log_dir": demo.get("chat_logger_log_dir", "/var/lib/chat-logger/logs"),
    }
    for key, name in (("output_dir", "sentiment_job_output_dir"), ("venv", "spark_venv_dir")):
        value = defaults.get(name)
        if isinstance(value, str) and "{{" not in value and name not in demo:
            out[key] = value
    return out


def ssh(command: str, *, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    host = next(h for h in testbed.known_hosts() if h.name == HOST)
    return testbed.ssh(host, command, check=check, timeout=timeout)


def address() -> str:
    return next(h for h in testbed.known_hosts() if h.name == HOST).address


def copy_sample() -> None:
    """The replay tool and the sample, onto the host (one tar over ssh)."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "demo.tar"
        with tarfile.open(bundle, "w") as tar:
            tar.add(REPO / "scripts" / "chat_replay.py", arcname="chat_replay.py")
            tar.add(SAMPLE, arcname="sample")
        host = next(h for h in testbed.known_hosts() if h.name == HOST)
        command = [*testbed._ssh_args(host), f"rm -rf {REMOTE} && mkdir -p {REMOTE} && tar -C {REMOTE} -xf - && "
                   f"chmod -R a+rX {REMOTE}"]
        with bundle.open("rb") as handle:
            subprocess.run(command, stdin=handle, check=True, timeout=120)


def start_irc_server(bind: str, minutes: float) -> subprocess.Popen[bytes]:
    log = testbed.RUN / "demo-irc.log"
    events = max(60, int(minutes * 60 * 2))
    command = [sys.executable, str(REPO / "scripts" / "twitch_irc_server.py"), "--bind", bind, "--port", "6667",
               "--channels", IRC_CHANNEL, "--generate", str(events), "--rate", "2", "--join-timeout", "1800"]
    say(f"IRC test server on {bind}:6667, #{IRC_CHANNEL}: {events} events at 2/s once the logger joins (log {log})")
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def report(paths: dict[str, str], since: str) -> dict[str, object]:
    done = ssh(f"{paths['venv']}/bin/chat-sentiment report --json --output-dir {paths['output_dir']} "
               f"--since {since}", timeout=180)
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=3.0, help="replay pace over the sample's own (default 3)")
    parser.add_argument("--tail", type=float, default=75.0, help="seconds of slow chat after the sample")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the results")
    parser.add_argument("--skip-converge", action="store_true", help="the host is converged already")
    args = parser.parse_args(argv)
    started = time.monotonic()

    say(f"booting the all-in-one host {HOST!r} in {', '.join(GROUPS)}")
    testbed.main(["up", *[arg for g in GROUPS for arg in ("--group", f"{g}={HOST}")], HOST])
    paths = host_vars()
    sample_minutes = 10 / args.speed
    irc = start_irc_server(testbed.BRIDGE_ADDR, sample_minutes + args.tail / 60)
    try:
        if not args.skip_converge:
            say("converging ansible/playbooks/site.yml (chat_source: twitch) on the host")
            converge_started = time.monotonic()
            subprocess.run(["ansible-playbook", "-i", str(testbed.INVENTORY), "--limit", HOST,
                            "-e", f"@{VARS}", "-e", f"chat_logger_server_host={testbed.BRIDGE_ADDR}",
                            str(REPO / "ansible" / "playbooks" / "site.yml")], cwd=REPO, check=True)
            say(f"converged in {time.monotonic() - converge_started:.0f}s")

        copy_sample()
        since = ssh("date -u +%Y-%m-%dT%H:%M:%SZ").stdout.strip()
        say(f"replaying {SAMPLE.relative_to(REPO)} into {paths['log_dir']} at {args.speed:g}x "
            f"(~{sample_minutes * 60 + args.tail:.0f}s), as the chat logger's user")
        replay = ssh(f"runuser -u chat-logger -- python3 {REMOTE}/chat_replay.py --sample {REMOTE}/sample "
                     f"--dest {shlex.quote(paths['log_dir'])} --speed {args.speed} --tail {args.tail}",
                     timeout=sample_minutes * 60 + args.tail + 300)
        summary = json.loads(replay.stdout.strip().splitlines()[-1])
        expected = {ch: kinds.get("message", 0) + kinds.get("action", 0) for ch, kinds in summary["channels"].items()}
        say(f"replayed {summary['lines']} lines, {summary['messages']} chat messages, in {summary['seconds']}s")

        deadline = time.monotonic() + args.timeout
        while True:
            result = report(paths, since)
            scored: dict[str, int] = {}
            for window in result["windows"]:
                scored[window["channel"]] = scored.get(window["channel"], 0) + window["messages"]
            missing = {ch: n - scored.get(ch, 0) for ch, n in expected.items() if scored.get(ch, 0) < n}
            if not missing:
                break
            if time.monotonic() > deadline:
                say(f"gave up after {args.timeout:.0f}s: still unscored {missing}")
                return 1
            say(f"waiting for the job: {sum(missing.values())} messages still to be scored")
            time.sleep(10)

        table = ssh(f"{paths['venv']}/bin/chat-sentiment report --output-dir {paths['output_dir']} --since {since}")
        print(table.stdout)
        web = f"http://{address()}"
        say(f"done in {time.monotonic() - started:.0f}s. Results on the host {HOST} ({address()}):")
        out = paths["output_dir"]
        print(f"  per message (Parquet): {out}/messages/   per minute: {out}/aggregates/")
        print(f"  dead letters: {paths['output_dir']}/dead_letters/   Kafka topic: chat-sentiment-scored")
        print(f"  dashboard: {web}/   snapshot: {web}/data/snapshot.json   health: {web}/data/health.json")
        print(f"  chat logs: {paths['log_dir']}/   the table again: ssh into the host and run "
              f"{paths['venv']}/bin/chat-sentiment report --output-dir {paths['output_dir']}")
        print("  remove the host: make demo-down")
        return 0 if not result["mismatches"] and not result["duplicate_ids"] else 1
    finally:
        irc.terminate()
        try:
            irc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            irc.kill()


if __name__ == "__main__":
    sys.exit(main())
