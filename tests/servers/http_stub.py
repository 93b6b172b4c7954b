#!/usr/bin/env python3
"""Loopback stand-ins for the HTTP services suriguardctl talks to, each speaking its
documented request and answer format:

  POST /bot<TOKEN>/sendMessage   Telegram Bot API: JSON {chat_id, text, ...};
                                 {"ok": true, "result": {...}} or
                                 {"ok": false, "error_code": N, "description": "..."}
  POST /v2/chat                  Cohere chat v2: {model, messages}; answer
                                 {"message": {"role": "assistant", "content": [{"type": "text", "text": ...}]}}
  POST /v1/chat/completions      OpenAI-compatible chat completions: {model, messages};
                                 answer {"choices": [{"message": {"role": "assistant", "content": ...}}]}
  POST /hook                     a generic JSON webhook: 200 {"received": true}

--token is the bot token Telegram accepts (others get 401 "Unauthorized"), --key the
bearer key the LLM endpoints accept. The behaviour is read per request from
--mode-file: ok, 500, 429 (Telegram's "Too Many Requests" with retry_after), slow
(answers after 5 s), garbage (200 with a body that is not JSON).
Each request is logged as one JSON line (method, path, headers, body) to --log.
Prints the port, then serves until killed.
"""

import argparse
import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADVICE = "1. Quarantine the device at once.\n2. Change its password.\n3. Update its firmware."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--token", default="123456:TEST-token")
    ap.add_argument("--key", default="llm-test-key")
    args = ap.parse_args()
    log = open(args.log, "a", buffering=1, encoding="utf-8")

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, code, obj, raw=None):
            body = raw if raw is not None else json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except BrokenPipeError:
                pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0") or 0)
            raw = self.rfile.read(n)
            try:
                mode = open(args.mode_file).read().strip()
            except OSError:
                mode = "ok"
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            log.write(json.dumps({"path": self.path, "mode": mode, "body": body,
                                  "authorization": self.headers.get("Authorization"),
                                  "content_type": self.headers.get("Content-Type")}) + "\n")
            if mode == "slow":
                time.sleep(5)
            if mode == "garbage":
                return self.answer(200, None, b"<html>proxy error</html>")
            m = re.match(r"^/bot([^/]+)/sendMessage$", self.path)
            if m:
                if m.group(1) != args.token:
                    return self.answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                if mode == "429":
                    return self.answer(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}})
                if mode == "500":
                    return self.answer(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
                if not isinstance(body, dict) or "chat_id" not in body or not body.get("text"):
                    return self.answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"})
                return self.answer(200, {"ok": True, "result": {"message_id": 1, "date": int(time.time()), "chat": {"id": body["chat_id"]}, "text": body["text"]}})
            if self.path in ("/v2/chat", "/v1/chat/completions"):
                if self.headers.get("Authorization") != f"Bearer {args.key}":
                    return self.answer(401, {"message": "invalid api token"})
                if mode in ("500", "429"):
                    return self.answer(int(mode), {"message": "upstream failure"})
                ok = isinstance(body, dict) and body.get("model") and isinstance(body.get("messages"), list) \
                    and all(isinstance(x, dict) and x.get("role") in ("system", "user", "assistant") and isinstance(x.get("content"), str) for x in body["messages"])
                if not ok:
                    return self.answer(400, {"message": "invalid request"})
                if self.path == "/v2/chat":
                    return self.answer(200, {"id": "c1", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text", "text": ADVICE}]}, "usage": {}})
                return self.answer(200, {"id": "o1", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ADVICE}}]})
            if self.path == "/hook":
                if mode == "500":
                    return self.answer(500, {"error": "hook down"})
                return self.answer(200, {"received": True})
            return self.answer(404, {"message": "not found"})

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
