#!/bin/sh
# Serve Consentry for local use: gunicorn on $HOST:$PORT and the scheduler beside it.
set -eu
: "${HOST:=127.0.0.1}" "${PORT:=8000}" "${BIN:=.venv/bin}"
# the tokens' `iss` and the audit log's origin name where this instance is served
: "${CONSENTRY_PUBLIC_URL:=http://$HOST:$PORT}"
export CONSENTRY_PUBLIC_URL
KEY=$("$BIN/flask" --app wsgi dev bootstrap | tail -n 1)
LINK=$("$BIN/flask" --app wsgi dev preference-link demo-user --base-url "http://$HOST:$PORT" | tail -n 1)
echo
echo "  Consentry on http://$HOST:$PORT  (API docs: http://$HOST:$PORT/docs)"
echo "  Demo admin key (development only, kept in var/secrets/demo-admin.key):"
echo "    $KEY"
echo "  Try: curl -H \"Authorization: Bearer $KEY\" http://$HOST:$PORT/v1/policy"
echo "  A person's preference page (demo-user, no key needed; valid CONSENTRY_PAGE_LINK_SECONDS, default an hour):"
echo "    $LINK"
echo "  Console for legal and operations: http://$HOST:$PORT/console/ (sign in with the key)"
echo
# gunicorn's workers share one set of metrics through this directory (emptied each start).
PROMETHEUS_MULTIPROC_DIR="$(pwd)/var/prometheus"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
export PROMETHEUS_MULTIPROC_DIR
"$BIN/flask" --app wsgi scheduler &
SCHED=$!
trap 'kill -TERM $SCHED 2>/dev/null; wait $SCHED 2>/dev/null' EXIT INT TERM
"$BIN/gunicorn" --bind "$HOST:$PORT" --workers 2 wsgi:app
