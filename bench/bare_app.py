"""The baseline: a bare Flask JSON endpoint, served with the same gunicorn settings."""

from flask import Flask, jsonify, request

app = Flask("bare")


@app.route("/bare", methods=["GET", "POST", "PUT"])
def bare():
    body = request.get_json(silent=True)
    return jsonify({"ok": True, "echo": bool(body)})
