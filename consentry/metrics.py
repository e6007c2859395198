"""Prometheus metrics of the process: requests by route and status, latency."""

from __future__ import annotations

import os

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

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("consentry_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("consentry_http_request_duration_seconds",
                                 "HTTP request latency", ["route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5, 1, 2.5, 5))
        self.counters: dict[str, Counter] = {}

    def counter(self, name: str, doc: str, labels: list[str]) -> Counter:
        """Return the named domain counter, creating it on first use."""
        if name not in self.counters:
            self.counters[name] = Counter(name, doc, labels, registry=self.registry)
        return self.counters[name]

    def render(self) -> bytes:
        """This process's metrics; with PROMETHEUS_MULTIPROC_DIR set (gunicorn workers), the
        sum over every worker of the deployment, read from that directory."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)
            return generate_latest(registry)
        return generate_latest(self.registry)


def get_metrics() -> Metrics:
    return current_app.extensions["consentry.metrics"]


def init_app(app: Flask) -> None:
    app.extensions["consentry.metrics"] = Metrics()
