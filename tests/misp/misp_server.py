#!/usr/bin/env python3
"""A MISP test server on loopback for suriguard's tests.

Answers POST /attributes/restSearch with recorded real MISP data from ../shared/data/misp
(the Infoblox feed's events, MISP's test event, PyMISP's event fixtures), filtered by
to_ids / type / timestamp and paged by limit / page as MISP does. Every request body is
checked against the AttributeRestSearchFilter schema of MISP's own openapi.yaml; a
request that does not validate gets HTTP 400 and is logged as invalid.

It also plays the MISP that suriguardctl pushes to: /events/add, /events/view/{id},
/attributes/add/{eventId}, /tags/search/{term}, /tags/add,
/events/addTag/{eventId}/{tagId}/local:{0|1}, /sightings/add/{attributeUuid} and
/events/publish/{eventId}. Bodies are checked against EventNoId, AttributeNoId and
TagNoId, path parameters against their schemas; the events it holds (with their
attributes, tags, sightings and publish count) are returned by GET /__state. Published
events it holds are served by restSearch too (with their event UUID and tags), and
restSearch's `tags` filter (plain names: any of them; "!name": none of them) applies,
so one gateway's pushed events reach another gateway's rulesync.

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


UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class Misp:
    """In-memory events, as much of MISP as suriguardctl's push needs."""

    def __init__(self, attrs):
        self.events = {}
        self.tags = {}
        self.next = {"event": 1, "attribute": 1000, "tag": 1, "sighting": 1}
        self.known_attrs = {a.get("uuid") for a in attrs if a.get("uuid")}
        self.sightings = []

    def new_id(self, kind):
        n = self.next[kind]
        self.next[kind] += 1
        return str(n)

    def find_event(self, ref):
        for e in self.events.values():
            if e["id"] == ref or e["uuid"] == ref:
                return e
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    attrs = load_attributes(args.data)
    schema = Schema(os.path.join(args.data, "misp/misp-core/openapi.yaml"))
    schemas = schema.doc["components"]["schemas"]
    filt = schemas["AttributeRestSearchFilter"]
    misp = Misp(attrs)
    lock = __import__("threading").Lock()
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

        def common(self, method):
            n = int(self.headers.get("Content-Length", "0") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                mode = open(args.mode_file).read().strip()
            except OSError:
                mode = "ok"
            entry = {"method": method, "path": self.path, "mode": mode,
                     "auth_ok": self.headers.get("Authorization") == API_KEY}
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = "not JSON"
            entry["body"] = body
            return entry, body, mode

        def finish_entry(self, entry, errs):
            entry["errors"] = errs
            log.write(json.dumps(entry) + "\n")

        def fail_by_mode(self, entry, mode):
            if not entry["auth_ok"] or mode == "403":
                self.answer(403, json.dumps({"name": "Authentication failed.", "message": "Authentication failed.", "url": self.path}).encode())
                return True
            if mode == "500":
                self.answer(500, b'{"name": "Internal Server Error", "message": "Internal Server Error"}')
                return True
            if mode == "html":
                self.answer(502, b"<html><body>Bad Gateway</body></html>", "text/html")
                return True
            if mode == "slow":
                time.sleep(5)
            return False

        def do_GET(self):
            entry, body, mode = self.common("GET")
            if self.path == "/__state":  # the test's own look, not logged
                with lock:
                    out = json.dumps({"events": list(misp.events.values()), "sightings": misp.sightings, "tags": misp.tags})
                return self.answer(200, out.encode())
            errs = []
            m = re.match(r"^/events/view/([^/]+)$", self.path) or re.match(r"^/tags/search/([^/]+)$", self.path)
            if not m:
                self.finish_entry(entry, ["unknown path"])
                return self.answer(404, b'{"message": "not found"}')
            ref = __import__("urllib.parse").parse.unquote(m.group(1))
            if self.path.startswith("/events/view/") and not (re.match(r"^\d+$", ref) or re.match(UUID_RE, ref)):
                errs.append("eventId: not an id or UUID")
            self.finish_entry(entry, errs)
            if self.fail_by_mode(entry, mode):
                return
            if errs:
                return self.answer(400, json.dumps({"message": errs}).encode())
            with lock:
                if self.path.startswith("/events/view/"):
                    e = misp.find_event(ref)
                    if e is None:
                        return self.answer(404, b'{"name": "Invalid event.", "message": "Invalid event.", "url": "/events/view"}')
                    return self.answer(200, json.dumps({"Event": e}).encode())
                found = [{"Tag": t} for t in misp.tags.values() if t["name"].lower() == ref.lower()]
                return self.answer(200, json.dumps(found).encode())

        def do_POST(self):
            entry, body, mode = self.common("POST")
            path = self.path
            errs = []
            if body == "not JSON":
                errs.append("body: not JSON")
                body = None

            def check(name, required=True):
                if body is None:
                    if required:
                        errs.append("body: missing")
                    return
                errs.extend(schema.check(body, schemas[name]))

            def path_id(value, what, uuid_ok=True):
                if not (re.match(r"^\d+$", value) or (uuid_ok and re.match(UUID_RE, value))):
                    errs.append(f"{what}: {value!r} is not a valid id")

            route = None
            if path == "/attributes/restSearch":
                route = "search"
                if body is None:
                    errs.append("body: not JSON")
                else:
                    errs.extend(schema.check(body, filt))
            elif path == "/events/add":
                route = "event-add"
                check("EventNoId")
            elif m := re.match(r"^/attributes/add/([^/]+)$", path):
                route = "attr-add"
                path_id(m.group(1), "eventId")
                check("AttributeNoId")
            elif path == "/tags/add":
                route = "tag-add"
                check("TagNoId")
            elif m := re.match(r"^/events/addTag/([^/]+)/([^/]+)/local:([^/]+)$", path):
                route = "event-tag"
                path_id(m.group(1), "eventId")
                path_id(m.group(2), "tagId", uuid_ok=False)
                if m.group(3) not in ("0", "1", "true", "false"):
                    errs.append("local: not a boolean")
            elif m := re.match(r"^/sightings/add/([^/]+)$", path):
                route = "sighting"
                path_id(m.group(1), "attributeId")
            elif m := re.match(r"^/events/publish/([^/]+)$", path):
                route = "publish"
                path_id(m.group(1), "eventId")
            else:
                self.finish_entry(entry, ["unknown path"])
                return self.answer(404, b'{"message": "not found"}')
            self.finish_entry(entry, errs)
            if self.fail_by_mode(entry, mode):
                return
            if errs:
                return self.answer(400, json.dumps({"message": errs}).encode())
            if route == "search":
                return self.search(body, mode)
            with lock:
                return self.push(route, path, body)

        def push(self, route, path, body):
            if route == "event-add":
                if body.get("uuid") and misp.find_event(body["uuid"]):
                    return self.answer(403, json.dumps({"name": "Could not add Event", "message": "Could not add Event", "errors": {"Event": {"uuid": ["An event with this uuid already exists."]}}}).encode())
                eid = misp.new_id("event")
                e = dict(body)
                e.update({"id": eid, "uuid": body.get("uuid") or f"00000000-0000-4000-8000-{int(eid):012d}",
                          "Attribute": [], "Tag": [], "published_count": 0})
                misp.events[eid] = e
                return self.answer(200, json.dumps({"Event": e}).encode())
            if route == "attr-add":
                e = misp.find_event(path.rsplit("/", 1)[1])
                if e is None:
                    return self.answer(404, b'{"name": "Invalid event.", "message": "Invalid event."}')
                if any(a["type"] == body["type"] and a["value"] == body["value"] for a in e["Attribute"]):
                    return self.answer(403, b'{"name": "Could not add Attribute", "message": "Could not add Attribute", "errors": {"value": ["A similar attribute already exists for this event."]}}')
                a = dict(body)
                a.update({"id": misp.new_id("attribute"), "event_id": e["id"]})
                a.setdefault("timestamp", str(int(time.time())))
                a["uuid"] = f"10000000-0000-4000-8000-{int(a['id']):012d}"
                e["Attribute"].append(a)
                return self.answer(200, json.dumps({"Attribute": a}).encode())
            if route == "tag-add":
                for t in misp.tags.values():
                    if t["name"] == body["name"]:
                        return self.answer(403, b'{"name": "Could not add Tag", "message": "A tag with this name already exists"}')
                tid = misp.new_id("tag")
                misp.tags[tid] = {"id": tid, "name": body["name"], "colour": body.get("colour", "#ffffff"), "exportable": True}
                return self.answer(200, json.dumps({"Tag": misp.tags[tid]}).encode())
            if route == "event-tag":
                _, _, _, eid, tid, local = path.split("/")
                e = misp.find_event(eid)
                t = misp.tags.get(tid)
                if e is None or t is None:
                    return self.answer(404, b'{"name": "Invalid event or tag.", "message": "Invalid event or tag."}')
                if t["name"] not in e["Tag"]:
                    e["Tag"].append(t["name"])
                return self.answer(200, b'{"saved": true, "success": "Tag added.", "check_publish": true}')
            if route == "sighting":
                ref = path.rsplit("/", 1)[1]
                ours = any(a["uuid"] == ref or a["id"] == ref for e in misp.events.values() for a in e["Attribute"])
                if ref not in misp.known_attrs and not ours:
                    return self.answer(404, b'{"name": "Invalid attribute.", "message": "Invalid attribute."}')
                sid = misp.new_id("sighting")
                misp.sightings.append({"id": sid, "attribute_uuid": ref, "type": "0", "source": ""})
                return self.answer(200, json.dumps({"Sighting": {"id": sid, "attribute_uuid": ref, "type": "0"}}).encode())
            if route == "publish":
                eid = path.rsplit("/", 1)[1]
                e = misp.find_event(eid)
                if e is None:
                    return self.answer(404, b'{"name": "Invalid event.", "message": "Invalid event."}')
                e["published"] = True
                e["published_count"] += 1
                return self.answer(200, json.dumps({"name": "Publish", "message": "Job queued", "url": f"/events/publish/{eid}", "id": eid}).encode())

        def pushed(self):
            """Attributes of the published events pushed here, as restSearch returns
            them (includeEventUuid, includeEventTags): so one gateway's events reach
            another's rulesync."""
            out = []
            for e in misp.events.values():
                if not e.get("published"):
                    continue
                for a in e["Attribute"]:
                    b = dict(a)
                    b["Event"] = {"id": e["id"], "uuid": e["uuid"], "info": e.get("info", "")}
                    b["Tag"] = [{"name": t} for t in e["Tag"]]
                    out.append(b)
            return out

        def search(self, body, mode):
            def tagged(a):
                # MISP's tag filter: any of the plain names, none of the "!" ones.
                want = [t for t in (body.get("tags") or []) if not t.startswith("!")]
                not_want = [t[1:] for t in (body.get("tags") or []) if t.startswith("!")]
                names = {t["name"] for t in a.get("Tag", [])}
                return (not want or names & set(want)) and not names & set(not_want)

            sel = [a for a in attrs + self.pushed()
                   if tagged(a)
                   and (not body.get("to_ids") or a.get("to_ids") in (True, 1, "1"))
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
