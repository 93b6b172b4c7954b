#!/usr/bin/env python3
"""A MISP test server on loopback for suriguard's tests.

Answers POST /attributes/restSearch with recorded real MISP data from ../shared/data/misp
(the Infoblox feed's events, MISP's test event, PyMISP's event fixtures), filtered by
to_ids / type / timestamp and paged by limit / page as MISP does. Every request body is
checked against the AttributeRestSearchFilter schema of MISP's own openapi.yaml; a
request that does not validate gets HTTP 400 and is logged as invalid.

The behaviour is read per request from --mode-file (one word): ok, 403, 500, slow
(answers after 5 s), truncated (half a JSON body), html (an HTML error page).
Each request is logged as one JSON line to --log.

Prints the port it listens on, then serves until killed.
"""

import argparse
import glob
import json
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

API_KEY = "suriguard-test-key-0123456789abcdef0123456"


def load_attributes(data):
    attrs = []
    files = sorted(glob.glob(os.path.join(data, "misp/feeds/infoblox/*-*.json")))
    files.append(os.path.join(data, "misp/misp-core/event.json"))
    files += sorted(glob.glob(os.path.join(data, "misp/pymisp/*.json")))
    for f in files:
        try:
            doc = json.load(open(f, encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        ev = doc.get("Event") if isinstance(doc, dict) else None
        if not isinstance(ev, dict) or "uuid" not in ev:
            continue
        tags = [t for t in ev.get("Tag", []) if isinstance(t, dict)]
        found = list(ev.get("Attribute", []))
        for o in ev.get("Object", []):
            found += o.get("Attribute", [])
        for a in found:
            if "value" not in a or "type" not in a:
                continue
            a = dict(a)
            a["event_uuid"] = ev["uuid"]
            a["Event"] = {"uuid": ev["uuid"], "info": ev.get("info", "")}
            a.setdefault("timestamp", ev.get("timestamp", "0"))
            a["Tag"] = list(a.get("Tag", [])) + tags
            attrs.append(a)
    return attrs


class Schema:
    def __init__(self, path):
        self.doc = yaml.safe_load(open(path, encoding="utf-8"))

    def resolve(self, s):
        while "$ref" in s:
            node = self.doc
            for part in s["$ref"].lstrip("#/").split("/"):
                node = node[part]
            s = node
        return s

    def check(self, value, s, where="body"):
        s = self.resolve(s)
        if value is None:
            if s.get("nullable"):
                return []
            return [f"{where}: null not allowed"]
        if "oneOf" in s or "anyOf" in s:
            subs = s.get("oneOf", s.get("anyOf"))
            if any(not self.check(value, x, where) for x in subs):
                return []
            return [f"{where}: matches none of the alternatives"]
        t = s.get("type")
        errs = []
        kinds = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list, "number": (int, float)}
        if t in kinds:
            ok = isinstance(value, kinds[t]) and not (t in ("integer", "number") and isinstance(value, bool))
            if not ok:
                return [f"{where}: {value!r} is not {t}"]
        if "enum" in s and value not in s["enum"]:
            errs.append(f"{where}: {value!r} not in enum")
        if t == "string" and "pattern" in s and not re.search(s["pattern"], value):
            errs.append(f"{where}: {value!r} does not match {s['pattern']}")
        if t == "string" and "maxLength" in s and len(value) > s["maxLength"]:
            errs.append(f"{where}: too long")
        if t in ("integer", "number") and "minimum" in s and value < s["minimum"]:
            errs.append(f"{where}: below minimum")
        if t == "object" or "properties" in s:
            props = s.get("properties", {})
            for k, v in value.items():
                if k not in props:
                    errs.append(f"{where}.{k}: not a known property")
                else:
                    errs += self.check(v, props[k], f"{where}.{k}")
        if t == "array" and "items" in s:
            for i, v in enumerate(value):
                errs += self.check(v, s["items"], f"{where}[{i}]")
        return errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    attrs = load_attributes(args.data)
    schema = Schema(os.path.join(args.data, "misp/misp-core/openapi.yaml"))
    filt = schema.doc["components"]["schemas"]["AttributeRestSearchFilter"]
    log = open(args.log, "a", buffering=1, encoding="utf-8")

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, code, body, ctype="application/json"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            try:
                mode = open(args.mode_file).read().strip()
            except OSError:
                mode = "ok"
            entry = {"path": self.path, "mode": mode, "auth_ok": self.headers.get("Authorization") == API_KEY}
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            entry["body"] = body
            errs = ["body: not JSON"] if body is None else schema.check(body, filt)
            entry["errors"] = errs
            log.write(json.dumps(entry) + "\n")
            if self.path != "/attributes/restSearch":
                return self.answer(404, b'{"message": "not found"}')
            if not entry["auth_ok"] or mode == "403":
                return self.answer(403, b'{"name": "Authentication failed.", "message": "Authentication failed.", "url": "/attributes/restSearch"}')
            if errs:
                return self.answer(400, json.dumps({"message": errs}).encode())
            if mode == "500":
                return self.answer(500, b'{"name": "Internal Server Error", "message": "Internal Server Error"}')
            if mode == "html":
                return self.answer(502, b"<html><body>Bad Gateway</body></html>", "text/html")
            if mode == "slow":
                time.sleep(5)
            sel = [a for a in attrs
                   if (not body.get("to_ids") or a.get("to_ids") in (True, 1, "1"))
                   and ("type" not in body or a["type"] == body["type"])
                   and int(a.get("timestamp", 0)) >= int(body.get("timestamp", "0"))]
            sel.sort(key=lambda a: (int(a.get("timestamp", 0)), a.get("uuid", "")))
            limit, page = body.get("limit"), body.get("page", 1)
            if limit:
                sel = sel[(page - 1) * limit: page * limit]
            out = json.dumps({"response": {"Attribute": sel}}).encode()
            if mode == "truncated":
                out = out[: len(out) // 2]
            try:
                self.answer(200, out)
            except BrokenPipeError:
                pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
