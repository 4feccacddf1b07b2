"""Tests of the Python adapter: spawn server.py, speak the clock protocol, send raw HTTP/1.1.

Run: harness/python/.venv/bin/python -m unittest discover -s harness/python
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
EPOCH_MS = 1767225600000  # 2026-01-01T00:00:00Z
REV = "2025-11-25"

PING_RE = re.compile(rb": ping - [^\r\n]*\r\n\r\n")


def start_cmd(**over):
    cmd = {
        "op": "start", "v": 1, "impl": "python-sdk-server", "version": "2.3.0", "seed": 42,
        "epoch_ms": EPOCH_MS,
        "options": {"keepalive_ms": None, "event_store": True},
        "mcp": {"revision": REV, "retry_ms": 3000, "notifications": []},
    }
    for k, v in over.items():
        cmd[k] = v
    return cmd


class Child:
    """One adapter child plus the harness side of its loopback connections."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.socks = {}  # conn -> socket
        self.sent = {}  # conn -> [bytes written so far, eof]
        self.dirty = set()
        self.got = {}  # conn -> bytes read from the socket so far
        self.replies = []
        self.port = None

    def cmd(self, obj):
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("child closed stdout; stderr:\n" + self.proc.stderr.read().decode()[-3000:])
        rep = json.loads(line)
        self.replies.append(rep)
        return rep

    def start(self, **over):
        rep = self.cmd(start_cmd(**over))
        assert rep["ok"], rep
        self.port = rep["port"]
        return rep

    def open(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(5)
        conn = s.getsockname()[1]
        self.socks[conn] = s
        self.sent[conn] = [0, False]
        self.got[conn] = b""
        return conn

    def write(self, conn, data):
        self.socks[conn].sendall(data)
        self.sent[conn][0] += len(data)
        self.dirty.add(conn)

    def request(self, method, body=None, sid=None, headers=()):
        conn = self.open()
        raw = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} /mcp HTTP/1.1", "Host: server", "Connection: close",
                 "Accept: application/json, text/event-stream", "Content-Type: application/json",
                 f"MCP-Protocol-Version: {REV}"]
        if sid:
            lines.append(f"Mcp-Session-Id: {sid}")
        lines.extend(headers)
        if method == "POST":
            lines.append(f"Content-Length: {len(raw)}")
        self.write(conn, ("\r\n".join(lines) + "\r\n\r\n").encode() + raw)
        return conn

    def close(self, conn):
        self.socks[conn].close()
        self.sent[conn][1] = True
        self.dirty.add(conn)

    def sync(self, to_ms):
        sent = [{"conn": c, "bytes": self.sent[c][0], "eof": self.sent[c][1]} for c in sorted(self.dirty)]
        self.dirty.clear()
        rep = self.cmd({"op": "sync", "to_ms": to_ms, "sent": sent})
        assert rep["ok"], rep
        # Read exactly the newly reported bytes of every connection we still hold.
        self.new = {}
        for c in rep["conns"]:
            conn = c["conn"]
            if conn not in self.socks or self.sent[conn][1]:
                continue
            want = c["written"] - len(self.got[conn])
            data = b""
            while len(data) < want:
                chunk = self.socks[conn].recv(want - len(data))
                if not chunk:
                    raise AssertionError(f"conn {conn}: EOF after {len(data)} of {want} bytes")
                data += chunk
            self.got[conn] += data
            self.new[conn] = data
        return rep

    def conn_state(self, rep, conn):
        return next(c for c in rep["conns"] if c["conn"] == conn)

    def shutdown(self):
        try:
            rep = self.cmd({"op": "shutdown"})
            self.proc.wait(timeout=10)
            return rep
        finally:
            for s in self.socks.values():
                s.close()
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.proc.stderr.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()
        for s in self.socks.values():
            s.close()


def body_of(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def sse_events(body):
    """Parse an SSE payload (chunked or not) into (id, data) tuples; comments skipped."""
    events = []
    for block in re.split(rb"\r?\n\r?\n", body):
        ev_id, data = None, None
        for line in re.split(rb"\r?\n", block):
            if line.startswith(b"id:"):
                ev_id = line[3:].strip().decode()
            elif line.startswith(b"data:"):
                data = line[5:].strip().decode()
        if ev_id is not None or data:
            events.append((ev_id, data))
    return events


def initialize(child):
    conn = child.request("POST", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": REV, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})
    child.sync(0)
    head, _ = body_of(child.got[conn])
    m = re.search(r"(?im)^mcp-session-id: (\S+)", head)
    assert m, head
    sid = m.group(1)
    conn2 = child.request("POST", {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid=sid)
    child.sync(0)
    return sid, conn, conn2


class AdapterTest(unittest.TestCase):
    def setUp(self):
        self.child = Child()

    def tearDown(self):
        self.child.kill()

    def test_get_stream_ping_on_virtual_time(self):
        c = self.child
        c.start()
        sid, init_conn, ack_conn = initialize(c)
        self.assertEqual(sid, "s1")
        self.assertTrue(c.got[init_conn].startswith(b"HTTP/1.1 200 "))
        self.assertTrue(c.got[ack_conn].startswith(b"HTTP/1.1 202 "), c.got[ack_conn])
        self.assertNotIn(b"date:", c.got[init_conn].lower())

        get = c.request("GET", sid=sid)
        rep = c.sync(0)
        self.assertTrue(c.got[get].startswith(b"HTTP/1.1 200 "), c.got[get])
        self.assertIn(b"text/event-stream", c.got[get])
        ping_timers = [t for t in rep["timers"] if t["conn"] == get]
        self.assertEqual(len(ping_timers), 1, rep["timers"])
        self.assertEqual(ping_timers[0]["delay_ms"], 15000)
        self.assertEqual(rep["next_ms"], 15000)

        before = len(c.got[get])
        rep = c.sync(14999)
        self.assertEqual(rep["now_ms"], 14999)
        self.assertEqual(len(c.got[get]), before, "no ping before 15 s")
        self.assertEqual(rep["fired"], [])

        rep = c.sync(15000)
        frame = c.new[get]
        # One chunk of the chunked body holding exactly one ping comment, virtual timestamp.
        self.assertEqual(frame, b"26\r\n: ping - 2026-01-01 00:00:15+00:00\r\n\r\n\r\n")
        tid = ping_timers[0]["id"]
        self.assertEqual(rep["fired"], [{"id": tid, "at_ms": 15000}])
        self.assertEqual(rep["next_ms"], 30000)
        again = [t for t in rep["timers"] if t["conn"] == get]
        self.assertEqual([(t["id"], t["repeat"]) for t in again], [(tid, True)])

        rep = c.sync(60000)
        pings = PING_RE.findall(c.new[get])
        self.assertEqual(pings, [b": ping - 2026-01-01 00:00:%02d+00:00\r\n\r\n" % s for s in (30, 45)] +
                         [b": ping - 2026-01-01 00:01:00+00:00\r\n\r\n"])
        self.assertEqual(rep["fired"], [{"id": tid, "at_ms": t} for t in (30000, 45000, 60000)])

        c.close(get)
        rep = c.sync(60000)
        self.assertEqual([t for t in rep["timers"] if t["id"] == tid], [], rep["timers"])
        # What the GET's handling left behind: the SDK re-arms the session's idle timeout
        # (30 min) once its last request in flight ends.
        self.assertEqual([t["delay_ms"] for t in rep["timers"] if t["conn"] == get], [1800000])
        self.assertTrue(c.conn_state(rep, get)["closed"])
        rep = c.sync(90000)
        self.assertEqual(rep["fired"], [])
        self.assertTrue(all(x["conn"] != get for x in rep["conns"]), "closed conn reported only once")
        self.assertEqual(c.shutdown(), {"ok": True})
        self.assertEqual(c.proc.returncode, 0)

    def test_scheduled_notification_and_replay(self):
        c = self.child
        c.start(mcp={"revision": REV, "retry_ms": 3000, "notifications": [
            {"at_ms": 10000, "method": "notifications/message", "params": {"level": "info", "data": "n1"}},
            {"at_ms": 20000, "method": "notifications/message", "params": {"level": "info", "data": "n2"}},
        ]})
        sid, _, _ = initialize(c)
        get = c.request("GET", sid=sid)
        c.sync(0)
        rep = c.sync(10000)
        self.assertEqual(rep["fired"][0]["at_ms"], 10000)
        evs = sse_events(body_of(c.got[get])[1])
        n1 = [e for e in evs if e[1] and '"n1"' in e[1]]
        self.assertEqual(len(n1), 1, evs)
        n1_id = n1[0][0]
        self.assertTrue(n1_id and n1_id.isdigit(), n1)
        c.close(get)
        c.sync(10000)
        c.sync(20000)  # n2 stored while no GET stream is attached
        again = c.request("GET", sid=sid, headers=[f"Last-Event-ID: {n1_id}"])
        rep = c.sync(20000)
        evs = sse_events(body_of(c.got[again])[1])
        datas = [e for e in evs if e[1]]
        self.assertEqual(len(datas), 1, evs)
        self.assertIn('"n2"', datas[0][1])
        self.assertEqual(int(datas[0][0]), int(n1_id) + 1)
        # The resumed stream stays open and has its own keepalive timer.
        self.assertFalse(c.conn_state(rep, again)["ended"])
        self.assertEqual([t["delay_ms"] for t in rep["timers"] if t["conn"] == again], [15000])

    def test_sleep_tool_progress(self):
        c = self.child
        c.start()
        sid, _, _ = initialize(c)
        call = c.request("POST", {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "sleep", "arguments": {"duration_ms": 3000, "progress_every_ms": 1000},
            "_meta": {"progressToken": 7}}}, sid=sid)
        rep = c.sync(0)
        self.assertIn(1000, [t["delay_ms"] for t in rep["timers"] if t["conn"] == call])
        rep = c.sync(2999)
        self.assertFalse(c.conn_state(rep, call)["ended"])
        rep = c.sync(3000)
        self.assertTrue(c.conn_state(rep, call)["ended"])
        evs = sse_events(body_of(c.got[call])[1])
        msgs = [json.loads(d) for _, d in evs if d]
        progress = [m["params"] for m in msgs if m.get("method") == "notifications/progress"]
        self.assertEqual([(p["progressToken"], p["progress"]) for p in progress], [(7, 1000), (7, 2000)])
        results = [m for m in msgs if m.get("id") == 7]
        self.assertEqual(results[0]["result"]["content"], [{"type": "text", "text": "slept 3000 ms"}])
        ids = [int(i) for i, _ in evs if i]
        self.assertEqual(ids, sorted(ids))

    def test_same_commands_same_bytes(self):
        def run():
            c = Child()
            try:
                c.start(mcp={"revision": REV, "retry_ms": 3000, "notifications": [
                    {"at_ms": 30000, "method": "notifications/message", "params": {"level": "info", "data": "x"}}]})
                sid, _, _ = initialize(c)
                c.request("GET", sid=sid)
                c.request("POST", {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                    "name": "sleep", "arguments": {"duration_ms": 20000, "progress_every_ms": 7000},
                    "_meta": {"progressToken": 2}}}, sid=sid)
                for t in (0, 15000, 30000, 45000):
                    c.sync(t)
                # Ports differ between runs: name connections by order of opening.
                order = {conn: i for i, conn in enumerate(c.socks)}
                text = json.dumps(c.replies[1:])
                for conn, i in sorted(order.items(), key=lambda kv: -len(str(kv[0]))):
                    text = re.sub(rf"\b{conn}\b", f"C{i}", text)
                return text, [c.got[conn] for conn in c.socks]
            finally:
                c.kill()

        a, b = run(), run()
        self.assertEqual(a[0], b[0])
        self.assertEqual(a[1], b[1])
        self.assertTrue(any(PING_RE.search(x) for x in a[1]))

    def test_thirty_virtual_minutes_fast(self):
        c = self.child
        c.start()
        sid, _, _ = initialize(c)
        get = c.request("GET", sid=sid)
        c.sync(0)
        t0 = time.perf_counter()
        syncs = 0
        for t in range(15000, 30 * 60 * 1000 + 1, 15000):
            rep = c.sync(t)
            syncs += 1
            self.assertEqual(len(PING_RE.findall(c.new[get])), 1, t)
            self.assertEqual(rep["next_ms"], t + 15000)
        wall = time.perf_counter() - t0
        print(f"\n30 virtual minutes of a GET stream: {syncs} syncs in {wall * 1000:.0f} ms of wall time "
              f"({wall / syncs * 1000:.2f} ms per sync)", file=sys.stderr)
        self.assertEqual(len(PING_RE.findall(c.got[get])), 120)
        self.assertLess(wall, 3.0)

    def test_keepalive_zero_disables_ping(self):
        c = self.child
        c.start(options={"keepalive_ms": 0, "event_store": False})
        sid, _, _ = initialize(c)
        get = c.request("GET", sid=sid)
        rep = c.sync(0)
        self.assertEqual([t for t in rep["timers"] if t["conn"] == get], [])
        c.sync(60000)
        self.assertIsNone(PING_RE.search(c.got[get]))

    def test_keepalive_interval_option(self):
        c = self.child
        c.start(options={"keepalive_ms": 5000})
        sid, _, _ = initialize(c)
        get = c.request("GET", sid=sid)
        c.sync(0)
        c.sync(10000)
        self.assertEqual(len(PING_RE.findall(c.got[get])), 2)

    def test_errors(self):
        c = self.child
        rep = c.cmd(start_cmd(options={"bogus": 1}))
        self.assertFalse(rep["ok"])
        self.assertIn("bogus", rep["error"])
        rep = c.cmd(start_cmd(impl="ts-sdk-server"))
        self.assertFalse(rep["ok"])
        self.assertIn("ts-sdk-server", rep["error"])
        # The version run is the one installed: another is refused, naming both.
        rep = c.cmd(start_cmd(version="2.2.0"))
        self.assertFalse(rep["ok"])
        self.assertIn("mcp 2.3.0 is installed, 2.2.0 expected", rep["error"])
        # A checkout's folders must hold the mcp imported (here the venv's mcp was already
        # imported, from elsewhere).
        rep = c.cmd(start_cmd(version="file:/nowhere", options={"python_path": ["/nowhere"]}))
        self.assertFalse(rep["ok"])
        self.assertIn("not from /nowhere", rep["error"])
        c.start()
        c.sync(100)
        rep = c.cmd({"op": "sync", "to_ms": 50, "sent": []})
        self.assertFalse(rep["ok"])
        self.assertIn("below", rep["error"])

    def test_sdk_edge_behaviour(self):
        """What the real SDK/uvicorn do at the edges (documented in README.md, not changed)."""
        c = self.child
        c.start()
        sid, _, _ = initialize(c)
        unknown = c.request("GET", sid=sid, headers=["Last-Event-ID: 99"])
        rep = c.sync(0)
        self.assertTrue(c.got[unknown].startswith(b"HTTP/1.1 200 "))
        self.assertTrue(c.got[unknown].endswith(b"\r\n\r\n0\r\n\r\n"), c.got[unknown])
        self.assertTrue(c.conn_state(rep, unknown)["ended"])
        no_session = c.request("GET")
        bad_session = c.request("GET", sid="s9")
        c.sync(0)
        self.assertTrue(c.got[no_session].startswith(b"HTTP/1.1 400 "))
        self.assertTrue(c.got[bad_session].startswith(b"HTTP/1.1 404 "))
        # A client half-close (eof) makes uvicorn close the connection before answering.
        half = c.request("GET", sid=sid)
        c.socks[half].shutdown(socket.SHUT_WR)
        c.sent[half][1] = True
        rep = c.sync(0)
        self.assertEqual(c.conn_state(rep, half)["written"], 0)
        self.assertTrue(c.conn_state(rep, half)["closed"])

    def test_exits_on_stdin_eof(self):
        c = self.child
        c.start()
        c.proc.stdin.close()
        self.assertEqual(c.proc.wait(timeout=10), 0)
        c.proc.stdin = open(os.devnull, "wb")


if __name__ == "__main__":
    unittest.main()
