#!/usr/bin/python3
"""A real SMTP server for tests (aiosmtpd): stores every message it accepts.

Run with /usr/bin/python3 (Debian's python3-aiosmtpd). Examples:

  smtp_sink.py --port 0 --port-file /tmp/p --dir /tmp/mails
  smtp_sink.py --port 2525 --dir out --fail-first 2 --fail-code 451
  smtp_sink.py --port 0 --port-file p --dir out --always-fail-code 550 --fail-text "no such user"

Each accepted message is written to DIR/msg-NNNN.eml (the raw DATA bytes,
written atomically) with DIR/msg-NNNN.env holding "MAIL FROM" and the
recipients and whether TLS was used ("TLS:yes"), plus "PIPELINED:yes" when the
client sent RCPT in the same write as MAIL (RFC 2920 pipelining, which the
sink offers in its EHLO reply unless --no-pipelining) and "FOLLOWED:yes" when
the next message's MAIL came in the same write as this message's end. The number of TCP
connections seen is kept in --connections-file (rewritten atomically on each
new connection) so tests can check connection reuse. With --port 0 the
kernel picks a free port; it is printed on stdout and written to
--port-file. SIGTERM/SIGINT stop it cleanly (exit 0). --tls starttls|implicit serves TLS with a fresh self-signed
certificate (made with the openssl CLI) unless --tls-cert/--tls-key are given;
--auth USER:PASSWORD requires AUTH. aiosmtpd itself refuses lines over 1000 octets with
"500 Line too long", like strict production servers.

Faults that change while it runs: --control FILE names a JSON object the sink
re-reads whenever the file changes (write it atomically: temporary file +
rename) or on SIGUSR1; a missing file or {} means healthy. Its keys, each
optional, override the command line while present:
  {"delay_ms": 500}                         wait before answering DATA
  {"fail_code": 451, "fail_on": "data"}      every transaction fails with this code at
                                            "mail", "rcpt" or "data" (the message is not stored)
  {"fail_every": 3}                          ... only every 3rd transaction fails
  {"fail_text": "..."}                       text after fail_code
  {"drop_on": "data"}                        close the connection without a reply at "mail",
                                            "rcpt" or "data" (DATA: after the content was
                                            received, before it is stored)
  {"drop_after": 2}                          ... only once 2 messages were stored
  {"auth": "refuse"}                         AUTH answers 535 (with --auth); "temporary" = 454
--journal FILE appends one JSON line per transaction outcome
({"t", "event": stored|failed|dropped|auth_refused, "code", "message_id", "subject"})
so tests can report what the server did.
"""

import argparse
import asyncio
import email.parser
import email.policy
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def write_atomically(path, data):
    """Writes `data` (bytes or str) to `path` via a temporary file + rename."""
    tmp = f"{path}.tmp{os.getpid()}"
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode) as f:
        f.write(data)
    os.replace(tmp, path)


class Control:
    """The --control file's faults, re-read when the file changes or on SIGUSR1."""

    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.values = {}

    def reload(self):
        """Forgets the cached state: the next get() reads the file."""
        self.stamp = None

    def get(self):
        """The current faults (a dict; {} = healthy)."""
        if not self.path:
            return {}
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = "missing"
        if stamp != self.stamp:
            self.stamp = stamp
            if stamp == "missing":
                self.values = {}
            else:
                try:
                    with open(self.path) as f:
                        text = f.read().strip()
                    values = json.loads(text) if text else {}
                    self.values = values if isinstance(values, dict) else {}
                except (OSError, ValueError) as e:
                    print(f"smtp_sink: ignoring unreadable control file: {e}", file=sys.stderr,
                          flush=True)
                    self.values = {}
        return self.values


def message_headers(content):
    """(Message-ID, Subject) of raw message bytes ("" when absent)."""
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(
            content or b"")
        return str(headers.get("Message-ID", "")).strip(), str(headers.get("Subject", ""))
    except Exception:  # a broken message is still journaled
        return "", ""


class ConnectionDropped(ConnectionResetError):
    """Raised by a hook after it closed the connection on purpose: aiosmtpd
    ends the session quietly, as for a client that went away."""


class SinkHandler:
    """aiosmtpd handler: stores messages, or fails as told on the command line
    and by the control file."""

    def __init__(self, args):
        self.args = args
        self.control = Control(args.control)
        self.attempts = 0  # transactions that reached the failing command
        self.transactions = 0  # transactions the control file's fail_every counts
        self.stored = 0

    def journal(self, event, code=None, content=None):
        """Appends one line to --journal (when given)."""
        if not self.args.journal:
            return
        entry = {"t": round(time.time(), 3), "event": event}
        if code is not None:
            entry["code"] = code
        if content is not None:
            entry["message_id"], entry["subject"] = message_headers(content)
        with open(self.args.journal, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def _failure(self):
        """The reply for a transaction that must fail, or None to accept it."""
        self.attempts += 1
        if self.args.always_fail_code:
            return f"{self.args.always_fail_code} {self.args.fail_text}"
        if self.attempts <= self.args.fail_first:
            return f"{self.args.fail_code} {self.args.fail_text}"
        return None

    def _controlled(self, server, command, content=None):
        """The control file's verdict at `command`: a reply, "drop" (the
        connection was closed), or None to go on."""
        faults = self.control.get()
        if faults.get("drop_on") == command and self.stored >= int(faults.get("drop_after", 0)):
            self.journal("dropped", content=content)
            server.transport.abort()
            return "drop"
        code = int(faults.get("fail_code") or 0)
        if code and faults.get("fail_on", "data") == command:
            self.transactions += 1
            every = max(1, int(faults.get("fail_every") or 1))
            if self.transactions % every == 0:
                self.journal("failed", code=code, content=content)
                return f"{code} {faults.get('fail_text', self.args.fail_text)}"
        return None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        """aiosmtpd's EHLO reply, with PIPELINING unless --no-pipelining (aiosmtpd
        reads pipelined commands either way)."""
        session.host_name = hostname
        if not self.args.no_pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # Pipelined: the commands after MAIL already wait in the read buffer.
        pending = bytes(getattr(getattr(server, "_reader", None), "_buffer", b""))
        envelope.pipelined = pending.upper().startswith(b"RCPT")
        verdict = self._controlled(server, "mail")
        if verdict == "drop":
            raise ConnectionDropped()
        if verdict:
            return verdict
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        verdict = self._controlled(server, "rcpt")
        if verdict == "drop":
            raise ConnectionDropped()
        if verdict:
            return verdict
        if self.args.fail_on == "rcpt":
            failure = self._failure()
            if failure:
                return failure
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # The next transaction's MAIL already waiting: sent with this content.
        pending = bytes(getattr(getattr(server, "_reader", None), "_buffer", b""))
        envelope.followed = pending.upper().startswith(b"MAIL")
        delay_ms = self.control.get().get("delay_ms", self.args.delay_ms)
        if delay_ms:
            await asyncio.sleep(float(delay_ms) / 1000.0)
        verdict = self._controlled(server, "data", envelope.original_content)
        if verdict == "drop":
            raise ConnectionDropped()
        if verdict:
            return verdict
        if self.args.fail_on == "data":
            failure = self._failure()
            if failure:
                self.journal("failed", code=int(failure.split()[0]),
                             content=envelope.original_content)
                return failure
        self.stored += 1
        base = os.path.join(self.args.dir, f"msg-{self.stored:04d}")
        tls = server.transport.get_extra_info("ssl_object") is not None
        write_atomically(base + ".env",
                         "MAIL FROM:" + str(envelope.mail_from) + "\n" +
                         "".join("RCPT TO:" + r + "\n" for r in envelope.rcpt_tos) +
                         f"TLS:{'yes' if tls else 'no'}\n" +
                         ("PIPELINED:yes\n" if getattr(envelope, "pipelined", False) else "") +
                         ("FOLLOWED:yes\n" if envelope.followed else ""))
        write_atomically(base + ".eml", envelope.original_content or b"")
        self.journal("stored", code=250, content=envelope.original_content)
        return f"250 OK queued as {self.stored}"


class CountingSMTP(SMTP):
    """aiosmtpd's SMTP session that counts the connections it is made for."""

    connections = 0
    connections_file = None

    def connection_made(self, transport):
        CountingSMTP.connections += 1
        if CountingSMTP.connections_file:
            write_atomically(CountingSMTP.connections_file, f"{CountingSMTP.connections}\n")
        super().connection_made(transport)


def certificate(args):
    """(cert, key) paths: the given ones, or a self-signed pair made in --dir."""
    if args.tls_cert:
        return args.tls_cert, args.tls_key
    cert = os.path.join(args.dir, "sink-cert.pem")
    key = os.path.join(args.dir, "sink-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port; 0 = pick a free one")
    parser.add_argument("--port-file", help="write the port here once listening")
    parser.add_argument("--dir", required=True, help="directory for received messages")
    parser.add_argument("--connections-file", help="keep the number of connections here")
    parser.add_argument("--fail-first", type=int, default=0,
                        help="the first N transactions get --fail-code, then 250")
    parser.add_argument("--fail-code", type=int, default=451, help="reply code of --fail-first")
    parser.add_argument("--always-fail-code", type=int, default=0,
                        help="every transaction gets this reply code (e.g. 550)")
    parser.add_argument("--fail-text", default="Requested action aborted: try again later",
                        help="text after the failure reply code")
    parser.add_argument("--fail-on", choices=["data", "rcpt"], default="data",
                        help="which command the failure replies to")
    parser.add_argument("--delay-ms", type=int, default=0,
                        help="wait this long before answering each DATA (a slow server)")
    parser.add_argument("--idle-timeout", type=float, default=300,
                        help="close a connection idle for this many seconds")
    parser.add_argument("--no-pipelining", action="store_true",
                        help="do not offer PIPELINING in the EHLO reply")
    parser.add_argument("--auth", help="require AUTH with USER:PASSWORD (plain text allowed)")
    parser.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none",
                        help="offer and require STARTTLS, or speak TLS from the first byte")
    parser.add_argument("--tls-cert", help="PEM certificate; default: a fresh self-signed one")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--control",
                        help="JSON file of faults re-read when it changes (see above)")
    parser.add_argument("--journal", help="append one JSON line per transaction outcome")
    return parser.parse_args(argv)


async def serve(args):
    handler = SinkHandler(args)
    CountingSMTP.connections_file = args.connections_file
    if args.connections_file:
        write_atomically(args.connections_file, "0\n")

    smtp_options = {"hostname": "sink.test", "ident": "commsvc test sink",
                    "timeout": args.idle_timeout}
    if args.auth:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            refusal = handler.control.get().get("auth")
            if refusal in ("refuse", "temporary"):
                code = 535 if refusal == "refuse" else 454
                handler.journal("auth_refused", code=code)
                text = ("5.7.8 Authentication credentials invalid" if code == 535 else
                        "4.7.0 Temporary authentication failure")
                return AuthResult(success=False, handled=False, message=f"{code} {text}")
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and
                  auth_data.password.decode() == password)
            return AuthResult(success=ok, handled=False)

        # Plain-text AUTH is what the tests want: silence aiosmtpd's warnings.
        warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        smtp_options.update(authenticator=authenticator, auth_required=True,
                            auth_require_tls=False)

    ssl_context = None
    if args.tls != "none":
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(*certificate(args))
        if args.tls == "starttls":
            smtp_options.update(tls_context=ssl_context, require_starttls=True)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: CountingSMTP(handler, **smtp_options), sock=sock,
                                      ssl=ssl_context if args.tls == "implicit" else None)
    port = sock.getsockname()[1]

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, handler.control.reload)
    if args.port_file:
        write_atomically(args.port_file, f"{port}\n")
    print(port, flush=True)

    await stop.wait()
    server.close()
    await server.wait_closed()
    print(f"smtp_sink: {CountingSMTP.connections} connections, {handler.stored} messages",
          file=sys.stderr, flush=True)


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
