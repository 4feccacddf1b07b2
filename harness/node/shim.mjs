// middlebox clock shim for Node (CLOCK-PROTOCOL.md, version 1).
//
// Import this module first: it moves the process's own stdout to stderr at once (the protocol
// replies keep the only handle to the real stdout), and `installClock` (called on `start`,
// before any implementation module is imported) puts setTimeout/setInterval/Date on a virtual
// clock driven by the harness's `sync` commands.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import timersModule from 'node:timers';

const require = createRequire(import.meta.url);

// ---- stdout: replies only -------------------------------------------------------------
const stdout = process.stdout;
const writeReplyRaw = stdout.write.bind(stdout);
stdout.write = (...args) => process.stderr.write(...args);

// ---- real loop primitives, saved before anything is faked ---------------------------------
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetImmediate = globalThis.setImmediate;
const realDateNow = Date.now;
const realNow = () => realDateNow();

/** The connection (harness-side port) whose request handling is running, or undefined. */
export const connStorage = new AsyncLocalStorage();

const state = {
    clock: null,
    epochMs: 0,
    nextTimerId: 1,
    /** fake-timers id -> { id, conn, delay_ms, repeat } */
    timers: new Map(),
    fired: [],
    /** real Timeout handles of zero-delay setTimeout calls still pending */
    zeroPending: new Set(),
    zeroRuns: 0,
    /** conn (remote port) -> record */
    conns: new Map(),
    servers: new Set(),
    fatal: null,
};

const log = (...a) => process.stderr.write(`[shim] ${a.join(' ')}\n`);

// ---- randomness ----------------------------------------------------------------------------
function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

function seedRandomness(seed) {
    const rand = mulberry32(Number(seed) || 0);
    Math.random = rand;
    const hex = (n) => {
        let s = '';
        for (let i = 0; i < n; i++) s += Math.floor(rand() * 16).toString(16);
        return s;
    };
    // RFC 4122 v4 layout, bits from the seeded generator.
    const uuid = () => {
        const variant = '89ab'[Math.floor(rand() * 4)];
        return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
    };
    if (globalThis.crypto) globalThis.crypto.randomUUID = uuid;
    const nodeCrypto = require('node:crypto');
    nodeCrypto.randomUUID = uuid;
    nodeCrypto.webcrypto.randomUUID = uuid;
    require('node:module').syncBuiltinESMExports();
}

// ---- virtual clock -------------------------------------------------------------------------
export function nowMs() {
    return state.clock ? state.clock.now - state.epochMs : 0;
}

/**
 * Installs the virtual clock (Date = epochMs + now_ms, timers virtual) and seeds randomness.
 * Must run before any implementation module is imported.
 */
export function installClock({ epochMs, seed }) {
    if (state.clock) throw new Error('clock already installed');
    const FakeTimers = require('@sinonjs/fake-timers');
    state.epochMs = epochMs;
    const clock = FakeTimers.install({
        now: epochMs,
        toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
        shouldClearNativeTimers: true,
        loopLimit: 1_000_000,
    });
    state.clock = clock;
    const fakeSetTimeout = globalThis.setTimeout;
    const fakeClearTimeout = globalThis.clearTimeout;
    const fakeSetInterval = globalThis.setInterval;
    const fakeClearInterval = globalThis.clearInterval;

    const isZeroDelay = (delay) => {
        const d = Number(delay);
        return !(d >= 1 && d <= 2 ** 31 - 1); // Node coerces these to 1 ms: run on the real loop
    };

    const track = (fakeSet, repeat) =>
        function (fn, delay, ...args) {
            if (typeof fn !== 'function') return fakeSet(fn, delay, ...args); // throws like Node
            const bound = AsyncLocalStorage.bind(fn);
            if (!repeat && isZeroDelay(delay)) {
                // zero-delay setTimeout goes to the real loop (ADAPTERS.md: hono's body sniff)
                const handle = realSetTimeout(() => {
                    state.zeroPending.delete(handle);
                    state.zeroRuns++;
                    bound(...args);
                }, 0);
                state.zeroPending.add(handle);
                return handle;
            }
            const rec = {
                id: state.nextTimerId++,
                conn: connStorage.getStore() ?? null,
                delay_ms: isZeroDelay(delay) ? 1 : Math.trunc(Number(delay)),
                repeat,
            };
            const handle = fakeSet(function () {
                state.fired.push({ id: rec.id, at_ms: nowMs() });
                return bound(...args);
            }, rec.delay_ms);
            state.timers.set(Number(handle), rec);
            return handle;
        };

    const clear = (fakeClear) =>
        function (handle) {
            if (handle != null && state.zeroPending.has(handle)) {
                state.zeroPending.delete(handle);
                return realClearTimeout(handle);
            }
            if (handle != null && typeof handle === "object" && !(Symbol.toPrimitive in handle)) {
                // a real Timeout created before the clock was installed
                return realClearTimeout(handle);
            }
            return fakeClear(handle);
        };

    globalThis.setTimeout = track(fakeSetTimeout, false);
    globalThis.setInterval = track(fakeSetInterval, true);
    globalThis.clearTimeout = clear(fakeClearTimeout);
    globalThis.clearInterval = clear(fakeClearInterval);
    timersModule.setTimeout = globalThis.setTimeout;
    timersModule.setInterval = globalThis.setInterval;
    timersModule.clearTimeout = globalThis.clearTimeout;
    timersModule.clearInterval = globalThis.clearInterval;
    require('node:module').syncBuiltinESMExports();

    // monotonic clock reads now_ms
    try {
        globalThis.performance.now = () => nowMs();
    } catch (e) {
        log('could not virtualise performance.now:', e.message);
    }
    seedRandomness(seed);
}

/**
 * Test-only defects the harness's own tests inject into the implementation's environment
 * (start option `test_defect`), to show a check failing on a real implementation for a real
 * reason. Never set by a scenario.
 *  - `clear-interval-noop`: clearInterval does nothing, so an interval once armed (an SDK's
 *    keepalive) keeps firing after its stream is gone.
 */
export const TEST_DEFECTS = ['clear-interval-noop'];

/** Injects test defect `name` (after installClock, before the implementation is imported). */
export function injectDefect(name) {
    if (!state.clock) throw new Error('injectDefect before installClock');
    if (name !== 'clear-interval-noop') {
        throw new Error(`start: unknown test_defect ${JSON.stringify(name)} (known: ${TEST_DEFECTS.join(', ')})`);
    }
    const noop = function clearInterval() {};
    globalThis.clearInterval = noop;
    timersModule.clearInterval = noop;
    require('node:module').syncBuiltinESMExports();
    log('TEST DEFECT injected: clearInterval is a no-op');
}

function liveTimers() {
    const out = [];
    const live = state.clock?.timers;
    for (const [fid, rec] of state.timers) {
        if (live && live.has(fid)) out.push(rec);
        else state.timers.delete(fid);
    }
    return out.sort((a, b) => a.id - b.id);
}

function earliestDeadline() {
    const live = state.clock?.timers;
    if (!live) return null;
    let min = null;
    for (const t of live.values()) if (min === null || t.callAt < min) min = t.callAt;
    return min;
}

// ---- connections ---------------------------------------------------------------------------
/** Tracks every connection an implementation server accepts. */
export function trackServer(server) {
    state.servers.add(server);
    server.on('connection', (socket) => addConn(socket.remotePort, socket));
}

/**
 * Tracks a connection the implementation opened as a client (call it once the socket is
 * connected): its conn is the socket's LOCAL port, the harness listener's remote port.
 * `extra` (e.g. { stream, method, path }) is reported with the connection, read at each reply.
 */
export function trackClientSocket(socket, extra) {
    return addConn(socket.localPort, socket, extra);
}

function addConn(conn, socket, extra) {
    const rec = { conn, socket, extra, sawEnd: false, finished: false, closed: false, reportedClosed: false, read: 0, written: 0 };
    state.conns.set(conn, rec);
    socket.on('end', () => {
        rec.sawEnd = true;
    });
    socket.on('finish', () => {
        rec.finished = true;
    });
    socket.on('close', () => {
        rec.read = socket.bytesRead;
        rec.written = socket.bytesWritten;
        rec.closed = true;
    });
    return rec;
}

/** Extra "not quiet" conditions (e.g. a client request still connecting): fn() -> truthy = busy. */
const busyChecks = [];
export function addBusyCheck(fn) {
    busyChecks.push(fn);
}
/** Extra activity: fn() -> a value whose change between turns means "not quiet". */
const activityKeys = [];
export function addActivityKey(fn) {
    activityKeys.push(fn);
}

const bytesRead = (r) => (r.closed ? r.read : r.socket.bytesRead);
const bytesWritten = (r) => (r.closed ? r.written : r.socket.bytesWritten);

// ---- loop turns, quiet, flush --------------------------------------------------------------
const turn = () => new Promise((r) => realSetImmediate(r));
const QUIET_TURNS = 3;
// real-time limit on a wait (protocol: 10 s); tests may shorten it
const REAL_LIMIT_MS = Number(process.env.MIDDLEBOX_SHIM_REAL_LIMIT_MS) || 10_000;

function signature() {
    let read = 0;
    let written = 0;
    let pending = 0;
    let ended = 0;
    for (const r of state.conns.values()) {
        read += bytesRead(r);
        written += bytesWritten(r);
        if (!r.closed) pending += r.socket.writableLength;
        ended += (r.sawEnd ? 1 : 0) + (r.finished ? 2 : 0) + (r.closed ? 4 : 0);
    }
    let key = `${state.conns.size}/${read}/${written}/${ended}/${state.zeroRuns}/${state.fired.length}`;
    for (const k of activityKeys) key += `/${k()}`;
    return {
        key,
        busy: pending > 0 || state.zeroPending.size > 0 || busyChecks.some((f) => f()),
    };
}

/** Runs real loop turns until QUIET_TURNS consecutive turns saw no I/O and nothing pending. */
async function runUntilQuiet(what) {
    const start = realNow();
    let last = null;
    let quiet = 0;
    for (;;) {
        await turn();
        if (state.fatal) throw state.fatal;
        const sig = signature();
        if (!sig.busy && sig.key === last) quiet++;
        else quiet = 0;
        last = sig.key;
        if (quiet >= QUIET_TURNS) return;
        if (realNow() - start > REAL_LIMIT_MS) {
            throw new Error(
                `${what}: the child did not become quiet within ${REAL_LIMIT_MS} ms of real time ` +
                    `(pending zero-delay timers: ${state.zeroPending.size}; unflushed bytes pending: ${sig.busy}); ` +
                    'hint: a socket the harness does not read, or a busy loop in the implementation',
            );
        }
    }
}

async function waitSent(sent) {
    const start = realNow();
    let spins = 0;
    for (;;) {
        const missing = [];
        for (const s of sent) {
            const r = state.conns.get(s.conn);
            if (!r) missing.push(`conn ${s.conn} not accepted yet`);
            else if (bytesRead(r) < s.bytes) missing.push(`conn ${s.conn} read ${bytesRead(r)} of ${s.bytes} bytes`);
            else if (s.eof && !r.sawEnd && !r.closed) missing.push(`conn ${s.conn} has not seen end-of-stream`);
        }
        if (!missing.length) return;
        if (state.fatal) throw state.fatal;
        if (realNow() - start > REAL_LIMIT_MS) {
            throw new Error(
                `sync: waited ${REAL_LIMIT_MS} ms of real time for the harness's bytes: ${missing.join('; ')}; ` +
                    'hint: is `sent` cumulative, and is the conn the harness-side local port?',
            );
        }
        spins++;
        if (spins < 2000) await turn();
        else await new Promise((r) => realSetTimeout(r, 1));
    }
}

// ---- state reply ---------------------------------------------------------------------------
function stateReply(extra = {}) {
    const conns = [];
    for (const r of [...state.conns.values()].sort((a, b) => a.conn - b.conn)) {
        if (r.reportedClosed) continue;
        conns.push({
            conn: r.conn,
            ...(r.extra ?? {}),
            read: bytesRead(r),
            written: bytesWritten(r),
            ended: r.finished,
            closed: r.closed,
        });
        if (r.closed) r.reportedClosed = true;
    }
    const d = earliestDeadline();
    return {
        ok: true,
        ...extra,
        now_ms: nowMs(),
        next_ms: d === null ? null : d - state.epochMs,
        conns,
        timers: liveTimers().map((t) => ({ id: t.id, conn: t.conn, delay_ms: t.delay_ms, repeat: t.repeat })),
        fired: state.fired.slice(),
        ...(hooks.extraState?.() ?? {}),
    };
}

/** Hooks of the role-specific adapter (client role: `extraState` adds `app`). */
const hooks = {};

// ---- commands ------------------------------------------------------------------------------
async function doSync(cmd) {
    const to = cmd.to_ms;
    if (!Number.isInteger(to)) throw new Error(`sync: to_ms must be an integer of virtual ms, got ${JSON.stringify(to)}`);
    if (to < nowMs()) throw new Error(`sync: to_ms ${to} is below the current virtual time ${nowMs()}`);
    const sent = cmd.sent ?? [];
    if (!Array.isArray(sent)) throw new Error('sync: `sent` must be a list of {conn, bytes, eof}');
    state.fired = [];
    await waitSent(sent);
    await runUntilQuiet('sync (after delivery)');
    const clock = state.clock;
    const target = state.epochMs + to;
    for (;;) {
        const d = earliestDeadline();
        if (d === null || d > target) break;
        // fire every timer due at d, one at a time, with a real loop turn between them
        while (earliestDeadline() === d) {
            if (process.env.SHIM_DEBUG) log('next at', d - state.epochMs, 'now', clock.now - state.epochMs);
            clock.next();
            if (process.env.SHIM_DEBUG) log('fired; earliest now', String(earliestDeadline() === null ? null : earliestDeadline() - state.epochMs));
            await turn();
        }
        await runUntilQuiet(`sync (after the timers at ${d - state.epochMs} ms)`);
    }
    if (clock.now < target) clock.tick(target - clock.now);
    // flush barrier: quiet means every socket's writableLength is 0 and nothing is pending
    await runUntilQuiet('sync (flush barrier)');
    return stateReply();
}

/**
 * Runs the JSON-lines command loop on stdin/stdout. `onStart(cmd)` installs the clock (via
 * installClock), builds the implementation and resolves to { port }.
 */
export function runCommandLoop({ onStart, onShutdown, onAct, extraState }) {
    hooks.extraState = extraState;
    process.on('uncaughtException', (err) => {
        log('uncaught exception:', err?.stack ?? String(err));
        state.fatal = new Error(`the implementation threw an uncaught exception: ${err?.message ?? err} (stack on stderr)`);
    });
    process.on('unhandledRejection', (err) => {
        log('unhandled rejection (logged, not fatal):', err?.stack ?? String(err));
    });

    let buf = '';
    let started = false;
    let chain = Promise.resolve();
    const reply = (obj) => writeReplyRaw(`${JSON.stringify(obj)}\n`);

    const handle = async (line) => {
        let cmd;
        try {
            cmd = JSON.parse(line);
        } catch (e) {
            return reply({ ok: false, error: `unparseable command line (${e.message}): ${line.slice(0, 200)}` });
        }
        try {
            if (state.fatal) throw state.fatal;
            switch (cmd.op) {
                case 'start': {
                    if (started) throw new Error('start: sent twice (exactly one start per child)');
                    if (cmd.v !== 1) throw new Error(`start: protocol version ${cmd.v} unsupported (this adapter speaks v 1)`);
                    started = true;
                    const { port } = await onStart(cmd);
                    await runUntilQuiet('start');
                    return reply(stateReply({ port }));
                }
                case 'sync':
                    if (!started) throw new Error('sync before start');
                    return reply(await doSync(cmd));
                case 'act':
                    if (!onAct) break;
                    if (!started) throw new Error('act before start');
                    state.fired = [];
                    await onAct(cmd.action);
                    // runs until quiet; quiet includes the flush (nothing unflushed on any socket)
                    await runUntilQuiet(`act ${JSON.stringify(cmd.action?.do)}`);
                    return reply(stateReply());
                case 'shutdown':
                    reply({ ok: true });
                    await shutdown(onShutdown, 0);
                    return;
            }
            throw new Error(`unknown op ${JSON.stringify(cmd.op)} (expected start, sync${onAct ? ', act' : ''} or shutdown)`);
        } catch (e) {
            log('command failed:', e?.stack ?? String(e));
            return reply({ ok: false, error: String(e?.message ?? e) });
        }
    };

    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (line) chain = chain.then(() => handle(line));
        }
    });
    process.stdin.on('end', () => {
        // channel closed: exit at once, no orphans
        process.exit(0);
    });
}

async function shutdown(onShutdown, code) {
    try {
        await onShutdown?.();
    } catch (e) {
        log('shutdown hook failed:', e?.message ?? e);
    }
    for (const r of state.conns.values()) if (!r.closed) r.socket.destroy();
    for (const s of state.servers) s.close();
    process.exit(code);
}

