// middlebox Node adapter: the child the harness spawns as `node harness/node/server.mjs`.
// The shim is imported first (stdout moved to stderr); implementation modules are imported
// only on `start`, after the virtual clock is installed.
import { addActivityKey, connStorage, injectDefect, installClock, nowMs, runCommandLoop, TEST_DEFECTS, trackServer } from './shim.mjs';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const IMPLS = {
    'ts-sdk-server': {
        '1.32.2': { family: 'sdk1', pkg: 'sdk-1.32.2', keepalive: true },
        '1.29.0': { family: 'sdk1', pkg: 'sdk-1.29.0', keepalive: false },
    },
    'ts-server': {
        '2.4.0': { family: 'server2', keepalive: true },
    },
};
const KNOWN_OPTIONS = new Set(['keepalive_ms', 'event_store', 'test_defect', 'package_dir', 'node_package_dir']);
const log = (...a) => process.stderr.write(`[server] ${a.join(' ')}\n`);

/**
 * The server capability each notification method needs: the SDKs refuse to send it
 * (`assertNotificationCapability`: "Server does not support notifying about resources")
 * unless the capability is declared. Declared for exactly the methods the scenario schedules.
 */
const NOTIFY_CAPABILITY = {
    'notifications/tools/list_changed': ['tools', { listChanged: true }],
    'notifications/resources/list_changed': ['resources', { listChanged: true }],
    'notifications/resources/updated': ['resources', { subscribe: true }],
    'notifications/prompts/list_changed': ['prompts', { listChanged: true }],
};

/** The capabilities to declare: tools (the sleep tool), logging, and what `methods` need. */
function capabilitiesFor(methods) {
    const caps = { tools: {}, logging: {} };
    for (const m of methods) {
        const need = NOTIFY_CAPABILITY[m];
        if (need) caps[need[0]] = { ...caps[need[0]], ...need[1] };
    }
    return caps;
}

/** Scheduled notifications the implementation refused since the last reply. */
let refused = [];
addActivityKey(() => refused.length);

// ---- deterministic in-memory event store (one per session) ---------------------------------
// Event ids: decimal strings from a per-session counter, unique across the session's streams.
// Stream names: g1, g2... (GET), p1, p2... (POST SSE), kept for the logs; the SDK's own stream
// keys ('_GET_stream', random ids) stay internal.
class SessionEventStore {
    constructor() {
        this.next = 1;
        this.events = []; // { id, streamId, message }
        this.byId = new Map();
        this.names = new Map();
        this.counts = { g: 0, p: 0 };
    }
    nameOf(streamId) {
        let n = this.names.get(streamId);
        if (!n) {
            const k = streamId === '_GET_stream' ? 'g' : 'p';
            n = `${k}${++this.counts[k]}`;
            this.names.set(streamId, n);
        }
        return n;
    }
    async storeEvent(streamId, message) {
        const id = String(this.next++);
        const ev = { id, streamId, message };
        this.events.push(ev);
        this.byId.set(id, ev);
        this.nameOf(streamId);
        return id;
    }
    async getStreamIdForEventId(eventId) {
        return this.byId.get(eventId)?.streamId;
    }
    async replayEventsAfter(lastEventId, { send }) {
        const last = this.byId.get(lastEventId);
        if (!last) return '';
        const after = Number(lastEventId);
        for (const ev of this.events) {
            if (ev.streamId !== last.streamId || Number(ev.id) <= after) continue;
            // resume markers (priming events) carry no message: nothing to replay
            if (!ev.message || Object.keys(ev.message).length === 0) continue;
            await send(ev.id, ev.message);
        }
        return last.streamId;
    }
}

// ---- the sleep tool -------------------------------------------------------------------------
const sleep = (ms, signal) =>
    new Promise((resolve, reject) => {
        if (signal?.aborted) return reject(new Error('cancelled'));
        const t = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
        }, ms);
        const onAbort = () => {
            clearTimeout(t);
            reject(new Error('cancelled'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
    });

/** Sleeps duration_ms, sending notifications/progress every progress_every_ms before the end. */
async function runSleep({ duration_ms, progress_every_ms }, progressToken, notify, signal) {
    let at = 0;
    if (progress_every_ms && progressToken !== undefined) {
        for (let k = 1; progress_every_ms * k < duration_ms; k++) {
            await sleep(progress_every_ms * k - at, signal);
            at = progress_every_ms * k;
            await notify({
                method: 'notifications/progress',
                params: { progressToken, progress: at, total: duration_ms },
            });
        }
    }
    await sleep(duration_ms - at, signal);
    return { content: [{ type: 'text', text: `slept ${duration_ms} ms` }] };
}

// ---- implementations --------------------------------------------------------------------------
async function loadImpl(impl, cfg, options, mcp) {
    const { z } = await import('zod');
    const sleepSchema = {
        duration_ms: z.number().int().min(0),
        progress_every_ms: z.number().int().positive().optional(),
    };
    const serverInfo = { name: 'middlebox-node-adapter', version: '0.1.0' };
    const serverOptions = { capabilities: capabilitiesFor((mcp.notifications ?? []).map((n) => n.method)) };
    const transportOptions = (store) => {
        const o = {};
        if (store) o.eventStore = store;
        if (mcp.retry_ms != null) o.retryInterval = mcp.retry_ms;
        if (cfg.keepalive && options.keepalive_ms != null) o.keepAliveMs = options.keepalive_ms;
        // no DNS-rebinding protection: the harness sends `Host: server` or an intermediary's name
        o.enableDnsRebindingProtection = false;
        return o;
    };

    if (cfg.family === 'sdk1') {
        const { McpServer } = await import(`${cfg.pkg}/server/mcp.js`);
        const { StreamableHTTPServerTransport } = await import(`${cfg.pkg}/server/streamableHttp.js`);
        const { isInitializeRequest } = await import(`${cfg.pkg}/types.js`);
        return {
            isInitializeRequest,
            makeServer() {
                const server = new McpServer(serverInfo, serverOptions);
                server.registerTool(
                    'sleep',
                    { description: 'Sleeps duration_ms of (virtual) time, reporting progress', inputSchema: sleepSchema },
                    (args, extra) =>
                        runSleep(args, extra._meta?.progressToken, (n) => extra.sendNotification(n), extra.signal),
                );
                return server;
            },
            makeTransport: (o) => new StreamableHTTPServerTransport(o),
            transportOptions,
        };
    }
    const { McpServer, isInitializeRequest } = await import(cfg.server ?? '@modelcontextprotocol/server');
    const { NodeStreamableHTTPServerTransport } = await import(cfg.node ?? '@modelcontextprotocol/node');
    return {
        isInitializeRequest,
        makeServer() {
            const server = new McpServer(serverInfo, serverOptions);
            server.registerTool(
                'sleep',
                { description: 'Sleeps duration_ms of (virtual) time, reporting progress', inputSchema: z.object(sleepSchema) },
                (args, ctx) =>
                    runSleep(args, ctx.mcpReq._meta?.progressToken, (n) => ctx.mcpReq.notify(n), ctx.mcpReq.signal),
            );
            return server;
        },
        makeTransport: (o) => new NodeStreamableHTTPServerTransport(o),
        transportOptions,
    };
}

/**
 * The file URL of the ES module a package folder exports as `.` (its package.json `exports`,
 * the `import` or `default` condition; else `module`, `main`): what `import(NAME)` would load
 * were the package installed under that name.
 */
function entryUrl(dir) {
    const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    let e = manifest.exports;
    if (e && typeof e === 'object' && '.' in e) e = e['.'];
    while (e && typeof e === 'object') e = e.import ?? e.default;
    const file = typeof e === 'string' ? e : (manifest.module ?? manifest.main);
    if (typeof file !== 'string') throw new Error(`start: ${dir}/package.json exports no ES module entry`);
    return pathToFileURL(path.join(dir, file)).href;
}

function validateStart(cmd) {
    const versions = IMPLS[cmd.impl];
    if (!versions) {
        throw new Error(`start: unknown impl ${JSON.stringify(cmd.impl)} (this adapter runs: ${Object.keys(IMPLS).join(', ')})`);
    }
    const dir = cmd.options?.package_dir;
    if (dir != null) {
        // Any other version or a checkout of @modelcontextprotocol/sdk 1.x, installed by the
        // harness into `dir` (the package's own folder; its ESM build in dist/esm). The harness
        // sends keepalive_ms only to versions that have keepAliveMs (1.30.0 and later).
        if (typeof dir !== 'string' || !path.isAbsolute(dir)) throw new Error(`start: package_dir must be an absolute path, got ${JSON.stringify(dir)}`);
        if (cmd.impl === 'ts-server') {
            // Any other 2.x version or a checkout: @modelcontextprotocol/server in `dir`,
            // @modelcontextprotocol/node (which imports the server package from its own
            // folder: the same files) in node_package_dir.
            const nodeDir = cmd.options.node_package_dir;
            if (typeof nodeDir !== 'string' || !path.isAbsolute(nodeDir)) {
                throw new Error(`start: ts-server with package_dir needs node_package_dir, an absolute path, got ${JSON.stringify(nodeDir)}`);
            }
            const cfg = { family: 'server2', server: entryUrl(dir), node: entryUrl(nodeDir), keepalive: true };
            return { cfg, options: checkOptions(cmd, cfg) };
        }
        if (cmd.impl !== 'ts-sdk-server') throw new Error(`start: package_dir is for ts-sdk-server and ts-server only, not ${cmd.impl}`);
        const cfg = { family: 'sdk1', pkg: pathToFileURL(path.join(dir, 'dist', 'esm')).href, keepalive: true };
        return { cfg, options: checkOptions(cmd, cfg) };
    }
    if (cmd.options?.node_package_dir != null) throw new Error('start: node_package_dir goes with package_dir (ts-server only)');
    const cfg = versions[cmd.version];
    if (!cfg) {
        throw new Error(
            `start: ${cmd.impl} has no version ${JSON.stringify(cmd.version)} here (installed: ${Object.keys(versions).join(', ')})`,
        );
    }
    return { cfg, options: checkOptions(cmd, cfg) };
}

function checkOptions(cmd, cfg) {
    const options = cmd.options ?? {};
    for (const k of Object.keys(options)) {
        if (!KNOWN_OPTIONS.has(k)) throw new Error(`start: unknown option ${JSON.stringify(k)} (known: ${[...KNOWN_OPTIONS].join(', ')})`);
    }
    const ka = options.keepalive_ms;
    if (ka != null && !(Number.isInteger(ka) && ka >= 0)) {
        throw new Error(`start: keepalive_ms must be null or a non-negative integer of ms, got ${JSON.stringify(ka)}`);
    }
    if (!cfg.keepalive && ka != null && ka !== 0) {
        throw new Error(
            `start: ${cmd.impl} ${cmd.version} has no SSE keepalive (keepAliveMs arrived in 1.30.0): ` +
                `keepalive_ms ${ka} cannot be set; use null or 0`,
        );
    }
    if (options.event_store != null && typeof options.event_store !== 'boolean') {
        throw new Error('start: event_store must be true or false');
    }
    if (options.test_defect != null && !TEST_DEFECTS.includes(options.test_defect)) {
        throw new Error(`start: unknown test_defect ${JSON.stringify(options.test_defect)} (known: ${TEST_DEFECTS.join(', ')})`);
    }
    if (!Number.isInteger(cmd.epoch_ms)) throw new Error('start: epoch_ms must be an integer');
    return options;
}

const sessions = new Map(); // sid -> { server, transport }
let httpServer = null;

function jsonError(res, status, code, message) {
    const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

async function handle(impl, options, mcp, req, res) {
    const url = new URL(req.url, 'http://server');
    if (url.pathname !== '/mcp') return jsonError(res, 404, -32000, 'Not found');
    const sid = req.headers['mcp-session-id'];
    if (req.method === 'POST') {
        const text = await readBody(req);
        let body;
        try {
            body = JSON.parse(text);
        } catch {
            return jsonError(res, 400, -32700, 'Parse error: Invalid JSON');
        }
        if (sid === undefined) {
            const isInit = Array.isArray(body) ? body.some(impl.isInitializeRequest) : impl.isInitializeRequest(body);
            if (!isInit) return jsonError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
            const entry = {};
            const transport = impl.makeTransport({
                ...impl.transportOptions(options.event_store ? new SessionEventStore() : undefined),
                sessionIdGenerator: () => `s${++handle.sessionCount}`,
                onsessioninitialized: (id) => {
                    sessions.set(id, entry);
                    log('session', id, 'created');
                },
            });
            transport.onclose = () => {
                if (transport.sessionId) sessions.delete(transport.sessionId);
            };
            const server = impl.makeServer();
            Object.assign(entry, { server, transport });
            await server.connect(transport);
            return transport.handleRequest(req, res, body);
        }
        const entry = sessions.get(sid);
        if (!entry) return jsonError(res, 404, -32001, 'Session not found');
        return entry.transport.handleRequest(req, res, body);
    }
    if (req.method === 'GET' || req.method === 'DELETE') {
        if (sid === undefined) return jsonError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
        const entry = sessions.get(sid);
        if (!entry) return jsonError(res, 404, -32001, 'Session not found');
        return entry.transport.handleRequest(req, res);
    }
    res.writeHead(405, { Allow: 'GET, POST, DELETE', 'Content-Length': 0 });
    res.end();
}
handle.sessionCount = 0;

/** Arms one timer for the next scheduled notification time; sends to every live session. */
function scheduleNotifications(list) {
    const pending = [...list].sort((a, b) => a.at_ms - b.at_ms);
    const armNext = () => {
        if (!pending.length) return;
        const at = pending[0].at_ms;
        setTimeout(() => {
            while (pending.length && pending[0].at_ms === at) {
                const n = pending.shift();
                for (const [id, { server }] of sessions) {
                    // through the SDK's own API: no related request, so the transport routes it
                    // to the standalone GET stream (and stores it when an event store is set)
                    // a refusal (a thrown capability check, ...) is reported in the reply
                    const at_ms = nowMs();
                    server.server.notification({ method: n.method, params: n.params }).catch((e) => {
                        log('notification to', id, 'refused:', e?.message ?? e);
                        refused.push({ method: n.method, session: id, reason: String(e?.message ?? e), at_ms });
                    });
                }
            }
            armNext();
        }, Math.max(0, at - Math.round(performance.now())));
    };
    armNext();
}

async function onStart(cmd) {
    const { cfg, options } = validateStart(cmd);
    const mcp = cmd.mcp ?? {};
    for (const n of mcp.notifications ?? []) {
        if (!Number.isInteger(n.at_ms) || n.at_ms < 0 || typeof n.method !== 'string') {
            throw new Error(`start: each mcp.notifications entry needs an integer at_ms >= 0 and a method, got ${JSON.stringify(n)}`);
        }
    }
    installClock({ epochMs: cmd.epoch_ms, seed: cmd.seed ?? 0 });
    if (options.test_defect != null) injectDefect(options.test_defect);
    const impl = await loadImpl(cmd.impl, cfg, options, mcp);
    httpServer = http.createServer((req, res) => {
        res.sendDate = false; // no wall-clock Date header: bytes stay deterministic
        connStorage.run(req.socket.remotePort, () => {
            handle(impl, options, mcp, req, res).catch((e) => {
                log('request failed:', e?.stack ?? e);
                if (!res.headersSent) jsonError(res, 500, -32603, 'Internal error');
                else res.destroy();
            });
        });
    });
    trackServer(httpServer);
    await new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(0, '127.0.0.1', resolve);
    });
    scheduleNotifications(mcp.notifications ?? []);
    return { port: httpServer.address().port };
}

runCommandLoop({
    onStart,
    extraState: () => {
        const out = refused;
        refused = [];
        return { refused: out };
    },
    onShutdown: async () => {
        for (const { transport } of sessions.values()) await transport.close().catch(() => {});
    },
});
