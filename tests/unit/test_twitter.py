"""X API v2 post objects (the Twitter source's Kafka value), in the shapes of the API's responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chat_sentiment.records import ChatEvent, DeadLetter
from chat_sentiment.twitter import parse_post, parse_record, snowflake_time

SEARCH_PAGE = {
    "data": [
        {
            "id": "1785612345678901234",
            "text": "This stream is amazing PogChamp #speedrun",
            "author_id": "2244994945",
            "created_at": "2024-05-01T12:00:03.000Z",
            "lang": "en",
            "conversation_id": "1785612345678901234",
            "public_metrics": {"retweet_count": 3, "reply_count": 1, "like_count": 20, "quote_count": 0},
            "edit_history_tweet_ids": ["1785612345678901234"],
        },
        {
            "id": "1785612345678905678",
            "text": "RT @examplestreamer: 방송 노잼 ㅠㅠ",
            "author_id": "783214",
            "created_at": "2024-05-01T12:00:05.000Z",
            "lang": "ko",
            "referenced_tweets": [{"type": "retweeted", "id": "1785600000000000000"}],
            "edit_history_tweet_ids": ["1785612345678905678"],
        },
    ],
    "includes": {
        "users": [
            {"id": "2244994945", "name": "X Developers", "username": "XDevelopers"},
            {"id": "783214", "name": "X", "username": "X"},
        ]
    },
    "meta": {"newest_id": "1785612345678905678", "oldest_id": "1785612345678901234", "result_count": 2,
             "next_token": "b26v89c19zqg8o3fpz5m0mjm1q6r4mh4qbi1d1s9l3ojp"},
}

STREAM_MESSAGE = {
    "data": {
        "id": "1785612345678909999",
        "text": "역시 최고의 경기 ㅋㅋㅋ",
        "author_id": "12",
        "created_at": "2024-05-01T12:01:00.000Z",
        "lang": "ko",
        "edit_history_tweet_ids": ["1785612345678909999"],
    },
    "includes": {"users": [{"id": "12", "name": "잭", "username": "jack"}]},
    "matching_rules": [{"id": "1166916266197536768", "tag": "esports-ko"}],
}


def test_search_page_with_user_expansion() -> None:
    records = parse_record(json.dumps(SEARCH_PAGE, ensure_ascii=False))
    assert [type(r) for r in records] == [ChatEvent, ChatEvent]
    first, second = records
    assert isinstance(first, ChatEvent) and isinstance(second, ChatEvent)
    assert (first.id, first.source, first.channel, first.kind) == ("1785612345678901234", "twitter", "twitter",
                                                                    "message")
    assert (first.user, first.display_name, first.lang) == ("xdevelopers", "X Developers", "en")
    assert first.ts == datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)
    assert first.text == "This stream is amazing PogChamp #speedrun"
    assert first.emotes == ["#speedrun", "PogChamp"]
    assert first.attrs["author_id"] == "2244994945" and first.attrs["public_metrics"]["like_count"] == 20
    assert first.scored
    assert (second.user, second.lang, second.attrs["referenced"]) == ("x", "ko", ["retweeted"])


def test_stream_message_takes_the_rule_tag_as_channel() -> None:
    (record,) = parse_record(json.dumps(STREAM_MESSAGE, ensure_ascii=False))
    assert isinstance(record, ChatEvent)
    assert (record.channel, record.user, record.display_name) == ("esports-ko", "jack", "잭")
    assert record.ts == datetime(2024, 5, 1, 12, 1, tzinfo=UTC)


def test_single_post_object_without_expansion_or_created_at() -> None:
    post = {"id": "1445880548472328192", "text": "gg wp", "author_id": "2244994945",
            "edit_history_tweet_ids": ["1445880548472328192"]}
    (record,) = parse_record(json.dumps(post), channel="mychannel")
    assert isinstance(record, ChatEvent)
    assert (record.user, record.display_name, record.channel) == ("2244994945", None, "mychannel")
    # no created_at requested: the time comes from the snowflake id
    assert record.ts == datetime(2021, 10, 6, 22, 36, 0, 574000, tzinfo=UTC)


def test_snowflake_time() -> None:
    assert snowflake_time("1445880548472328192") == datetime(2021, 10, 6, 22, 36, 0, 574000, tzinfo=UTC)
    assert snowflake_time("12") is None and snowflake_time("abc") is None


def test_errors_become_dead_letters_next_to_good_posts() -> None:
    record = {
        "data": [{"id": "1", "text": "ok"}],
        "errors": [{"value": "1785000000000000000", "detail": "Could not find tweet with ids: [1785000000000000000].",
                    "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                    "resource_id": "1785000000000000000",
                    "type": "https://api.twitter.com/2/problems/resource-not-found"}],
    }
    good, error = parse_record(json.dumps(record))
    assert isinstance(good, ChatEvent) and isinstance(error, DeadLetter)
    assert error.reason.startswith("X API error: Could not find tweet") and error.origin == "1785000000000000000"


def test_broken_records_are_dead_letters() -> None:
    cases = {
        "{": "not valid JSON",
        "42": "JSON int, not an object",
        '{"meta": {"result_count": 0}}': "neither 'data' nor",
        '{"data": [{"text": "no id"}]}': "has no 'id'",
        '{"data": {"id": "5", "text": null}}': "post 5 has no string 'text'",
        '{"id": "5", "text": "x", "created_at": "yesterday"}': "bad created_at",
        '{"data": ["not an object"]}': "not an object",
    }
    for raw, reason in cases.items():
        records = parse_record(raw)
        assert len(records) == 1 and isinstance(records[0], DeadLetter), raw
        assert reason in records[0].reason, (raw, records[0].reason)
    (letter,) = parse_record(b"\xff\xfe")
    assert isinstance(letter, DeadLetter) and "UTF-8" in letter.reason


def test_parse_post_directly() -> None:
    record = parse_post({"id": 7, "text": "hi", "lang": "und"}, None)
    assert isinstance(record, ChatEvent) and record.id == "7" and record.lang == "und"
