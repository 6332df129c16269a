"""A small Flask app for pydeploy.web: a page, a health check, a static file and persistent notes."""

import os
import socket
import time
from pathlib import Path

from flask import Flask, jsonify, request

app = Flask(__name__, instance_relative_config=True)
RELEASE = Path(__file__).with_name("VERSION").read_text(encoding="utf-8").strip()


@app.get("/")
def index():
    greeting = os.environ.get("GREETING", "Hello")
    return f"{greeting} from pydeploy.web (flask_hello {RELEASE})\n"


@app.get("/healthz")
def healthz():
    return jsonify(status="ok", version=RELEASE)


@app.get("/slow")
def slow():
    """Answer after ?seconds= (at most 30): a slow request, for the mixed-load benchmark."""
    seconds = min(max(request.args.get("seconds", 1.0, type=float), 0.0), 30.0)
    time.sleep(seconds)
    return f"slept {seconds:g} s\n"


@app.get("/whoami")
def whoami():
    """Echo what the app sees of the request, to check the proxy headers."""
    return jsonify(
        host=request.host,
        scheme=request.scheme,
        remote_addr=request.remote_addr,
        forwarded_for=request.headers.get("X-Forwarded-For", ""),
        forwarded_proto=request.headers.get("X-Forwarded-Proto", ""),
        forwarded_host=request.headers.get("X-Forwarded-Host", ""),
        forwarded_port=request.headers.get("X-Forwarded-Port", ""),
        real_ip=request.headers.get("X-Real-IP", ""),
        upgrade=request.headers.get("Upgrade", ""),
        server=socket.gethostname(),
    )


@app.post("/echo")
def echo():
    """Answer with the request's body: a POST with a body, for load through a balancer."""
    return request.get_data(), 200, {"Content-Type": "application/octet-stream"}


@app.route("/notes", methods=["GET", "POST"])
def notes():
    """Append to and read a file in the instance folder (a shared path that survives deploys)."""
    path = Path(app.instance_path) / "notes.txt"
    if request.method == "POST":
        with path.open("a", encoding="utf-8") as fh:
            fh.write(request.get_data(as_text=True).strip() + "\n")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return text, 200, {"Content-Type": "text/plain; charset=utf-8"}
