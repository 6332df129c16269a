"""Start helper of the pydeploy.web appserver role, run by systemd in the app's sandbox.

  check APP          import the app's module, find its callable and check its interface (the gate)
  waitress APP ...   serve APP with waitress on the socket systemd passes as fd 3; SIGTERM drains
  procfile INSTANCE  run the Procfile's web: command of the working directory (the release) in bash, with $PORT

Only the standard library at import time: waitress is imported from the release's virtualenv when it serves.
"""

import argparse
import importlib
import inspect
import os
import re
import signal
import socket
import sys
import threading
import time

WEB = re.compile(r"^web:\s*(?P<command>\S.*?)\s*$")


def load(spec):
    """The callable named by module:attr, or module:factory() (called without arguments)."""
    module_name, _sep, attr = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    obj = importlib.import_module(module_name)
    call = attr.endswith("()")
    for part in attr[:-2 if call else None].split("."):
        obj = getattr(obj, part)
    if call:
        obj = obj()
    if not callable(obj):
        raise SystemExit("%s is not callable (%r)" % (spec, type(obj).__name__))
    return obj


def check_interface(app, spec, interface):
    """Refuse an app whose call signature gives away the other interface: WSGI takes 2 arguments, ASGI 3."""
    try:
        params = [p for p in inspect.signature(app).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return
    if any(p.kind == p.VAR_POSITIONAL for p in inspect.signature(app).parameters.values()):
        return
    expected = {"wsgi": 2, "asgi": 3}[interface]
    if len(params) != expected and len(params) in (2, 3):
        raise SystemExit("app_interface is %s, but %s takes %d arguments, as a%s app does: set app_interface to %s"
                         % (interface, spec, len(params), "n ASGI" if len(params) == 3 else " WSGI",
                            "asgi" if len(params) == 3 else "wsgi"))


def web_command(path="Procfile"):
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise SystemExit("app_server is procfile, but the release has no readable Procfile: %s" % exc) from None
    for line in lines:
        found = WEB.match(line)
        if found:
            return found.group("command")
    raise SystemExit("app_server is procfile, but the release's Procfile has no web: line")


def serve_waitress(args):
    from waitress import create_server  # pylint: disable=import-outside-toplevel
    from waitress.channel import HTTPChannel  # pylint: disable=import-outside-toplevel

    app = load(args.app)
    listener = socket.socket(fileno=3)
    server = create_server(app, sockets=[listener], threads=args.threads, backlog=args.backlog,
                           channel_timeout=args.timeout, trusted_proxy="*", trusted_proxy_count=1,
                           trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                                                  "x-forwarded-port"},
                           clear_untrusted_proxy_headers=True, ident="")

    def busy():
        return [c for c in list(server._map.values())  # pylint: disable=protected-access
                if isinstance(c, HTTPChannel) and (c.requests or c.total_outbufs_len)]

    def drain():
        # Stop accepting, let the requests in flight finish (at most --graceful seconds), then exit.
        deadline = time.monotonic() + args.graceful
        while busy() and time.monotonic() < deadline:
            time.sleep(0.1)
        os._exit(0)  # pylint: disable=protected-access

    def on_term(_signum, _frame):
        server.accepting = False
        threading.Thread(target=drain, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    server.run()


def main():
    parser = argparse.ArgumentParser(prog="pydeploy_serve")
    sub = parser.add_subparsers(dest="mode", required=True)
    check = sub.add_parser("check")
    check.add_argument("app")
    check.add_argument("--interface", choices=["wsgi", "asgi"], default="wsgi")
    waitress = sub.add_parser("waitress")
    waitress.add_argument("app")
    waitress.add_argument("--threads", type=int, default=4)
    waitress.add_argument("--backlog", type=int, default=2048)
    waitress.add_argument("--timeout", type=int, default=30)
    waitress.add_argument("--graceful", type=int, default=30)
    sub.add_parser("procfile-check")
    sub.add_parser("procfile").add_argument("instance")
    args = parser.parse_args()
    if args.mode == "check":
        check_interface(load(args.app), args.app, args.interface)
    elif args.mode == "waitress":
        serve_waitress(args)
    elif args.mode == "procfile-check":
        web_command()
    else:
        command = web_command()
        # Heroku's convention: the command listens on $PORT, here the instance's own loopback port.
        os.environ["PORT"] = os.environ["PYDEPLOY_PORT_" + args.instance]
        os.execv("/bin/bash", ["/bin/bash", "-c", command])


if __name__ == "__main__":
    main()
