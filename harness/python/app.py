"""middlebox adapter for a user's own ASGI app (`--target python:MODULE:APP`) on virtual time.

Spawned by the harness with the user's Python (`$MIDDLEBOX_PYTHON`, else the active
virtualenv's, else `python3`) as `PYTHON harness/python/app.py`. The contract (README, "Your
own Python server, on virtual time"): MODULE is importable from the folder middlebox runs in
(or from the environment), APP names an ASGI app in it (`app`, or a dotted path such as
`api.app`); the environment has `uvicorn`. The app is served by uvicorn on the virtual-time
asyncio loop, with its lifespan run (the MCP SDK's session manager starts there), so every
`asyncio`/`anyio` sleep, `time.time()`, `datetime.now()` of sse-starlette's pings,
`random` and `uuid.uuid4()` follow the simulation.
"""

# First: the shared set-up (hash seed, stdout for replies, the virtual clock).
import adapter_loop  # noqa: F401,E402  (must come before anything else)
from adapter_loop import LOOP  # noqa: E402

import asyncio  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402

import vclock  # noqa: E402

IMPL = "python-app"
KNOWN_OPTIONS = ("app", "app_dir", "keepalive_ms", "event_store", "test_defect")


def _seeded_uuid4():
    return uuid.UUID(int=random.getrandbits(128), version=4)


class AppAdapter:
    def __init__(self):
        self.started = False
        self.listener = None

    def take_refused(self):
        return []

    async def start(self, cmd):
        if self.started:
            raise vclock.ProtocolError("start: sent twice")
        if cmd.get("v") != 1:
            raise vclock.ProtocolError(f"start: protocol version {cmd.get('v')!r} unsupported (this adapter speaks v1)")
        if cmd.get("impl") != IMPL:
            raise vclock.ProtocolError(f"start: this adapter runs impl {IMPL!r}, not {cmd.get('impl')!r}")
        options = cmd.get("options") or {}
        for key in options:
            if key not in KNOWN_OPTIONS:
                raise vclock.ProtocolError(f"start: unknown option {key!r} (known: {', '.join(KNOWN_OPTIONS)})")
        spec = options.get("app")
        if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
            raise vclock.ProtocolError(f"start: option app must be MODULE:APP, got {spec!r}")
        if options.get("keepalive_ms") is not None:
            raise vclock.ProtocolError("start: a python: app has no keepalive option (configure it in the app)")
        LOOP.epoch_ms = int(cmd.get("epoch_ms", 0))
        vclock.install(LOOP, epoch_ms=LOOP.epoch_ms, seed=cmd.get("seed", 0))
        # Ids from the seeded generator: uuid4 (the MCP SDK's session ids), os.urandom.
        uuid.uuid4 = _seeded_uuid4
        os.urandom = random.randbytes
        try:
            import uvicorn  # noqa: F401  (served by adapter_loop.serve_asgi)
        except ImportError as e:
            raise vclock.ProtocolError(
                f"start: uvicorn is not installed in {sys.executable} ({e}); install it in the app's environment"
            ) from e
        try:
            import sse_starlette.sse as sse

            # The ping comment carries datetime.now(timezone.utc): virtual. The shutdown
            # watcher polls every 0.5 s (a timer forever): one that never wakes instead.
            sse.datetime = vclock.VirtualDatetime
            never = asyncio.Event()

            async def _no_poll_shutdown_watcher():
                await never.wait()

            sse._shutdown_watcher = _no_poll_shutdown_watcher
        except ImportError:
            pass
        app_dir = options.get("app_dir")
        if app_dir:
            sys.path.insert(0, app_dir)
        module_name, attr = spec.split(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as e:  # noqa: BLE001 - any import failure is the user's to see
            raise vclock.ProtocolError(f"start: importing {module_name} failed: {type(e).__name__}: {e}") from e
        target = module
        for part in attr.split("."):
            if not hasattr(target, part):
                raise vclock.ProtocolError(f"start: {module_name} has no attribute {attr!r}; expected MODULE:APP naming an ASGI app")
            target = getattr(target, part)
        if not callable(target):
            raise vclock.ProtocolError(f"start: {spec} is not an ASGI app (not callable)")
        user_app = target

        self.uvicorn, self.listener = await adapter_loop.serve_asgi(user_app, lifespan="auto")
        sock = self.listener
        if self.uvicorn.should_exit:
            raise vclock.ProtocolError(f"start: {spec} failed to start (its lifespan startup failed; see stderr)")
        self.started = True
        await LOOP.run_until_quiet()
        state = LOOP.state()
        state["port"] = sock.getsockname()[1]
        return state


if __name__ == "__main__":
    adapter_loop.run(AppAdapter())
