"""middlebox adapter: the Python `mcp` SDK's Streamable HTTP server on virtual time.

Spawned by the harness as `harness/python/.venv/bin/python harness/python/server.py`.
Speaks the clock protocol (CLOCK-PROTOCOL.md, v1) as JSON lines on stdin/stdout.
"""

# First: the shared set-up (hash seed, stdout for replies, the virtual clock).
import adapter_loop  # noqa: F401,E402  (must come before anything else)
from adapter_loop import LOOP  # noqa: E402

import asyncio  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import vclock  # noqa: E402

IMPL = "python-sdk-server"
# Any mcp version from 2.2.0: the pinned one (harness/python/requirements.txt) in this
# folder's virtualenv, another in a virtualenv of its own (the harness installs it), a
# checkout from the source folders in `python_path`. The start command's version must be
# the installed one.
KNOWN_OPTIONS = ("keepalive_ms", "event_store", "session_idle_timeout_ms", "python_path")

# ---- the SDK, patched at run time where the harness needs determinism ------------------
class SessionEventStore:
    """Deterministic in-memory event store for one session: ids "1", "2", ... per session."""

    def __init__(self, session_id):
        self.session_id = session_id
        self.events = []  # (event_id, stream_id, message or None)
        self.counter = 0

    async def store_event(self, stream_id, message):
        self.counter += 1
        eid = str(self.counter)
        self.events.append((eid, stream_id, message))
        return eid

    async def replay_events_after(self, last_event_id, send_callback):
        from mcp.server.streamable_http import EventMessage

        index = next((i for i, e in enumerate(self.events) if e[0] == last_event_id), None)
        if index is None:
            return None
        stream_id = self.events[index][1]
        for eid, sid, message in self.events[index + 1 :]:
            if sid == stream_id and message is not None:
                await send_callback(EventMessage(message, eid))
        return stream_id


class Adapter:
    def __init__(self):
        self.started = False
        self.sessions = {}  # session id -> mcp Connection (the SDK's standalone outbound)
        self.manager = None
        self.listener = None
        # Scheduled notifications the SDK refused since the last reply (method, session,
        # reason, at_ms): reported in the state reply's `refused`.
        self.refused = []

    def take_refused(self):
        out, self.refused = self.refused, []
        return out

    def patch_sdk(self):
        import sse_starlette.sse as sse
        import mcp.server.streamable_http_manager as shm
        from mcp.server.connection import Connection

        if not hasattr(shm.StreamableHTTPSessionManager, "_admit_session"):
            raise vclock.ProtocolError(
                "start: this mcp has no StreamableHTTPSessionManager._admit_session, through which the adapter "
                "names sessions s1, s2, ... (mcp 2.2.0 and later have it)"
            )

        # sse-starlette's ping comment carries datetime.now(timezone.utc): virtual.
        sse.datetime = vclock.VirtualDatetime

        # sse-starlette's shutdown watcher polls every 0.5 s (a timer forever): replace it by
        # one that waits for an event nobody sets (shutdown here exits the process).
        never = asyncio.Event()

        async def _no_poll_shutdown_watcher():
            await never.wait()

        sse._shutdown_watcher = _no_poll_shutdown_watcher

        # Session ids s1, s2, ... (the manager takes uuid4().hex).
        counter = [0]

        class _SessionId:
            def __init__(self):
                counter[0] += 1
                self.hex = f"s{counter[0]}"

        shm.uuid4 = _SessionId

        # One deterministic event store per session (ids count per session).
        orig_admit = shm.StreamableHTTPSessionManager._admit_session

        def _admit_session(mgr, requestor):
            transport = orig_admit(mgr, requestor)
            if transport is not None and mgr.event_store is not None:
                transport._event_store = SessionEventStore(transport.mcp_session_id)
            return transport

        shm.StreamableHTTPSessionManager._admit_session = _admit_session

        # Remember each session's Connection: its outbound is the SDK's standalone channel.
        orig_for_loop = Connection.for_loop.__func__
        sessions = self.sessions

        def for_loop(cls, outbound, *, session_id=None, protocol_version_hint=None):
            conn = orig_for_loop(cls, outbound, session_id=session_id, protocol_version_hint=protocol_version_hint)
            if session_id is not None:
                sessions[session_id] = conn
            return conn

        Connection.for_loop = classmethod(for_loop)

    async def start(self, cmd):
        if self.started:
            raise vclock.ProtocolError("start: sent twice")
        if cmd.get("v") != 1:
            raise vclock.ProtocolError(f"start: protocol version {cmd.get('v')!r} unsupported (this adapter speaks v1)")
        version = cmd.get("version")
        if cmd.get("impl") != IMPL or not isinstance(version, str):
            raise vclock.ProtocolError(
                f"start: unknown impl/version {cmd.get('impl')!r} {version!r}; this adapter runs {IMPL}"
            )
        options = cmd.get("options") or {}
        for key in options:
            if key not in KNOWN_OPTIONS:
                raise vclock.ProtocolError(f"start: unknown option {key!r} (known: {', '.join(KNOWN_OPTIONS)})")
        python_path = options.get("python_path") or []
        if python_path:
            # A checkout (`file:DIR`): its source folders first, then the SDK must come from them.
            if not all(isinstance(p, str) and os.path.isabs(p) for p in python_path):
                raise vclock.ProtocolError(f"start: python_path must list absolute folders, got {python_path!r}")
            sys.path[0:0] = python_path
            import mcp

            where = os.path.realpath(mcp.__file__)
            if not any(where.startswith(os.path.join(os.path.realpath(p), "")) for p in python_path):
                raise vclock.ProtocolError(f"start: mcp was imported from {where}, not from {', '.join(python_path)}")
            server_version = "checkout"
        else:
            from importlib.metadata import version as dist_version

            installed = dist_version("mcp")
            if installed != version:
                raise vclock.ProtocolError(
                    f"start: mcp {installed} is installed, {version} expected (hint: pip install -r harness/python/requirements.txt)"
                )
            server_version = installed
        mcp_cfg = cmd.get("mcp") or {}
        LOOP.epoch_ms = int(cmd.get("epoch_ms", 0))
        vclock.install(LOOP, epoch_ms=LOOP.epoch_ms, seed=cmd.get("seed", 0))

        self.patch_sdk()
        from sse_starlette.sse import EventSourceResponse
        from mcp.server.mcpserver import Context, MCPServer
        from mcp.server.transport_security import TransportSecuritySettings

        keepalive_ms = options.get("keepalive_ms")
        if keepalive_ms is not None:
            if not isinstance(keepalive_ms, int) or isinstance(keepalive_ms, bool) or keepalive_ms < 0:
                raise vclock.ProtocolError(f"start: keepalive_ms must be a non-negative integer or null, got {keepalive_ms!r}")
            # sse-starlette: 0 disables pings (no ping task at all).
            EventSourceResponse.DEFAULT_PING_INTERVAL = keepalive_ms / 1000 if keepalive_ms % 1000 else keepalive_ms // 1000

        server = MCPServer(name="middlebox-python", version=server_version, log_level="WARNING")

        @server.tool(name="sleep", description="Sleep for duration_ms, reporting progress every progress_every_ms.",
                     structured_output=False)
        async def sleep_tool(duration_ms: int, ctx: Context, progress_every_ms: int | None = None) -> str:
            import anyio

            elapsed = 0
            if progress_every_ms:
                while elapsed + progress_every_ms < duration_ms:
                    await anyio.sleep(progress_every_ms / 1000)
                    elapsed += progress_every_ms
                    await ctx.report_progress(elapsed, duration_ms)
            if duration_ms > elapsed:
                await anyio.sleep((duration_ms - elapsed) / 1000)
            return f"slept {duration_ms} ms"

        retry_ms = mcp_cfg.get("retry_ms")
        # The SDK's own session idle timeout (default 1800 s) unless the scenario sets one;
        # 0 turns it off.
        idle = {}
        idle_ms = options.get("session_idle_timeout_ms")
        if idle_ms is not None:
            if not isinstance(idle_ms, int) or isinstance(idle_ms, bool) or idle_ms < 0:
                raise vclock.ProtocolError(f"start: session_idle_timeout_ms must be a non-negative integer or null, got {idle_ms!r}")
            idle["session_idle_timeout"] = idle_ms / 1000 if idle_ms else None
        starlette_app = server.streamable_http_app(
            event_store=SessionEventStore("manager") if options.get("event_store") else None,
            retry_interval=retry_ms,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            **idle,
        )
        self.manager = server.session_manager

        self.uvicorn, self.listener = await adapter_loop.serve_asgi(starlette_app, lifespan="on")
        sock = self.listener

        for n in mcp_cfg.get("notifications") or []:
            at_ms = n["at_ms"]
            LOOP.call_at(at_ms / 1000, self._fire_notification, n["method"], n.get("params"))

        self.started = True
        await LOOP.run_until_quiet()
        state = LOOP.state()
        state["port"] = sock.getsockname()[1]
        return state

    def _fire_notification(self, method, params):
        LOOP.create_task(self._notify_all(method, params))

    async def _notify_all(self, method, params):
        live = list(self.manager._server_instances) if self.manager is not None else []
        for session_id in live:
            conn = self.sessions.get(session_id)
            if conn is not None:
                at_ms = LOOP.now_ms()
                try:
                    await conn.notify(method, params)
                except Exception as e:  # noqa: BLE001 - any refusal is reported, not fatal
                    self.refused.append({"method": method, "session": session_id, "reason": str(e), "at_ms": at_ms})


if __name__ == "__main__":
    adapter_loop.run(Adapter())
