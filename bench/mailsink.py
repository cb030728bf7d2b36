#!/usr/bin/python3
"""Watches the directory postfix's smtp-sink writes (one file per message)
and drives the email queue over HTTP, for scripts/bench.sh.

    mailsink.py count DIR
        number of messages in DIR
    mailsink.py wait DIR TARGET TIMEOUT_S
        waits until DIR holds TARGET messages; prints
        reached=0|1 count=N done_ns=<epoch ns of the last arrival>
    mailsink.py queue BASE_URL DIR IDS_FILE TIMEOUT_S [CONNECTIONS]
        PUTs status In_Warteschlange for every id over CONNECTIONS (default
        1) kept-alive connections at once, then waits until each id's
        message is in DIR or the timeout; prints put_ok= put_failed= put_s=
        first_put_ns= last_put_ns= arrived= last_arrival_ns= (arrival = the
        file's mtime)
    mailsink.py latency BASE_URL DIR IDS_FILE TIMEOUT_EACH_S
        for each id in turn: PUT In_Warteschlange, wait until its message is
        in DIR (at most TIMEOUT_EACH_S); prints one line per id and
        n= arrived= timeouts= p50_ms= p99_ms= max_ms= (timeouts count as inf)

A message is matched to its email by the Message-ID the service gives every
attempt, <email-ID.token@domain>. Waiting stats the directory (its mtime
changes when a file is added) and lists it only then, so waiting is cheap.
"""
import http.client
import json
import math
import os
import re
import sys
import threading
import time
import urllib.parse

MESSAGE_ID = re.compile(rb"^Message-ID:\s*<email-(\d+)\.", re.IGNORECASE | re.MULTILINE)


class Sink:
    """The messages in an smtp-sink dump directory, read as they appear."""

    def __init__(self, directory):
        self.dir = directory
        self.names = set()
        self.pending = set()  # files whose Message-ID was not written yet
        self.dir_mtime = None
        self.arrivals = {}  # email id -> mtime_ns of its first message
        self.last_ns = 0

    def refresh(self, read=True):
        """Lists the directory if it changed; returns the message count.

        smtp-sink creates a message's file at MAIL and removes it when the
        transaction ends without the message (the client closed the
        connection after DATA, say): only files still there count, and such
        a file is forgotten."""
        mtime = os.stat(self.dir).st_mtime_ns
        # mtime is as coarse as the kernel tick: a file added in the tick of
        # the last listing leaves it unchanged, so list again while recent.
        if mtime != self.dir_mtime or time.time_ns() - mtime < 100_000_000:
            self.dir_mtime = mtime
            current = set()
            for entry in os.scandir(self.dir):
                if not entry.is_file():
                    continue
                current.add(entry.name)
                if entry.name in self.names:
                    continue
                try:
                    self.last_ns = max(self.last_ns, entry.stat().st_mtime_ns)
                except FileNotFoundError:
                    current.discard(entry.name)
                    continue
                if read:
                    self.pending.add(entry.path)
            self.names = current
        for path in list(self.pending):
            try:
                with open(path, "rb") as f:
                    m = MESSAGE_ID.search(f.read(16384))
                if m:
                    self.arrivals.setdefault(int(m.group(1)), os.stat(path).st_mtime_ns)
                    self.pending.discard(path)
            except FileNotFoundError:
                self.pending.discard(path)  # removed: that transaction delivered nothing
        return len(self.names)


def http_connection(base_url):
    url = urllib.parse.urlsplit(base_url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=10)


def put_queued(conn, email_id):
    """PUT status In_Warteschlange; returns the HTTP status (0: no answer)."""
    body = json.dumps({"status": "In_Warteschlange"})
    try:
        conn.request("PUT", f"/api/emails/{email_id}", body=body,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        conn.close()
        return 0


def read_ids(path):
    with open(path) as f:
        return [int(line) for line in f if line.strip()]


def percentile(sorted_values, p):
    """Nearest-rank percentile of sorted_values (may hold math.inf)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def fmt_ms(v):
    return "inf" if math.isinf(v) else f"{v:.1f}"


def cmd_count(directory):
    print(Sink(directory).refresh(read=False))


def cmd_wait(directory, target, timeout_s):
    sink = Sink(directory)
    deadline = time.monotonic() + float(timeout_s)
    count = sink.refresh(read=False)
    while count < int(target) and time.monotonic() < deadline:
        # done_ns is the last file's mtime, so a slow poll costs no accuracy;
        # listing thousands of files every few ms would cost CPU.
        time.sleep(0.1)
        count = sink.refresh(read=False)
    print(f"reached={int(count >= int(target))} count={count} done_ns={sink.last_ns}")


def cmd_queue(base_url, directory, ids_file, timeout_s, connections="1"):
    ids = read_ids(ids_file)
    sink = Sink(directory)
    sink.refresh()
    before = set(sink.arrivals)
    n = max(1, int(connections))
    statuses = []  # appended from the PUT threads (list.append is atomic)

    def put_share(share):
        conn = http_connection(base_url)
        for email_id in share:
            statuses.append(put_queued(conn, email_id))
        conn.close()

    # Each connection takes every n-th id, so the queue fills in id order.
    threads = [threading.Thread(target=put_share, args=(ids[k::n],)) for k in range(n)]
    first_put_ns = time.time_ns()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    last_put_ns = time.time_ns()
    ok = sum(1 for s in statuses if s == 200)
    failed = len(statuses) - ok
    put_s = (last_put_ns - first_put_ns) / 1e9
    wanted = set(ids) - before
    deadline = time.monotonic() + float(timeout_s)
    while time.monotonic() < deadline and not wanted <= set(sink.arrivals):
        time.sleep(0.1)  # arrivals are file mtimes: the poll rate costs no accuracy
        sink.refresh()
    arrived = [sink.arrivals[i] for i in wanted if i in sink.arrivals]
    print(f"put_ok={ok} put_failed={failed} put_s={put_s:.3f} first_put_ns={first_put_ns} "
          f"last_put_ns={last_put_ns} arrived={len(arrived)} "
          f"last_arrival_ns={max(arrived, default=0)}")


def cmd_latency(base_url, directory, ids_file, timeout_each_s):
    ids = read_ids(ids_file)
    sink = Sink(directory)
    sink.refresh()
    conn = http_connection(base_url)
    latencies = []
    for email_id in ids:
        t0 = time.time_ns()
        status = put_queued(conn, email_id)
        deadline = time.monotonic() + float(timeout_each_s)
        while email_id not in sink.arrivals and time.monotonic() < deadline:
            time.sleep(0.002)
            sink.refresh()
        if email_id in sink.arrivals:
            ms = max(0.0, (sink.arrivals[email_id] - t0) / 1e6)
        else:
            ms = math.inf
        latencies.append(ms)
        print(f"# email {email_id}: put={status} queued_to_sink_ms={fmt_ms(ms)}", flush=True)
    s = sorted(latencies)
    timeouts = sum(1 for v in s if math.isinf(v))
    print(f"n={len(s)} arrived={len(s) - timeouts} timeouts={timeouts} "
          f"p50_ms={fmt_ms(percentile(s, 50))} p99_ms={fmt_ms(percentile(s, 99))} "
          f"max_ms={fmt_ms(s[-1] if s else math.nan)}")


def main():
    # name: (function, fewest arguments, most arguments)
    commands = {"count": (cmd_count, 1, 1), "wait": (cmd_wait, 3, 3),
                "queue": (cmd_queue, 4, 5), "latency": (cmd_latency, 4, 4)}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    fn, fewest, most = commands[sys.argv[1]]
    if not fewest <= len(sys.argv) - 2 <= most:
        sys.exit(__doc__)
    fn(*sys.argv[2:])


if __name__ == "__main__":
    main()
