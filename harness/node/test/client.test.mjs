import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Bridge, Child, CLIENT, clientStartCommand } from './harness.mjs';

const bridges = [];
after(() => bridges.forEach((b) => b.kill()));
const note = (at_ms, data) => ({ at_ms, method: 'notifications/message', params: { level: 'info', data } });
const strip = ({ at, ...ev }) => ev;
const appAt = (b, at) => b.app.filter((e) => e.at === at).map(strip);

/** server: event store, 15 s keepalive, retry 3000; notifications n1 at 20 s, n2 at 31 s. */
async function newBridge(opts = {}) {
    const b = new Bridge();
    bridges.push(b);
    await b.start({
        server: { event_store: true, keepalive_ms: 15000 },
        mcp: { retry_ms: 3000, notifications: [note(20000, 'n1'), note(31000, 'n2')] },
        ...opts,
    });
    return b;
}

/** The scripted run the tests below look at, step by step. */
async function scriptedRun(b, steps = {}) {
    await b.act({ do: 'initialize' });
    await steps.initialized?.();
    const open = await b.act({ do: 'open-get-stream', stream: 'get', last_event_id: null });
    await steps.opened?.(open);
    await b.advance(21000);
    await b.act({ do: 'call-tool', stream: 'call', duration_ms: 5000, progress_every_ms: 2000 });
    await b.advance(30000);
    const [get] = b.pairsOf('get');
    b.cut(get);
    await b.advance(30000);
    await steps.cut?.();
    await b.advance(35000);
    await b.act({ do: 'ping' });
    await b.advance(36000);
}

describe('ts-sdk-client 1.32.2 against ts-sdk-server 1.32.2 through the JS bridge', () => {
    const b = new Bridge();
    bridges.push(b);
    let openReply;
    let cutAt;
    test('the scripted run completes', async () => {
        await b.start({
            server: { event_store: true, keepalive_ms: 15000 },
            mcp: { retry_ms: 3000, notifications: [note(20000, 'n1'), note(31000, 'n2')] },
        });
        await scriptedRun(b, {
            opened: (r) => {
                openReply = r;
            },
            cut: () => {
                cutAt = b.pairs.size;
            },
        });
        await b.shutdown();
    });

    test('initialize: session s1, one connection per request, the SDK opens the GET stream itself (tagged get)', () => {
        assert.deepEqual(appAt(b, 0), [
            { kind: 'session', session: 's1' },
            { kind: 'delivered', stream: 'initialize', event_id: '2', message: 'response 0' },
            { kind: 'answered', id: 0, outcome: 'ok' },
        ]);
        const first = [...b.pairs.values()].slice(0, 3);
        assert.deepEqual(
            first.map((p) => p.meta),
            [
                { stream: 'initialize', method: 'POST', path: '/mcp' },
                { stream: 'initialized', method: 'POST', path: '/mcp' },
                { stream: 'get', method: 'GET', path: '/mcp' },
            ],
        );
        for (const p of first) assert.match(p.c.all.toString(), /\r\nconnection: close\r\n/);
        assert.ok(first[0].cClosed && first[1].cClosed, 'the client closed the POST connections after their responses');
        assert.match(first[1].c.all.toString(), /"method":"notifications\/initialized"/);
        assert.match(first[2].c.all.toString(), /\r\nmcp-session-id: s1\r\n/);
        // open-get-stream after initialize names the SDK's own GET: no new connection
        assert.deepEqual(openReply.app, []);
        assert.deepEqual(
            openReply.conns.map((c) => c.stream),
            ['get'],
        );
    });

    test('the 15 s keepalive reaches the client at exactly 15000; n1 is delivered with its event id at 20000', () => {
        const get = b.pairsOf('get')[0];
        const reads = b.clientReplies
            .map((r) => ({ at: r.now_ms, read: r.conns.find((c) => c.conn === get.c.id)?.read }))
            .filter((x) => x.read !== undefined);
        const headers = reads.filter((x) => x.at === 0).at(-1).read; // the response head, at 0
        const firstMore = reads.find((x) => x.read > headers);
        assert.equal(firstMore.at, 15000);
        assert.equal(firstMore.read - headers, Buffer.byteLength('d\r\n: keepalive\n\n\r\n'));
        assert.ok(reads.some((x) => x.at > 14000 && x.at < 15000 && x.read === headers), 'synced just before 15000: nothing yet');
        assert.deepEqual(appAt(b, 20000), [{ kind: 'delivered', stream: 'get', event_id: '3', message: 'notifications/message' }]);
    });

    test('call-tool with progress: progress and result delivered on the call stream, answered at 26000', () => {
        const [call] = b.pairsOf('call');
        assert.deepEqual(call.meta, { stream: 'call', method: 'POST', path: '/mcp' });
        assert.match(call.c.all.toString(), /"name":"sleep","arguments":\{"duration_ms":5000,"progress_every_ms":2000\}/);
        assert.deepEqual(appAt(b, 23000), [{ kind: 'delivered', stream: 'call', event_id: '5', message: 'notifications/progress' }]);
        assert.deepEqual(appAt(b, 25000), [{ kind: 'delivered', stream: 'call', event_id: '6', message: 'notifications/progress' }]);
        assert.deepEqual(appAt(b, 26000), [
            { kind: 'delivered', stream: 'call', event_id: '7', message: 'response 1' },
            { kind: 'answered', id: 1, outcome: 'ok' },
        ]);
        assert.ok(call.cClosed);
    });

    test("cutting the GET: the client reconnects after the server's retry (3000), with Last-Event-ID, and gets n2 replayed", () => {
        assert.deepEqual(appAt(b, 30000), [
            { kind: 'error', stream: 'get', message: 'SSE stream disconnected: TypeError: terminated' },
            { kind: 'reconnecting', stream: 'get', attempt: 1, after_ms: 3000, last_event_id: '3' },
        ]);
        const gets = b.pairsOf('get');
        assert.equal(gets.length, 2);
        const resumed = gets[1];
        assert.equal(resumed.ord, cutAt + 1, 'the next connection the client opened after the cut');
        const opened = b.clientReplies.find((r) => r.conns.some((c) => c.conn === resumed.c.id));
        assert.equal(opened.now_ms, 33000, 'opened at 30000 + retry');
        assert.match(resumed.c.all.toString(), /^GET \/mcp HTTP\/1\.1\r\n/);
        assert.match(resumed.c.all.toString(), /\r\nlast-event-id: 3\r\n/);
        assert.deepEqual(appAt(b, 33000), [{ kind: 'delivered', stream: 'get', event_id: '8', message: 'notifications/message' }]);
        assert.deepEqual(appAt(b, 35000), [
            { kind: 'delivered', stream: 'ping', event_id: '10', message: 'response 2' },
            { kind: 'answered', id: 2, outcome: 'ok' },
        ]);
    });

    test('every client timer is virtual: the SDK timers and the undici tick are listed', () => {
        const delays = new Set(b.clientReplies.flatMap((r) => r.timers.map((t) => t.delay_ms)));
        assert.ok(delays.has(60000), "the SDK's request timeout");
        assert.ok(delays.has(3000), "the SDK's reconnection delay");
        assert.ok(delays.has(499), "undici's fast-timer tick (headersTimeout/bodyTimeout)");
    });
});

describe('client actions and policy', () => {
    test('close-stream on a call: the SDK resumes the POST stream by GET with Last-Event-ID, under the call stream name', async () => {
        const b = await newBridge({ mcp: { retry_ms: 3000, notifications: [] } });
        await b.act({ do: 'initialize' });
        await b.advance(1000);
        await b.act({ do: 'call-tool', stream: 'work', duration_ms: 10000, progress_every_ms: 2000 });
        await b.advance(4000);
        const r = await b.act({ do: 'close-stream', stream: 'work' });
        assert.deepEqual(r.app, [
            { kind: 'error', stream: 'work', message: 'SSE stream disconnected: Error: closed by the client (close-stream)' },
            { kind: 'reconnecting', stream: 'work', attempt: 1, after_ms: 3000, last_event_id: '4' },
        ]);
        assert.deepEqual(
            r.conns.filter((c) => c.stream === 'work').map((c) => c.closed),
            [true],
            'one connection, closed by the client; no idle extra connection',
        );
        await b.advance(12000);
        const work = b.pairsOf('work');
        assert.deepEqual(
            work.map((p) => p.meta.method),
            ['POST', 'GET'],
        );
        assert.match(work[1].c.all.toString(), /\r\nlast-event-id: 4\r\n/);
        assert.deepEqual(
            b.app.filter((e) => e.at >= 7000).map((e) => [e.at, e.kind, e.event_id ?? e.outcome]),
            [
                [7000, 'delivered', '5'],
                [7000, 'delivered', '6'],
                [9000, 'delivered', '7'],
                [11000, 'delivered', '8'],
                [11000, 'answered', 'ok'],
            ],
        );
        await b.shutdown();
    });

    test("a call longer than the SDK's 60 s request timeout is answered `error -32001: Request timed out` at 61000", async () => {
        const b = await newBridge({ mcp: { retry_ms: 3000, notifications: [] } });
        await b.act({ do: 'initialize' });
        await b.advance(1000);
        await b.act({ do: 'call-tool', stream: 'call', duration_ms: 65000 });
        await b.advance(70000);
        // DEFAULT_REQUEST_TIMEOUT_MSEC: the SDK rejects the request 60 s after sending it, with
        // its own McpError, and tells the server (which stops the tool: no result follows).
        assert.deepEqual(
            b.app.filter((e) => e.at > 1000 && e.kind !== 'error').map((e) => [e.at, e.kind, e.message ?? e.outcome]),
            [[61000, 'answered', 'error -32001: Request timed out']],
        );
        assert.match(b.pairsOf('cancel')[0].c.all.toString(), /"method":"notifications\/cancelled"/);
        await b.shutdown();
    });

    test('after delete-session the ended GET is retried per the policy (3 attempts) and the client gives up', async () => {
        const b = await newBridge({ reconnect: { attempts: 3 }, mcp: { retry_ms: 3000, notifications: [] } });
        await b.act({ do: 'initialize' });
        await b.advance(1000);
        await b.act({ do: 'delete-session' });
        await b.advance(20000);
        const kinds = b.app.filter((e) => e.at >= 1000).map((e) => `${e.at} ${e.kind} ${e.attempt ?? e.attempts ?? ('session' in e ? String(e.session) : '')}`);
        assert.deepEqual(kinds, [
            '1000 reconnecting 1',
            '1000 session null',
            '4000 error ',
            '4000 error ',
            '4000 reconnecting 2',
            '7000 error ',
            '7000 error ',
            '7000 reconnecting 3',
            '10000 error ',
            '10000 error ',
            '10000 gave-up 3',
            '10000 error ',
        ]);
        assert.equal(b.pairsOf('delete')[0].meta.method, 'DELETE');
        assert.equal(b.pairsOf('get').length, 4, 'the first GET and three retries');
        await b.shutdown();
    });

    test('protocol errors: unknown impl, version, option, reconnect key, action', async () => {
        const url = 'http://127.0.0.1:9/mcp';
        for (const [patch, re] of [
            [{ impl: 'nope' }, /unknown impl "nope"/],
            [{ version: '0.1' }, /no version "0.1"/],
            [{ options: { colour: 1 } }, /unknown option "colour"/],
            [{ client: { url, reconnect: { jitter: 1 } } }, /unknown client.reconnect key "jitter"/],
            [{ client: {} }, /client.url must be an http:\/\/ URL/],
        ]) {
            const c = new Child({}, CLIENT);
            const r = await c.cmd({ ...clientStartCommand(url), ...patch });
            assert.equal(r.ok, false);
            assert.match(r.error, re);
            c.kill();
        }
        const c = new Child({}, CLIENT);
        assert.equal((await c.cmd(clientStartCommand(url))).ok, true);
        let r = await c.cmd({ op: 'act', action: { do: 'dance' } });
        assert.match(r.error, /unknown action "dance"/);
        r = await c.cmd({ op: 'act', action: { do: 'close-stream', stream: 'get' } });
        assert.match(r.error, /no open connection for stream "get"/);
        c.proc.stdin.end();
        assert.equal(await c.exited, 0);
    });
});

test('two runs of the scripted scenario: identical replies (both children) and identical bytes both ways', async () => {
    const run = async () => {
        const b = await newBridge();
        await scriptedRun(b);
        await b.shutdown();
        // the kernel picks the ports: replace them by ordinals of first appearance
        const ports = new Map();
        for (const p of b.pairs.values()) {
            ports.set(p.c.id, `c${p.ord}`);
            ports.set(p.s.id, `s${p.ord}`);
        }
        ports.set(b.server.port, 'PORT');
        const norm = (line) =>
            JSON.stringify(JSON.parse(line), (k, v) => ((k === 'conn' || k === 'port') && ports.has(v) ? ports.get(v) : v));
        const bytes = b.log.map(([at, side, dir, ord, text]) => [at, side, dir, ord, text.replaceAll(`127.0.0.1:${b.port}`, 'HOST')]);
        return { client: b.client.lines.map(norm), server: b.server.lines.map(norm), bytes };
    };
    const a = await run();
    await new Promise((r) => setTimeout(r, 1100)); // a wall-clock leak would show as a difference
    const c = await run();
    assert.ok(a.client.length > 50);
    assert.deepEqual(a.client, c.client);
    assert.deepEqual(a.server, c.server);
    assert.deepEqual(a.bytes, c.bytes);
    assert.ok(a.bytes.some(([, , , , t]) => t.includes('last-event-id: 3')));
    for (const [, , , , t] of a.bytes) assert.doesNotMatch(t, /^date:/im);
});

describe('undici on virtual time', () => {
    test("without server keepalive, undici's bodyTimeout (300 s, 499 ms fast-timer ticks) cuts the idle GET at 300398 and the SDK reconnects", async () => {
        const b = await newBridge({ server: { event_store: true, keepalive_ms: 0 }, mcp: { retry_ms: 3000, notifications: [] } });
        await b.act({ do: 'initialize' });
        await b.advance(310000);
        assert.deepEqual(
            b.app.filter((e) => e.at > 0),
            [
                { at: 300398, kind: 'error', stream: 'get', message: 'SSE stream disconnected: TypeError: terminated' },
                { at: 300398, kind: 'reconnecting', stream: 'get', attempt: 1, after_ms: 3000, last_event_id: null },
            ],
        );
        const gets = b.pairsOf('get');
        assert.equal(gets.length, 2);
        assert.ok(gets[0].cClosed, 'the client closed the timed-out GET');
        await b.shutdown();
    });

    test('30 virtual minutes of an open GET stream with a 15 s keepalive, through the bridge', async (t) => {
        const b = await newBridge({ mcp: { retry_ms: 3000, notifications: [] } });
        await b.act({ do: 'initialize' });
        const n0 = b.client.lines.length;
        const t0 = performance.now();
        await b.advance(30 * 60 * 1000);
        const wall = performance.now() - t0;
        const syncs = b.client.lines.length - n0;
        const get = b.pairsOf('get')[0];
        const toClient = b.log.filter(([, side, , ord]) => side === 'server' && ord === get.ord).map(([at, , , , text]) => [at, text]);
        const keepalives = toClient.filter(([, text]) => text === 'd\r\n: keepalive\n\n\r\n').map(([at]) => at);
        assert.equal(keepalives.length, 120);
        assert.deepEqual(keepalives.slice(0, 2), [15000, 30000]);
        assert.deepEqual(
            b.app.filter((e) => e.at > 0),
            [],
            'nothing reaches the application; the GET never drops',
        );
        t.diagnostic(
            `30 virtual minutes, ${syncs} client syncs (undici's 499 ms tick sets next_ms) and as many server syncs, ` +
                `in ${wall.toFixed(0)} ms of wall time (${((wall / syncs) * 1000).toFixed(0)} µs per client+server sync pair)`,
        );
        assert.ok(wall < 10000, `took ${wall.toFixed(0)} ms`);
        await b.shutdown();
    });
});
