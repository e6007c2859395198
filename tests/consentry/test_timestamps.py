"""Every timestamp a client sends is read by the one Timestamp field, which keeps it
inside the calendar: an offset that pushes year 1 or 9999 past it is a 422, never a 500."""

import pytest

EDGES = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
         "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]


@pytest.mark.parametrize("value", EDGES)
def test_query_timestamps_at_the_calendars_ends_are_422(client, admin, value):
    for url, name in [("/v1/subjects/u-1/consents", "at"), ("/v1/audit/entries", "since"),
                      ("/v1/audit/entries", "until")]:
        r = client.get(url, query_string={name: value}, headers=admin)
        assert r.status_code == 422, (url, name, r.get_json())
        assert name in r.get_json()["error"]["fields"]


@pytest.mark.parametrize("value", EDGES)
def test_body_timestamps_at_the_calendars_ends_are_422(client, admin, value):
    decision = {"subject_id": "u-1", "surface": "home", "item": {"id": "sku-1"},
                "decided_at": value}
    for url, body, name in [
            ("/v1/decisions", decision, "decided_at"),
            ("/v1/retention/holds", {"subject_id": "u-1", "reason": "case", "until": value},
             "until"),
            ("/v1/audit/exports", {"since": value}, "since"),
            ("/v1/audit/exports", {"until": value}, "until")]:
        r = client.post(url, json=body, headers=admin)
        assert r.status_code == 422, (url, name, r.get_json())
        assert name in r.get_json()["error"]["fields"]


def test_timestamps_just_inside_the_range_are_read(client, admin):
    r = client.get("/v1/subjects/u-1/consents", headers=admin,
                   query_string={"at": "0001-01-02T05:00:00+05:00"})
    assert r.status_code == 200 and r.get_json()["at"] == "0001-01-02T00:00:00Z"
    r = client.get("/v1/audit/entries", headers=admin,
                   query_string={"since": "0001-01-02T00:00:00Z",
                                 "until": "9999-12-30T18:59:59-05:00"})
    assert r.status_code == 200
