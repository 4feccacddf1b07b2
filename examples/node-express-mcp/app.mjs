// An MCP server on Express with the TypeScript SDK, written as the SDK's README shows
// (stateful Streamable HTTP: one transport per session, sessions kept in a map). Nothing in
// it knows of middlebox.
import express from 'express';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/** The app; `transportOptions` go to every session's transport (e.g. `{ keepAliveMs: 0 }`). */
export function createApp(transportOptions = {}) {
    const app = express();
    app.use(express.json());
    const transports = {};

    const newServer = () => {
        const server = new McpServer({ name: 'example-server', version: '1.0.0' });
        // A tool that takes a while, reporting progress: what a long-running tool call is.
        server.registerTool(
            'sleep',
            {
                description: 'Sleeps duration_ms, reporting progress every progress_every_ms',
                inputSchema: { duration_ms: z.number().int().min(0), progress_every_ms: z.number().int().min(1).optional() },
            },
            async ({ duration_ms, progress_every_ms }, extra) => {
                const token = extra._meta?.progressToken;
                let at = 0;
                if (progress_every_ms && token !== undefined) {
                    for (let k = 1; progress_every_ms * k < duration_ms; k++) {
                        await new Promise((r) => setTimeout(r, progress_every_ms * k - at));
                        at = progress_every_ms * k;
                        await extra.sendNotification({
                            method: 'notifications/progress',
                            params: { progressToken: token, progress: at, total: duration_ms },
                        });
                    }
                }
                await new Promise((r) => setTimeout(r, duration_ms - at));
                return { content: [{ type: 'text', text: `slept ${duration_ms} ms` }] };
            },
        );
        return server;
    };

    app.post('/mcp', async (req, res) => {
        const sessionId = req.headers['mcp-session-id'];
        let transport;
        if (sessionId && transports[sessionId]) {
            transport = transports[sessionId];
        } else if (!sessionId && isInitializeRequest(req.body)) {
            transport = new StreamableHTTPServerTransport({
                ...transportOptions,
                sessionIdGenerator: () => randomUUID(),
                onsessioninitialized: (id) => {
                    transports[id] = transport;
                },
            });
            transport.onclose = () => {
                if (transport.sessionId) delete transports[transport.sessionId];
            };
            await newServer().connect(transport);
        } else {
            res.status(400).json({
                jsonrpc: '2.0',
                error: { code: -32000, message: 'Bad Request: No valid session ID provided' },
                id: null,
            });
            return;
        }
        await transport.handleRequest(req, res, req.body);
    });

    const handleSessionRequest = async (req, res) => {
        const sessionId = req.headers['mcp-session-id'];
        if (!sessionId || !transports[sessionId]) {
            res.status(400).send('Invalid or missing session ID');
            return;
        }
        await transports[sessionId].handleRequest(req, res);
    };
    app.get('/mcp', handleSessionRequest);
    app.delete('/mcp', handleSessionRequest);
    return app;
}
