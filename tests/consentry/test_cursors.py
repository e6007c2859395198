"""Every list endpoint answers a malformed cursor with 422, whatever shape it has."""

import base64
import json

import pytest

LISTS = ["/v1/subjects/u-1/explanations?cursor=", "/v1/retention/runs?cursor=",
         "/v1/retention/holds?cursor=", "/v1/audit/entries?cursor=", "/v1/changes?after=",
         "/v1/subjects/u-1/consents/history?cursor=", "/v1/audit/checkpoints?cursor="]
SHAPES = [{"t": "2026-01-01T00:00:00", "id": "x"}, {"t": 5, "id": []}, [None, None],
          ["a", 1], {"p": -1}, {"p": True}, {"seq": "1"}, {"seq": 1e300}, {"before": 1.5},
          "just a string", 7]


def encode(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("url", LISTS)
def test_malformed_cursors_are_422(client, admin, url):
    for cursor in ["%%%", "bm90IGpzb24", *[encode(s) for s in SHAPES]]:
        r = client.get(url + cursor, headers=admin)
        assert r.status_code == 422, (url, cursor, r.get_json())
        assert r.get_json()["error"]["code"] == "validation_error"


# Cursors that decode to well-formed JSON a list could never have made: integers past a
# signed 64-bit column, times a day from the calendar's ends, text no database can hold.
OUT_OF_RANGE = {
    "/v1/changes?after=": [{"seq": 10**30}, {"seq": 2**63}],
    "/v1/subjects/u-1/consents/history?cursor=": [{"before": 10**30}],
    "/v1/audit/entries?cursor=": [{"p": 10**30}],
    "/v1/audit/checkpoints?cursor=": [{"p": 10**30}],
    "/v1/retention/runs?cursor=": [{"t": "0001-01-01T00:00:00+05:00", "id": "x"},
                                   {"t": "9999-12-31T23:59:59-05:00", "id": "x"},
                                   {"t": "2026-01-01T00:00:00+00:00", "id": "\ud800"}],
    "/v1/retention/holds?cursor=": [{"t": "0001-01-01T00:00:00+05:00", "id": "x"}],
    "/v1/subjects/u-1/explanations?cursor=": [{"t": "9999-12-31T23:59:59-05:00", "id": "x"}],
}


@pytest.mark.parametrize("url", sorted(OUT_OF_RANGE))
def test_cursors_out_of_range_are_422_not_500(client, admin, url):
    for shape in OUT_OF_RANGE[url]:
        r = client.get(url + encode(shape), headers=admin)
        assert r.status_code == 422, (url, shape, r.get_json())
        assert r.get_json()["error"]["fields"]


def test_deeply_nested_cursor_is_422(client, admin):
    deep = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode().rstrip("=")
    r = client.get("/v1/changes?after=" + deep, headers=admin)
    assert r.status_code == 422
