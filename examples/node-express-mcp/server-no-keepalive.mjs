// The same app with the SDK's SSE keepalive switched off (`keepAliveMs: 0`): behind a proxy
// that closes silent streams, its GET stream is cut.
import { createApp } from './app.mjs';

const port = Number(process.env.PORT ?? 3000);
createApp({ keepAliveMs: 0 }).listen(port, () => console.log(`MCP server on port ${port}`));
