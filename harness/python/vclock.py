"""Virtual-time asyncio event loop for the middlebox clock protocol (v1).

The loop's clock (`time()`) is virtual: it only moves when `VirtualTimeLoop.advance`
steps it, deadline by deadline. A positive selector timeout (the loop waiting for a
timer) becomes "block on I/O only", so timers never fire by themselves. The loop also
tracks every socket transport it creates (bytes read, bytes handed to the kernel, end,
close) and every positive-delay timer (id, creating connection, delay), so that a
harness can drive it exactly. Standard library only.
"""

import asyncio
import contextvars
import datetime as _dt
import math
import random
import selectors
import time as _time
import weakref

# Real clocks, saved before anything patches the `time` module.
REAL_MONOTONIC = _time.monotonic
REAL_TIME = _time.time

# The connection (the peer's TCP port) whose request handling is running. asyncio copies
# the current context into every task and handle, so timers inherit it.
CONN = contextvars.ContextVar("middlebox_conn", default=None)

# Client adapters: the logical stream a connection being opened carries (set around the
# request that opens it), and what its opening waits on (see `VirtualTimeLoop.client_role`).
CONN_STREAM = contextvars.ContextVar("middlebox_conn_stream", default=None)
CONNECTING = contextvars.ContextVar("middlebox_connecting", default=None)

QUIET_TURNS = 3
REAL_LIMIT_S = 10.0


class ProtocolError(Exception):
    """An error the adapter reports as {"ok": false, "error": ...}."""


class _Timer:
    __slots__ = ("id", "when", "delay_ms", "conn", "repeat", "task", "live")

    def __init__(self, tid, when, delay_ms, conn, repeat, task):
        self.id = tid
        self.when = when
        self.delay_ms = delay_ms
        self.conn = conn
        self.repeat = repeat
        self.task = task
        self.live = True


class _Conn:
    __slots__ = ("conn", "transport", "read", "handed", "eof_seen", "closing", "closed", "reported_closed", "stream")

    def __init__(self, conn, transport, stream=None):
        self.conn = conn
        self.stream = stream  # client adapters: the logical stream it carries
        self.transport = transport
        self.read = 0
        self.handed = 0  # bytes passed to transport.write
        self.eof_seen = False
        self.closing = False  # close()/write_eof() called by the server
        self.closed = False  # connection_lost
        self.reported_closed = False

    def buffered(self):
        if self.closed:
            return 0
        try:
            return self.transport.get_write_buffer_size()
        except Exception:
            return 0

    def state(self):
        buffered = self.buffered()
        out = {
            "conn": self.conn,
            "read": self.read,
            "written": self.handed - buffered,
            "ended": self.closed or (self.closing and buffered == 0),
            "closed": self.closed,
        }
        if self.stream is not None:
            out["stream"] = self.stream
        return out


def _ms(seconds):
    """Virtual seconds to integer milliseconds (deadlines are reported rounded up)."""
    return int(round(seconds * 1000))


class _VSelector(selectors.DefaultSelector):
    loop = None

    def select(self, timeout=None):
        if timeout is None or timeout > 0:
            # Waiting for a timer: virtual time does not pass by itself, so block on I/O
            # only (bounded by the real-time limit of a harness wait, if one is running).
            timeout = self.loop._blocking_timeout()
        return super().select(timeout)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        sel = _VSelector()
        sel.loop = self
        super().__init__(sel)
        self._vtime = 0.0  # virtual seconds since the simulation start
        self._io_events = 0
        self._timers = {}  # TimerHandle -> _Timer (live only)
        self._next_timer_id = 1
        self._last_fired = weakref.WeakKeyDictionary()  # task -> _Timer it last woke
        self._fired = []
        self._conns = {}  # port -> _Conn (open, or closed and not yet reported)
        self._known = {}  # port -> _Conn (every connection ever seen)
        self._wait_cond = None
        self._wait_fut = None
        self._wait_deadline = None
        self._wait_what = None
        self.epoch_ms = 0
        # Client adapters: connections are named by their LOCAL port (the harness listener
        # sees it as remote), carry the stream CONN_STREAM names, and the loop is not quiet
        # while a connect is under way (`connecting`).
        self.client_role = False
        self.connecting = 0

    # ---- clock -------------------------------------------------------------------
    def time(self):
        return self._vtime

    def now_ms(self):
        return _ms(self._vtime)

    def wall_ms(self):
        """Wall clock in (possibly fractional) milliseconds: epoch_ms + now_ms."""
        return self.epoch_ms + self._vtime * 1000.0

    # ---- I/O accounting ------------------------------------------------------------
    def _process_events(self, event_list):
        self._io_events += len(event_list)
        super()._process_events(event_list)

    def _blocking_timeout(self):
        if self._wait_deadline is None:
            return None
        return max(0.0, self._wait_deadline - REAL_MONOTONIC())

    def _run_once(self):
        super()._run_once()
        fut = self._wait_fut
        if fut is not None and not fut.done():
            if self._wait_cond():
                fut.set_result(None)
            elif REAL_MONOTONIC() >= self._wait_deadline:
                fut.set_exception(ProtocolError(self._wait_what()))

    def _make_socket_transport(self, sock, protocol, waiter=None, *, extra=None, server=None):
        peer = (extra or {}).get("peername")
        if peer is None:
            try:
                peer = sock.getpeername()
            except OSError:
                peer = None
        port = peer[1] if isinstance(peer, tuple) and len(peer) >= 2 else None
        stream = None
        if self.client_role:
            try:
                port = sock.getsockname()[1]
            except OSError:
                port = None
            stream = CONN_STREAM.get()
            pending = CONNECTING.get()
            if pending is not None and not pending[0]:
                pending[0] = True
                self.connecting -= 1
        rec = None
        if port is not None:
            rec = _Conn(port, None, stream)
            self._instrument_protocol(protocol, rec)
        transport = super()._make_socket_transport(sock, protocol, waiter, extra=extra, server=server)
        if rec is not None:
            rec.transport = transport
            self._instrument_transport(transport, rec)
            self._conns[port] = rec
            self._known[port] = rec
        return transport

    @staticmethod
    def _instrument_protocol(protocol, rec):
        orig_data = protocol.data_received
        orig_eof = protocol.eof_received
        orig_lost = protocol.connection_lost

        def data_received(data):
            rec.read += len(data)
            # Runs inside the reader handle's own context: everything this connection's
            # bytes set off (the request task, its timers) sees its conn.
            CONN.set(rec.conn)
            return orig_data(data)

        def eof_received():
            rec.eof_seen = True
            return orig_eof()

        def connection_lost(exc):
            rec.closed = True
            rec.eof_seen = True
            return orig_lost(exc)

        protocol.data_received = data_received
        protocol.eof_received = eof_received
        protocol.connection_lost = connection_lost

    @staticmethod
    def _instrument_transport(transport, rec):
        orig_write = transport.write
        orig_writelines = transport.writelines
        orig_close = transport.close
        orig_write_eof = transport.write_eof

        def write(data):
            if not transport.is_closing():
                rec.handed += len(data)
            return orig_write(data)

        def writelines(chunks):
            chunks = list(chunks)
            if not transport.is_closing():
                rec.handed += sum(len(c) for c in chunks)
            return orig_writelines(chunks)

        def close():
            rec.closing = True
            return orig_close()

        def write_eof():
            rec.closing = True
            return orig_write_eof()

        transport.write = write
        transport.writelines = writelines
        transport.close = close
        transport.write_eof = write_eof

    # ---- timers --------------------------------------------------------------------
    def call_at(self, when, callback, *args, context=None):
        now = self._vtime
        if when <= now:
            return super().call_at(when, callback, *args, context=context)
        delay_ms = _ms(when - now)
        conn = context.get(CONN) if context is not None else CONN.get()
        task = asyncio.current_task(self) if self.is_running() else None
        prev = self._last_fired.get(task) if task is not None else None
        if prev is not None and prev.delay_ms == delay_ms and not prev.live:
            # The same task re-arms the delay its last timer had, right after it fired
            # (a sleep loop such as a keepalive): one interval timer, same id.
            rec = _Timer(prev.id, when, delay_ms, conn, True, task)
        else:
            rec = _Timer(self._next_timer_id, when, delay_ms, conn, False, task)
            self._next_timer_id += 1
        if task is not None:
            self._last_fired.pop(task, None)

        def fire(*a):
            self._timer_fired(handle, rec)
            callback(*a)

        handle = super().call_at(when, fire, *args, context=context)
        self._timers[handle] = rec
        return handle

    def _timer_fired(self, handle, rec):
        self._timers.pop(handle, None)
        rec.live = False
        self._fired.append({"id": rec.id, "at_ms": _ms(rec.when)})
        if rec.task is not None and not rec.task.done():
            self._last_fired[rec.task] = rec
        rec.task = None  # no strong reference from the weak-keyed map's values to its keys

    def _timer_handle_cancelled(self, handle):
        rec = self._timers.pop(handle, None)
        if rec is not None:
            rec.live = False
        super()._timer_handle_cancelled(handle)

    def live_timers(self):
        return sorted(self._timers.values(), key=lambda r: r.id)

    def _earliest(self):
        best = None
        for h in self._scheduled:
            if not h._cancelled and (best is None or h._when < best._when):
                best = h
        return best

    def next_ms(self):
        h = self._earliest()
        if h is None:
            return None
        return int(math.ceil(h._when * 1000 - 1e-6))

    def _due_now(self):
        now = self._vtime
        return any(not h._cancelled and h._when <= now for h in self._scheduled)

    # ---- driving ---------------------------------------------------------------------
    async def run_until_quiet(self, turns=QUIET_TURNS):
        quiet = 0
        while quiet < turns:
            seen = self._io_events
            await asyncio.sleep(0)
            busy = self._io_events != seen or len(self._ready) > 0 or self._due_now() or self.connecting > 0
            quiet = 0 if busy else quiet + 1

    async def wait_real(self, cond, what, limit=REAL_LIMIT_S):
        """Run the real loop (blocking on I/O) until cond() holds; error after `limit` s."""
        if cond():
            return
        self._wait_cond = cond
        self._wait_what = what
        self._wait_deadline = REAL_MONOTONIC() + limit
        self._wait_fut = self.create_future()
        try:
            await self._wait_fut
        finally:
            self._wait_cond = self._wait_fut = self._wait_deadline = self._wait_what = None

    async def wait_sent(self, sent):
        want = []
        for s in sent:
            try:
                want.append((int(s["conn"]), int(s["bytes"]), bool(s.get("eof", False))))
            except (KeyError, TypeError, ValueError):
                raise ProtocolError(f"sync: bad entry in 'sent': {s!r} (need conn, bytes, eof)")

        def missing():
            out = []
            for port, nbytes, eof in want:
                rec = self._known.get(port)
                if rec is None:
                    out.append(f"conn {port} not accepted yet")
                elif rec.closed:
                    continue  # nothing more can be read from a closed socket
                elif rec.read < nbytes:
                    out.append(f"conn {port} read {rec.read} of {nbytes} bytes")
                elif eof and not rec.eof_seen:
                    out.append(f"conn {port} has not seen end-of-stream")
            return out

        await self.wait_real(
            lambda: not missing(),
            lambda: "sync: waited %.0f s of real time for the harness's bytes: %s "
            "(hint: is the harness connected to this child's port, and did it write what it reports?)"
            % (REAL_LIMIT_S, "; ".join(missing())),
        )

    async def advance(self, to_ms):
        target = to_ms / 1000.0
        eps = 1e-9
        while True:
            h = self._earliest()
            if h is None or h._when > target + eps:
                break
            if h._when > self._vtime:
                self._vtime = h._when
            await self.run_until_quiet()
        if target > self._vtime:
            self._vtime = target

    def _unflushed(self):
        return [r for r in self._conns.values() if r.buffered() > 0]

    async def flush(self):
        await self.wait_real(
            lambda: not self._unflushed(),
            lambda: "flush: bytes still buffered after %.0f s of real time on conns %s "
            "(hint: the harness must read the child's sockets; the kernel buffer is full)"
            % (REAL_LIMIT_S, [r.conn for r in self._unflushed()]),
        )
        await self.run_until_quiet()

    async def sync(self, to_ms, sent):
        if not isinstance(to_ms, int) or isinstance(to_ms, bool):
            raise ProtocolError(f"sync: to_ms must be an integer, got {to_ms!r}")
        if to_ms < self.now_ms():
            raise ProtocolError(f"sync: to_ms {to_ms} is below the current virtual time {self.now_ms()}")
        self._fired = []
        await self.wait_sent(sent or [])
        await self.run_until_quiet()
        await self.advance(to_ms)
        await self.flush()

    def state(self):
        conns = []
        for port in sorted(self._conns):
            rec = self._conns[port]
            conns.append(rec.state())
            if rec.closed:
                del self._conns[port]
        reply = {
            "ok": True,
            "now_ms": self.now_ms(),
            "next_ms": self.next_ms(),
            "conns": conns,
            "timers": [
                {"id": r.id, "conn": r.conn, "delay_ms": r.delay_ms, "repeat": r.repeat} for r in self.live_timers()
            ],
            "fired": self._fired,
        }
        self._fired = []
        return reply

    def abort_all(self):
        for rec in list(self._conns.values()):
            if not rec.closed and rec.transport is not None:
                rec.transport.abort()


# ---- wall clock and randomness ------------------------------------------------------
_LOOP = None
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _wall_ms():
    return _LOOP.wall_ms() if _LOOP is not None else 0.0


def virtual_time():
    return _wall_ms() / 1000.0


def virtual_time_ns():
    return int(round(_wall_ms() * 1_000_000))


def virtual_utc_datetime():
    return _EPOCH + _dt.timedelta(microseconds=int(round(_wall_ms() * 1000)))


class VirtualDatetime(_dt.datetime):
    """A datetime whose now()/utcnow()/today() read the virtual wall clock."""

    @classmethod
    def now(cls, tz=None):
        utc = virtual_utc_datetime()
        if tz is None:
            return utc.replace(tzinfo=None)  # the child runs with TZ=UTC semantics
        return utc.astimezone(tz)

    @classmethod
    def utcnow(cls):
        return virtual_utc_datetime().replace(tzinfo=None)

    @classmethod
    def today(cls):
        return cls.now()


def install(loop, epoch_ms=0, seed=0):
    """Make `loop` the clock of the process: time.time()/time_ns() read epoch_ms + now_ms,
    `random` is seeded. Call before importing code that does `from time import time`."""
    global _LOOP
    _LOOP = loop
    loop.epoch_ms = epoch_ms
    _time.time = virtual_time
    _time.time_ns = virtual_time_ns
    random.seed(seed)
