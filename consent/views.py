"""HTTP views of the consent domain."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from consent.policy_state import current_policy
from consent.schemas import PolicySchema
from consentry.auth import scoped

blp = Blueprint("consent", __name__, description="Policy, consent ledger and preference center")


@blp.route("/v1/policy")
class PolicyView(MethodView):
    @scoped("policy:read")
    @blp.response(200, PolicySchema)
    def get(self):
        """The active policy."""
        policy = current_policy()
        return {
            "version": policy.version,
            "controller": policy.controller,
            "policy_url": policy.policy_url,
            "preference_center_url": policy.preference_center_url,
            "default_jurisdiction": policy.default_jurisdiction,
            "token_max_age_seconds": policy.token_max_age_seconds,
            "consent_max_age_days": policy.consent_max_age_days,
            "purposes": list(policy.purposes.values()),
            "categories": list(policy.categories.values()),
            "channels": [{"id": k, "label": v} for k, v in policy.channels.items()],
            "jurisdictions": list(policy.jurisdictions.values()),
            "retention": dict(policy.retention_classes),
        }
