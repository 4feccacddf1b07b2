"""The same app with sse-starlette's keepalive ping switched off: behind a proxy that closes
silent streams, its GET stream is cut."""

from sse_starlette.sse import EventSourceResponse

EventSourceResponse.DEFAULT_PING_INTERVAL = 0

from server import app  # noqa: E402,F401
