"""The dashboard's data on the job host, read-only over HTTP: ``python -m chat_sentiment.feed``.

The web hosts' httpd proxies two fixed URLs to this server (see ``ansible/roles/dashboard_feed``), so the dashboard
works whether or not the web host runs the job. It answers exactly two paths, each a file the job replaces
atomically in its output folder:

``/snapshot.json``  the per-minute aggregates (:mod:`chat_sentiment.snapshot`)
``/health.json``    the job's last batches, rates, Kafka lag and dead letters per minute (same folder)

A file not written yet is 204 (no content). Everything else is 404 (no listing, no other file of the folder,
whatever the path), methods other than GET and HEAD are 405, and a client outside ``--allow`` is 403 before its path
is even looked at. Files are read whole per request (they are small; a file over ``MAX_BYTES`` is refused with 503),
so a reader never sees a partial file.

    python -m chat_sentiment.feed --snapshot /var/lib/chat-sentiment/output/snapshot.json \\
        --bind 10.0.0.12 --port 8787 --allow 10.0.0.11 --allow 127.0.0.1
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger("chat_sentiment.feed")

MAX_BYTES = 8 * 1024 * 1024
HEALTH_NAME = "health.json"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def served_files(snapshot_path: str | Path) -> dict[str, Path]:
    """URL path -> file: the snapshot and, in the same folder, the job's health document."""
    snapshot = Path(snapshot_path)
    return {"/snapshot.json": snapshot, f"/{HEALTH_NAME}": snapshot.parent / HEALTH_NAME}


def networks(allowed: Iterable[str]) -> list[Network]:
    """The client networks allowed in (addresses or CIDRs); a bad entry raises ValueError naming it."""
    out = []
    for entry in allowed:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"--allow {entry!r} is not an address or network: {exc}") from None
    return out


def client_allowed(address: str, allowed: Sequence[Network]) -> bool:
    try:
        client = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped
    return any(client in network for network in allowed)


def resolve(request_path: str, files: Mapping[str, Path]) -> Path | None:
    """The file a request path names (query string ignored), or None: only the exact served paths match."""
    return files.get(request_path.split("?", 1)[0].split("#", 1)[0])


def make_handler(files: Mapping[str, Path], allowed: Sequence[Network]) -> type[BaseHTTPRequestHandler]:
    class FeedHandler(BaseHTTPRequestHandler):
        server_version = "chat-sentiment-feed"
        sys_version = ""

        def _answer(self, status: HTTPStatus, body: bytes = b"", content_type: str = "text/plain; charset=utf-8",
                    *, head: bool = False, extra: Mapping[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _serve(self, head: bool) -> None:
            if not client_allowed(self.client_address[0], allowed):
                self._answer(HTTPStatus.FORBIDDEN, b"forbidden\n", head=head)
                return
            path = resolve(self.path, files)
            if path is None:
                self._answer(HTTPStatus.NOT_FOUND, b"not found\n", head=head)
                return
            try:
                with path.open("rb") as handle:
                    body = handle.read(MAX_BYTES + 1)
                    modified = formatdate(path.stat().st_mtime, usegmt=True)
            except FileNotFoundError:
                # Not written yet (a new job, or a job without health reports): no content, which a page polling
                # it shows as "no data" without a failed request in its console.
                self._answer(HTTPStatus.NO_CONTENT, head=head)
                return
            except OSError as exc:
                log.warning("cannot read %s: %s", path, exc)
                self._answer(HTTPStatus.SERVICE_UNAVAILABLE, b"unreadable\n", head=head)
                return
            if len(body) > MAX_BYTES:
                log.warning("%s is over %d bytes: not served", path, MAX_BYTES)
                self._answer(HTTPStatus.SERVICE_UNAVAILABLE, b"too large\n", head=head)
                return
            self._answer(HTTPStatus.OK, body, "application/json; charset=utf-8", head=head,
                         extra={"Last-Modified": modified})

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def _not_allowed(self) -> None:
            self._answer(HTTPStatus.METHOD_NOT_ALLOWED, b"method not allowed\n", extra={"Allow": "GET, HEAD"})

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # Polled every few seconds by every open dashboard: only refusals are worth a journal line.
            if str(code).isdigit() and int(code) >= 400:
                log.info("%s %s -> %s", self.client_address[0], self.requestline[:200], code)

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.client_address[0], format % args)

    return FeedHandler


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, bind: str, port: int, files: Mapping[str, Path], allowed: Sequence[Network]) -> None:
        if ":" in bind:
            self.address_family = socket.AF_INET6
        super().__init__((bind, port), make_handler(files, allowed))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_sentiment.feed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", required=True, help="the job's snapshot file (health.json sits beside it)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--allow", action="append", default=[],
                        help="a client address or network let in (repeatable; default: loopback only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s", stream=sys.stderr)
    try:
        allowed = networks(args.allow or ["127.0.0.0/8", "::1/128"])
        server = FeedServer(args.bind, args.port, served_files(args.snapshot), allowed)
    except (ValueError, OSError) as exc:
        print(f"chat-sentiment feed: {exc}", file=sys.stderr)
        return 2
    log.info("serving %s on %s:%d to %s", ", ".join(served_files(args.snapshot)), args.bind, args.port,
             ", ".join(str(n) for n in allowed))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
