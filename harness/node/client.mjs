// middlebox Node adapter, client role: the child the harness spawns as
// `node harness/node/client.mjs`. It runs the TypeScript SDK's real `Client` +
// `StreamableHTTPClientTransport` on the virtual clock (harness/CLOCK-PROTOCOL.md, `act`):
// 1.x from `@modelcontextprotocol/sdk` (`ts-sdk-client`), 2.x from `@modelcontextprotocol/client`
// (`ts-client`). Both transports have the same internals this adapter hooks
// (`_startOrAuthSse`, `_handleSseStream`, `_scheduleReconnection`, `_sessionId`); what differs
// is where the classes come from and the error types a rejected request carries.
// The shim is imported first (stdout moved to stderr); undici and the SDK are imported only on
// `start`, after the virtual clock is installed.
import { addActivityKey, addBusyCheck, installClock, runCommandLoop, trackClientSocket } from './shim.mjs';
import { AsyncLocalStorage } from 'node:async_hooks';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const IMPLS = {
    'ts-sdk-client': {
        '1.32.2': { pkg: 'sdk-1.32.2', major: 1 },
    },
    'ts-client': {
        '2.4.0': { pkg: '@modelcontextprotocol/client', major: 2 },
    },
};
const KNOWN_OPTIONS = new Set(['package_dir']);
const RECONNECT_KEYS = new Set(['initial_ms', 'max_ms', 'growth', 'attempts', 'enabled']);
const log = (...a) => process.stderr.write(`[client] ${a.join(' ')}\n`);

/**
 * The logical stream the running code belongs to: entered around each action, around each
 * (re)opening of an SSE GET, and inherited by everything they start (fetches, SSE readers,
 * the SDK's reconnection timers: the shim binds timer callbacks to their creation context).
 */
const streamStorage = new AsyncLocalStorage();
const currentStream = () => streamStorage.getStore()?.stream ?? null;

// ---- what reached the application since the previous reply ---------------------------------
let app = [];
const record = (ev) => {
    app.push(ev);
    log('app', JSON.stringify(ev));
};
addActivityKey(() => app.length);

// ---- connections: one fetch = one request = one TCP connection -----------------------------
/** fetches whose socket is not connected yet: the loop is not quiet while any is pending */
let connecting = 0;
addBusyCheck(() => connecting > 0);
/** stream name -> the latest request made for it: { meta, abort } */
const latest = new Map();

function makeFetch(Agent) {
    return async function middleboxFetch(url, init = {}) {
        const method = String(init.method ?? 'GET').toUpperCase();
        const u = new URL(String(url));
        let stream = currentStream() ?? 'unknown';
        if (method === 'POST' && typeof init.body === 'string') {
            // the initialize action sends two requests: name the second after its message
            try {
                const m = JSON.parse(init.body);
                if (m?.method === 'notifications/initialized') stream = 'initialized';
                else if (m?.method === 'notifications/cancelled') stream = 'cancel';
            } catch {
                // not JSON: keep the action's name
            }
        }
        if (method === 'DELETE') stream = 'delete';
        const meta = { stream, method, path: u.pathname + u.search };
        const ctl = new AbortController();
        const signal = init.signal ? AbortSignal.any([init.signal, ctl.signal]) : ctl.signal;
        let pending = true;
        connecting++;
        const settle = () => {
            if (pending) {
                pending = false;
                connecting--;
            }
        };
        const req = { meta, abort: () => ctl.abort(new Error('closed by the client (close-stream)')) };
        latest.set(stream, req);
        let used = false;
        // A fresh dispatcher per request: its one socket carries this request only and is
        // closed when the response ends (pipelining 0 = no keep-alive, `connection: close`).
        const agent = new Agent({
            pipelining: 0,
            maxRequestsPerClient: 1,
            connect(opts, cb) {
                // After an aborted response undici 6.24.1 opens one more, idle connection for
                // the dispatcher (Node's global fetch does the same); refuse it: one request,
                // one connection.
                if (used) return cb(new Error('middlebox: one request per connection (idle reconnect refused)'));
                used = true;
                const socket = net.connect({ host: opts.hostname, port: Number(opts.port) || 80 });
                socket.setNoDelay(true); // as undici's own connector: no Nagle delay on small writes
                let done = false;
                socket.once('connect', () => {
                    if (done) return;
                    done = true;
                    req.rec = trackClientSocket(socket, meta);
                    settle();
                    socket.once('close', () => agent.close().catch(() => {}));
                    cb(null, socket);
                });
                socket.once('error', (e) => {
                    if (done) return;
                    done = true;
                    settle();
                    cb(e);
                });
            },
        });
        try {
            return await fetch(url, { ...init, signal, dispatcher: agent });
        } finally {
            settle();
        }
    };
}

// ---- the SDK objects ------------------------------------------------------------------------
let client = null;
let transport = null;
let connectPromise = null;
let connected = false;
/** the name the standalone GET stream is reported under (open-get-stream may rename it) */
let getName = 'get';
let getOpened = false;
/** the SDK's major version (1: @modelcontextprotocol/sdk, 2: @modelcontextprotocol/client) */
let major = 1;

const STREAM = Symbol('middlebox stream name');
/** Wraps an SSE stream's resumption-token callback: records the event id, tags the stream. */
let lastEvent = null; // { stream, id } of the event being handed over right now
function tokenCallback(stream, inner) {
    const cb = (id) => {
        lastEvent = { stream, id };
        // the SDK calls onmessage synchronously after this for the same event; forget it
        // before anything else can run
        queueMicrotask(() => {
            if (lastEvent?.id === id) lastEvent = null;
        });
        return inner?.(id);
    };
    cb[STREAM] = stream;
    return cb;
}

const label = (m) => {
    if (m && 'method' in m) return m.method;
    if (m && 'id' in m) return `response ${m.id}`;
    return 'unknown';
};

async function build(cfg, cmd) {
    major = cfg.major;
    const { Agent } = await import('undici');
    const sdk =
        cfg.major === 1
            ? { ...(await import(`${cfg.pkg}/client/index.js`)), ...(await import(`${cfg.pkg}/client/streamableHttp.js`)) }
            : await import(cfg.pkg);
    const { Client, StreamableHTTPClientTransport } = sdk;
    const outcomeOf = cfg.major === 1 ? (e) => outcomeOf1(e, sdk.StreamableHTTPError) : (e) => outcomeOf2(e, sdk);
    const r = cmd.client.reconnect ?? {};
    const reconnectionOptions = {
        initialReconnectionDelay: r.initial_ms ?? 1000,
        maxReconnectionDelay: r.max_ms ?? 30000,
        reconnectionDelayGrowFactor: r.growth ?? 2.0,
        maxRetries: r.enabled === false ? 0 : (r.attempts ?? 5),
    };
    transport = new StreamableHTTPClientTransport(new URL(cmd.client.url), {
        fetch: makeFetch(Agent),
        reconnectionOptions,
    });
    client = new Client({ name: 'middlebox-client', version: '0.1.0' }, { capabilities: {} });
    // The SDK internals hooked below (those of 1.29.0 to 1.32.2, and of 2.4.0, which has no
    // `_requestResolvers`): a version without one fails here, naming it, rather than running
    // unobserved.
    const clientHooks = ['_onresponse', '_onnotification', '_responseHandlers', '_progressHandlers', '_notificationHandlers', '_requestMessageId'];
    if (cfg.major === 1) clientHooks.push('_requestResolvers');
    const hooked = [
        [transport, ['_sessionId', '_handleSseStream', '_startOrAuthSse', '_scheduleReconnection', '_getNextReconnectionDelay']],
        [client, clientHooks],
    ];
    const known = cfg.major === 1 ? '1.29.0 to 1.32.2' : '2.4.0';
    for (const [o, names] of hooked) {
        for (const n of names) {
            if (!(n in o)) throw new Error(`start: this SDK's ${o === client ? 'Client' : 'StreamableHTTPClientTransport'} has no ${n}, which the adapter hooks (as in ${known})`);
        }
    }

    // session: the transport keeps it in `_sessionId`; report every change
    let sid = transport._sessionId;
    Object.defineProperty(transport, '_sessionId', {
        configurable: true,
        get: () => sid,
        set: (v) => {
            if (v !== sid) record({ kind: 'session', session: v ?? null });
            sid = v;
        },
    });

    // What the transport hands over: the message with its stream and SSE event id, read by
    // the SDK's dispatch right after (Protocol.connect chains the handler set here first, and
    // calls _onresponse / _onnotification synchronously with the same object). A message the
    // transport received is not yet one the application got.
    let arriving = null;
    transport.onmessage = (message) => {
        const ev = lastEvent;
        lastEvent = null;
        arriving = { message, stream: ev?.stream ?? currentStream(), event_id: ev?.id ?? null };
    };
    const delivered = (message) => {
        const a = arriving?.message === message ? arriving : null;
        arriving = null;
        record({
            kind: 'delivered',
            stream: a?.stream ?? currentStream(),
            event_id: a?.event_id ?? null,
            message: label(message),
        });
    };
    transport.onerror = (error) => {
        record({ kind: 'error', stream: currentStream(), message: String(error?.message ?? error) });
    };
    transport.onclose = () => log('transport closed');

    // every SSE stream: tag its resumption-token callback with its stream name (the tag
    // travels with the SDK's reconnection options, so a resuming GET keeps the name)
    const handleSse = transport._handleSseStream;
    transport._handleSseStream = function (stream, options, isReconnectable) {
        const o = { ...options };
        if (!o.onresumptiontoken?.[STREAM]) o.onresumptiontoken = tokenCallback(currentStream() ?? 'unknown', options?.onresumptiontoken);
        return handleSse.call(this, stream, o, isReconnectable);
    };
    // (re)opening a GET: the standalone stream after `initialized`, or a resumption
    const startSse = transport._startOrAuthSse;
    // (2.x adds auth-retry arguments: passed on as they are)
    transport._startOrAuthSse = function (options, ...rest) {
        const stream = options?.onresumptiontoken?.[STREAM] ?? getName;
        if (stream === getName) getOpened = true;
        const o = { ...options };
        if (!o.onresumptiontoken?.[STREAM]) o.onresumptiontoken = tokenCallback(stream, options?.onresumptiontoken);
        return streamStorage.run({ stream }, () => startSse.call(this, o, ...rest));
    };
    // reconnection decisions
    const schedule = transport._scheduleReconnection;
    transport._scheduleReconnection = function (options, attemptCount = 0) {
        const stream = options?.onresumptiontoken?.[STREAM] ?? currentStream() ?? getName;
        const max = this._reconnectionOptions.maxRetries;
        if (attemptCount >= max) {
            record({ kind: 'gave-up', stream, attempts: attemptCount });
            if (stream === getName) getOpened = false;
        } else {
            record({
                kind: 'reconnecting',
                stream,
                attempt: attemptCount + 1,
                after_ms: this._getNextReconnectionDelay(attemptCount),
                last_event_id: options?.resumptionToken ?? null,
            });
        }
        return streamStorage.run({ stream }, () => schedule.call(this, options, attemptCount));
    };

    // Delivered = where the application receives it. A response is delivered when the SDK
    // hands it to the request still waiting for it; one for a request the SDK already gave up
    // (its 60 s DEFAULT_REQUEST_TIMEOUT_MSEC, "Request timed out") is discarded as an unknown
    // message id and is not. A notification is delivered when the SDK has a handler for it
    // (the application listens to every method: fallbackNotificationHandler); a progress
    // notification when its request's progress callback is still registered.
    client.fallbackNotificationHandler = async () => {};
    const onresponse = client._onresponse;
    client._onresponse = function (response) {
        const id = Number(response.id);
        // (`_requestResolvers`: 1.x task requests; 2.x has none)
        if (this._requestResolvers?.has(id) || this._responseHandlers.has(id)) delivered(response);
        return onresponse.call(this, response);
    };
    const onnotification = client._onnotification;
    client._onnotification = function (n) {
        const handled =
            n.method === 'notifications/progress'
                ? this._progressHandlers.has(Number(n.params?.progressToken))
                : Boolean(this._notificationHandlers.get(n.method) ?? this.fallbackNotificationHandler);
        if (handled) delivered(n);
        return onnotification.call(this, n);
    };

    // answered requests: Client.connect/ping/callTool all go through client.request; the
    // outcome is what the application's promise settled with
    const request = client.request;
    client.request = function (...args) {
        const id = this._requestMessageId;
        const p = request.apply(this, args);
        p.then(
            () => record({ kind: 'answered', id, outcome: 'ok' }),
            (e) => record({ kind: 'answered', id, outcome: outcomeOf(e) }),
        );
        return p;
    };
}

/**
 * A rejected request in trace words (1.x): `error <code>: <message>` for a JSON-RPC error (the
 * server's, or the SDK's own McpError such as -32001 "Request timed out"), `http <status>` for
 * an HTTP failure of the transport, else `error: <message>`.
 */
function outcomeOf1(e, StreamableHTTPError) {
    const m = /^MCP error (-?\d+): ([\s\S]*)$/.exec(String(e?.message ?? ''));
    if (m) return `error ${m[1]}: ${m[2]}`;
    if (e instanceof StreamableHTTPError && e.code >= 100) return `http ${e.code}`;
    return `error: ${e?.message ?? e}`;
}

/**
 * The same for 2.x: `error <code>: <message>` for a JSON-RPC error (ProtocolError, numeric
 * code) and for the SDK's own errors (SdkError, a string code such as `REQUEST_TIMEOUT`
 * "Request timed out"), `http <status>` for an HTTP failure (SdkHttpError), else
 * `error: <message>`.
 */
function outcomeOf2(e, { ProtocolError, SdkError, SdkHttpError }) {
    if (e instanceof SdkHttpError && e.status >= 100) return `http ${e.status}`;
    if (e instanceof ProtocolError || e instanceof SdkError) return `error ${e.code}: ${e.message}`;
    return `error: ${e?.message ?? e}`;
}

// ---- actions --------------------------------------------------------------------------------
const quietly = (p) => p.catch((e) => log('action ended with', e?.message ?? e));

const ACTIONS = {
    initialize() {
        if (connectPromise) throw new Error('act initialize: already initialized (one initialize per client)');
        connectPromise = streamStorage.run({ stream: 'initialize' }, () => client.connect(transport));
        connectPromise.then(
            () => {
                connected = true;
            },
            (e) => log('initialize failed:', e?.message ?? e),
        );
    },
    'open-get-stream'(a) {
        const name = a.stream ?? 'get';
        const lastId = a.last_event_id ?? undefined;
        const rename = () => {
            const old = getName;
            getName = name;
            const req = latest.get(old);
            if (req && old !== name && req.meta.method === 'GET') {
                req.meta.stream = name;
                latest.delete(old);
                latest.set(name, req);
            }
        };
        const open = () =>
            quietly(
                streamStorage.run({ stream: name }, () =>
                    // the transport's own GET opening (a resumption when an id is given)
                    lastId !== undefined ? transport.resumeStream(lastId) : transport._startOrAuthSse({ resumptionToken: undefined }),
                ),
            );
        if (!connected && connectPromise) {
            // initialize still under way: the SDK opens the standalone GET itself right after
            // `initialized`, which this names; a given id is sent on a GET of its own after that
            getName = name;
            if (lastId !== undefined) connectPromise.then(open, () => {});
            return;
        }
        if (getOpened && lastId === undefined) {
            rename(); // already opened by the SDK: this names it
            return;
        }
        getName = name;
        open();
    },
    'call-tool'(a) {
        const name = a.stream ?? 'call';
        if (!Number.isInteger(a.duration_ms)) throw new Error('act call-tool: duration_ms must be an integer of ms');
        const args = { duration_ms: a.duration_ms };
        if (a.progress_every_ms != null) args.progress_every_ms = a.progress_every_ms;
        const options = { onprogress: (p) => log('progress', JSON.stringify(p)) };
        // 1.x: callTool(params, resultSchema, options); 2.x: callTool(params, options)
        const p = streamStorage.run({ stream: name }, () =>
            major === 1
                ? client.callTool({ name: 'sleep', arguments: args }, undefined, options)
                : client.callTool({ name: 'sleep', arguments: args }, options),
        );
        quietly(p);
    },
    'close-stream'(a) {
        const req = latest.get(a.stream);
        if (!req || !req.rec || req.rec.closed) {
            throw new Error(`act close-stream: no open connection for stream ${JSON.stringify(a.stream)}`);
        }
        req.abort();
    },
    ping() {
        quietly(streamStorage.run({ stream: 'ping' }, () => client.ping()));
    },
    'delete-session'() {
        quietly(streamStorage.run({ stream: 'delete' }, () => transport.terminateSession()));
    },
};

async function onAct(action) {
    const f = ACTIONS[action?.do];
    if (!f) throw new Error(`act: unknown action ${JSON.stringify(action?.do)} (known: ${Object.keys(ACTIONS).join(', ')})`);
    f(action);
}

// ---- start ----------------------------------------------------------------------------------
function validateStart(cmd) {
    const versions = IMPLS[cmd.impl];
    if (!versions) {
        throw new Error(`start: unknown impl ${JSON.stringify(cmd.impl)} (this adapter runs: ${Object.keys(IMPLS).join(', ')})`);
    }
    for (const k of Object.keys(cmd.options ?? {})) {
        if (!KNOWN_OPTIONS.has(k)) throw new Error(`start: unknown option ${JSON.stringify(k)} (the client role takes package_dir only)`);
    }
    const dir = cmd.options?.package_dir;
    // Any other version or a checkout of @modelcontextprotocol/sdk 1.x, installed by the
    // harness into `dir` (the package's own folder; its ESM build in dist/esm).
    if (dir != null && (typeof dir !== 'string' || !path.isAbsolute(dir))) {
        throw new Error(`start: package_dir must be an absolute path, got ${JSON.stringify(dir)}`);
    }
    if (dir != null && cmd.impl !== 'ts-sdk-client') {
        throw new Error(`start: package_dir is for ts-sdk-client (1.x) only, not ${cmd.impl}`);
    }
    const cfg = dir != null ? { pkg: pathToFileURL(path.join(dir, 'dist', 'esm')).href, major: 1 } : versions[cmd.version];
    if (!cfg) {
        throw new Error(
            `start: ${cmd.impl} has no version ${JSON.stringify(cmd.version)} here (installed: ${Object.keys(versions).join(', ')})`,
        );
    }
    if (!Number.isInteger(cmd.epoch_ms)) throw new Error('start: epoch_ms must be an integer');
    const url = cmd.client?.url;
    if (typeof url !== 'string' || !/^http:\/\//.test(url)) {
        throw new Error(`start: client.url must be an http:// URL of the harness listener, got ${JSON.stringify(url)}`);
    }
    const r = cmd.client.reconnect ?? {};
    for (const k of Object.keys(r)) {
        if (!RECONNECT_KEYS.has(k)) throw new Error(`start: unknown client.reconnect key ${JSON.stringify(k)} (known: ${[...RECONNECT_KEYS].join(', ')})`);
    }
    return cfg;
}

async function onStart(cmd) {
    const cfg = validateStart(cmd);
    installClock({ epochMs: cmd.epoch_ms, seed: cmd.seed ?? 0 });
    await build(cfg, cmd);
    return {};
}

runCommandLoop({
    onStart,
    onAct,
    extraState: () => {
        const out = app;
        app = [];
        return { app: out };
    },
    onShutdown: async () => {
        await transport?.close().catch(() => {});
    },
});
