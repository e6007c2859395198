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
