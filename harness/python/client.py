"""middlebox adapter, client role: the Python `mcp` SDK's client on virtual time.

Spawned by the harness as `harness/python/.venv/bin/python harness/python/client.py`. It runs
the SDK's real `ClientSession` over `streamable_http_client` (mcp 2.3.0) on the virtual-time
asyncio loop and speaks the client side of the clock protocol (CLOCK-PROTOCOL.md, `act`),
as `harness/node/client.mjs` does for the TypeScript SDK:

    act{do} ──▶ an application task (initialize: the client's lifetime; call-tool, ping)
                 │ ClientSession ─▶ JSONRPCDispatcher ─▶ StreamableHTTPTransport
                 ▼                                            │ httpx2, one connection per request
    state.conns (named by their local port, with the stream)  ◀┘ (vclock.client_role)
    state.app   (session, delivered, answered, reconnecting, gave-up)

What the adapter observes, without changing what the SDK does:
- the logical stream a request belongs to is a contextvar (STREAM) set by the action's task;
  the SDK carries contextvars from the sender to its POST tasks and from the reader back to
  the dispatcher (`mcp.shared._context_streams`), and the transport's own GET task is tagged
  when it starts;
- delivered: a response the dispatcher hands to a request still waiting for it, a progress
  notification whose request still listens, any other notification (ClientSession hands it to
  the application's message handler), with the SSE event id it came with;
- answered: what the application's call (`send_raw_request` underneath initialize, call_tool,
  send_ping) returned or raised;
- reconnecting: each wait before the transport reopens a stream (its `anyio.sleep`, with the
  attempt and Last-Event-ID it holds at that point); gave-up: the GET task ending while the
  session lives, a POST stream's reconnection called past MAX_RECONNECTION_ATTEMPTS.
"""

# First: the shared set-up (hash seed, stdout for replies, the virtual clock).
import adapter_loop  # noqa: F401,E402  (must come before anything else)
from adapter_loop import LOOP  # noqa: E402

import asyncio  # noqa: E402
import contextvars  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402

import vclock  # noqa: E402

IMPL = "python-sdk-client"
VERSION = "2.3.0"
RECONNECT_KEYS = ("enabled", "initial_ms", "max_ms", "growth", "attempts")

log = logging.getLogger("middlebox.client")

# The logical stream the running code belongs to (an action's name, or GET for the
# transport's standalone GET task: reported under the name open-get-stream gave it).
STREAM = contextvars.ContextVar("middlebox_stream", default=None)
GET = "\0get"
# The SSE event id of the message being handed to the session right now.
EVENT_ID = contextvars.ContextVar("middlebox_event_id", default=None)
# The request ids the dispatcher allocates for the call running in this task.
REQUEST_IDS = contextvars.ContextVar("middlebox_request_ids", default=None)


def label(message):
    """A message in trace words: its method, or `response <id>`."""
    method = getattr(message, "method", None)
    if method is not None:
        return method
    mid = getattr(message, "id", None)
    return f"response {mid}" if mid is not None else "unknown"


class Adapter:
    def __init__(self):
        self.started = False
        self.listener = None  # a client listens on nothing
        self.url = None
        self.app = []
        self.main = None  # the application task: initialize, then the client's lifetime
        self.session = None
        self.ended = None  # why the client ended (its `async with` raised), if it did
        self.forever = None
        self.get_name = "get"
        self.get_task_live = False
        # Consecutive GET connections of the standalone stream that failed to open (no 2xx):
        # the SDK's own counter also counts a working stream's failure and resets only on a
        # clean end, so the attempt numbers reported are counted here, as the trace shows them.
        self.get_failed = 0

    # ---- state ---------------------------------------------------------------------
    def take_refused(self):
        return []

    def take_app(self):
        out, self.app = self.app, []
        return out

    def record(self, ev):
        self.app.append(ev)
        log.info("app %s", json.dumps(ev))

    def get_opened(self, status):
        """A GET of the standalone stream got its response (`status`) or failed (None)."""
        if status is not None and 200 <= status < 300:
            self.get_failed = 0
        else:
            self.get_failed += 1

    def stream_name(self, value):
        if value == GET:
            return self.get_name
        return value

    def request_stream(self, request):
        """The stream a request's connection carries: GET and the action's POSTs by the
        running code's STREAM, the handshake's notification and a cancellation by their
        message, DELETE as `delete`."""
        if request.method == "DELETE":
            return "delete"
        if request.method == "POST":
            try:
                body = json.loads(request.content or b"null")
            except ValueError:
                body = None
            method = body.get("method") if isinstance(body, dict) else None
            if method == "notifications/initialized":
                return "initialized"
            if method == "notifications/cancelled":
                return "cancel"
        return self.stream_name(STREAM.get()) or "unknown"

    # ---- the SDK, observed ---------------------------------------------------------
    def http_client(self):
        """The SDK's default HTTP client settings (create_mcp_http_client: 30 s, reads 300 s)
        over a transport that opens one connection per request and closes it when the
        response is closed, so every request is a connection of its own in the trace."""
        import httpx2
        from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

        adapter = self

        class ClosingStream(httpx2.AsyncByteStream):
            def __init__(self, stream, pool):
                self._stream = stream
                self._pool = pool

            async def __aiter__(self):
                async for chunk in self._stream:
                    yield chunk

            async def aclose(self):
                try:
                    await self._stream.aclose()
                finally:
                    await self._pool.aclose()

        class OneRequestPerConnection(httpx2.AsyncBaseTransport):
            async def handle_async_request(self, request):
                pool = httpx2.AsyncHTTPTransport()
                # The loop is not quiet until this request's socket is connected.
                pending = [False]
                LOOP.connecting += 1
                named = vclock.CONN_STREAM.set(adapter.request_stream(request))
                waiting = vclock.CONNECTING.set(pending)
                try:
                    response = await pool.handle_async_request(request)
                except BaseException:
                    await pool.aclose()
                    if request.method == "GET" and STREAM.get() == GET:
                        adapter.get_opened(None)
                    raise
                finally:
                    vclock.CONN_STREAM.reset(named)
                    vclock.CONNECTING.reset(waiting)
                    if not pending[0]:
                        pending[0] = True
                        LOOP.connecting -= 1
                if request.method == "GET" and STREAM.get() == GET:
                    adapter.get_opened(response.status_code)
                response.stream = ClosingStream(response.stream, pool)
                return response

        timeout = httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT)
        return httpx2.AsyncClient(timeout=timeout, transport=OneRequestPerConnection())

    def patch_sdk(self):
        import anyio
        import mcp.client.streamable_http as sh
        from mcp.shared.exceptions import MCPError
        from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher, coerce_request_id
        from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCResponse

        adapter = self
        T = sh.StreamableHTTPTransport

        # The session id the transport holds: every change reported.
        def get_sid(t):
            return t.__dict__.get("_middlebox_sid")

        def set_sid(t, value):
            old = t.__dict__.get("_middlebox_sid")
            t.__dict__["_middlebox_sid"] = value
            if value != old:
                adapter.record({"kind": "session", "session": value})

        T.session_id = property(get_sid, set_sid)

        # Each SSE event's id travels with the message it carries (contextvar, read by the
        # dispatcher from the sender's context).
        orig_event = T._handle_sse_event

        async def _handle_sse_event(t, sse, *a, **kw):
            EVENT_ID.set(sse.id or None)
            return await orig_event(t, sse, *a, **kw)

        T._handle_sse_event = _handle_sse_event

        # The standalone GET: tagged; its end while the session lives is the SDK giving up
        # (it returns only then: attempts exhausted, or no session / a redirect).
        orig_get = T.handle_get_stream

        async def handle_get_stream(t, client, writer):
            STREAM.set(GET)
            adapter.get_task_live = True
            try:
                await orig_get(t, client, writer)
            finally:
                adapter.get_task_live = False
            if t.session_id:
                adapter.record({"kind": "gave-up", "stream": adapter.get_name, "attempts": adapter.get_failed})

        T.handle_get_stream = handle_get_stream

        # A POST stream's reconnection past the limit resolves its request with an error.
        orig_reconnect = T._handle_reconnection

        async def _handle_reconnection(t, ctx, last_event_id, retry_interval_ms=None, attempt=0):
            if attempt >= sh.MAX_RECONNECTION_ATTEMPTS:
                adapter.record(
                    {"kind": "gave-up", "stream": adapter.stream_name(STREAM.get()) or "unknown", "attempts": attempt}
                )
            return await orig_reconnect(t, ctx, last_event_id, retry_interval_ms, attempt)

        T._handle_reconnection = _handle_reconnection

        # Every wait the transport makes is a wait before reopening a stream: reported with
        # the attempt and Last-Event-ID its caller holds (the module's `anyio`, proxied).
        def recording_sleep(delay):
            caller = sys._getframe(1)
            where = caller.f_code.co_name
            local = caller.f_locals
            if where == "handle_get_stream":
                attempt = adapter.get_failed + 1
                stream = adapter.get_name
            else:
                attempt = int(local.get("attempt", 0)) + 1
                stream = adapter.stream_name(STREAM.get()) or "unknown"
            adapter.record(
                {
                    "kind": "reconnecting",
                    "stream": stream,
                    "attempt": attempt,
                    "after_ms": int(round(delay * 1000)),
                    "last_event_id": local.get("last_event_id"),
                }
            )
            return anyio.sleep(delay)

        class AnyioProxy(types.ModuleType):
            def __getattr__(self, name):
                return getattr(anyio, name)

        proxy = AnyioProxy("anyio")
        proxy.sleep = recording_sleep
        sh.anyio = proxy

        # Delivered: what the dispatcher hands on, judged before it does.
        orig_dispatch = JSONRPCDispatcher._dispatch

        async def _dispatch(d, item, on_request, on_notify, sender_ctx):
            if not isinstance(item, Exception):
                adapter.inbound(d, item.message, sender_ctx)
            return await orig_dispatch(d, item, on_request, on_notify, sender_ctx)

        JSONRPCDispatcher._dispatch = _dispatch

        def inbound(d, msg, sender_ctx):
            if isinstance(msg, JSONRPCResponse | JSONRPCError):
                handled = msg.id is not None and d._pending.get(coerce_request_id(msg.id)) is not None
            elif isinstance(msg, JSONRPCNotification):
                if msg.method == "notifications/progress":
                    token = (msg.params or {}).get("progressToken")
                    pending = d._pending.get(coerce_request_id(token)) if token is not None else None
                    handled = pending is not None and pending.on_progress is not None
                else:
                    # ClientSession never surfaces a cancellation; every other notification
                    # reaches the application's message handler.
                    handled = msg.method != "notifications/cancelled"
            else:
                handled = False
            if not handled:
                return
            stream = sender_ctx.get(STREAM) if sender_ctx is not None else None
            event_id = sender_ctx.get(EVENT_ID) if sender_ctx is not None else None
            adapter.record(
                {
                    "kind": "delivered",
                    "stream": adapter.stream_name(stream),
                    "event_id": event_id,
                    "message": label(msg),
                }
            )

        self.inbound = inbound

        # The tools/list ClientSession sends itself (before it validates a tool's first result)
        # is a stream of its own, `list-tools`, not the call's.
        from mcp.client.session import ClientSession

        orig_list = ClientSession.list_tools

        async def list_tools(session, *a, **kw):
            token = STREAM.set("list-tools")
            try:
                return await orig_list(session, *a, **kw)
            finally:
                STREAM.reset(token)

        ClientSession.list_tools = list_tools

        # Answered: the outcome the application's call gets, by the request id allocated.
        orig_allocate = JSONRPCDispatcher._allocate_id

        def _allocate_id(d):
            rid = orig_allocate(d)
            box = REQUEST_IDS.get()
            if box is not None:
                box.append(rid)
            return rid

        JSONRPCDispatcher._allocate_id = _allocate_id

        orig_send = JSONRPCDispatcher.send_raw_request

        async def send_raw_request(d, method, params, opts=None, **kw):
            box = []
            REQUEST_IDS.set(box)
            try:
                result = await orig_send(d, method, params, opts, **kw)
            except MCPError as e:
                if box:
                    adapter.record({"kind": "answered", "id": box[0], "outcome": f"error {e.error.code}: {e.error.message}"})
                raise
            except Exception as e:
                if box:
                    adapter.record({"kind": "answered", "id": box[0], "outcome": f"error: {e}"})
                raise
            if box:
                adapter.record({"kind": "answered", "id": box[0], "outcome": "ok"})
            return result

        JSONRPCDispatcher.send_raw_request = send_raw_request

    # ---- the application -------------------------------------------------------------
    async def on_message(self, message):
        if isinstance(message, Exception):
            log.info("transport error: %r", message)

    async def run_client(self):
        """The application: one client for the run, initialized by the first step."""
        from mcp.client.session import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        STREAM.set("initialize")
        try:
            async with self.http_client() as http:
                async with streamable_http_client(self.url, http_client=http) as (read, write):
                    async with ClientSession(read, write, message_handler=self.on_message) as session:
                        self.session = session
                        await session.initialize()
                        await self.forever.wait()
        except Exception as e:  # noqa: BLE001 - later steps are refused with it
            log.warning("the client ended: %r", e)
            # anyio wraps what a task group's body raised: name the one cause.
            while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
                e = e.exceptions[0]
            self.ended = f"{type(e).__name__}: {e}"
        finally:
            self.session = None

    def spawn(self, name, call):
        """Runs the application's call `call(session)` as its own task, under stream `name`."""

        async def run():
            STREAM.set(name)
            try:
                await call(self.session)
            except Exception as e:  # noqa: BLE001 - recorded as the answer already
                log.info("%s ended with %r", name, e)

        LOOP.create_task(run())

    def need_session(self, what):
        if self.ended is not None:
            raise vclock.ProtocolError(f"act {what}: the client has ended ({self.ended})")
        if self.session is None:
            raise vclock.ProtocolError(f"act {what}: no client yet (initialize first)")

    async def act(self, action):
        if not isinstance(action, dict):
            raise vclock.ProtocolError(f"act: expected an action object, got {action!r}")
        what = action.get("do")
        if what == "initialize":
            if self.main is not None:
                raise vclock.ProtocolError("act initialize: already initialized (one initialize per client)")
            self.main = LOOP.create_task(self.run_client())
        elif what == "open-get-stream":
            if action.get("last_event_id") is not None:
                raise vclock.ProtocolError(
                    "act open-get-stream: the SDK client has no call that opens a GET stream with a chosen Last-Event-ID"
                )
            if self.main is None:
                raise vclock.ProtocolError("act open-get-stream: no client yet (initialize first)")
            if self.session is not None and self.session.protocol_version is not None and not self.get_task_live:
                raise vclock.ProtocolError(
                    "act open-get-stream: the SDK opens its GET stream once, after initialized, and it has ended; "
                    "it has no call that opens another"
                )
            # The SDK opens the GET itself after `initialized`: this names it.
            self.get_name = action.get("stream") or "get"
        elif what == "call-tool":
            self.need_session(what)
            duration_ms = action.get("duration_ms")
            if not isinstance(duration_ms, int) or isinstance(duration_ms, bool):
                raise vclock.ProtocolError("act call-tool: duration_ms must be an integer of ms")
            args = {"duration_ms": duration_ms}
            if action.get("progress_every_ms") is not None:
                args["progress_every_ms"] = action["progress_every_ms"]

            async def progress(p, total, message):
                log.info("progress %s/%s", p, total)

            self.spawn(action.get("stream") or "call", lambda s: s.call_tool("sleep", args, progress_callback=progress))
        elif what == "ping":
            self.need_session(what)
            self.spawn("ping", lambda s: s.send_ping())
        elif what in ("close-stream", "delete-session", "reconnect-stream", "open-stream"):
            raise vclock.ProtocolError(
                f"act {what}: the Python SDK client has no call for this (see `middlebox targets`)"
            )
        else:
            raise vclock.ProtocolError(
                f"act: unknown action {what!r} (known: initialize, open-get-stream, call-tool, ping)"
            )

    # ---- start ---------------------------------------------------------------------
    async def start(self, cmd):
        if self.started:
            raise vclock.ProtocolError("start: sent twice")
        if cmd.get("v") != 1:
            raise vclock.ProtocolError(f"start: protocol version {cmd.get('v')!r} unsupported (this adapter speaks v1)")
        if cmd.get("impl") != IMPL or cmd.get("version") != VERSION:
            raise vclock.ProtocolError(
                f"start: unknown impl/version {cmd.get('impl')!r} {cmd.get('version')!r}; this adapter runs {IMPL} {VERSION}"
            )
        from importlib.metadata import version as dist_version

        installed = dist_version("mcp")
        if installed != VERSION:
            raise vclock.ProtocolError(
                f"start: mcp {installed} is installed, {VERSION} expected (hint: pip install -r harness/python/requirements.txt)"
            )
        for key in cmd.get("options") or {}:
            raise vclock.ProtocolError(f"start: unknown option {key!r} (the client role takes no options)")
        client = cmd.get("client") or {}
        url = client.get("url")
        if not isinstance(url, str) or not url.startswith("http://"):
            raise vclock.ProtocolError(f"start: client.url must be an http:// URL of the harness listener, got {url!r}")
        # The SDK has no reconnection settings: scenarios that set them are refused before a
        # run (see `crate::targets::Unhonoured`); the defaults the harness sends are known.
        for key in client.get("reconnect") or {}:
            if key not in RECONNECT_KEYS:
                raise vclock.ProtocolError(f"start: unknown client.reconnect key {key!r} (known: {', '.join(RECONNECT_KEYS)})")
        self.url = url
        LOOP.client_role = True
        LOOP.epoch_ms = int(cmd.get("epoch_ms", 0))
        vclock.install(LOOP, epoch_ms=LOOP.epoch_ms, seed=cmd.get("seed", 0))
        self.forever = asyncio.Event()
        self.patch_sdk()
        self.started = True
        await LOOP.run_until_quiet()
        state = LOOP.state()
        state["app"] = self.take_app()
        return state


if __name__ == "__main__":
    if "-v" in sys.argv:
        logging.getLogger("middlebox").setLevel(logging.INFO)
    adapter_loop.run(Adapter())
