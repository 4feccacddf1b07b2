// middlebox Node adapter for a user's own program: the child the harness spawns as
// `node harness/node/app.mjs` for `--target node:PATH`.
//
// The contract (README, "Your own Node server, on virtual time"): PATH is a program that
// starts one HTTP server (`app.listen(PORT)`, `server.listen(...)`: whatever port it asks
// for, it gets a free loopback port), or a module whose default export (or `server`, `app` or
// `handler` export) is a `node:http` Server not yet listening or a request handler
// `(req, res)` (an Express or Connect app). The adapter installs the virtual clock first
// (timers, Date, performance.now, Math.random, crypto.randomUUID), then imports PATH, so every
// timer the program or its dependencies arm follows virtual time. PATH's imports resolve from
// PATH's own folder: the program's own node_modules.
import { connStorage, installClock, runCommandLoop, trackServer } from './shim.mjs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const KNOWN_OPTIONS = new Set(['app', 'keepalive_ms', 'event_store', 'test_defect']);
const EXPORTS = ['default', 'server', 'app', 'handler'];
const log = (...a) => process.stderr.write(`[app] ${a.join(' ')}\n`);

let server = null;

// A program that listens itself: its (first) server is the one run, on a loopback port.
const realListen = http.Server.prototype.listen;
let listening = null;
http.Server.prototype.listen = function (...args) {
    if (listening) {
        throw new Error('the program listens on a second HTTP server; middlebox runs one server per program');
    }
    const done = args.find((a) => typeof a === 'function');
    listening = new Promise((resolve, reject) => {
        this.once('listening', () => resolve(this));
        this.once('error', reject);
    });
    listening.server = this;
    return realListen.call(this, 0, '127.0.0.1', done);
};

/** The server to run: PATH's first export among EXPORTS that is a Server or a handler. */
function serverOf(mod, file) {
    for (const name of EXPORTS) {
        let v = mod[name];
        // CommonJS `module.exports = app` arrives as `default`; `exports.app = app` too
        if (name === 'default' && v && typeof v === 'object' && !(v instanceof http.Server)) {
            const inner = EXPORTS.slice(1).map((n) => v[n]).find((x) => x !== undefined);
            if (inner !== undefined) v = inner;
        }
        if (v instanceof http.Server) return v;
        if (typeof v === 'function') return http.createServer(v);
    }
    throw new Error(
        `start: ${file} neither listened nor exports a node:http Server or a request handler; expected a program that calls listen(), ` +
            `or \`export default\` (or an export named server, app or handler) of http.createServer(...) or of a (req, res) handler such as an Express app`,
    );
}

async function onStart(cmd) {
    if (cmd.impl !== 'node-app') throw new Error(`start: this adapter runs impl "node-app", not ${JSON.stringify(cmd.impl)}`);
    const options = cmd.options ?? {};
    for (const k of Object.keys(options)) {
        if (!KNOWN_OPTIONS.has(k)) throw new Error(`start: unknown option ${JSON.stringify(k)} (known: ${[...KNOWN_OPTIONS].join(', ')})`);
    }
    if (typeof options.app !== 'string' || !path.isAbsolute(options.app)) {
        throw new Error(`start: option app must be the program's absolute path, got ${JSON.stringify(options.app)}`);
    }
    if (options.keepalive_ms != null) throw new Error('start: a node: program has no keepalive option (configure it in the program)');
    if (!Number.isInteger(cmd.epoch_ms)) throw new Error('start: epoch_ms must be an integer');
    installClock({ epochMs: cmd.epoch_ms, seed: cmd.seed ?? 0 });
    process.env.PORT = '0'; // a program that reads PORT asks for any port: it gets loopback's
    let mod;
    try {
        mod = await import(pathToFileURL(options.app).href);
    } catch (e) {
        throw new Error(`start: importing ${options.app} failed: ${e?.message ?? e}`);
    }
    if (listening) {
        server = await listening;
    } else {
        server = serverOf(mod, options.app);
    }
    // Each request's handling runs in its connection's context: the timers it arms are
    // reported with their connection.
    const emit = server.emit;
    server.emit = function (event, req, ...rest) {
        if (event === 'request') return connStorage.run(req.socket.remotePort, () => emit.call(this, event, req, ...rest));
        return emit.call(this, event, req, ...rest);
    };
    trackServer(server);
    if (!server.listening) {
        await new Promise((resolve, reject) => {
            server.once('error', reject);
            realListen.call(server, 0, '127.0.0.1', resolve);
        });
    }
    log('serving', options.app, 'on port', server.address().port);
    return { port: server.address().port };
}

runCommandLoop({
    onStart,
    extraState: () => ({ refused: [] }),
    onShutdown: async () => {
        server?.closeAllConnections?.();
    },
});
