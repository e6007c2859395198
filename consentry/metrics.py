"""Prometheus metrics of the process: requests by route and status, latency."""

from __future__ import annotations

from flask import Flask, current_app
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
