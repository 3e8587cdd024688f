"""A local X API v2 test server: recent search, filtered stream and its rules, with the API's shapes.

The X API is a paid external service, so the producer (``spark/chat_sentiment/x_producer.py``) and the Logstash
pipeline are tested against this stand-in. It speaks what they use, with the response shapes of the real API:

- ``GET /2/tweets/search/recent``: ``query`` (required), ``since_id``, ``until_id``, ``max_results`` (10-100),
  ``next_token`` pagination, ``tweet.fields``, ``expansions=author_id``, ``user.fields``; the answer is
  ``{"data": [...], "includes": {"users": [...]}, "meta": {"newest_id", "oldest_id", "result_count",
  "next_token"}}``, newest post first;
- ``GET /2/tweets/search/stream``: chunked, newline-delimited JSON, one ``{"data", "includes",
  "matching_rules"}`` message per post matching a rule, a blank keep-alive line every ``keepalive`` seconds;
- ``GET``/``POST /2/tweets/search/stream/rules``: list, ``add``, ``delete`` (by ids or values), ``dry_run``;
- bearer-token auth (401 with the API's problem shape), per-endpoint rate limits over a window with the
  ``x-rate-limit-limit``/``-remaining``/``-reset`` headers and ``429 Too Many Requests`` when exhausted.

Posts get increasing snowflake ids (the creation time in the upper bits), Korean or English text and one of a few
authors (``includes.users``). Tests drive the server in-process (``XApiServer``) or, when it runs as a program,
through its ``/_test/`` endpoints (no auth): ``POST /_test/posts?count=N``, ``GET /_test/posts``,
``POST /_test/drop-streams``, ``POST /_test/rate-limit?endpoint=search&remaining=0&reset_in=5``.

    python -m scripts.x_api_server --host 127.0.0.1 --port 8099 --token secret --generate-every 2
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import logging
import queue
import random
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOG = logging.getLogger("x_api_server")
SNOWFLAKE_EPOCH_MS = 1_288_834_974_657
#: Default limits per 15-minute window, as the API documents them for an app's bearer token.
DEFAULT_LIMITS = {"search": 450, "stream": 50, "rules": 450}
TWEET_FIELDS = {"id", "text", "author_id", "created_at", "lang", "conversation_id", "public_metrics",
                "possibly_sensitive", "edit_history_tweet_ids", "referenced_tweets", "in_reply_to_user_id"}
USER_FIELDS = {"id", "name", "username", "created_at", "verified", "description", "protected"}

USERS = [
    {"id": "1500000000000000001", "username": "gamer_kim", "name": "김게이머"},
    {"id": "1500000000000000002", "username": "streamfan", "name": "Stream Fan"},
    {"id": "1500000000000000003", "username": "lee_watch", "name": "이시청"},
    {"id": "1500000000000000004", "username": "nightowl42", "name": "Night Owl"},
    {"id": "1500000000000000005", "username": "park_clip", "name": "박클립"},
    {"id": "1500000000000000006", "username": "casual_carl", "name": "Carl"},
]
TEXTS = {
    "ko": ["와 방금 플레이 진짜 대박이다 #스트리머", "오늘 방송 너무 재밌어요 ㅋㅋㅋ", "이건 좀 별로네요... 아쉽다",
           "최고의 하이라이트! 사랑해요 ❤️", "렉 때문에 짜증나 ㅠㅠ", "다음 경기 언제 해요? #스트리머"],
    "en": ["that clutch was amazing #stream", "this stream is so boring today", "love the new overlay ❤️",
           "worst lag ever, unwatchable", "GG, great game everyone #stream", "what time is the next match?"],
}


# ------------------------------------------------------------------------------------------------ posts
def snowflake(ms: int, sequence: int) -> int:
    """A snowflake id: milliseconds since the Twitter epoch in the upper bits, a sequence in the low 12."""
    return ((ms - SNOWFLAKE_EPOCH_MS) << 22) | (1 << 17) | (sequence & 0xFFF)


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@dataclass
class Rule:
    id: str
    value: str
    tag: str | None = None

    def shape(self) -> dict[str, str]:
        return {"id": self.id, "value": self.value, **({"tag": self.tag} if self.tag else {})}


class Query:
    """A small subset of the search/rule language: terms (AND), OR, -negation, quotes, lang:, from:, is:retweet.

    Enough to select posts by word or hashtag, language and author; unknown operators (has:, is:verified...)
    match everything.
    """

    _TOKEN = re.compile(r'-?"[^"]*"|\(|\)|\S+')

    def __init__(self, text: str) -> None:
        if not text.strip():
            raise ValueError("empty query")
        self.text = text
        groups: list[list[str]] = [[]]
        for token in self._TOKEN.findall(text):
            if token in ("(", ")"):
                continue
            if token == "OR":
                groups.append([])
            else:
                groups[-1].append(token.strip("()"))
        self.groups = [g for g in groups if g]
        if not self.groups:
            raise ValueError(f"query {text!r} has no terms")

    @staticmethod
    def _term(term: str, post: dict[str, Any], user: dict[str, Any]) -> bool:
        negate = term.startswith("-")
        term = term.lstrip("-").strip('"')
        key, _, value = term.partition(":")
        if value and key == "lang":
            hit = post["lang"] == value
        elif value and key == "from":
            hit = user["username"].lower() == value.lower().lstrip("@")
        elif value and key == "is" and value == "retweet":
            hit = False
        elif value and key in ("has", "is", "place", "url"):
            hit = not negate
        else:
            hit = term.lower() in post["text"].lower()
        return hit != negate

    def matches(self, post: dict[str, Any], user: dict[str, Any]) -> bool:
        return any(all(self._term(t, post, user) for t in group) for group in self.groups)


class PostStore:
    """Every post the server has, oldest first; ids increase strictly."""

    def __init__(self, seed: int = 7) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._sequence = itertools.count()
        self._last_id = 0
        self.posts: list[dict[str, Any]] = []
        self.users = {u["id"]: dict(u, created_at="2020-01-01T00:00:00.000Z", verified=False) for u in USERS}

    def generate(self, count: int, *, lang: str | None = None, text: str | None = None) -> list[dict[str, Any]]:
        made = []
        with self._lock:
            for _ in range(count):
                now = datetime.now(UTC)
                ms = int(now.timestamp() * 1000)
                post_id = max(snowflake(ms, next(self._sequence)), self._last_id + 1)
                self._last_id = post_id
                language = lang or self._random.choice(["ko", "en"])
                author = self._random.choice(USERS)
                body = text or self._random.choice(TEXTS[language])
                post = {
                    "id": str(post_id),
                    "text": body,
                    "author_id": author["id"],
                    "created_at": iso(now),
                    "lang": language,
                    "conversation_id": str(post_id),
                    "edit_history_tweet_ids": [str(post_id)],
                    "possibly_sensitive": False,
                    "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": self._random.randint(0, 9),
                                       "quote_count": 0},
                }
                self.posts.append(post)
                made.append(post)
        return made

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.posts)


def shape_post(post: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """A post as the API returns it: id, text and edit_history_tweet_ids always, the rest when requested."""
    keep = {"id", "text", "edit_history_tweet_ids"} | fields
    return {k: v for k, v in post.items() if k in keep}


def shape_user(user: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    keep = {"id", "name", "username"} | fields
    return {k: v for k, v in user.items() if k in keep}


# ------------------------------------------------------------------------------------------------ rate limits
@dataclass
class Window:
    limit: int
    length_s: float
    remaining: int = 0
    reset: float = 0.0

    def take(self, now: float) -> bool:
        if now >= self.reset:
            self.remaining = self.limit
            self.reset = now + self.length_s
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True

    def headers(self) -> dict[str, str]:
        return {"x-rate-limit-limit": str(self.limit), "x-rate-limit-remaining": str(max(self.remaining, 0)),
                "x-rate-limit-reset": str(int(self.reset + 0.999))}


# ------------------------------------------------------------------------------------------------ server
@dataclass
class StreamClient:
    queue: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    tweet_fields: set[str] = field(default_factory=set)
    user_fields: set[str] = field(default_factory=set)
    expand_author: bool = False
    sent: int = 0


class ProblemError(Exception):
    """An error answered in the API's problem shape."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("detail") or body.get("title"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def invalid_request(message: str, parameters: dict[str, list[str]]) -> ProblemError:
    return ProblemError(400, {
        "errors": [{"parameters": parameters, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    })


class XApiServer:
    """The server's state and its HTTP front end (a ThreadingHTTPServer on a thread)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token: str = "test-token",
                 limits: dict[str, int] | None = None, window_s: float = 900.0, keepalive_s: float = 20.0,
                 drop_stream_every: int = 0, max_stream_connections: int = 0) -> None:
        self.token = token
        self.store = PostStore()
        self.rules: dict[str, Rule] = {}
        self._rule_ids = itertools.count(1_700_000_000_000_000_001)
        self.windows = {name: Window(limit, window_s) for name, limit in {**DEFAULT_LIMITS, **(limits or {})}.items()}
        self.keepalive_s = keepalive_s
        self.drop_stream_every = drop_stream_every
        self.max_stream_connections = max_stream_connections
        self.clients: list[StreamClient] = []
        self.requests: list[tuple[str, str]] = []  # (method, path with query) of every API request
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- life cycle
    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> XApiServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="x-api-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.drop_streams()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> XApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls
    def add_posts(self, count: int, **kwargs: Any) -> list[dict[str, Any]]:
        posts = self.store.generate(count, **kwargs)
        with self.lock:
            rules = list(self.rules.values())
            clients = list(self.clients)
        for post in posts:
            user = self.store.users[post["author_id"]]
            matching = [r for r in rules if Query(r.value).matches(post, user)]
            if matching:
                for client in clients:
                    client.queue.put({"post": post, "rules": matching})
        return posts

    def drop_streams(self) -> int:
        with self.lock:
            clients = list(self.clients)
        for client in clients:
            client.queue.put(None)
        return len(clients)

    def exhaust(self, endpoint: str, reset_in: float, remaining: int = 0) -> None:
        with self.lock:
            window = self.windows[endpoint]
            window.take(time.time())
            window.remaining = remaining
            window.reset = time.time() + reset_in

    # -- API
    def check_auth(self, header: str | None) -> None:
        if header != f"Bearer {self.token}":
            raise ProblemError(401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                     "detail": "Unauthorized"})

    def take(self, endpoint: str) -> dict[str, str]:
        with self.lock:
            window = self.windows[endpoint]
            allowed = window.take(time.time())
            headers = window.headers()
        if not allowed:
            raise ProblemError(429, {"title": "Too Many Requests", "detail": "Too Many Requests",
                                     "type": "about:blank", "status": 429}, headers)
        return headers

    def search(self, params: dict[str, str]) -> dict[str, Any]:
        text = params.get("query", "")
        if not text:
            raise invalid_request("The `query` query parameter can not be empty", {"query": [text]})
        try:
            query = Query(text)
        except ValueError as exc:
            raise invalid_request(f"There were errors processing your request: {exc}", {"query": [text]}) from exc
        max_results = _int_param(params, "max_results", 10)
        if not 10 <= max_results <= 100:
            raise invalid_request(f"The `max_results` query parameter value [{max_results}] is not between 10 and "
                                  "100", {"max_results": [str(max_results)]})
        since_id = _int_param(params, "since_id", 0)
        until_id = _int_param(params, "until_id", 0)
        if params.get("next_token"):
            try:
                token = json.loads(base64.urlsafe_b64decode(params["next_token"] + "=="))
                until_id = int(token["until"])
            except (ValueError, KeyError, TypeError) as exc:
                raise invalid_request("The `next_token` query parameter value is invalid",
                                      {"next_token": [params["next_token"]]}) from exc
        users = self.store.users
        hits = [p for p in reversed(self.store.snapshot())
                if int(p["id"]) > since_id and (not until_id or int(p["id"]) < until_id)
                and query.matches(p, users[p["author_id"]])]
        page, rest = hits[:max_results], hits[max_results:]
        if not page:
            return {"meta": {"result_count": 0}}
        fields, user_fields, expand = _fields(params)
        body: dict[str, Any] = {"data": [shape_post(p, fields) for p in page]}
        if expand:
            authors = {p["author_id"]: users[p["author_id"]] for p in page}
            body["includes"] = {"users": [shape_user(u, user_fields) for u in authors.values()]}
        meta: dict[str, Any] = {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"], "result_count": len(page)}
        if rest:
            meta["next_token"] = base64.urlsafe_b64encode(
                json.dumps({"until": page[-1]["id"]}).encode()).decode().rstrip("=")
        body["meta"] = meta
        return body

    def list_rules(self) -> dict[str, Any]:
        with self.lock:
            rules = [r.shape() for r in self.rules.values()]
        meta = {"sent": iso(datetime.now(UTC)), "result_count": len(rules)}
        return {"data": rules, "meta": meta} if rules else {"meta": meta}

    def change_rules(self, body: Any, dry_run: bool) -> dict[str, Any]:
        if not isinstance(body, dict) or not (("add" in body) ^ ("delete" in body)):
            raise ProblemError(400, {"errors": [{"message": "Request body must hold exactly one of 'add' or "
                                                            "'delete'"}],
                                     "title": "Invalid Request",
                                     "detail": "One or more parameters to your request was invalid.",
                                     "type": "https://api.twitter.com/2/problems/invalid-request"})
        sent = iso(datetime.now(UTC))
        with self.lock:
            if "add" in body:
                return self._add_rules(body["add"], dry_run, sent)
            return self._delete_rules(body["delete"], dry_run, sent)

    def _add_rules(self, wanted: Any, dry_run: bool, sent: str) -> dict[str, Any]:
        created, errors = [], []
        values = {r.value: r for r in self.rules.values()}
        for item in wanted if isinstance(wanted, list) else []:
            value = item.get("value", "") if isinstance(item, dict) else ""
            try:
                Query(value)
            except ValueError as exc:
                errors.append({"value": value, "details": [str(exc)], "title": "UnprocessableEntity",
                               "type": "https://api.twitter.com/2/problems/invalid-rules"})
                continue
            if value in values:
                errors.append({"value": value, "id": values[value].id, "title": "DuplicateRule",
                               "type": "https://api.twitter.com/2/problems/duplicate-rules"})
                continue
            rule = Rule(str(next(self._rule_ids)), value, item.get("tag"))
            values[value] = rule
            created.append(rule)
        if not dry_run:
            for rule in created:
                self.rules[rule.id] = rule
        body: dict[str, Any] = {"meta": {"sent": sent, "summary": {
            "created": len(created), "not_created": len(errors), "valid": len(created),
            "invalid": len(errors)}}}
        if created:
            body["data"] = [r.shape() for r in created]
        if errors:
            body["errors"] = errors
        return body

    def _delete_rules(self, wanted: Any, dry_run: bool, sent: str) -> dict[str, Any]:
        wanted = wanted if isinstance(wanted, dict) else {}
        ids = [str(i) for i in wanted.get("ids", [])]
        ids += [r.id for r in self.rules.values() if r.value in wanted.get("values", [])]
        found = [i for i in ids if i in self.rules]
        errors = [{"value": i, "title": "RuleNotFound", "detail": f"Rule {i} does not exist",
                   "type": "https://api.twitter.com/2/problems/resource-not-found"} for i in ids if i not in found]
        if not dry_run:
            for rule_id in found:
                del self.rules[rule_id]
        body: dict[str, Any] = {"meta": {"sent": sent, "summary": {"deleted": len(found),
                                                                    "not_deleted": len(errors)}}}
        if errors:
            body["errors"] = errors
        return body

    def open_stream(self, params: dict[str, str]) -> StreamClient:
        fields, user_fields, expand = _fields(params)
        with self.lock:
            if self.max_stream_connections and len(self.clients) >= self.max_stream_connections:
                raise ProblemError(429, {
                    "title": "ConnectionException", "connection_issue": "TooManyConnections",
                    "detail": "This stream is currently at the maximum allowed connection limit.",
                    "type": "https://api.twitter.com/2/problems/streaming-connection"})
            client = StreamClient(tweet_fields=fields, user_fields=user_fields, expand_author=expand)
            self.clients.append(client)
        return client

    def close_stream(self, client: StreamClient) -> None:
        with self.lock:
            if client in self.clients:
                self.clients.remove(client)

    def stream_message(self, client: StreamClient, item: dict[str, Any]) -> dict[str, Any]:
        post = item["post"]
        message: dict[str, Any] = {"data": shape_post(post, client.tweet_fields)}
        if client.expand_author:
            message["includes"] = {"users": [shape_user(self.store.users[post["author_id"]], client.user_fields)]}
        message["matching_rules"] = [{"id": r.id, "tag": r.tag} if r.tag else {"id": r.id} for r in item["rules"]]
        return message


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise invalid_request(f"The `{name}` query parameter value [{raw}] is not valid", {name: [raw]}) from exc


def _fields(params: dict[str, str]) -> tuple[set[str], set[str], bool]:
    def split(name: str, allowed: set[str]) -> set[str]:
        values = {v for v in params.get(name, "").split(",") if v}
        unknown = values - allowed
        if unknown:
            raise invalid_request(f"The `{name}` query parameter value [{sorted(unknown)[0]}] is not one of "
                                  f"{sorted(allowed)}", {name: [params[name]]})
        return values

    expansions = split("expansions", {"author_id", "referenced_tweets.id", "in_reply_to_user_id"})
    return split("tweet.fields", TWEET_FIELDS), split("user.fields", USER_FIELDS), "author_id" in expansions


def _handler(server: XApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "x-api-test-server"

        def log_message(self, format: str, *args: Any) -> None:
            LOG.debug("%s " + format, self.address_string(), *args)

        def _params(self) -> dict[str, str]:
            return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw or b"null")
            except json.JSONDecodeError as exc:
                raise ProblemError(400, {"title": "Invalid Request", "detail": f"Body is not JSON: {exc}",
                                         "type": "https://api.twitter.com/2/problems/invalid-request"}) from exc

        def _dispatch(self, method: str) -> None:
            path = urlsplit(self.path).path.rstrip("/")
            try:
                if path.startswith("/_test/"):
                    self._control(method, path)
                    return
                with server.lock:
                    server.requests.append((method, self.path))
                server.check_auth(self.headers.get("authorization"))
                if method == "GET" and path == "/2/tweets/search/recent":
                    headers = server.take("search")
                    self._send(200, server.search(self._params()), headers)
                elif method == "GET" and path == "/2/tweets/search/stream":
                    self._stream(server.take("stream"))
                elif path == "/2/tweets/search/stream/rules" and method in ("GET", "POST"):
                    headers = server.take("rules")
                    if method == "GET":
                        self._send(200, server.list_rules(), headers)
                    else:
                        dry_run = self._params().get("dry_run", "false").lower() == "true"
                        self._send(200, server.change_rules(self._body(), dry_run), headers)
                else:
                    self._send(404, {"title": "Not Found Error", "detail": f"Sorry, that page does not exist: "
                                     f"{method} {path}", "type": "https://api.twitter.com/2/problems/not-found"})
            except ProblemError as problem:
                self._send(problem.status, problem.body, problem.headers)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _control(self, method: str, path: str) -> None:
            params = self._params()
            if path == "/_test/posts" and method == "POST":
                posts = server.add_posts(int(params.get("count", "1")), lang=params.get("lang") or None,
                                         text=params.get("text") or None)
                self._send(200, {"ids": [p["id"] for p in posts]})
            elif path == "/_test/posts":
                self._send(200, {"ids": [p["id"] for p in server.store.snapshot()]})
            elif path == "/_test/drop-streams" and method == "POST":
                self._send(200, {"dropped": server.drop_streams()})
            elif path == "/_test/rate-limit" and method == "POST":
                server.exhaust(params.get("endpoint", "search"), float(params.get("reset_in", "5")),
                               int(params.get("remaining", "0")))
                self._send(200, {"ok": True})
            else:
                self._send(404, {"title": "Not Found Error", "detail": f"no test control {method} {path}"})

        def _stream(self, headers: dict[str, str]) -> None:
            client = server.open_stream(self._params())
            try:
                self.send_response(200)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("transfer-encoding", "chunked")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.close_connection = True
                self._chunk(b"\r\n")
                while True:
                    try:
                        item = client.queue.get(timeout=server.keepalive_s)
                    except queue.Empty:
                        self._chunk(b"\r\n")  # keep-alive
                        continue
                    if item is None:
                        break  # dropped mid-way: no terminating chunk, the socket just closes
                    line = json.dumps(server.stream_message(client, item), ensure_ascii=False).encode() + b"\r\n"
                    self._chunk(line)
                    client.sent += 1
                    if server.drop_stream_every and client.sent % server.drop_stream_every == 0:
                        break
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client went away
            finally:
                server.close_stream(client)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

    return Handler


def _generate_forever(server: XApiServer, every_s: float, batch: int, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        server.add_posts(batch)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--token", default="test-token", help="the bearer token clients must send")
    parser.add_argument("--initial-posts", type=int, default=0)
    parser.add_argument("--generate-every", type=float, default=0.0, help="seconds between generated batches")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--keepalive", type=float, default=20.0)
    parser.add_argument("--window", type=float, default=900.0, help="rate-limit window in seconds")
    parser.add_argument("--limit", action="append", default=[], metavar="ENDPOINT=N",
                        help="requests per window for search, stream or rules")
    parser.add_argument("--drop-stream-every", type=int, default=0, help="close streams after N posts each")
    parser.add_argument("--rule", action="append", default=[], metavar="VALUE[=TAG]", help="a rule set at start")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    limits = {k: int(v) for k, _, v in (item.partition("=") for item in args.limit)}
    server = XApiServer(args.host, args.port, token=args.token, limits=limits, window_s=args.window,
                        keepalive_s=args.keepalive, drop_stream_every=args.drop_stream_every)
    for item in args.rule:
        value, _, tag = item.partition("=")
        server.change_rules({"add": [{"value": value, **({"tag": tag} if tag else {})}]}, dry_run=False)
    server.add_posts(args.initial_posts)
    stop = threading.Event()
    if args.generate_every > 0:
        threading.Thread(target=_generate_forever, args=(server, args.generate_every, args.batch, stop),
                         daemon=True).start()
    LOG.info("X API v2 test server on %s", server.url)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
