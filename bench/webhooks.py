"""Webhook deliveries per second to a local receiver, next to a bare POST loop (issue 24).

    .venv/bin/python -m bench.webhooks [--events 5000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

The receiver is a threading HTTP server answering 200 in this process. The baseline is
the same number of bare POSTs (http.client, one connection each, as a delivery makes)
from as many threads as the sender uses. The sender's figure covers the whole job: read
the due deliveries from the outbox, resolve and check the address, sign, POST, and record
every answer in the database. The outbox rows are written first, one event per subject.
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from consentry import create_app, migrate
from consentry.db import get_db
from consentry.policy import get_policy
from consentry.secretstore import get_keys
from webhooks import service
from webhooks.delivery import deliver


class _Ok(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    body = b'{"type":"consent.changed","timestamp":"2026-01-01T00:00:00Z","data":{}}'

    def bare(_i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/hook", body, {"Content-Type": "application/json"})
        conn.getresponse().read(1024)
        conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(bare, range(args.events)))
    baseline = args.events / (time.perf_counter() - started)

    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    migrate.upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRETS_DIR": f"{tmp}/secrets",
                      "WEBHOOK_ALLOW_HTTP": True, "WEBHOOK_ALLOW_PRIVATE": True,
                      "WEBHOOK_WORKERS": args.workers, "RECORD_POLICY_ON_START": False})
    policy = get_policy(app)
    with app.app_context(), get_db(app).transaction() as s:
        service.put_endpoint(s, get_keys(app), policy, "bench", url=f"http://127.0.0.1:{port}/h",
                             recipient=None, events=["consent.changed"], enabled=True,
                             actor="bench", allow_http=True, allow_private=True)
        for i in range(args.events):
            service.emit(s, policy, service.CONSENT_CHANGED, f"bench-{i}",
                         lambda _r, i=i: {"subject_id": f"bench-{i}", "purposes": []})
    started = time.perf_counter()
    sent = 0
    while sent < args.events:
        sent += deliver(app, "bench", budget_seconds=600)
    rate = sent / (time.perf_counter() - started)
    engine = url.split(":", 1)[0]
    print(f"bare POST loop ({args.workers} threads): {baseline:,.0f}/s")
    print(f"webhook deliveries ({engine}, {args.workers} workers): {rate:,.0f}/s "
          f"= {rate / baseline:.2f} of the bare loop")


if __name__ == "__main__":
    main()
