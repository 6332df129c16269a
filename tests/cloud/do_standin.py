"""An in-memory stand-in for the part of the DigitalOcean API v2 that pydeploy.web's playbooks and inventory use.

It is not DigitalOcean: it covers only the requests that playbooks/provision_digitalocean.yml,
playbooks/teardown_digitalocean.yml and inventories/digitalocean.yml make through community.digitalocean
(listed in ROUTES and in docs/cloud.md), keeps everything in memory, and answers any other request with
501 "not covered by the stand-in", which it also records in `uncovered` so that a test can fail on it.
Droplets are "new" in the answer to their creation and "active" from the next read on; power_on (the one action the
Droplet module asks for) completes at once.

Run it by itself:  python tests/cloud/do_standin.py --port 8089 --token secret
"""

import argparse
import base64
import hashlib
import itertools
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REGIONS = [
    {"slug": "fra1", "name": "Frankfurt 1", "available": True},
    {"slug": "ams3", "name": "Amsterdam 3", "available": True},
    {"slug": "nyc1", "name": "New York 1", "available": True},
    {"slug": "sfo1", "name": "San Francisco 1", "available": False},  # closed to new Droplets, as on DigitalOcean
]
SIZES = ["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb"]
IMAGES = [
    {"id": 170000001, "slug": "debian-12-x64", "name": "12 x64", "distribution": "Debian", "type": "base"},
    {"id": 170000002, "slug": "ubuntu-24-04-x64", "name": "24.04 (LTS) x64", "distribution": "Ubuntu", "type": "base"},
]


def fingerprint(public_key):
    """DigitalOcean's fingerprint of an OpenSSH public key: MD5 of the key blob, as colon-separated hex."""
    digest = hashlib.md5(base64.b64decode(public_key.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


class State:
    """Everything the stand-in knows. One lock: the playbooks' requests are few and short."""

    def __init__(self, token):
        self.token = token
        self.lock = threading.Lock()
        self.ids = itertools.count(1001)
        self.ssh_keys = []
        self.droplets = {}
        self.firewalls = {}
        self.tags = set()
        self.actions = {}
        self.uncovered = []  # (method, path) of requests the stand-in does not cover
        self.used = set()  # (method, pattern) of the ROUTES that served a request


class Handler(BaseHTTPRequestHandler):
    server_version = "do-standin/1"
    state = None  # set by serve()

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin  # the base class's signature
        """Quiet: the tests read the state instead of a log."""

    # --- plumbing -------------------------------------------------------------------------------------------------

    def _send(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, ident, message):
        self._send(status, {"id": ident, "message": message})

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        raw = self.rfile.read(length)
        return json.loads(raw) if raw.strip() and raw.strip() != b"null" else {}

    def _page(self, key, items, query):
        """A page of a list, with links.pages.next like the API's (absolute URL, same query)."""
        page = int(query.get("page", ["1"])[0])
        per_page = min(int(query.get("per_page", ["20"])[0]), 200)
        chunk = items[(page - 1) * per_page:page * per_page]
        links = {}
        if page * per_page < len(items):
            links["pages"] = {"next": "http://%s/v2/%s?page=%d&per_page=%d" % (
                self.headers.get("Host"), key, page + 1, per_page)}
        return {key: chunk, "links": links, "meta": {"total": len(items)}}

    def _dispatch(self, method):
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        st = self.state
        if self.headers.get("Authorization") != "Bearer " + st.token:
            self._error(401, "unauthorized", "Unable to authenticate you")
            return
        body = self._body() if method in ("POST", "PUT", "DELETE") else {}
        for route_method, pattern, func in ROUTES:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                with st.lock:
                    if not self.headers.get("X-Standin-Setup"):  # a test's own setup request does not count
                        st.used.add((route_method, pattern))
                    func(self, st, query, body, *match.groups())
                return
        with st.lock:
            st.uncovered.append((method, path))
        self._error(501, "not_implemented", "%s %s is not covered by the stand-in" % (method, path))

    def do_GET(self):  # pylint: disable=invalid-name  # http.server's naming
        self._dispatch("GET")

    def do_POST(self):  # pylint: disable=invalid-name
        self._dispatch("POST")

    def do_PUT(self):  # pylint: disable=invalid-name
        self._dispatch("PUT")

    def do_DELETE(self):  # pylint: disable=invalid-name
        self._dispatch("DELETE")

    # --- account, catalogue ---------------------------------------------------------------------------------------

    def account(self, st, query, body):
        self._send(200, {"account": {"uuid": "standin", "email": "standin@example.invalid", "status": "active",
                                     "droplet_limit": 25}})

    def regions(self, st, query, body):
        full = [dict(r, sizes=SIZES if r["available"] else [], features=["private_networking"]) for r in REGIONS]
        self._send(200, self._page("regions", full, query))

    def images(self, st, query, body):
        kind = query.get("type", [None])[0]
        images = [i for i in IMAGES if kind in (None, "distribution")]
        self._send(200, self._page("images", images, query))

    # --- SSH keys -------------------------------------------------------------------------------------------------

    def _key(self, st, ident):
        return next((k for k in st.ssh_keys if ident in (k["fingerprint"], str(k["id"]))), None)

    def keys_list(self, st, query, body):
        self._send(200, self._page("ssh_keys", st.ssh_keys, query))

    def key_get(self, st, query, body, ident):
        key = self._key(st, ident)
        if key is None:
            self._error(404, "not_found", "The resource you were accessing could not be found.")
        else:
            self._send(200, {"ssh_key": key})

    def key_create(self, st, query, body):
        if not body.get("name") or not body.get("public_key"):
            self._error(422, "unprocessable_entity", "name and public_key are required")
            return
        fp = fingerprint(body["public_key"])
        if self._key(st, fp):
            self._error(422, "unprocessable_entity", "SSH Key is already in use on your account")
            return
        key = {"id": next(st.ids), "fingerprint": fp, "public_key": body["public_key"], "name": body["name"]}
        st.ssh_keys.append(key)
        self._send(201, {"ssh_key": key})

    def key_delete(self, st, query, body, ident):
        key = self._key(st, ident)
        if key is None:
            self._error(404, "not_found", "The resource you were accessing could not be found.")
            return
        st.ssh_keys.remove(key)
        self._send(204)

    # --- Droplets and their actions -------------------------------------------------------------------------------

    def droplets_list(self, st, query, body):
        droplets = sorted(st.droplets.values(), key=lambda d: d["id"])
        # A read after the creation finds the Droplet booted.
        for d in droplets:
            d["status"] = "active"
        self._send(200, self._page("droplets", droplets, query))

    def droplet_get(self, st, query, body, ident):
        droplet = st.droplets.get(int(ident))
        if droplet is None:
            self._error(404, "not_found", "The resource you were accessing could not be found.")
            return
        droplet["status"] = "active"
        self._send(200, {"droplet": droplet})

    def droplet_create(self, st, query, body):
        missing = [k for k in ("name", "region", "size", "image") if not body.get(k)]
        if missing:
            self._error(422, "unprocessable_entity", "missing: " + ", ".join(missing))
            return
        region = next((r for r in REGIONS if r["slug"] == body["region"] and r["available"]), None)
        image = next((i for i in IMAGES if body["image"] in (i["slug"], str(i["id"]))), None)
        if region is None or body["size"] not in SIZES or image is None:
            self._error(422, "unprocessable_entity", "You specified an invalid region, size or image for Droplet creation.")
            return
        for ident in body.get("ssh_keys") or []:
            if self._key(st, str(ident)) is None:
                self._error(422, "unprocessable_entity", "You specified an invalid SSH key: %s" % ident)
                return
        number = next(st.ids)
        host = number % 250 + 1
        droplet = {
            "id": number,
            "name": body["name"],
            "status": "new",
            "memory": 1024,
            "vcpus": 1,
            "disk": 25,
            "size_slug": body["size"],
            "region": {"slug": region["slug"], "name": region["name"]},
            "image": {"id": image["id"], "slug": image["slug"], "distribution": image["distribution"]},
            "tags": list(body.get("tags") or []),
            "vpc_uuid": body.get("vpc_uuid") or "standin-default-vpc-" + region["slug"],
            # Documentation addresses (RFC 5737) and a private range: nothing the stand-in hands out is reachable.
            "networks": {"v4": [{"ip_address": "203.0.113.%d" % host, "type": "public"},
                                {"ip_address": "10.110.0.%d" % host, "type": "private"}], "v6": []},
            "ssh_key_fingerprints": [str(k) for k in body.get("ssh_keys") or []],
        }
        st.tags.update(droplet["tags"])
        st.droplets[number] = droplet
        self._send(202, {"droplet": dict(droplet)})

    def droplet_delete(self, st, query, body, ident):
        if st.droplets.pop(int(ident), None) is None:
            self._error(404, "not_found", "The resource you were accessing could not be found.")
            return
        for fw in st.firewalls.values():
            fw["droplet_ids"] = [i for i in fw["droplet_ids"] if i != int(ident)]
        self._send(204)

    def action_create(self, st, query, body, ident):
        if int(ident) not in st.droplets:
            self._error(404, "not_found", "The resource you were accessing could not be found.")
            return
        if body.get("type") != "power_on":
            self._error(501, "not_implemented", "action %r is not covered by the stand-in" % body.get("type"))
            st.uncovered.append(("POST", "droplets/%s/actions %s" % (ident, body.get("type"))))
            return
        action = {"id": next(st.ids), "status": "in-progress", "type": body["type"], "resource_id": int(ident)}
        st.droplets[int(ident)]["status"] = "active"
        st.actions[action["id"]] = action
        self._send(201, {"action": dict(action)})

    def action_get(self, st, query, body, ident, action_id):
        action = st.actions.get(int(action_id))
        if action is None or action["resource_id"] != int(ident):
            self._error(404, "not_found", "The resource you were accessing could not be found.")
            return
        action["status"] = "completed"
        self._send(200, {"action": action})

    # --- tags -----------------------------------------------------------------------------------------------------

    def tag_get(self, st, query, body, name):
        if name not in st.tags:
            self._error(404, "not_found", "The resource you were accessing could not be found.")
            return
        count = sum(name in d["tags"] for d in st.droplets.values())
        self._send(200, {"tag": {"name": name, "resources": {"count": count}}})

    def tag_create(self, st, query, body):
        name = body.get("name") or ""
        if not re.fullmatch(r"[A-Za-z0-9:_-]{1,255}", name):
            self._error(422, "unprocessable_entity", "invalid tag name %r" % name)
            return
        st.tags.add(name)
        self._send(201, {"tag": {"name": name, "resources": {"count": 0}}})

    def tag_delete(self, st, query, body, name):
        if name not in st.tags:
            self._error(404, "not_found", "The resource you were accessing could not be found.")
            return
        st.tags.discard(name)
        for d in st.droplets.values():
            d["tags"] = [t for t in d["tags"] if t != name]
        self._send(204)

    # --- firewalls ------------------------------------------------------------------------------------------------

    def firewalls_list(self, st, query, body):
        self._send(200, self._page("firewalls", list(st.firewalls.values()), query))

    def _firewall_from(self, body, ident):
        # Stored as sent: the module compares its own request with what the list returns.
        return {
            "id": ident,
            "name": body.get("name"),
            "status": "succeeded",
            "inbound_rules": body.get("inbound_rules") or [],
            "outbound_rules": body.get("outbound_rules") or [],
            "droplet_ids": [int(i) for i in body.get("droplet_ids") or []],
            "tags": list(body.get("tags") or []),
            "pending_changes": [],
        }

    def firewall_create(self, st, query, body):
        if not body.get("name"):
            self._error(422, "unprocessable_entity", "name is required")
            return
        fw = self._firewall_from(body, str(uuid.uuid4()))
        st.firewalls[fw["id"]] = fw
        self._send(202, {"firewall": fw})

    def firewall_update(self, st, query, body, ident):
        if ident not in st.firewalls:
            self._error(404, "not_found", "The resource you were accessing could not be found.")
            return
        st.firewalls[ident] = self._firewall_from(body, ident)
        self._send(200, {"firewall": st.firewalls[ident]})

    def firewall_delete(self, st, query, body, ident):
        if st.firewalls.pop(ident, None) is None:
            self._error(404, "not_found", "The resource you were accessing could not be found.")
            return
        self._send(204)


# (method, path pattern under /v2, handler). docs/cloud.md lists the same.
ROUTES = [(m, "/v2/" + p, f) for m, p, f in (
    ("GET", r"account", Handler.account),
    ("GET", r"regions", Handler.regions),
    ("GET", r"images", Handler.images),
    ("GET", r"account/keys", Handler.keys_list),
    ("POST", r"account/keys", Handler.key_create),
    ("GET", r"account/keys/([^/]+)", Handler.key_get),
    ("DELETE", r"account/keys/([^/]+)", Handler.key_delete),
    ("GET", r"droplets", Handler.droplets_list),
    ("POST", r"droplets", Handler.droplet_create),
    ("GET", r"droplets/(\d+)", Handler.droplet_get),
    ("DELETE", r"droplets/(\d+)", Handler.droplet_delete),
    ("POST", r"droplets/(\d+)/actions", Handler.action_create),
    ("GET", r"droplets/(\d+)/actions/(\d+)", Handler.action_get),
    ("GET", r"tags/([^/]+)", Handler.tag_get),
    ("POST", r"tags", Handler.tag_create),
    ("DELETE", r"tags/([^/]+)", Handler.tag_delete),
    ("GET", r"firewalls", Handler.firewalls_list),
    ("POST", r"firewalls", Handler.firewall_create),
    ("PUT", r"firewalls/([^/]+)", Handler.firewall_update),
    ("DELETE", r"firewalls/([^/]+)", Handler.firewall_delete),
)]


def serve(token, host="127.0.0.1", port=0):
    """Start the stand-in in a thread; returns (server, state). server.server_address has the port."""
    state = State(token)
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="do-standin", daemon=True).start()
    return server, state


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    server = serve(args.token, args.host, args.port)[0]
    print("DigitalOcean stand-in on http://%s:%d/v2" % server.server_address[:2], flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
