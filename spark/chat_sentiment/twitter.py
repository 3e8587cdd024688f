"""Parsing X (Twitter) API v2 post objects (the Kafka value of the Twitter source).

Accepted shapes (https://docs.x.com/x-api/posts/...):

- a single post object: ``{"id": "...", "text": "...", "author_id": "...", "created_at": "...", "lang": "..."}``;
- a filtered-stream message: ``{"data": {post}, "includes": {"users": [...]}, "matching_rules": [...]}``;
- a page of a search or timeline response: ``{"data": [post, ...], "includes": {...}, "meta": {...}}``;
- an ``errors`` array (partial errors, or a message with errors only): each error becomes a dead letter.

Fields used: ``id`` (the message id), ``text``, ``author_id`` and, when the record carries the ``includes.users``
expansion, the author's ``username`` (``user``) and ``name`` (``display_name``); ``created_at`` gives ``ts`` (when
``tweet.fields=created_at`` was not requested, ``ts`` is read from the post id, a snowflake); ``lang``;
``channel`` is the first matching rule's ``tag`` (stream), else the ``channel`` argument (default ``twitter``).
Retweets, replies and quotes are messages too (``attrs.referenced`` lists the reference types); hashtags and
emoji go to ``emotes``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from .emotes import extract_emotes
from .filebeat import parse_timestamp
from .records import ChatEvent, DeadLetter

SOURCE = "twitter"
DEFAULT_CHANNEL = "twitter"
#: Twitter snowflake ids carry milliseconds since this epoch in their upper bits.
SNOWFLAKE_EPOCH_MS = 1_288_834_974_657
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")


def snowflake_time(post_id: str) -> datetime | None:
    """The creation time encoded in a post id (ids since late 2010 are snowflakes); None if it is not one."""
    if not post_id.isdigit():
        return None
    value = int(post_id)
    if value < (1 << 22):
        return None
    return datetime.fromtimestamp(((value >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, tz=UTC)


def parse_post(post: Any, includes: dict[str, Any] | None = None, *, channel: str = DEFAULT_CHANNEL,
               raw: str | None = None) -> ChatEvent | DeadLetter:
    """One post object -> ChatEvent, or a DeadLetter naming what is missing or wrong."""
    raw_text = raw if raw is not None else json.dumps(post, ensure_ascii=False, default=str)
    if not isinstance(post, dict):
        return DeadLetter(raw=raw_text, reason=f"post is a JSON {type(post).__name__}, not an object", source=SOURCE)
    post_id = post.get("id")
    if not isinstance(post_id, str | int) or isinstance(post_id, bool) or not str(post_id).strip():
        return DeadLetter(raw=raw_text, reason="post has no 'id'", source=SOURCE)
    post_id = str(post_id)
    text = post.get("text")
    if not isinstance(text, str):
        return DeadLetter(raw=raw_text, reason=f"post {post_id} has no string 'text'", source=SOURCE,
                          origin=post_id)
    created = post.get("created_at")
    if created is not None:
        try:
            ts = parse_timestamp(str(created))
        except ValueError as exc:
            return DeadLetter(raw=raw_text, reason=f"post {post_id}: bad created_at: {exc}", source=SOURCE,
                              origin=post_id)
    else:
        ts = snowflake_time(post_id)
    author_id = post.get("author_id")
    author_id = str(author_id) if author_id is not None else None
    user = display_name = None
    users = (includes or {}).get("users") if isinstance(includes, dict) else None
    if author_id and isinstance(users, list):
        for candidate in users:
            if isinstance(candidate, dict) and str(candidate.get("id")) == author_id:
                user = candidate.get("username")
                display_name = candidate.get("name")
                break
    attrs: dict[str, Any] = {"author_id": author_id}
    referenced = post.get("referenced_tweets")
    if isinstance(referenced, list):
        attrs["referenced"] = [r.get("type") for r in referenced if isinstance(r, dict)]
    for key in ("conversation_id", "in_reply_to_user_id", "public_metrics", "possibly_sensitive"):
        if key in post:
            attrs[key] = post[key]
    hashtags = [f"#{h}" for h in _HASHTAG.findall(text)]
    lang = post.get("lang")
    return ChatEvent(
        id=post_id,
        source=SOURCE,
        channel=channel,
        ts=ts,
        kind="message",
        user=str(user).lower() if user else author_id,
        display_name=str(display_name) if display_name else None,
        text=text,
        emotes=hashtags + extract_emotes(text),
        lang=str(lang) if lang else None,
        attrs=attrs,
        raw=raw_text,
    )


def parse_record(raw: str | bytes, *, channel: str = DEFAULT_CHANNEL) -> list[ChatEvent | DeadLetter]:
    """One Kafka value (any accepted shape) -> its records, in order; never raises, never returns nothing."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [DeadLetter(raw=raw.decode("utf-8", "backslashreplace"), source=SOURCE,
                               reason=f"X record is not valid UTF-8 (byte {exc.start})")]
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        return [DeadLetter(raw=raw, reason=f"X record is not valid JSON: {exc}", source=SOURCE)]
    if not isinstance(obj, dict):
        return [DeadLetter(raw=raw, reason=f"X record is a JSON {type(obj).__name__}, not an object",
                           source=SOURCE)]
    try:
        return _parse_object(obj, raw, channel)
    except Exception as exc:  # a malformed record must not stop the stream
        return [DeadLetter(raw=raw, reason=f"parser error: {type(exc).__name__}: {exc}", source=SOURCE)]


def _parse_object(obj: dict[str, Any], raw: str, channel: str) -> list[ChatEvent | DeadLetter]:
    out: list[ChatEvent | DeadLetter] = []
    if "data" in obj:
        includes = obj.get("includes") if isinstance(obj.get("includes"), dict) else None
        rules = obj.get("matching_rules")
        if isinstance(rules, list) and rules and isinstance(rules[0], dict) and rules[0].get("tag"):
            channel = str(rules[0]["tag"])
        data = obj["data"]
        posts = data if isinstance(data, list) else [data]
        for post in posts:
            single = raw if len(posts) == 1 else None
            out.append(parse_post(post, includes, channel=channel, raw=single))
    elif "id" in obj or "text" in obj:
        out.append(parse_post(obj, None, channel=channel, raw=raw))
    errors = obj.get("errors")
    if isinstance(errors, list):
        for error in errors:
            detail = error if isinstance(error, dict) else {"detail": error}
            what = detail.get("detail") or detail.get("title") or detail.get("message") or "error"
            out.append(DeadLetter(raw=json.dumps(error, ensure_ascii=False), source=SOURCE,
                                  origin=str(detail.get("resource_id") or detail.get("value") or "") or None,
                                  reason=f"X API error: {what}"))
    if not out:
        out.append(DeadLetter(raw=raw, source=SOURCE,
                              reason="X record has neither 'data' nor a post's 'id'/'text' (nor 'errors')"))
    return out
