"""What every Python adapter of middlebox shares: the process set-up and the clock-protocol
command loop (CLOCK-PROTOCOL.md, v1: JSON lines on stdin/stdout).

Import it first in an adapter script: on import it re-executes the script once with a fixed
hash seed (set iteration order must not vary between runs), takes stdout for the protocol's
replies (every other write to fd 1 goes to stderr), and makes the virtual-time loop the
process's clock before any implementation is imported (`from time import time`).

An adapter object gives `start(cmd)` (async: build, listen, return the state with `port`),
`take_refused()` (scheduled notifications refused since the last reply) and `listener`; a
client adapter also `act(action)` (async: start a step of the client timeline) and
`take_app()` (what reached its application since the last reply: the state's `app`).
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, "PYTHONHASHSEED": "0"})

_REPLY_FD = os.dup(1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import traceback  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vclock  # noqa: E402

LOOP = vclock.VirtualTimeLoop()
asyncio.set_event_loop(LOOP)
vclock.install(LOOP, epoch_ms=0, seed=0)

logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


async def serve_asgi(asgi_app, lifespan):
    """Serves `asgi_app` with uvicorn (h11) on a fresh `127.0.0.1:0` socket, each request
    tagged with its connection (the harness's port) for the timers it arms; no Date header,
    keep-alive 24 h, uvicorn's 0.1 s main-loop tick skipped. Returns (server, socket)."""
    import socket

    import uvicorn

    async def app(scope, receive, send):
        if scope.get("type") == "http" and scope.get("client"):
            vclock.CONN.set(scope["client"][1])
        await asgi_app(scope, receive, send)

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http="h11",
        ws="none",
        lifespan=lifespan,
        log_level="warning",
        access_log=False,
        date_header=False,
        proxy_headers=False,
        timeout_keep_alive=24 * 3600,
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    await server.startup(sockets=[sock])
    # One tick sets uvicorn's default headers (no Date header).
    await server.on_tick(0)
    return server, sock


def reply(obj):
    data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
    while data:
        n = os.write(_REPLY_FD, data)
        data = data[n:]


async def main(adapter):
    lines = asyncio.Queue()
    buf = bytearray()

    def on_stdin():
        try:
            chunk = os.read(0, 65536)
        except BlockingIOError:
            return
        if not chunk:
            # The channel closed: exit at once, no orphans.
            os._exit(0)
        buf.extend(chunk)
        while b"\n" in buf:
            i = buf.index(b"\n")
            line = bytes(buf[:i])
            del buf[: i + 1]
            if line.strip():
                lines.put_nowait(line)

    os.set_blocking(0, False)
    LOOP.add_reader(0, on_stdin)

    while True:
        line = await lines.get()
        try:
            cmd = json.loads(line)
            op = cmd.get("op")
            if not adapter.started and op != "start":
                raise vclock.ProtocolError(f"expected 'start' as the first command, got {op!r}")
            if op == "start":
                out = await adapter.start(cmd)
            elif op == "sync":
                await LOOP.sync(cmd.get("to_ms"), cmd.get("sent"))
                out = LOOP.state()
                out["refused"] = adapter.take_refused()
                if hasattr(adapter, "take_app"):
                    out["app"] = adapter.take_app()
            elif op == "act" and hasattr(adapter, "act"):
                LOOP._fired = []
                await adapter.act(cmd.get("action"))
                await LOOP.run_until_quiet()
                await LOOP.flush()
                out = LOOP.state()
                out["app"] = adapter.take_app()
            elif op == "shutdown":
                reply({"ok": True})
                LOOP.abort_all()
                if adapter.listener is not None:
                    adapter.listener.close()
                sys.stderr.flush()
                os._exit(0)
            else:
                known = "start, sync, act, shutdown" if hasattr(adapter, "act") else "start, sync, shutdown"
                raise vclock.ProtocolError(f"unknown op {op!r} (known: {known})")
        except vclock.ProtocolError as e:
            out = {"ok": False, "error": str(e)}
        except Exception as e:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            out = {"ok": False, "error": f"{type(e).__name__}: {e} (adapter bug? see stderr)"}
        reply(out)


def run(adapter):
    """Runs the command loop until shutdown or the channel closes."""
    try:
        LOOP.run_until_complete(main(adapter))
    except KeyboardInterrupt:
        pass
