"""Pure parts of the Elasticsearch sink: media types, settings, credentials, item outcomes."""

from __future__ import annotations

import pickle

import pytest

from pipeline.sinks.es_bulk import BulkCounts, backoff_delay, classify, error_reason
from pipeline.sinks.es_client import EsSettings, plain_media_type, resolve_credentials


@pytest.mark.parametrize("versioned,plain", [
    ("application/vnd.elasticsearch+json; compatible-with=8", "application/json"),
    ("application/vnd.elasticsearch+x-ndjson; compatible-with=9", "application/x-ndjson"),
    ("application/vnd.elasticsearch+json;compatible-with=7", "application/json"),
    ("application/json", "application/json"),
])
def test_plain_media_types(versioned, plain):
    assert plain_media_type(versioned) == plain


def test_settings_hold_no_secret_and_travel_to_workers(monkeypatch):
    monkeypatch.setenv("ES_API_KEY", "id:very-secret")
    s = EsSettings(url="https://user:pw@es.example:9200")
    assert "very-secret" not in repr(s) and "very-secret" not in repr(pickle.dumps(s))
    assert s.redacted_url() == "https://***@es.example:9200"
    assert pickle.loads(pickle.dumps(s)) == s


@pytest.mark.parametrize("kwargs,message", [
    ({"url": "es.example:9200"}, "must start with http"),
    ({"url": "http://x", "plain_json": "yes"}, "auto, on or off"),
    ({"url": "http://x", "secret": "vault:abc"}, "secretsmanager:NAME or ssm:NAME"),
])
def test_bad_settings_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EsSettings(**kwargs)


def test_credentials_come_from_the_named_variables():
    s = EsSettings(url="http://x", api_key_env="MY_KEY")
    assert resolve_credentials(s, {"MY_KEY": "abc=="}).api_key == "abc=="
    assert resolve_credentials(s, {"MY_KEY": "id:key"}).api_key == ("id", "key")
    basic = resolve_credentials(s, {"ES_USERNAME": "u", "ES_PASSWORD": "p"})
    assert basic.basic == ("u", "p") and repr(basic) == "Credentials(basic)"
    assert resolve_credentials(s, {}).http_header() == {}


@pytest.mark.parametrize("status,kind", [(201, "created"), (200, "created"), (409, "exists"), (429, "retry"),
                                         (500, "retry"), (503, "retry"), (400, "reject"), (404, "reject")])
def test_item_status_classification(status, kind):
    assert classify(status) == kind


def test_error_reason_keeps_the_cause():
    err = {"type": "mapper_parsing_exception", "reason": "failed to parse field [aws.lambda.duration_ms]",
           "caused_by": {"type": "number_format_exception", "reason": "For input string: \"n/a\""}}
    text = error_reason(400, err)
    assert text.startswith("400 mapper_parsing_exception: failed to parse field [aws.lambda.duration_ms]")
    assert "caused by number_format_exception" in text
    assert error_reason(413, "too large") == "413 too large"


def test_backoff_grows_exponentially_up_to_the_cap():
    for attempt in range(1, 12):
        d = backoff_delay(attempt, 0.5, 30.0)
        ideal = min(30.0, 0.5 * 2 ** (attempt - 1))
        assert ideal / 2 <= d <= ideal


def test_counts_add_up():
    a, b = BulkCounts(indexed=2, retried=1), BulkCounts(indexed=3, rejected=1)
    a.add(b)
    assert a.as_dict()["indexed"] == 5 and a.rejected == 1 and a.retried == 1
