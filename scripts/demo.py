"""``make demo``: the whole Twitch pipeline on one test-bed host, fed with chat, on its live dashboard.

    python -m scripts.demo [--host demo] [--speed 3] [--tail 75] [--skip-converge] [--timeout 600]

1. boots the all-in-one host (``--host``, else ``$DEMO_HOST``, else ``demo``; in every group: zookeeper, kafka,
   spark, shipper, web);
2. starts the Twitch-dialect IRC test server (scripts/twitch_irc_server.py) on the bridge address with a live
   channel, ``#irc_live``, which the host's chat logger joins like it would join Twitch;
3. converges ``ansible/playbooks/site.yml`` on the host with ``chat_source: twitch`` and the demo's variables
   (scripts/demo/vars.yml: small heaps, a short trigger), unless the host was converged from exactly these
   roles and variables and its services run (a second ``make demo`` starts replaying at once; ``--converge``);
4. opens the dashboard (http://<host>/) in headless Chromium, if it is installed (``make deps`` does), and replays
   the bundled sample (scripts/demo/sample-chat/: three channels, Korean and English, ~3,100 lines) into the chat
   logger's folder at ``--speed`` times its own pace, stamped with the wall clock, then keeps a slow chat going
   for ``--tail`` seconds so the job closes the last minutes;
5. while it replays, every 10 s: how much is scored, each minute as the job closes it (a row of the table), and
   when the first closed minute shows on the dashboard page;
6. once every replayed chat message is a scored row: the whole table (``chat-sentiment report`` on the host), a
   screenshot of the dashboard, its URL, where the results live, and how long each step took.

Every line says the time since the demo started (``[mm:ss]``). Running it again replays again (new lines, new
minutes; the table shows only this run). ``make demo-down`` removes the host (the same ``$DEMO_HOST``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chat_sentiment.report import format_table

from scripts import testbed
from scripts.paths import REPO

GROUPS = ("zookeeper", "kafka", "spark", "shipper", "web")
SAMPLE = REPO / "scripts" / "demo" / "sample-chat"
VARS = REPO / "scripts" / "demo" / "vars.yml"
REMOTE = "/var/tmp/chat-demo"
IRC_CHANNEL = "irc_live"
LOGS = Path(os.environ.get("CHAT_SENTIMENT_CACHE", "/var/cache/chat-sentiment")) / "logs"
POLL_S = 10.0
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# The checkout's fingerprint (fingerprint()) after the last converge that finished on the host.
CONVERGED = "/var/lib/chat-demo-converged"
# The services a converged demo host runs.
UNITS = ("zookeeper", "kafka", "chat-sentiment", "chat-sentiment-feed", "chat-logger", "filebeat", "apache2")
# A chat line of Chatty's log, as scripts/chat_replay.py counts them (messages and /me actions).
CHAT_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] <[^>]+>")


@dataclass
class Demo:
    host: str
    started: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def say(self, message: str) -> None:
        print(f"demo [{self.elapsed()}]: {message}", flush=True)

    def mark(self, name: str) -> None:
        """Remember when a step ended (seconds since the start), for the closing summary."""
        self.marks[name] = time.monotonic() - self.started

    @property
    def testbed_host(self) -> testbed.Host:
        return next(h for h in testbed.known_hosts() if h.name == self.host)

    def ssh(self, command: str, *, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        return testbed.ssh(self.testbed_host, command, check=check, timeout=timeout)


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


def sample_messages() -> int:
    """Chat messages (and actions) in the bundled sample: what the replay writes before its tail."""
    return sum(1 for path in SAMPLE.glob("*.log")
               for line in path.read_text(encoding="utf-8").splitlines() if CHAT_LINE.match(line))


def copy_sample(demo: Demo) -> None:
    """The replay tool and the sample, onto the host (one tar over ssh)."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "demo.tar"
        with tarfile.open(bundle, "w") as tar:
            tar.add(REPO / "scripts" / "chat_replay.py", arcname="chat_replay.py")
            tar.add(SAMPLE, arcname="sample")
        command = [*testbed._ssh_args(demo.testbed_host),
                   f"rm -rf {REMOTE} && mkdir -p {REMOTE} && tar -C {REMOTE} -xf - && chmod -R a+rX {REMOTE}"]
        with bundle.open("rb") as handle:
            subprocess.run(command, stdin=handle, check=True, timeout=120)


def start_irc_server(demo: Demo, bind: str, minutes: float) -> subprocess.Popen[bytes]:
    log = testbed.RUN / f"demo-irc-{demo.host}.log"
    events = max(60, int(minutes * 60 * 2))
    command = [sys.executable, str(REPO / "scripts" / "twitch_irc_server.py"), "--bind", bind, "--port", "6667",
               "--channels", IRC_CHANNEL, "--generate", str(events), "--rate", "2", "--join-timeout", "1800"]
    demo.say(f"IRC test server on {bind}:6667, #{IRC_CHANNEL}: {events} events at 2/s once the logger joins "
             f"(log {log})")
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def start_replay(demo: Demo, paths: dict[str, str], speed: float, tail: float) -> subprocess.Popen[str]:
    """The replay on the host, as the chat logger's user, in the background (its summary on stdout at the end)."""
    command = (f"runuser -u chat-logger -- python3 {REMOTE}/chat_replay.py --sample {REMOTE}/sample "
               f"--dest {shlex.quote(paths['log_dir'])} --speed {speed} --tail {tail}")
    return subprocess.Popen([*testbed._ssh_args(demo.testbed_host), command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def report(demo: Demo, paths: dict[str, str], since: str) -> dict[str, Any]:
    done = demo.ssh(f"{paths['venv']}/bin/chat-sentiment report --json --output-dir {paths['output_dir']} "
                    f"--since {since}", timeout=180)
    return json.loads(done.stdout)


def table_rows(windows: list[dict[str, Any]]) -> list[str]:
    """The rows ``chat-sentiment report`` prints for these windows (its header and totals left out)."""
    table = format_table({"windows": windows, "messages": 0, "duplicate_ids": 0, "closed_windows": 0,
                          "mismatches": []})
    return table.splitlines()[2:-1]


def table_header() -> list[str]:
    return format_table({"windows": [], "messages": 0, "duplicate_ids": 0, "closed_windows": 0,
                         "mismatches": []}).splitlines()[:2]


# ------------------------------------------------------------------------------------------------- the page
class Page:
    """The dashboard in headless Chromium (Debian's chromium + chromium-driver, selenium from the dev venv)."""

    def __init__(self, url: str) -> None:
        from selenium import webdriver  # noqa: PLC0415 - only when Chromium is installed
        from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

        self.profile = tempfile.TemporaryDirectory(prefix="chat-demo-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-proxy-server",
                     "--disable-dev-shm-usage", "--window-size=1280,1400", "--lang=en-US",
                     f"--user-data-dir={self.profile.name}"):
            options.add_argument(flag)
        options.accept_insecure_certs = url.startswith("https:")  # a self-signed certificate (httpd_tls)
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.set_page_load_timeout(60)
        self.driver.get(url)

    def newest(self) -> str:
        """The newest closed minute the page shows (its body's data-newest, an ISO time), "" while none."""
        return self.driver.execute_script("return document.body.dataset.newest || ''") or ""

    def pick(self, source: str, channel: str) -> None:
        """Show this channel, with the page's own channel picker."""
        from selenium.webdriver.common.by import By  # noqa: PLC0415
        from selenium.webdriver.support.ui import Select  # noqa: PLC0415

        Select(self.driver.find_element(By.ID, "channel-pick")).select_by_value(f"{source}/{channel}")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            self.profile.cleanup()


def open_page(demo: Demo, url: str) -> Page | None:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        demo.say(f"no {CHROMIUM} or {CHROMEDRIVER} here (make deps installs them): no screenshot")
        return None
    try:
        return Page(url)
    except Exception as error:  # the demo goes on without its screenshot, and says why
        demo.say(f"headless Chromium did not open {url} ({type(error).__name__}: {error}): no screenshot")
        return None


# ------------------------------------------------------------------------------------------------- the steps
def boot(demo: Demo) -> None:
    demo.say(f"booting the all-in-one host {demo.host!r} in {', '.join(GROUPS)}")
    testbed.main(["up", *[arg for g in GROUPS for arg in ("--group", f"{g}={demo.host}")], demo.host])
    demo.mark("booted")


def fingerprint() -> str:
    """What a converge of the demo host depends on: the playbooks and roles, the job's code (the role builds its
    wheel from spark/) and the demo's variables, as this checkout has them (committed and not)."""
    parts = ["ansible", "spark", str(VARS.relative_to(REPO))]
    staged = subprocess.run(["git", "ls-files", "-s", *parts], cwd=REPO, capture_output=True, text=True, check=True)
    changed = subprocess.run(["git", "diff", "HEAD", "--", *parts], cwd=REPO, capture_output=True, text=True,
                             check=True)
    untracked = subprocess.run(["git", "ls-files", "-o", "--exclude-standard", *parts], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.split()
    digest = hashlib.sha256((staged.stdout + changed.stdout).encode())
    for name in sorted(untracked):
        digest.update(name.encode() + (REPO / name).read_bytes())
    return digest.hexdigest()


def still_converged(demo: Demo, stamp: str) -> bool:
    """The host was converged from exactly this checkout and its services run: a new converge would change
    nothing, so the demo skips it (about two minutes)."""
    # one unit at a time: `systemctl is-active A B C` succeeds when any of them is active
    units = " && ".join(f"systemctl is-active --quiet {unit}" for unit in UNITS)
    done = demo.ssh(f"test \"$(cat {CONVERGED} 2>/dev/null)\" = {stamp} && {units}", check=False)
    return done.returncode == 0


def converge(demo: Demo) -> None:
    demo.say("converging ansible/playbooks/site.yml (chat_source: twitch) on the host: 5 to 10 minutes on a new "
             "host, 2 to 3 on a converged one")
    subprocess.run(["ansible-playbook", "-i", str(testbed.INVENTORY), "--limit", demo.host,
                    "-e", f"@{VARS}", "-e", f"chat_logger_server_host={testbed.BRIDGE_ADDR}",
                    str(REPO / "ansible" / "playbooks" / "site.yml")], cwd=REPO, check=True)
    demo.mark("converged")
    demo.say(f"converged in {demo.marks['converged'] - demo.marks['booted']:.0f}s")


@dataclass
class Watch:
    """What the demo has seen while the chat is replayed."""

    since: str
    shown: set[tuple[str, str, str]] = field(default_factory=set)
    first_closed: str = ""
    first_on_page: str = ""
    result: dict[str, Any] = field(default_factory=dict)


def watch_once(demo: Demo, paths: dict[str, str], watch: Watch, page: Page | None, expected: int) -> int:
    """One look: new closed minutes printed as table rows, the first one on the page noted; unscored messages."""
    watch.result = report(demo, paths, watch.since)
    # Closed: ended, with the job's own row ("partial": the minute the run began in, of which only this run's rows
    # count, once it has ended).
    closed = [w for w in watch.result["windows"] if w["closed"] or (w["check"] == "partial" and w["ended"])]
    new = [w for w in closed if (w["source"], w["channel"], w["window_start"]) not in watch.shown]
    if new and not watch.shown:
        demo.mark("first closed minute")
        watch.first_closed = min(w["window_start"] for w in new)
        demo.say(f"the job closed its first minute ({watch.first_closed[11:16]} UTC); each minute as it closes:")
        print("\n".join(table_header()), flush=True)
    if new:
        print("\n".join(table_rows(sorted(new, key=lambda w: (w["window_start"], w["channel"])))), flush=True)
        watch.shown |= {(w["source"], w["channel"], w["window_start"]) for w in new}
    if page is not None:
        note_first_on_page(demo, page, watch)
    return max(0, expected - watch.result["messages"])


def note_first_on_page(demo: Demo, page: Page, watch: Watch) -> None:
    """The first time the page shows a closed minute of this run: said and kept for the timeline."""
    if watch.first_on_page:
        return
    newest = page.newest()
    if newest and newest[:16] >= watch.since[:16]:
        watch.first_on_page = newest
        demo.mark("first minute on the dashboard")
        demo.say(f"the dashboard shows its first closed minute of this run ({newest[11:16]} UTC)")


def replay_and_watch(demo: Demo, args: argparse.Namespace, paths: dict[str, str], page: Page | None,
                     since: str) -> Watch | None:
    """Replay the sample while watching the job's table and the page; None when the job did not keep up."""
    expected = sample_messages()
    demo.say(f"replaying {SAMPLE.relative_to(REPO)} ({expected} chat messages) into {paths['log_dir']} at "
             f"{args.speed:g}x, then {args.tail:g}s of slow chat (~{600 / args.speed + args.tail:.0f}s in all)")
    replay = start_replay(demo, paths, args.speed, args.tail)
    watch = Watch(since=since)
    deadline: float | None = None
    while True:
        time.sleep(POLL_S)
        replaying = replay.poll() is None
        if not replaying and deadline is None:
            out, err = replay.communicate()
            if replay.returncode != 0:
                raise SystemExit(f"demo: the replay failed ({replay.returncode}): {err.strip()[-2000:]}")
            summary = json.loads(out.strip().splitlines()[-1])
            expected = sum(kinds.get("message", 0) + kinds.get("action", 0)
                           for kinds in summary["channels"].values())
            demo.mark("replayed")
            demo.say(f"replayed {summary['lines']} lines, {summary['messages']} chat messages, in "
                     f"{summary['seconds']}s")
            deadline = time.monotonic() + args.timeout
        missing = watch_once(demo, paths, watch, page, expected)
        if not replaying and not missing:
            return watch
        if deadline is not None and time.monotonic() > deadline:
            demo.say(f"gave up after {args.timeout:.0f}s: still {missing} chat messages unscored")
            return None
        if not watch.shown or not replaying:
            demo.say(f"{'replaying' if replaying else 'replayed'}: {watch.result['messages']} chat messages "
                     f"scored so far, {len(watch.shown)} minutes closed")


def finish(demo: Demo, paths: dict[str, str], page: Page | None, watch: Watch) -> None:
    """The whole table, the screenshot, where everything is and how long it took."""
    # The minute that ended last may still have its aggregate from the job's batch before its last messages (the
    # aggregates follow the messages by a trigger or two): the table waits for them to agree, a minute at most.
    for _ in range(12):
        if not report(demo, paths, watch.since)["mismatches"]:
            break
        time.sleep(5)
    table = demo.ssh(f"{paths['venv']}/bin/chat-sentiment report --output-dir {paths['output_dir']} "
                     f"--since {watch.since}")
    print(table.stdout)
    address = demo.testbed_host.address
    web = f"http://{address}"
    shot = None
    if page is not None:
        time.sleep(6)  # one more poll of the page (every 5 s), so it shows the last minute too
        note_first_on_page(demo, page, watch)
        busiest = max(watch.result["windows"], key=lambda w: w["messages"], default=None)
        if busiest is not None:
            page.pick(busiest["source"], busiest["channel"])
        shot = page.screenshot(LOGS / f"demo-dashboard-{time.strftime('%Y%m%dT%H%M%S')}.png")
    demo.mark("done")
    out = paths["output_dir"]
    demo.say(f"done. Results on the host {demo.host} ({address}):")
    print(f"  dashboard: {web}/   screenshot: {shot or 'none (no Chromium)'}")
    print(f"  per message (Delta): {out}/messages/   per minute: {out}/aggregates/ (chat-sentiment sql)")
    print(f"  dead letters: {out}/dead_letters/ (chat-sentiment dead-letters)   Kafka topic: chat-sentiment-scored")
    print(f"  snapshot: {web}/data/snapshot.json   health: {web}/data/health.json")
    print(f"  chat logs: {paths['log_dir']}/   the table again: ssh into the host and run "
          f"chat-sentiment report --output-dir {out}")
    down = "make demo-down" if demo.host == "demo" else f"make demo-down DEMO_HOST={demo.host}"
    print(f"  operating it: docs/operators-guide.md   remove the host: {down}")
    steps = " · ".join(f"{name} {seconds // 60:.0f}m{seconds % 60:02.0f}s" for name, seconds in demo.marks.items())
    print(f"  timeline (since the demo started): {steps}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "demo"),
                        help="the test-bed host's name (default $DEMO_HOST, else demo)")
    parser.add_argument("--speed", type=float, default=3.0, help="replay pace over the sample's own (default 3)")
    parser.add_argument("--tail", type=float, default=75.0, help="seconds of slow chat after the sample")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the results")
    parser.add_argument("--skip-converge", action="store_true", help="the host is converged already")
    parser.add_argument("--converge", action="store_true",
                        help="converge even when the host was converged from this checkout's roles and variables")
    args = parser.parse_args(argv)
    demo = Demo(host=args.host)

    boot(demo)
    paths = host_vars()
    irc = start_irc_server(demo, testbed.BRIDGE_ADDR, 10 / args.speed + args.tail / 60)
    page = None
    try:
        stamp = fingerprint()
        if args.skip_converge:
            pass
        elif not args.converge and still_converged(demo, stamp):
            demo.say("the host runs what this checkout would converge (same roles and variables): no converge "
                     "(--converge forces one)")
        else:
            demo.ssh(f"rm -f {CONVERGED}")
            converge(demo)
            demo.ssh(f"echo {stamp} > {CONVERGED}")
        copy_sample(demo)
        since = demo.ssh("date -u +%Y-%m-%dT%H:%M:%SZ").stdout.strip()
        page = open_page(demo, f"http://{demo.testbed_host.address}/")
        watch = replay_and_watch(demo, args, paths, page, since)
        if watch is None:
            return 1
        finish(demo, paths, page, watch)
        return 0 if not watch.result["mismatches"] and not watch.result["duplicate_ids"] else 1
    finally:
        if page is not None:
            page.close()
        irc.terminate()
        try:
            irc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            irc.kill()


if __name__ == "__main__":
    sys.exit(main())
