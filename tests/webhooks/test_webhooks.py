"""Webhooks end to end: registration, the outbox, signed delivery verified by the PyPI
`standardwebhooks` package, retries, ordering, SSRF refusals, the proof for legal."""

from __future__ import annotations

import time

from consentry.db import get_db
from tests.webhooks.conftest import deliveries, drain, payloads, register, write_consent
from webhooks.delivery import Sender


def test_a_consent_change_reaches_the_recipient_signed_with_only_its_purposes(
        hook_app, hook_client, hook_admin, receiver):
    body = register(hook_client, hook_admin, receiver, recipient="mailer")
    assert body["secret"].startswith("whsec_")
    again = register(hook_client, hook_admin, receiver, recipient="mailer")
    assert "secret" not in again  # shown once
    write_consent(hook_client, hook_admin, "u-1", "denied", "marketing")
    drain(hook_app)
    [event] = receiver.acknowledged()
    assert event["type"] == "consent.changed" and event["content_type"] == "application/json"
    assert event["id"].startswith("msg_")
    data = event["data"]
    assert data["subject_id"] == "u-1"
    assert [p["purpose"] for p in data["purposes"]] == ["marketing"]  # the mailer's only
    [marketing] = data["purposes"]
    assert marketing["allowed"] is False
    assert {c["category"] for c in marketing["categories"]} == {"declared", "email_engagement"}
    assert all(c["allowed"] is False for c in marketing["categories"])
    assert receiver.refused == []
    listed = hook_client.get("/v1/webhooks/hook/deliveries", headers=hook_admin).get_json()
    [row] = listed["deliveries"]
    assert (row["status"], row["attempts"], row["last_response_status"],
            row["next_attempt_at"]) == ("delivered", 1, 200, None)


def test_sale_sharing_opt_out_goes_only_to_sale_sharing_recipients_with_gpc_as_source(
        hook_app, hook_client, hook_admin, receiver):
    register(hook_client, hook_admin, receiver, "ads", recipient="ad_exchange",
             events=["sale_sharing.opted_out"])
    register(hook_client, hook_admin, receiver, "mail", recipient="mailer",
             events=["sale_sharing.opted_out"])
    response = hook_client.put("/v1/subjects/u-2/consents", headers={
        **hook_admin, "Sec-GPC": "1", "Idempotency-Key": "g1"},
        json={"source": "web", "choices": []})
    assert response.status_code == 200, response.get_json()
    drain(hook_app)
    [event] = receiver.acknowledged()
    assert event["type"] == "sale_sharing.opted_out"
    assert event["data"]["subject_id"] == "u-2" and event["data"]["source"] == "gpc"
    assert event["data"]["opted_out_at"].endswith("Z")
    assert [d[0] for d in deliveries(hook_app)] == ["sale_sharing.opted_out"]  # not the mailer
    # the proof of the CCPA notice (§7026(f)): per recipient, sent and acknowledged
    [ack] = hook_client.get("/v1/audit/entries?action=webhook.acknowledged",
                            headers=hook_admin).get_json()["entries"]
    assert ack["details"]["kind"] == "sale_sharing"
    assert ack["details"]["recipient"] == "ad_exchange"
    assert ack["details"]["event_id"] == event["id"] == ack["details"]["ref"]
    assert "u-2" not in str(ack["details"])


def test_a_receiver_answering_500_three_times_gets_the_event_acknowledged_once(
        hook_app, hook_client, hook_admin, receiver):
    register(hook_client, hook_admin, receiver, events=["consent.changed"])
    receiver.answers = [500, 500, 500]
    write_consent(hook_client, hook_admin, "u-3")
    sender = Sender(hook_app, "t")
    try:
        for wait in (5, 300, 1800):
            assert sender.round() == 1
            listed = hook_client.get("/v1/webhooks/hook/deliveries",
                                     headers=hook_admin).get_json()["deliveries"][0]
            assert listed["status"] == "pending" and listed["last_response_status"] == 500
            assert sender.round() == 0  # not due before its wait in the schedule
            _assert_waits(hook_app, wait)
            _due_now(hook_app)  # the clock-free way past the retry schedule's wait
        assert sender.round() == 1
    finally:
        sender.close()
    acknowledged = receiver.acknowledged()
    assert len(acknowledged) == 1
    assert [r["status"] for r in receiver.received] == [500, 500, 500, 200]
    assert len({r["id"] for r in receiver.received}) == 1  # the same webhook-id each time
    listed = hook_client.get("/v1/webhooks/hook/deliveries", headers=hook_admin).get_json()
    assert listed["deliveries"][0]["attempts"] == 4
    assert listed["deliveries"][0]["status"] == "delivered"


def _assert_waits(app, seconds):
    from sqlalchemy import select

    from webhooks.models import WebhookDelivery
    with app.app_context(), get_db(app).transaction(write=False) as s:
        row = s.scalars(select(WebhookDelivery)).one()
        waited = (row.next_attempt_at - row.created_at).total_seconds()
        assert seconds <= waited < seconds + 60, (seconds, waited)


def _due_now(app):
    from sqlalchemy import update

    from consentry.clock import utcnow
    from webhooks.models import WebhookDelivery
    with app.app_context(), get_db(app).transaction() as s:
        s.execute(update(WebhookDelivery).where(WebhookDelivery.status == "pending")
                  .values(next_attempt_at=utcnow()))


def test_the_retry_schedule_is_the_specifications():
    from datetime import UTC, datetime

    from webhooks.service import next_attempt
    now = datetime(2026, 1, 1, tzinfo=UTC)
    waits = [(next_attempt(n, now) - now).total_seconds() for n in range(1, 8)]
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert next_attempt(8, now) is None


def test_a_later_event_for_a_subject_waits_for_the_earlier_one(
        hook_app, hook_client, hook_admin, receiver):
    register(hook_client, hook_admin, receiver, events=["consent.changed"])
    receiver.answers = [503]
    write_consent(hook_client, hook_admin, "u-4", "granted")
    drain(hook_app)
    write_consent(hook_client, hook_admin, "u-4", "denied")
    write_consent(hook_client, hook_admin, "u-5", "granted")
    drain(hook_app)
    # u-4's first failed and waits 5 s; its second waits behind it; u-5 goes on
    got = [(r["data"]["subject_id"], r["status"]) for r in receiver.received]
    assert ("u-5", 200) in got and [g for g in got if g[0] == "u-4"] == [("u-4", 503)]
    _due_now(hook_app)
    drain(hook_app)
    u4 = [r["data"]["purposes"] for r in receiver.acknowledged()
          if r["data"]["subject_id"] == "u-4"]
    marketing = [next(p for p in purposes if p["purpose"] == "marketing")["allowed"]
                 for purposes in u4]
    assert marketing == [True, False]  # in the order they were made


def test_registration_refuses_plain_http_and_private_addresses(make_app, admin, receiver):
    app = make_app()
    client = app.test_client()
    from consentry import auth
    with app.app_context(), get_db(app).transaction() as s:
        key = auth.create_key(s, "adm2", ["admin"])
    admin = {"Authorization": f"Bearer {key}"}
    for url in ("http://example.com/hook", "ftp://example.com/"):
        response = client.put("/v1/webhooks/h", headers=admin, json={
            "url": url, "recipient": None, "events": ["consent.changed"], "enabled": True})
        assert response.status_code == 422 and "url" in response.get_json()["error"]["fields"]
    http_app = make_app(WEBHOOK_ALLOW_HTTP=True)
    http_client = http_app.test_client()
    for url in ("http://127.0.0.1/hook", "http://169.254.169.254/latest/meta-data",
                "http://[::1]:8080/", "http://10.0.0.7/", "http://[::ffff:127.0.0.1]/",
                "http://localhost/"):
        response = http_client.put("/v1/webhooks/h", headers=admin, json={
            "url": url, "recipient": None, "events": ["consent.changed"], "enabled": True})
        assert response.status_code == 422, (url, response.get_json())
        assert "private" in response.get_json()["error"]["fields"]["url"][0], url
    assert client.get("/v1/webhooks", headers=admin).get_json() == {"webhooks": []}


def test_delivery_refuses_a_name_that_resolves_to_a_private_address(
        make_app, hook_app, hook_client, hook_admin, receiver):
    port = receiver.server.server_port
    register(hook_client, hook_admin, receiver, url=f"http://localhost:{port}/hook",
             events=["consent.changed"])
    write_consent(hook_client, hook_admin, "u-6")
    strict = make_app(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE=False)
    sender = Sender(strict, "strict")
    try:
        assert sender.round() == 1
    finally:
        sender.close()
    assert receiver.received == []
    [row] = hook_client.get("/v1/webhooks/hook/deliveries", headers=hook_admin
                            ).get_json()["deliveries"]
    assert row["status"] == "pending" and row["last_response_status"] is None
    assert "refused" in row["last_error"] and "127.0.0.1" in row["last_error"] or \
        "::1" in row["last_error"]


def test_a_hanging_endpoint_is_cut_off_at_10_seconds(hook_app, hook_client, hook_admin,
                                                     receiver):
    assert hook_app.config["WEBHOOK_TIMEOUT_SECONDS"] == 10.0  # the default, tested as is
    register(hook_client, hook_admin, receiver, events=["consent.changed"])
    receiver.hang = 15
    write_consent(hook_client, hook_admin, "u-7")
    sender = Sender(hook_app, "t")
    started = time.monotonic()
    try:
        assert sender.round() == 1
    finally:
        elapsed = time.monotonic() - started
        sender.close()
    assert 9.5 <= elapsed < 13, elapsed
    [row] = hook_client.get("/v1/webhooks/hook/deliveries", headers=hook_admin
                            ).get_json()["deliveries"]
    assert row["status"] == "pending" and "timed out after 10 s" in row["last_error"]
    assert 9500 <= row["last_duration_ms"] < 12000


def test_rotation_signs_with_both_secrets_for_a_day(hook_app, hook_client, hook_admin,
                                                    receiver):
    first = register(hook_client, hook_admin, receiver, events=["consent.changed"])["secret"]
    rotated = hook_client.post("/v1/webhooks/hook/rotate-secret", headers=hook_admin)
    assert rotated.status_code == 200
    second = rotated.get_json()["secret"]
    assert second.startswith("whsec_") and second != first
    receiver.secrets = [first]  # a receiver not yet told of the new secret still verifies
    write_consent(hook_client, hook_admin, "u-8")
    drain(hook_app)
    [event] = receiver.acknowledged()
    assert len(event["signatures"]) == 2 and all(s.startswith("v1,") for s in event["signatures"])
    receiver.secrets = [second]
    write_consent(hook_client, hook_admin, "u-8", "denied")
    drain(hook_app)
    assert len(receiver.acknowledged()) == 2
    audit = hook_client.get("/v1/audit/entries?action=webhook.", headers=hook_admin).get_json()
    assert {e["action"] for e in audit["entries"]} >= {"webhook.registered",
                                                       "webhook.secret_rotated"}
    assert first not in str(audit) and second not in str(audit)


def test_an_erasure_tells_every_recipient_and_keeps_the_proof(
        hook_app, hook_client, hook_admin, receiver):
    from tests.retention.test_erasure import poll

    register(hook_client, hook_admin, receiver, "ads", recipient="ad_exchange",
             events=["erasure.completed", "consent.changed"])
    receiver.answers = [500]  # consent.changed pending, not yet delivered at erasure
    write_consent(hook_client, hook_admin, "u-9")
    drain(hook_app)
    erasure_id = hook_client.post("/v1/subjects/u-9/erasure", headers={
        **hook_admin, "Idempotency-Key": "e1"}, json={}).get_json()["erasure_id"]
    poll(hook_app)
    body = hook_client.get(f"/v1/erasures/{erasure_id}", headers=hook_admin).get_json()
    assert body["status"] == "succeeded"
    notified = {n["recipient"]: n for n in body["recipients_notified"]}
    assert set(notified) == {"analytics", "mailer", "ad_exchange"}
    assert all(n["first_sent_at"] is None for n in notified.values())
    # the pending consent.changed of the erased subject was dropped; the notice is queued
    assert [d[0] for d in deliveries(hook_app)] == ["erasure.completed"]
    drain(hook_app)
    [notice] = payloads(receiver, "erasure.completed")
    assert notice["subject_id"] == "u-9" and notice["erasure_id"] == erasure_id
    assert notice["certificate_id"].startswith("sha256:")
    body = hook_client.get(f"/v1/erasures/{erasure_id}", headers=hook_admin).get_json()
    notified = {n["recipient"]: n for n in body["recipients_notified"]}
    assert notified["ad_exchange"]["first_sent_at"] and notified["ad_exchange"]["acknowledged_at"]
    assert notified["mailer"]["acknowledged_at"] is None  # no endpoint: a finding
    audit = hook_client.get("/v1/audit/entries?action=webhook.acknowledged",
                            headers=hook_admin).get_json()["entries"]
    assert [e["details"]["ref"] for e in audit] == [erasure_id]


def test_privacy_requests_are_announced(hook_app, hook_client, hook_admin, receiver):
    register(hook_client, hook_admin, receiver, events=["request.created", "request.completed"])
    request_id = hook_client.post("/v1/requests", headers=hook_admin, json={
        "subject_id": "u-10", "type": "objection", "source": "api"}).get_json()["request_id"]
    hook_client.post(f"/v1/requests/{request_id}/transition", headers=hook_admin,
                     json={"to": "completed", "reason": None})
    drain(hook_app)
    assert [(r["type"], r["data"]["request_id"], r["data"]["subject_id"])
            for r in receiver.acknowledged()] == [("request.created", request_id, "u-10"),
                                                   ("request.completed", request_id, "u-10")]


def test_bad_input_is_a_clear_4xx(hook_client, hook_admin, receiver):
    def put(webhook_id, **body):
        return hook_client.put(f"/v1/webhooks/{webhook_id}", headers=hook_admin, json={
            "url": receiver.url, "events": ["consent.changed"], **body})
    assert put("h", events=["nope"]).status_code == 422
    assert put("h", events=[]).status_code == 422
    assert put("h", recipient="nobody").status_code == 422
    assert put("bad id!").status_code in (404, 422)
    assert put("h", url="http://user:pw@127.0.0.1/").status_code == 422
    assert hook_client.get("/v1/webhooks/none", headers=hook_admin).status_code == 404
    assert hook_client.post("/v1/webhooks/none/rotate-secret",
                            headers=hook_admin).status_code == 404
    assert hook_client.post("/v1/webhooks/none/deliveries/dlv_x/retry",
                            headers=hook_admin).status_code == 404
    assert hook_client.get("/v1/webhooks/none/deliveries?cursor=zz",
                           headers=hook_admin).status_code in (404, 422)
    assert put("h").status_code == 200
    assert hook_client.get("/v1/webhooks/h/deliveries?cursor=zz",
                           headers=hook_admin).status_code == 422
    assert hook_client.delete("/v1/webhooks/h", headers=hook_admin).status_code == 204
    assert hook_client.get("/v1/webhooks/h", headers=hook_admin).status_code == 404


def test_retry_sends_a_delivered_event_again(hook_app, hook_client, hook_admin, receiver):
    register(hook_client, hook_admin, receiver, events=["consent.changed"])
    write_consent(hook_client, hook_admin, "u-11")
    drain(hook_app)
    [row] = hook_client.get("/v1/webhooks/hook/deliveries", headers=hook_admin
                            ).get_json()["deliveries"]
    response = hook_client.post(f"/v1/webhooks/hook/deliveries/{row['delivery_id']}/retry",
                                headers=hook_admin)
    assert response.status_code == 202
    drain(hook_app)
    assert [r["id"] for r in receiver.acknowledged()] == [row["event_id"]] * 2


def test_an_endpoint_failing_for_five_days_is_switched_off_and_its_events_kept(
        hook_app, hook_client, hook_admin, receiver):
    from datetime import timedelta

    from sqlalchemy import update

    from consentry.clock import utcnow
    from webhooks.models import WebhookEndpoint

    register(hook_client, hook_admin, receiver, events=["consent.changed"])
    receiver.answers = [500, 500]
    write_consent(hook_client, hook_admin, "u-12")
    drain(hook_app)
    body = hook_client.get("/v1/webhooks/hook", headers=hook_admin).get_json()
    assert body["enabled"] is True and body["failing_since"] is not None
    with hook_app.app_context(), get_db(hook_app).transaction() as s:  # five days on
        s.execute(update(WebhookEndpoint).values(failing_since=utcnow() - timedelta(days=5)))
    _due_now(hook_app)
    drain(hook_app)
    body = hook_client.get("/v1/webhooks/hook", headers=hook_admin).get_json()
    assert (body["enabled"], body["disabled_reason"]) == (False, "failing")
    write_consent(hook_client, hook_admin, "u-12", "denied")  # still kept for it
    _due_now(hook_app)
    drain(hook_app)
    assert body["deliveries"]["pending"] == 1
    assert [d[1] for d in deliveries(hook_app)] == ["pending", "pending"]  # none sent
    audit = hook_client.get("/v1/audit/entries?action=webhook.disabled",
                            headers=hook_admin).get_json()["entries"]
    assert [e["details"]["webhook_id"] for e in audit] == ["hook"]
    register(hook_client, hook_admin, receiver, events=["consent.changed"])  # on again
    drain(hook_app)
    assert [d[1] for d in deliveries(hook_app)] == ["delivered", "delivered"]
    got = [r["data"]["subject_id"] for r in receiver.acknowledged()]
    assert got == ["u-12", "u-12"]
