import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Child, dechunk, openSessionWithGet } from './harness.mjs';

const children = [];
after(() => children.forEach((c) => c.kill()));

/**
 * One scripted run: initialize, GET, a tool call with progress, scheduled notifications, a
 * GET close, a resume. Returns every stdout reply (verbatim lines) and every connection's
 * bytes, with the ephemeral ports (listening port, harness-side conns) replaced by ordinals:
 * those are the only values the kernel picks.
 */
async function scriptedRun(impl, version) {
    const c = new Child();
    children.push(c);
    await c.start(
        impl,
        version,
        { event_store: true, keepalive_ms: version === '1.29.0' ? null : 15000 },
        {
            notifications: [
                { at_ms: 20000, method: 'notifications/message', params: { level: 'info', data: 'n1' } },
                { at_ms: 50000, method: 'notifications/message', params: { level: 'info', data: 'n2' } },
            ],
        },
    );
    const { sid, get } = await openSessionWithGet(c);
    const call = await c.request('POST', {
        headers: { 'Mcp-Session-Id': sid },
        body: {
            jsonrpc: '2.0',
            id: 2,
            method: 'tools/call',
            params: { name: 'sleep', arguments: { duration_ms: 7000, progress_every_ms: 3000 }, _meta: { progressToken: 2 } },
        },
    });
    await c.sync(1000);
    await c.sync(31000);
    const ids = dechunk(get.all.toString().split('\r\n\r\n').slice(1).join('\r\n\r\n'))
        .split('\n')
        .filter((l) => l.startsWith('id: '));
    c.endConn(get);
    await c.sync(31000);
    const resume = await c.request('GET', { headers: { 'Mcp-Session-Id': sid, 'Last-Event-ID': ids.at(-1).slice(4) } });
    await c.sync(60000);
    c.endConn(call);
    c.endConn(resume);
    await c.sync(61000);
    await c.shutdown();

    const ports = new Map([[c.port, 'PORT']]);
    for (const conn of c.conns.values()) ports.set(conn.id, `conn${ports.size}`);
    const norm = (line) =>
        JSON.stringify(JSON.parse(line), (k, v) => ((k === 'conn' || k === 'port') && ports.has(v) ? ports.get(v) : v));
    return {
        replies: c.lines.map(norm),
        bytes: [...c.conns.values()].map((conn) => conn.all.toString('latin1')),
        ports,
    };
}

for (const [impl, version] of [
    ['ts-sdk-server', '1.32.2'],
    ['ts-sdk-server', '1.29.0'],
    ['ts-server', '2.4.0'],
]) {
    test(`${impl} ${version}: the same commands twice give identical replies and socket bytes`, async () => {
        const a = await scriptedRun(impl, version);
        // more than a second of real time between the runs: a wall-clock leak (a Date header,
        // a timestamp) shows as a difference
        await new Promise((r) => setTimeout(r, 1100));
        const b = await scriptedRun(impl, version);
        for (const s of a.bytes) assert.doesNotMatch(s, /^date:/im);
        assert.ok(a.replies.length > 8);
        assert.ok(a.replies.some((r) => r.includes('"conn":"conn3"')), 'conns normalised to ordinals');
        assert.deepEqual(a.replies, b.replies);
        assert.deepEqual(a.bytes, b.bytes);
        assert.ok(a.bytes.some((s) => s.includes('slept 7000 ms')));
    });
}
