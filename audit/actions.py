"""Every action the service writes to the audit log, and what each means: the one list.

The console's action filter offers these, docs/audit.md lists them, and a test
(tests/audit/test_actions.py) reads every `append_entry` call in the code and fails
when an action is written that is not here, or listed here and never written.
A filter ending in a dot (`consent.`) matches every action that starts with it.
"""

from __future__ import annotations

ACTIONS: dict[str, str] = {
    "consent.recorded": "choices recorded in the consent ledger (a receipt was issued)",
    "consent.opt_out": "a global switch was set (personalization off, sale/sharing opt-out, "
                       "Global Privacy Control)",
    "consent.opt_out_undone": "a global switch was undone",
    "consent.opt_out_kept": "an undo left every switch on (Global Privacy Control keeps "
                            "sale/sharing off)",
    "consent.imported": "historical records of one subject imported with their own times "
                        "(one entry per subject per committed batch; receipts marked imported)",
    "notice.recorded": "a version of a privacy notice was recorded (its URL, SHA-256 and "
                       "whether the change was material)",
    "decision.violation": "a decision used a category the person had not allowed",
    "retention.hold.created": "a legal hold was placed on a subject or a category",
    "retention.hold.lifted": "a legal hold was lifted",
    "retention.run.queued": "a retention run (purge or dry run) was queued",
    "retention.run.finished": "a retention run ended, with its counts per target",
    "retention.run.abandoned": "a retention run's runner died; a resume run was queued",
    "erasure.requested": "a subject's erasure was requested (GDPR Art. 17)",
    "erasure.held": "an erasure waits for a legal hold on its subject (or categories)",
    "erasure.released": "a hold an erasure waited for lifted or ended; it was queued again",
    "erasure.restarted": "an interrupted erasure was queued again",
    "erasure.completed": "a subject was erased and its certificate signed",
    "erasure.failed": "an erasure could not be carried out",
    "audit.export.queued": "an audit export was requested",
    "audit.export.restarted": "an export left by a dead exporter was queued again",
    "audit.export.failed": "an audit export could not be written",
    "audit.exported": "an audit export bundle was written",
    "policy.loaded": "the service started with a changed policy",
    "recipe.saved": "a new version of a recipe was saved",
    "request.created": "a privacy request (access, erasure, objection, rectification) was "
                       "received, with its due date",
    "request.started": "a privacy request was taken in hand (in progress)",
    "request.extended": "a privacy request's due date was extended, once, with a reason",
    "request.completed": "a privacy request was answered (an access bundle or erasure "
                         "queued for it)",
    "request.rejected": "a privacy request was rejected, with a reason",
    "console.sign_in_refused": "a single sign-on to the console was refused (the email "
                               "named is not verified or not an active staff account)",
    "webhook.registered": "a webhook endpoint was registered for a recipient (its URL and "
                          "events; never its secret)",
    "webhook.updated": "a webhook endpoint's URL, recipient, events or switch changed",
    "webhook.secret_rotated": "a webhook endpoint got a new signing secret (the old one "
                              "signs for 24 hours more)",
    "webhook.disabled": "a webhook endpoint failing for 5 days was switched off (its "
                        "deliveries are kept)",
    "webhook.deleted": "a webhook endpoint was removed",
    "webhook.acknowledged": "a recipient acknowledged (2xx) an erasure or sale/sharing "
                            "opt-out notice: the proof it was told",
}


def action_prefixes() -> list[str]:
    """The prefixes a filter may use (`consent.`, `retention.hold.`, ...), sorted."""
    prefixes = set()
    for action in ACTIONS:
        parts = action.split(".")
        for n in range(1, len(parts)):
            prefixes.add(".".join(parts[:n]) + ".")
    return sorted(prefixes)


def is_prefix(action: str) -> bool:
    """Whether an action filter is a prefix (it ends with a dot) rather than one action."""
    return action.endswith(".")
