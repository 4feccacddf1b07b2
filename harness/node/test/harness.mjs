// A small stand-in for the Rust harness: spawns server.mjs, speaks the clock protocol, opens
// raw loopback connections (one HTTP/1.1 request each) and reads exactly the bytes the child
// reports as written.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SERVER = path.join(here, '..', 'server.mjs');
export const CLIENT = path.join(here, '..', 'client.mjs');
export const REVISION = '2025-11-25';

export function startCommand(impl, version, options = {}, mcp = {}) {
    return {
        op: 'start',
        v: 1,
        impl,
        version,
        seed: 42,
        epoch_ms: 1767225600000,
        options,
        mcp: { revision: REVISION, retry_ms: 3000, notifications: [], ...mcp },
    };
}

export class Child {
    constructor(env = {}, script = SERVER) {
        this.proc = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
        this.lines = []; // every stdout line, verbatim
        this.stderr = '';
        this.waiters = [];
        this.conns = new Map();
        this.sentSinceSync = new Set();
        let buf = '';
        this.proc.stdout.setEncoding('utf8');
        this.proc.stdout.on('data', (d) => {
            buf += d;
            let i;
            while ((i = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, i);
                buf = buf.slice(i + 1);
                this.lines.push(line);
                const w = this.waiters.shift();
                if (w) w.resolve(line);
            }
        });
        this.proc.stderr.setEncoding('utf8');
        this.proc.stderr.on('data', (d) => {
            this.stderr += d;
        });
        this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
        this.proc.on('exit', () => {
            for (const w of this.waiters.splice(0)) w.reject(new Error(`child exited; stderr:\n${this.stderr.slice(-2000)}`));
        });
    }

    /** Sends one command line and resolves to its parsed reply. */
    cmd(obj) {
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no reply to ${obj.op} in 15 s; stderr:\n${this.stderr.slice(-2000)}`)), 15000);
            this.waiters.push({
                resolve: (line) => {
                    clearTimeout(timer);
                    resolve(JSON.parse(line));
                },
                reject: (e) => {
                    clearTimeout(timer);
                    reject(e);
                },
            });
            this.proc.stdin.write(`${JSON.stringify(obj)}\n`);
        });
    }

    async start(impl, version, options, mcp) {
        const r = await this.cmd(startCommand(impl, version, options, mcp));
        if (!r.ok) throw new Error(`start failed: ${r.error}`);
        this.port = r.port;
        return r;
    }

    /** Opens a connection and writes one request; returns the Conn (registered for the next sync). */
    async request(method, { body, headers = {} } = {}) {
        const socket = net.connect(this.port, '127.0.0.1');
        await new Promise((resolve, reject) => {
            socket.once('connect', resolve);
            socket.once('error', reject);
        });
        const conn = new Conn(socket);
        this.conns.set(conn.id, conn);
        let head =
            `${method} /mcp HTTP/1.1\r\nHost: server\r\nConnection: close\r\n` +
            'Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n' +
            `MCP-Protocol-Version: ${REVISION}\r\n`;
        for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
        const payload = body === undefined ? '' : JSON.stringify(body);
        if (method === 'POST') head += `Content-Length: ${Buffer.byteLength(payload)}\r\n`;
        conn.write(`${head}\r\n${payload}`);
        this.sentSinceSync.add(conn);
        return conn;
    }

    /** Half-closes the client side of `conn` (reported as eof at the next sync). */
    endConn(conn) {
        conn.socket.end();
        conn.eof = true;
        this.sentSinceSync.add(conn);
    }

    /** sync to `to`, then reads from every connection exactly the new bytes the child reports. */
    async sync(to) {
        const sent = [...this.sentSinceSync].map((c) => ({ conn: c.id, bytes: c.written, eof: c.eof }));
        this.sentSinceSync.clear();
        const r = await this.cmd({ op: 'sync', to_ms: to, sent });
        if (!r.ok) throw new Error(`sync ${to} failed: ${r.error}`);
        for (const e of r.conns) {
            const c = this.conns.get(e.conn);
            if (c) c.lastChunk = await c.readTo(e.written);
        }
        return r;
    }

    async shutdown() {
        if (this.proc.exitCode !== null) return this.proc.exitCode;
        const r = await this.cmd({ op: 'shutdown' });
        if (!r.ok) throw new Error('shutdown failed');
        return this.exited;
    }

    kill() {
        if (this.proc.exitCode === null) this.proc.kill();
    }
}

export class Conn {
    constructor(socket, id = socket.localPort) {
        this.socket = socket;
        this.id = id;
        this.written = 0;
        this.eof = false;
        this.buf = Buffer.alloc(0);
        this.consumed = 0; // bytes taken out by readTo
        this.all = Buffer.alloc(0); // everything received, for whole-response checks
        this.lastChunk = '';
        this.closedByPeer = false;
        this.onData = null;
        socket.on('data', (d) => {
            this.buf = Buffer.concat([this.buf, d]);
            this.all = Buffer.concat([this.all, d]);
            this.onData?.();
        });
        socket.on('end', () => {
            this.closedByPeer = true;
            this.onData?.();
        });
        socket.on('error', () => {});
    }

    write(s) {
        this.socket.write(s);
        this.written += Buffer.byteLength(s);
    }

    /** Reads until `total` bytes have been received in all; returns the new bytes as a string. */
    async readTo(total) {
        return (await this.readBytesTo(total)).toString('utf8');
    }

    /** Like readTo, as a Buffer. */
    async readBytesTo(total) {
        const n = total - this.consumed;
        if (n < 0) throw new Error(`child reports ${total} bytes written on ${this.id} but ${this.consumed} were already read`);
        const deadline = Date.now() + 3000;
        while (this.buf.length < n) {
            if (Date.now() > deadline) throw new Error(`conn ${this.id}: expected ${n} new bytes, got ${this.buf.length}`);
            await new Promise((r) => {
                this.onData = r;
                setTimeout(r, 20);
            });
        }
        this.onData = null;
        if (this.buf.length > n) throw new Error(`conn ${this.id}: ${this.buf.length} bytes arrived, the child reported ${n}`);
        const out = this.buf;
        this.buf = Buffer.alloc(0);
        this.consumed = total;
        return out;
    }

    close() {
        this.socket.destroy();
    }
}

/** Decodes an HTTP/1.1 chunked body fragment (whole chunks only). */
export function dechunk(s) {
    let out = '';
    let i = 0;
    while (i < s.length) {
        const nl = s.indexOf('\r\n', i);
        if (nl < 0) throw new Error(`bad chunk framing at ${i}: ${JSON.stringify(s.slice(i))}`);
        const size = parseInt(s.slice(i, nl), 16);
        if (Number.isNaN(size)) throw new Error(`bad chunk size: ${JSON.stringify(s.slice(i, nl))}`);
        out += s.slice(nl + 2, nl + 2 + size);
        i = nl + 2 + size + 2;
    }
    return out;
}

/** Splits a raw HTTP response into status, headers (lower-cased) and body. */
export function parseResponse(s) {
    const end = s.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`no complete header block in ${JSON.stringify(s.slice(0, 200))}`);
    const [statusLine, ...lines] = s.slice(0, end).split('\r\n');
    const headers = {};
    for (const l of lines) {
        const k = l.indexOf(':');
        headers[l.slice(0, k).trim().toLowerCase()] = l.slice(k + 1).trim();
    }
    return { status: Number(statusLine.split(' ')[1]), headers, body: s.slice(end + 4) };
}

export const initializeBody = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: REVISION, capabilities: {}, clientInfo: { name: 'middlebox-test', version: '0' } },
};

/** initialize + notifications/initialized + GET /mcp; returns { sid, get }. */
export async function openSessionWithGet(child, { at = 0 } = {}) {
    const init = await child.request('POST', { body: initializeBody });
    await child.sync(at);
    const r = parseResponse(init.lastChunk);
    if (r.status !== 200) throw new Error(`initialize answered ${r.status}: ${init.lastChunk}`);
    const sid = r.headers['mcp-session-id'];
    init.close();
    const note = await child.request('POST', {
        body: { jsonrpc: '2.0', method: 'notifications/initialized' },
        headers: { 'Mcp-Session-Id': sid },
    });
    await child.sync(at);
    const nr = parseResponse(note.lastChunk);
    note.close();
    const get = await child.request('GET', { headers: { 'Mcp-Session-Id': sid } });
    await child.sync(at);
    return { sid, init: r, initialized: nr, get, getResponse: parseResponse(get.lastChunk) };
}

// ---- client role: a JS stand-in for the Rust bridge ---------------------------------------------
export const CLIENT_IMPL = ['ts-sdk-client', '1.32.2'];

export function clientStartCommand(url, reconnect = {}) {
    return {
        op: 'start',
        v: 1,
        impl: CLIENT_IMPL[0],
        version: CLIENT_IMPL[1],
        seed: 42,
        epoch_ms: 1767225600000,
        options: {},
        mcp: { revision: REVISION, retry_ms: null, notifications: [] },
        client: { url, reconnect: { initial_ms: 1000, max_ms: 30000, growth: 2.0, attempts: 5, ...reconnect } },
    };
}

/**
 * Plays the network between client.mjs and server.mjs: a loopback listener the client connects
 * to, one connection to the server per client connection, bytes forwarded in the exact counts
 * the children report, both clocks kept at the same virtual time (server synced first at each
 * instant, then the client, repeated until nothing moves).
 */
export class Bridge {
    constructor({ serverEnv = {}, clientEnv = {} } = {}) {
        this.server = new Child(serverEnv, SERVER);
        this.client = new Child(clientEnv, CLIENT);
        this.now = 0;
        this.pairs = new Map(); // client conn (the client's local port) -> pair
        this.byServerConn = new Map();
        this.accepted = new Map(); // client port -> accepted socket, not yet paired
        this.app = []; // every app event with the virtual time of the reply that carried it
        this.clientReplies = []; // every parsed client reply, in order
        this.nextMs = { server: null, client: null };
        this.pendingS = new Set(); // pairs with something to report to the server
        this.pendingC = new Set();
        this.log = []; // [time, side, direction, conn ordinal, text] of everything forwarded
        this.listener = net.createServer((s) => {
            s.pause();
            this.accepted.set(s.remotePort, s);
        });
    }

    async start({ server = {}, mcp = {}, reconnect = {} } = {}) {
        await new Promise((r) => this.listener.listen(0, '127.0.0.1', r));
        this.port = this.listener.address().port;
        const rs = await this.server.start('ts-sdk-server', '1.32.2', server, mcp);
        this.nextMs.server = rs.next_ms;
        const rc = await this.client.cmd(clientStartCommand(`http://127.0.0.1:${this.port}/mcp`, reconnect));
        if (!rc.ok) throw new Error(`client start failed: ${rc.error}\n${this.client.stderr.slice(-2000)}`);
        await this.onClientReply(rc);
        return rc;
    }

    /** One client action at the current time, then everything it causes at this instant. */
    async act(action) {
        const r = await this.client.cmd({ op: 'act', action });
        if (!r.ok) throw new Error(`act ${action.do} failed: ${r.error}\n${this.client.stderr.slice(-2000)}`);
        await this.onClientReply(r);
        await this.settle(this.now);
        return r;
    }

    /** Advances both clocks to `to`, deadline by deadline of either child. */
    async advance(to) {
        await this.settle(this.now);
        for (;;) {
            const ds = [this.nextMs.server, this.nextMs.client].filter((d) => d !== null && d !== undefined);
            const d = ds.length ? Math.min(...ds) : null;
            if (d === null || d > to) break;
            this.now = d;
            await this.settle(d);
        }
        this.now = to;
        await this.settle(to);
    }

    /** Syncs server then client at `t` until no bytes or ends move between them. */
    async settle(t) {
        for (let round = 0; round < 100; round++) {
            await this.syncServer(t);
            await this.syncClient(t);
            if (!this.pendingS.size && !this.pendingC.size) return;
        }
        throw new Error(`bridge: bytes kept moving at ${t} ms for 100 rounds`);
    }

    async pairFor(port) {
        let p = this.pairs.get(port);
        if (p) return p;
        const deadline = Date.now() + 3000;
        while (!this.accepted.has(port)) {
            if (Date.now() > deadline) throw new Error(`bridge: the client reports conn ${port}, never accepted`);
            await new Promise((r) => setTimeout(r, 2));
        }
        const cs = this.accepted.get(port);
        this.accepted.delete(port);
        const ss = net.connect(this.server.port, '127.0.0.1');
        await new Promise((resolve, reject) => {
            ss.once('connect', resolve);
            ss.once('error', reject);
        });
        p = { c: new Conn(cs, port), s: new Conn(ss), cClosed: false, sClosed: false, cut: false, ord: this.pairs.size + 1 };
        cs.resume();
        this.pairs.set(port, p);
        this.byServerConn.set(p.s.id, p);
        return p;
    }

    async onClientReply(r) {
        let moved = 0;
        this.nextMs.client = r.next_ms;
        this.clientReplies.push(r);
        for (const ev of r.app ?? []) this.app.push({ at: r.now_ms, ...ev });
        for (const e of r.conns) {
            const p = await this.pairFor(e.conn);
            p.meta = { stream: e.stream, method: e.method, path: e.path };
            if (p.cut) {
                p.c.consumed = e.written;
            } else {
                const bytes = await p.c.readBytesTo(e.written);
                if (bytes.length && !p.sClosed) {
                    p.s.write(bytes);
                    this.log.push([r.now_ms, 'client', 'out', p.ord, bytes.toString('utf8')]);
                    this.pendingS.add(p);
                    moved++;
                }
            }
            if ((e.ended || e.closed) && !p.s.eof && !p.sClosed) {
                p.s.socket.end();
                p.s.eof = true;
                this.pendingS.add(p);
                moved++;
            }
            if (e.closed) p.cClosed = true;
        }
        return moved;
    }

    async syncClient(t) {
        const sent = [...this.pendingC].filter((p) => !p.cClosed).map((p) => ({ conn: p.c.id, bytes: p.c.written, eof: p.c.eof }));
        this.pendingC.clear();
        const r = await this.client.cmd({ op: 'sync', to_ms: t, sent });
        if (!r.ok) throw new Error(`client sync ${t} failed: ${r.error}\n${this.client.stderr.slice(-3000)}`);
        return this.onClientReply(r);
    }

    async syncServer(t) {
        const sent = [...this.pendingS].filter((p) => !p.sClosed).map((p) => ({ conn: p.s.id, bytes: p.s.written, eof: p.s.eof }));
        this.pendingS.clear();
        const r = await this.server.cmd({ op: 'sync', to_ms: t, sent });
        if (!r.ok) throw new Error(`server sync ${t} failed: ${r.error}\n${this.server.stderr.slice(-3000)}`);
        this.nextMs.server = r.next_ms;
        this.lastServer = r;
        let moved = 0;
        for (const e of r.conns) {
            const p = this.byServerConn.get(e.conn);
            if (!p) continue;
            if (p.cut) {
                p.s.consumed = e.written;
            } else {
                const bytes = await p.s.readBytesTo(e.written);
                if (bytes.length && !p.cClosed) {
                    p.c.socket.write(bytes);
                    p.c.written += bytes.length;
                    this.log.push([t, 'server', 'in', p.ord, bytes.toString('utf8')]);
                    this.pendingC.add(p);
                    moved++;
                }
            }
            if ((e.ended || e.closed) && !p.c.eof && !p.cClosed) {
                p.c.socket.end();
                p.c.eof = true;
                this.pendingC.add(p);
                moved++;
            }
            if (e.closed) p.sClosed = true;
        }
        return moved;
    }

    /** The server side of a pair goes away: the bridge destroys its server connection and ends the client's. */
    cut(pair) {
        pair.cut = true;
        pair.s.socket.destroy();
        pair.sClosed = true;
        pair.c.socket.end();
        pair.c.eof = true;
        this.pendingC.add(pair);
    }

    pairsOf(stream) {
        return [...this.pairs.values()].filter((p) => p.meta?.stream === stream);
    }

    async shutdown() {
        await this.client.shutdown();
        await this.server.shutdown();
        this.listener.close();
        for (const p of this.pairs.values()) {
            p.c.socket.destroy();
            p.s.socket.destroy();
        }
    }

    kill() {
        this.client.kill();
        this.server.kill();
        this.listener.close();
    }
}
