"""Push delivery to the systems that hold the data: signed webhooks (Standard Webhooks),
an outbox written with the change that causes it, and the proof that recipients were told."""
