#!/usr/bin/env python3
"""A stand-in kube-apiserver for benchmarks: HTTPS on 127.0.0.1, every TokenReview
authenticates (user `bench`), every SubjectAccessReview is allowed, each counted.

Usage: fake_reviewer.py CERT KEY PORT_FILE COUNT_FILE
Writes the bound port to PORT_FILE, and after each review the counts as JSON to COUNT_FILE.
The tests use tidecast-testing's FakeApiServer instead (Rust, fault injection, the ConfigMap).
"""
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cert, key, port_file, count_file = sys.argv[1:5]
counts = {"tokenreviews": 0, "subjectaccessreviews": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        kind = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        if kind == "tokenreviews":
            body["status"] = {"authenticated": True,
                              "user": {"username": "bench", "groups": ["bench"]}}
        elif kind == "subjectaccessreviews":
            body["status"] = {"allowed": True, "reason": "bench"}
        else:
            self.send_error(404)
            return
        counts[kind] += 1
        with open(count_file, "w") as f:
            json.dump(counts, f)
        out = json.dumps(body).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
