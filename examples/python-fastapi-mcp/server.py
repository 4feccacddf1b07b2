"""An MCP server inside a FastAPI app, as the Python SDK's README shows for mounting: the
SDK's streamable HTTP app mounted at the root (its endpoint is /mcp), the session manager
run by the FastAPI app's lifespan. Nothing in it knows of middlebox.

Run it yourself with `uvicorn server:app`; middlebox runs it with
`--target python:server:app` (from this folder, with this folder's virtualenv active).
"""

import contextlib

import anyio
from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer

mcp = MCPServer(name="example-server")


@mcp.tool(description="Sleeps duration_ms, reporting progress every progress_every_ms.", structured_output=False)
async def sleep(duration_ms: int, ctx: Context, progress_every_ms: int | None = None) -> str:
    elapsed = 0
    if progress_every_ms:
        while elapsed + progress_every_ms < duration_ms:
            await anyio.sleep(progress_every_ms / 1000)
            elapsed += progress_every_ms
            await ctx.report_progress(elapsed, duration_ms)
    if duration_ms > elapsed:
        await anyio.sleep((duration_ms - elapsed) / 1000)
    return f"slept {duration_ms} ms"


# Served on every interface behind a proxy (no DNS-rebinding guard for localhost only).
mcp_app = mcp.streamable_http_app(host="0.0.0.0")

@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    async with mcp.session_manager.run():
        yield


app = FastAPI(lifespan=lifespan)
app.mount("/", mcp_app)
