// Starts the app as its docs do: `node server.mjs` (PORT, default 3000).
import { createApp } from './app.mjs';

const port = Number(process.env.PORT ?? 3000);
createApp().listen(port, () => console.log(`MCP server on port ${port}`));
