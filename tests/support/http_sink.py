#!/usr/bin/env python3
"""A small HTTP server for tests: journals every request, answers as told.

Usage:
  /usr/bin/python3 tests/support/http_sink.py --journal FILE [--port 0]
      [--host 127.0.0.1] [--port-file FILE] [--control FILE]

- Listens on HOST:PORT (port 0 = a free one; the chosen port, followed by a
  newline, is written to --port-file once it listens). HTTP/1.1 with
  keep-alive, one thread per connection. Stops on SIGTERM or SIGINT.
- Appends one JSON line per request to --journal, when the request has been
  read and before it is answered:
    {"time": 1700000000.123, "method": "PATCH", "path": "/api/patients/7/last-contact",
     "headers": {"Content-Type": "application/json", ...}, "body": "{\"date\": \"2026-01-02\"}",
     "client_port": 51234, "status": 200}
  ("status" is the answer given, or null when the connection was dropped;
  "body" is UTF-8 text with invalid bytes replaced; "client_port" tells the
  connections apart, so tests can check keep-alive reuse).
- Answers 200 with body {} by default (204 and 304 answers have no body). --control FILE (re-read for every
  request; missing or empty = the default) holds rules, one per line; the
  first rule whose selectors match the request applies:
      [METHOD] [/path-prefix] [status N] [delay MS] [close] [body TEXT...]
  e.g.
      status 503                               every request: 503
      PATCH /api/patients/404 status 404 body {"message": "Patient not found"}
      /slow delay 3000                         answer 200 after 3 s
      close                                    drop the connection, no answer
  METHOD is an upper-case word; a path prefix starts with '/'; "body" takes
  the rest of the line. Lines starting with '#' are comments. Write the file
  with a rename (write FILE.tmp, then mv) so a request never reads half of it.
- Stop it and start it again on the same --port to simulate an outage.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Rule:
    """One line of the control file."""

    def __init__(self, line):
        self.method = None
        self.prefix = None
        self.status = 200
        self.delay_ms = 0
        self.close = False
        self.body = None
        words = line.split()
        i = 0
        while i < len(words):
            word = words[i]
            if word == "status":
                self.status = int(words[i + 1])
                i += 2
            elif word == "delay":
                self.delay_ms = int(words[i + 1])
                i += 2
            elif word == "close":
                self.close = True
                i += 1
            elif word == "body":
                self.body = line.split("body", 1)[1].strip()
                break
            elif word.startswith("/"):
                self.prefix = word
                i += 1
            elif word.isupper():
                self.method = word
                i += 1
            else:
                raise ValueError("unknown word %r in control line %r" % (word, line))

    def matches(self, method, path):
        if self.method is not None and self.method != method:
            return False
        return self.prefix is None or path.startswith(self.prefix)


def load_rules(path):
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    rules = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                rules.append(Rule(line))
            except (ValueError, IndexError) as e:
                print("http_sink: ignoring control line: %s" % e, file=sys.stderr)
    return rules


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "http-sink/1"

    def log_message(self, format, *args):  # quiet: the journal is the record
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        rule = None
        for candidate in load_rules(self.server.control):
            if candidate.matches(self.command, self.path):
                rule = candidate
                break
        status = None if rule is not None and rule.close else (rule.status if rule else 200)
        entry = {
            "time": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "body": body.decode("utf-8", errors="replace"),
            "client_port": self.client_address[1],
            "status": status,
        }
        with self.server.journal_lock:
            with open(self.server.journal, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        if rule is not None and rule.delay_ms > 0:
            time.sleep(rule.delay_ms / 1000.0)
        if status is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        answer = (rule.body if rule is not None and rule.body is not None else "{}").encode()
        # 1xx, 204 and 304 answers never have a body (a client would read
        # the bytes as the start of the next answer on the connection).
        bodyless = status < 200 or status in (204, 304)
        try:
            self.send_response(status)
            if not bodyless:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command != "HEAD" and not bodyless:
                self.wfile.write(answer)
        except OSError:
            self.close_connection = True  # the client gave up (timeout)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


def main():
    parser = argparse.ArgumentParser(description="HTTP sink for tests (see the module comment)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--journal", required=True)
    parser.add_argument("--control")
    args = parser.parse_args()

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.journal = args.journal
    server.journal_lock = threading.Lock()
    server.control = args.control
    open(args.journal, "a").close()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.replace(tmp, args.port_file)
    server.serve_forever(poll_interval=0.1)
    server.server_close()


if __name__ == "__main__":
    main()
