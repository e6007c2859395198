"""Prometheus metrics of the process: requests by route and status, latency, violations.

Every label value comes from a bounded set the service owns (route templates, status
codes, known methods, policy ids), never from text a client or an engine chose: a
label is public on `/metrics` and each distinct value is a new series kept forever.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING

from flask import Flask, current_app, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    from consentry.policy import Policy

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
OTHER = "other"

request_log = logging.getLogger("consentry.request")


REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def request_id_for(incoming: str) -> str:
    """The request's id: the client's `X-Request-Id` when it is 1-128 of
    `[A-Za-z0-9._-]` (nothing that could forge a log line), else a new one. Every answer
    carries it back; errors quote it."""
    return incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def record_request(app: Flask, method: str, route: str, status: int, seconds: float,
                   key_name: str | None, request_id: str) -> None:
    """Count an answered request, time it, and write its line of the request log."""
    m = get_metrics(app)
    method = method_label(method)
    m.requests.labels(method, route, str(status)).inc()
    m.latency.labels(route).observe(seconds)
    request_log.info("request_id=%s key=%s method=%s route=%s status=%s duration_ms=%.1f",
                     request_id, key_name or "-", method, route, status, seconds * 1000)


def method_label(method: str) -> str:
    """The request method as a label: a known method, else `other`."""
    return method if method in METHODS else OTHER


def route_label() -> str:
    """The current request's route template (`/v1/subjects/<subject:subject_id>/...`), for
    labels and logs: a path would carry subject ids and is unbounded."""
    rule = request.url_rule
    return rule.rule if rule is not None else "(unmatched)"


def surface_label(policy: Policy, surface: str) -> str:
    """A decision's surface as a label: one the policy lists in `surfaces`, else `other`."""
    return surface if surface in policy.surfaces else OTHER


def category_label(policy: Policy, category: str) -> str:
    """A category as a label: a policy category id, else `other`."""
    return category if category in policy.categories else OTHER


class Metrics:
    """The app's own registry (one per app, so tests can build many apps)."""

    def __init__(self, multiprocess_dir: str | None = None):
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        self.requests = Counter("consentry_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("consentry_http_request_duration_seconds",
                                 "HTTP request latency", ["route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5, 1, 2.5, 5))
        self.decision_violations = Counter(
            "consentry_decision_violations_total",
            "Decisions that used a category without consent", ["category", "surface"],
            registry=self.registry)

    def count_violation(self, policy: Policy, category: str, surface: str) -> None:
        """Count one decision violation, labelled only with names the policy defines."""
        self.decision_violations.labels(category_label(policy, category),
                                        surface_label(policy, surface)).inc()

    def render(self) -> bytes:
        """This process's metrics; with PROMETHEUS_MULTIPROC_DIR set (gunicorn workers), the
        sum over every worker of the deployment, read from that directory."""
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)


def get_metrics(app: Flask | None = None) -> Metrics:
    """The metrics of `app` (default: the current app)."""
    return (app or current_app).extensions["consentry.metrics"]


def init_app(app: Flask) -> None:
    app.extensions["consentry.metrics"] = Metrics(app.config["PROMETHEUS_MULTIPROC_DIR"])
