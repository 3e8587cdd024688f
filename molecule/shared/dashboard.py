"""The dashboard in a real browser: Debian's Chromium driven by selenium on the controller, over the bed's bridge.

Used by molecule/pipeline (web and job on one host) and molecule/kafka-cluster (web kc1, job kc2, shipper kc3): the
page is loaded from the web host's address as an operator's browser would, while chat is replayed on the shipper
(``e2e.Replay``). What the page shows is read from the DOM the page builds (ids and data attributes of
``ansible/roles/httpd/files/dashboard``) and compared with ``chat-sentiment report --json`` on the job host, an
independent recount of the job's tables. Screenshots are kept in the logs folder (``CHAT_SENTIMENT_CACHE``/logs).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import e2e
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1400", "--lang=en-US"]
LOGS = Path(os.environ.get("CHAT_SENTIMENT_CACHE", "/var/cache/chat-sentiment")) / "logs"
# The page's own threshold (dashboard.js STALE_MS) is 60 s without a finished batch.
STALE_WITHIN_S = 240
# The httpd role's default httpd_tls_dir: the certificate the tests trust, the key whose mode they check.
TLS_DIR = "/etc/chat-sentiment/tls"


@dataclass
class Browser:
    driver: webdriver.Chrome
    url: str
    profile: tempfile.TemporaryDirectory

    @classmethod
    def open(cls, url: str) -> Browser:
        profile = tempfile.TemporaryDirectory(prefix="chat-dashboard-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        # The web host's self-signed certificate when TLS is on (the site's checks verify it properly: fetch()).
        options.accept_insecure_certs = url.startswith("https:")
        for flag in [*FLAGS, f"--user-data-dir={profile.name}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The bed's addresses are reached directly, never through a proxy from the environment.
        options.add_argument("--no-proxy-server")
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.set_page_load_timeout(60)
        driver.get(url)
        return cls(driver, url, profile)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            self.profile.cleanup()

    # ---- reading the page
    def attr(self, element_id: str, name: str) -> str:
        return self.driver.find_element(By.ID, element_id).get_attribute(name) or ""

    def text(self, element_id: str) -> str:
        """The element's text as the page wrote it (textContent: not upper-cased by the style sheet)."""
        return (self.driver.find_element(By.ID, element_id).get_attribute("textContent") or "").strip()

    def body(self, name: str) -> str:
        return self.driver.execute_script(f"return document.body.dataset.{name} || ''")

    def renders(self) -> int:
        return int(self.body("renders") or 0)

    def channels(self) -> set[tuple[str, str]]:
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#channels tbody tr")
        return {(r.get_attribute("data-source"), r.get_attribute("data-channel")) for r in rows}

    def console_errors(self) -> list[dict[str, Any]]:
        """The browser console's errors since the last call (SEVERE: failed requests and script errors)."""
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def show_minute(self, source: str, channel: str, window_start: str) -> dict[str, str]:
        """Choose the channel, the widest range and the minute with the page's own controls; the numbers shown."""
        Select(self.driver.find_element(By.ID, "source-filter")).select_by_value("")
        Select(self.driver.find_element(By.ID, "range-pick")).select_by_value("1440")
        Select(self.driver.find_element(By.ID, "channel-pick")).select_by_value(f"{source}/{channel}")
        Select(self.driver.find_element(By.ID, "minute-pick")).select_by_value(window_start)
        panel = self.driver.find_element(By.ID, "minute")
        shown = {"channel": panel.get_attribute("data-channel"), "source": panel.get_attribute("data-source"),
                 "window_start": panel.get_attribute("data-window-start")}
        for name in ("messages", "positive", "neutral", "negative", "mean"):
            shown[name] = self.text(f"m-{name}")
        fallback = self.driver.find_element(By.ID, "m-fallback")
        # the lexicon fallback's share of the minute: "" while the line is hidden (no fallback, one scorer)
        shown["fallback"] = "" if fallback.get_attribute("hidden") is not None else self.text("m-fallback")
        return shown

    def screenshot(self, name: str) -> Path:
        LOGS.mkdir(parents=True, exist_ok=True)
        path = LOGS / f"dashboard-{name}-{time.strftime('%Y%m%dT%H%M%S')}.png"
        self.driver.save_screenshot(str(path))
        return path


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer of its own (an HTTPError with its status and Location)


def fetch(url: str, method: str = "GET", cafile: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one request from the controller; HTTP errors and redirects
    are answers. HTTPS is verified against ``cafile`` (the web host's self-signed certificate)."""
    request = urllib.request.Request(url, method=method)
    handlers: list[Any] = [urllib.request.ProxyHandler({}), _NoRedirect()]
    if cafile:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=15) as response:
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def closed_windows(report: dict[str, Any], channels: set[str]) -> list[dict[str, Any]]:
    """The report's closed, checked windows of these channels (the job's numbers equal a recount of its rows)."""
    return [w for w in report["windows"] if w["channel"] in channels and w["closed"] and w["check"] == "ok"]


def newest_closed(report: dict[str, Any]) -> str:
    return max((w["window_start"] for w in report["windows"] if w["closed"]), default="")


def signed(value: float, digits: int = 3) -> str:
    """A mean score as the page prints it (dashboard.js signed())."""
    fixed = f"{value:.{digits}f}"
    return f"+{fixed}" if value > 0 else fixed


# ---------------------------------------------------------------------------------------------- the checks
# The scenarios' test files call these in order with their hosts (web, job and shipper: one host in pipeline).
@dataclass
class Bed:
    web: Any
    job: Any
    shipper: Any
    name: str  # the scenario, in screenshot names
    output: str = ""
    browser: Browser | None = None
    first: dict[str, Any] | None = None
    url: str = ""  # the page: https:// when plain HTTP redirects there (httpd_tls), else http://
    cafile: str | None = None  # the web host's certificate, when TLS is on

    @property
    def address(self) -> str:
        return self.web.ansible.get_variables()["ansible_host"]

    def get(self, url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        return fetch(url, method, self.cafile)


def find_site(bed: Bed) -> None:
    """The page's URL: where plain HTTP redirects to HTTPS, the HTTPS one, trusting the web host's certificate."""
    plain = f"http://{bed.address}/"
    status, headers, _ = fetch(plain)
    if status in (301, 302, 308) and headers.get("location", "").startswith("https://"):
        bed.url = headers["location"]
        certificate = bed.web.check_output(f"cat {TLS_DIR}/chat-sentiment.crt")
        with tempfile.NamedTemporaryFile("w", suffix=".crt", delete=False) as handle:
            handle.write(certificate + "\n")
        bed.cafile = handle.name
    else:
        bed.url = plain


def start(bed: Bed) -> Bed:
    """Chat replayed on the shipper until each of its channels has a closed minute; the page opened."""
    bed.output = e2e.job_settings(bed.job)["output_dir"]
    find_site(bed)
    replay = e2e.Replay(bed.shipper, speed=8, tail=30)
    replay.start()
    replay.wait()
    bed.first = e2e.closed_report(bed.job, bed.output, set(e2e.Replay.channels()))
    bed.browser = Browser.open(bed.url)
    return bed


def every_channel_appears(bed: Bed) -> None:
    wanted = {("twitch", channel) for channel in e2e.Replay.channels()}
    shown = e2e.wait_for("every replayed channel on the page",
                         lambda: wanted <= bed.browser.channels() and bed.browser.channels(), 120, every=2,
                         explain=lambda: f"shown {sorted(bed.browser.channels())}, status "
                                         f"{bed.browser.text('status')!r}")
    assert wanted <= shown
    assert bed.browser.text("health-state"), "the health strip is empty"
    bed.browser.screenshot(f"{bed.name}-channels")


def closed_minutes_match_the_report(bed: Bed) -> int:
    """For each replayed channel's closed minutes, the page's numbers equal the report's; how many compared."""
    windows = closed_windows(bed.first, set(e2e.Replay.channels()))
    assert windows, f"no closed, checked window in the report: {bed.first['windows'][:5]}"
    for window in windows:
        shown = bed.browser.show_minute(window["source"], window["channel"], window["window_start"])
        expected = {"channel": window["channel"], "source": window["source"], "window_start": window["window_start"],
                    "messages": str(window["messages"]), "positive": str(window["positive"]),
                    "neutral": str(window["neutral"]), "negative": str(window["negative"])}
        assert {k: shown[k] for k in expected} == expected, (shown, window)
        # The page prints 3 decimals of the snapshot's score, the report rounds the job's to 4: equal to the
        # page's precision.
        assert abs(float(shown["mean"]) - window["mean_score"]) <= 0.00055, (shown, window)
        assert shown["mean"] == signed(float(shown["mean"]))
        # The scenarios' jobs have no fallback scorer (sentiment_job_fallback_scorer ""): no share is shown.
        assert shown["fallback"] == "", shown
    bed.browser.screenshot(f"{bed.name}-minute")
    return len(windows)


def follows_a_new_minute_without_reload(bed: Bed) -> dict[str, Any]:
    """A second replay closes a newer minute: the page shows it without being reloaded. While chat flows the
    health strip (when the job writes health.json) is fresh. Returns what it saw, for the stale check."""
    browser = bed.browser
    Select(browser.driver.find_element(By.ID, "range-pick")).select_by_value("60")
    before = browser.body("newest")
    assert before >= newest_closed(bed.first) > "", (before, newest_closed(bed.first))
    browser.driver.execute_script("window.__dashboardTestMarker = 'same page';")
    renders = browser.renders()
    replay = e2e.Replay(bed.shipper, speed=8, tail=30)
    replay.start()
    saw: dict[str, Any] = {"health": has_health(bed)}
    if saw["health"]:
        saw["fresh"] = e2e.wait_for("the health strip to be fresh and filled while chat flows",
                                    lambda: health_filled(browser), 240, every=2,
                                    explain=lambda: browser.text("health"))
    replay.wait()

    def newer() -> str | None:
        report = e2e.report(bed.job, bed.output)
        newest = newest_closed(report)
        return newest if newest > before and browser.body("newest") == newest else None

    after = e2e.wait_for("a newer closed minute on the page, as in the report", newer, 600, every=5,
                         explain=lambda: f"page newest {browser.body('newest')!r}, before {before!r}")
    assert browser.driver.execute_script("return window.__dashboardTestMarker") == "same page", "the page reloaded"
    assert browser.renders() > renders
    saw.update(before=before, after=after)
    browser.screenshot(f"{bed.name}-new-minute")
    return saw


def health_filled(browser) -> bool:
    """The strip is fresh and shows the job's last batch, its rates and its Kafka lag (not the "-" of a document
    that lacks the query reading Kafka)."""
    return browser.attr("health", "data-state") == "fresh" and all(
        browser.text(item) not in ("", "-") for item in ("health-last", "health-input", "health-processed",
                                                          "health-lag"))


def has_health(bed: Bed) -> bool:
    return bed.job.file(f"{bed.output}/health.json").exists


def goes_stale_when_the_job_stops(bed: Bed) -> float:
    """While chat flows (a replay) and the strip is fresh, the job is stopped: the strip turns stale within
    STALE_WITHIN_S, the replay still running (so it is the stop, not a quiet chat); the job is started again.
    Seconds from the stop to the stale strip."""
    browser = bed.browser
    replay = e2e.Replay(bed.shipper, speed=8, tail=90)
    replay.start()
    e2e.wait_for("the health strip to be fresh and filled while chat flows", lambda: health_filled(browser), 240,
                 every=2, explain=lambda: browser.text("health"))
    e2e.run(bed.job, "systemctl stop chat-sentiment")
    stopped = time.monotonic()
    try:
        e2e.wait_for("the health strip to turn stale", lambda: browser.attr("health", "data-state") == "stale",
                     STALE_WITHIN_S, every=2, explain=lambda: browser.text("health"))
        took = time.monotonic() - stopped
        chat_flowing = replay.running()
        assert browser.text("health-state").lower().startswith("stale")
        browser.screenshot(f"{bed.name}-stale")
    finally:
        e2e.run(bed.job, "systemctl start chat-sentiment")
    assert chat_flowing, "the replay ended before the strip turned stale: a quiet chat, not the stop, was seen"
    replay.wait()
    e2e.wait_for("the job to run again", lambda: bed.job.run("systemctl is-active --quiet chat-sentiment").rc == 0,
                 120, every=2)
    return took


def no_console_errors(bed: Bed) -> None:
    errors = bed.browser.console_errors()
    assert errors == [], errors


def only_the_dashboard_is_served(bed: Bed) -> None:
    """The page and its two documents, with the security headers; the job's tables, dead letters and their
    metadata are 403 or 404 under every URL that could lead there, and no folder is listed."""
    status, headers, page = bed.get(bed.url)
    assert status == 200 and b"dashboard.js" in page, (status, page[:300])
    csp = headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp, csp
    assert headers.get("x-content-type-options") == "nosniff" and headers.get("referrer-policy") == "no-referrer"
    status, headers, body = bed.get(bed.url + "data/snapshot.json")
    assert status == 200 and headers["content-type"].startswith("application/json"), status
    assert b'"channels"' in body and "content-security-policy" in headers
    # Every file of the job's tables (metadata first), under the old alias, the data path and the root.
    files = bed.job.check_output(
        f"cd {bed.output} && for t in messages dead_letters events aggregates; do "
        "find $t/_delta_log -maxdepth 1 -type f ! -name '.*' 2>/dev/null | sort | head -3; "
        "find $t -maxdepth 2 -name '*.parquet' 2>/dev/null | sort | head -2; done").split()
    assert any("dead_letters/_delta_log/" in f for f in files), files
    tried = []
    for path in [*files, "messages/", "dead_letters/", "_delta_log/", "", "snapshot.json"]:
        for prefix in ("sentiment/", "data/", "", "data/%2e%2e/", "output/"):
            url = bed.url + prefix + path
            if url in (bed.url, bed.url + "data/snapshot.json"):
                continue
            status, _, body = bed.get(url)
            tried.append(url)
            # A path that httpd normalizes to / (data/%2e%2e/) is the page itself; anything else is refused.
            assert status in (403, 404) or (status, body) == (200, page), f"{url} answered {status}: {body[:200]!r}"
            assert b"<title>Index of" not in body
    assert len(tried) > 20


def the_site_is_hardened(bed: Bed) -> dict[str, Any]:
    """The headers on every answer (HSTS only over TLS), the server's name without its version, no listing even of
    a folder made in the document root, no other method than GET/HEAD, nothing of what the distribution serves
    (Debian's /icons/); with TLS: plain HTTP only redirects, the certificate verifies for the host's address, TLS
    below 1.2 is refused, the key is root's 0600 and its text is in no journal or httpd log. What it saw."""
    tls = bed.url.startswith("https:")
    probe = "/var/www/html/listing-probe"
    bed.web.check_output(f"mkdir -p {probe} && echo probe > {probe}/file.txt")
    try:
        answers = {path: bed.get(bed.url + path) for path in
                   ("", "data/health.json", "listing-probe/", "listing-probe/file.txt", "icons/",
                    "icons/README", "server-status", "no-such-page")}
    finally:
        bed.web.check_output(f"rm -rf {probe}")
    for path, (status, headers, body) in answers.items():
        csp = headers.get("content-security-policy", "")
        assert {"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'",
                "base-uri 'none'"} <= {d.strip() for d in csp.split(";")}, (path, csp)
        assert "unsafe" not in csp and "*" not in csp, (path, csp)
        assert (headers.get("x-content-type-options"), headers.get("referrer-policy"),
                headers.get("x-frame-options")) == ("nosniff", "no-referrer", "DENY"), (path, headers)
        assert headers.get("server") == "Apache", (path, headers.get("server"))
        assert ("strict-transport-security" in headers) == tls, (path, headers)
        if path not in ("", "data/health.json"):
            assert status in (403, 404), (path, status, body[:200])
            assert b"Index of" not in body and b"probe" not in body and b"Apache/" not in body, (path, body[:200])
    # health.json: 204 from the feed until the job has written it.
    assert answers[""][0] == 200 and answers["data/health.json"][0] in (200, 204), answers["data/health.json"][0]
    for method in ("POST", "PUT", "DELETE", "TRACE", "OPTIONS"):
        status = bed.get(bed.url, method=method)[0]
        assert status in (403, 405), (method, status)
    saw: dict[str, Any] = {"tls": tls, "statuses": {p: a[0] for p, a in answers.items()}}
    if not tls:
        return saw
    assert int(max_age := answers[""][1]["strict-transport-security"].split("=")[1]) >= 86400, max_age
    status, headers, _ = fetch(f"http://{bed.address}/data/snapshot.json?x=1")
    assert status == 301 and headers["location"] == bed.url + "data/snapshot.json?x=1", (status, headers)
    port = int(bed.url.split(":")[2].split("/")[0]) if bed.url.count(":") > 1 else 443
    context = ssl.create_default_context(cafile=bed.cafile)
    with socket.create_connection((bed.address, port), timeout=15) as raw, \
            context.wrap_socket(raw, server_hostname=bed.address) as tls_socket:
        saw["protocol"] = tls_socket.version()
    assert saw["protocol"] in ("TLSv1.2", "TLSv1.3"), saw
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError):
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused, \
            socket.create_connection((bed.address, port), 15) as raw:
        old.wrap_socket(raw).close()
    # The server refused it: the client did offer TLS 1.1 (no "no protocols available" on this side).
    saw["tls11"] = str(refused.value)
    assert "NO_PROTOCOLS_AVAILABLE" not in saw["tls11"].upper(), saw["tls11"]
    key = bed.web.file(f"{TLS_DIR}/chat-sentiment.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600), (key.user, key.group, oct(key.mode))
    # A line from the middle of the key (never the armour): in no journal and no httpd log.
    body = [line for line in bed.web.check_output(f"cat {TLS_DIR}/chat-sentiment.key").splitlines()
            if line and not line.startswith("-----")]
    secret = body[len(body) // 2]
    leaks = bed.web.run(f"journalctl --no-pager -q | grep -cF -- {shlex.quote(secret)}; "
                        f"grep -rlF -- {shlex.quote(secret)} /var/log/apache2 /var/log/httpd 2>/dev/null")
    assert leaks.stdout.split() == ["0"], leaks.stdout
    return saw


def feed_refuses_others(bed: Bed) -> None:
    """The feed listens on the job host's private address only, lets in the web host (which still gets 404 for
    anything but the two documents) and nobody else (the controller: 403 from the feed, or no connection where
    firewalld runs); it runs as its own user in a sandbox."""
    job_vars = bed.job.ansible.get_variables()
    address = job_vars["ansible_host"]
    listening = bed.job.check_output("ss -ltnH 'sport = :8787'")
    assert f"{address}:8787" in listening and "0.0.0.0:8787" not in listening and "*:8787" not in listening, \
        listening
    first_commit = "messages/_delta_log/00000000000000000000.json"
    for path, wanted in (("snapshot.json", "200"), (first_commit, "404"), ("", "404")):
        got = bed.web.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' http://{address}:8787/{path}")
        assert got == wanted, (path, got)
    try:
        status = fetch(f"http://{address}:8787/snapshot.json")[0]
    except OSError as error:  # firewalld rejects or drops the controller
        status = f"no connection ({error})"
    assert status == 403 or str(status).startswith("no connection"), status
    shown = dict(line.split("=", 1) for line in bed.job.check_output(
        "systemctl show chat-sentiment-feed -p User -p NoNewPrivileges -p ProtectSystem -p ProtectHome "
        "-p PrivateTmp -p PrivateDevices -p CapabilityBoundingSet -p RestrictAddressFamilies -p ActiveState"
    ).splitlines())
    assert shown["User"] == "chat-sentiment-feed" and shown["ActiveState"] == "active", shown
    assert (shown["NoNewPrivileges"], shown["ProtectSystem"], shown["ProtectHome"], shown["PrivateTmp"],
            shown["PrivateDevices"]) == ("yes", "strict", "yes", "yes", "yes"), shown
    assert shown["CapabilityBoundingSet"] == "", shown
    assert set(shown["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}, shown


# ---------------------------------------------------------------------------------------------- the tests
# Each scenario's tests/test_dashboard.py imports these and defines the module fixture ``bed`` with its hosts
# (``opened``), so both scenarios run the same checks.
@contextlib.contextmanager
def opened(web: Any, job: Any, shipper: Any, name: str) -> Iterator[Bed]:
    bed = start(Bed(web=web, job=job, shipper=shipper, name=name))
    try:
        yield bed
    finally:
        bed.browser.screenshot(f"{name}-last")
        bed.browser.close()


def test_every_replayed_channel_appears_without_console_errors(bed: Bed) -> None:
    every_channel_appears(bed)
    no_console_errors(bed)


def test_closed_minutes_show_the_reports_numbers(bed: Bed) -> None:
    assert closed_minutes_match_the_report(bed) >= len(e2e.Replay.channels())
    no_console_errors(bed)


def test_the_page_follows_a_new_minute_without_reload(bed: Bed) -> None:
    saw = follows_a_new_minute_without_reload(bed)
    assert saw["after"] > saw["before"]
    no_console_errors(bed)


def test_the_health_strip_goes_stale_when_the_job_stops(bed: Bed) -> None:
    if not has_health(bed):
        assert bed.browser.text("health-state") == "no health data"
        pytest.skip("the job writes no health.json yet: the strip says 'no health data'")
    assert goes_stale_when_the_job_stops(bed) <= STALE_WITHIN_S
    no_console_errors(bed)


def test_only_the_page_and_the_two_documents_are_served(bed: Bed) -> None:
    only_the_dashboard_is_served(bed)


def test_the_feed_lets_in_the_web_host_only(bed: Bed) -> None:
    feed_refuses_others(bed)


def test_the_site_is_hardened(bed: Bed) -> None:
    the_site_is_hardened(bed)


# In the order they run: the later ones need what the earlier ones saw on the page.
TESTS = (test_every_replayed_channel_appears_without_console_errors, test_closed_minutes_show_the_reports_numbers,
         test_the_page_follows_a_new_minute_without_reload, test_the_health_strip_goes_stale_when_the_job_stops,
         test_only_the_page_and_the_two_documents_are_served, test_the_feed_lets_in_the_web_host_only,
         test_the_site_is_hardened)
