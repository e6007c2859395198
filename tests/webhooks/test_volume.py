"""10,000 consent changes reach one receiver, none lost, none twice acknowledged."""

from __future__ import annotations

import time

from consent.ledger import ChoiceInput, record_choices
from consentry.db import get_db
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from tests.webhooks.conftest import register
from webhooks.delivery import deliver

CHANGES = 10_000


def test_ten_thousand_consent_changes_reach_one_receiver(make_app, hook_client, hook_admin,
                                                        receiver):
    register(hook_client, hook_admin, receiver, events=["consent.changed"])
    # audit entries sequenced by the scheduler, not inline: this is about the outbox
    app = make_app(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE=True,
                   AUDIT_SEQUENCE_INLINE=False, WEBHOOK_WORKERS=16)
    keys, policy = get_keys(app), get_policy(app)
    started = time.monotonic()
    with app.app_context():
        for batch in range(CHANGES // 500):
            with get_db(app).transaction() as s:
                for i in range(500):
                    n = batch * 500 + i
                    record_choices(s, keys, policy, f"v-{n % 2500}", source="bulk",
                                   actor="test", choices=[ChoiceInput(
                                       "marketing", "granted" if n // 2500 % 2 == 0
                                       else "denied")])
    written = time.monotonic() - started
    started = time.monotonic()
    while len(receiver.acknowledged()) < CHANGES and time.monotonic() - started < 60:
        if not deliver(app, "volume", budget_seconds=30):
            time.sleep(0.5)  # a failed delivery waits its 5 s
    sent = time.monotonic() - started
    ids = [r["id"] for r in receiver.acknowledged()]
    assert len(set(ids)) == CHANGES, (len(set(ids)), written, sent)
    assert len(ids) == CHANGES  # each acknowledged once
    assert receiver.refused == []
    print(f"10,000 changes: written in {written:.1f} s, delivered in {sent:.1f} s "
          f"({CHANGES / sent:.0f}/s)")
