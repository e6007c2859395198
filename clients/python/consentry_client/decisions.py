"""Buffered decisions: an engine adds each decision as it is made; they go to
`POST /v1/decisions/batch` in batches of up to 1,000.

    with client.decisions(max_wait=1.0) as buffer:
        buffer.add("u-42", "homepage_hero", {"id": "sku-123"},
                   signals_used=[{"category": "behavioral"}])

A batch is sent when it is full, when the oldest decision waiting is `max_wait`
seconds old (checked at each `add`), on `flush()` and when the buffer closes. Each
batch keeps one `Idempotency-Key` from the moment it is formed, so a batch sent again
after a lost answer is recorded once. While the service is away, batches wait and are
sent again at the next flush (`add` tries again `max_wait` seconds after a failure, so
an outage never slows each `add` down); more than `max_pending` decisions waiting is a
`BufferFull` error (decisions are audit material: none is dropped in silence). A batch
the service refuses (422: one invalid decision, and none of the batch is stored) is
taken out and raised as `BatchRejected`, carrying its decisions and the error.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from consentry_client.gate import MAX_BATCH, ConsentryError, GateUnavailable, decision_body


class BufferFull(Exception):
    """More decisions wait than the buffer may hold (the service has been away)."""


class BatchRejected(Exception):
    """The service refused a batch (4xx); none of it was stored."""

    def __init__(self, error: ConsentryError, decisions: list[dict]):
        super().__init__(str(error))
        self.error, self.decisions = error, decisions


@dataclass
class _Batch:
    decisions: list[dict] = field(default_factory=list)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


class DecisionBuffer:
    """Decisions waiting to be sent in batches; thread-safe."""

    def __init__(self, client, *, batch_size: int = MAX_BATCH, max_wait: float = 1.0,
                 max_pending: int = 100_000):
        if not 0 < batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1 to {MAX_BATCH}")
        self.client = client
        self.batch_size, self.max_wait, self.max_pending = batch_size, max_wait, max_pending
        self._sealed: list[_Batch] = []  # formed, with their idempotency keys: sent as they are
        self._open = _Batch()
        self._oldest: float | None = None
        self._retry_at = float("-inf")  # after a failed send, `add` waits max_wait to retry
        self._lock = threading.Lock()
        self.results: list[dict] = []  # every recorded decision's result, in order sent

    @property
    def pending(self) -> int:
        return len(self._open.decisions) + sum(len(b.decisions) for b in self._sealed)

    def add(self, subject_id: str, surface: str, item: dict, **decision) -> None:
        """Queue one decision (the fields of `GateClient.record_decision`); send what is due."""
        body = decision_body(subject_id, surface, item, **decision)
        with self._lock:
            if self.pending >= self.max_pending:
                raise BufferFull(f"{self.pending} decisions wait to be sent")
            self._open.decisions.append(body)
            if self._oldest is None:
                self._oldest = time.monotonic()
            if len(self._open.decisions) >= self.batch_size:
                self._seal()
            now = time.monotonic()
            due = now >= self._retry_at and (
                bool(self._sealed) or now - self._oldest >= self.max_wait)
        if due:
            self.flush(raise_unavailable=False)

    def _seal(self) -> None:
        if self._open.decisions:
            self._sealed.append(self._open)
            self._open = _Batch()
        self._oldest = None

    def flush(self, raise_unavailable: bool = True) -> list[dict]:
        """Send every waiting decision; the results recorded by this flush.

        GateUnavailable (when `raise_unavailable`) leaves the batches waiting;
        BatchRejected takes the refused batch out."""
        sent: list[dict] = []
        with self._lock:
            self._seal()
            while self._sealed:
                batch = self._sealed[0]
                try:
                    results = self.client.record_decisions(batch.decisions, batch.key)
                except GateUnavailable:
                    self._retry_at = time.monotonic() + self.max_wait
                    if raise_unavailable:
                        raise
                    return sent
                except ConsentryError as exc:
                    self._sealed.pop(0)
                    raise BatchRejected(exc, batch.decisions) from exc
                self._sealed.pop(0)
                sent.extend(results)
                self.results.extend(results)
        return sent

    def close(self) -> None:
        """Send what waits (raises GateUnavailable if it cannot)."""
        self.flush()

    def __enter__(self) -> DecisionBuffer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
