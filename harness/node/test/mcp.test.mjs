import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Child, dechunk, initializeBody, openSessionWithGet, parseResponse } from './harness.mjs';

const children = [];
const child = (env) => {
    const c = new Child(env);
    children.push(c);
    return c;
};
after(() => children.forEach((c) => c.kill()));

/** Parses SSE text into events [{id, data, retry}] and comment frames ({comment}). */
function sse(text) {
    return text
        .split('\n\n')
        .filter((b) => b.length)
        .map((block) => {
            const ev = {};
            for (const line of block.split('\n')) {
                if (line.startsWith(':')) ev.comment = line;
                else {
                    const k = line.indexOf(':');
                    ev[line.slice(0, k)] = line.slice(k + 1).replace(/^ /, '');
                }
            }
            return ev;
        });
}

const notify = (at_ms, data) => ({ at_ms, method: 'notifications/message', params: { level: 'info', data } });

for (const [impl, version] of [
    ['ts-sdk-server', '1.32.2'],
    ['ts-sdk-server', '1.29.0'],
    ['ts-server', '2.4.0'],
]) {
    describe(`${impl} ${version} MCP behaviour`, () => {
        test('sessions s1, s2; missing session 400; unknown session 404', async () => {
            const c = child();
            await c.start(impl, version, {});
            const ids = [];
            for (let i = 0; i < 2; i++) {
                const conn = await c.request('POST', { body: initializeBody });
                await c.sync(0);
                ids.push(parseResponse(conn.all.toString()).headers['mcp-session-id']);
                conn.close();
            }
            assert.deepEqual(ids, ['s1', 's2']);
            const noSession = await c.request('GET');
            const unknown = await c.request('GET', { headers: { 'Mcp-Session-Id': 's9' } });
            await c.sync(0);
            assert.equal(parseResponse(noSession.all.toString()).status, 400);
            assert.equal(parseResponse(unknown.all.toString()).status, 404);
            await c.shutdown();
        });

        test('sleep tool: progress every 2000 ms on the POST stream, then the result', async () => {
            const c = child();
            await c.start(impl, version, { keepalive_ms: version === '1.29.0' ? null : 0 });
            const { sid } = await openSessionWithGet(c);
            const call = await c.request('POST', {
                headers: { 'Mcp-Session-Id': sid },
                body: {
                    jsonrpc: '2.0',
                    id: 2,
                    method: 'tools/call',
                    params: { name: 'sleep', arguments: { duration_ms: 5000, progress_every_ms: 2000 }, _meta: { progressToken: 2 } },
                },
            });
            await c.sync(1000);
            const head = parseResponse(call.all.toString());
            assert.equal(head.status, 200);
            assert.match(head.headers['content-type'], /^text\/event-stream/);
            let r = await c.sync(4999);
            const seen = sse(dechunk(call.lastChunk)).map((e) => JSON.parse(e.data));
            assert.deepEqual(
                seen.map((m) => m.params.progress),
                [2000, 4000],
            );
            assert.deepEqual(seen[0].params, { progressToken: 2, progress: 2000, total: 5000 });
            r = await c.sync(5000);
            const last = sse(dechunk(call.lastChunk.replace(/0\r\n\r\n$/, '')));
            assert.deepEqual(JSON.parse(last[0].data).result, { content: [{ type: 'text', text: 'slept 5000 ms' }] });
            assert.match(call.lastChunk, /0\r\n\r\n$/, 'the POST stream ends after the result');
            assert.deepEqual(
                r.timers.filter((t) => t.conn === call.id),
                [],
                'no timer left on the finished POST stream',
            );
            await c.shutdown();
        });

        test('scheduled notifications reach the GET stream at their virtual times', async () => {
            const c = child();
            const keepalive_ms = version === '1.29.0' ? null : 0;
            await c.start(impl, version, { event_store: true, keepalive_ms }, { notifications: [notify(20000, 'n1'), notify(40000, 'n2')] });
            const { get } = await openSessionWithGet(c);
            let r = await c.sync(19999);
            assert.equal(get.lastChunk, '');
            r = await c.sync(20000);
            const evs = sse(dechunk(get.lastChunk)).filter((e) => e.data);
            assert.equal(evs.length, 1);
            assert.deepEqual(JSON.parse(evs[0].data), {
                jsonrpc: '2.0',
                method: 'notifications/message',
                params: { level: 'info', data: 'n1' },
            });
            assert.match(evs[0].id, /^[0-9]+$/, 'decimal event id from the adapter store');
            assert.equal(r.next_ms, 40000);
            await c.shutdown();
        });

        test('Last-Event-ID replays the GET stream events missed while disconnected', async () => {
            const c = child();
            await c.start(
                impl,
                version,
                { event_store: true },
                { notifications: [notify(20000, 'n1'), notify(40000, 'n2'), notify(50000, 'n3')] },
            );
            const { sid, get } = await openSessionWithGet(c);
            await c.sync(20000);
            const n1 = sse(dechunk(get.lastChunk)).find((e) => e.data);
            c.endConn(get);
            let r = await c.sync(25000);
            assert.ok(r.conns.find((x) => x.conn === get.id).closed);
            await c.sync(40000); // n2 is stored with no GET stream attached
            const bad = await c.request('GET', { headers: { 'Mcp-Session-Id': sid, 'Last-Event-ID': '999' } });
            const resume = await c.request('GET', { headers: { 'Mcp-Session-Id': sid, 'Last-Event-ID': n1.id } });
            r = await c.sync(40000);
            assert.equal(parseResponse(bad.all.toString()).status, 400, 'unknown event id');
            const res = parseResponse(resume.all.toString());
            assert.equal(res.status, 200);
            const replayed = sse(dechunk(res.body)).filter((e) => e.data);
            assert.deepEqual(
                replayed.map((e) => JSON.parse(e.data).params.data),
                ['n2'],
            );
            assert.ok(Number(replayed[0].id) > Number(n1.id));
            r = await c.sync(50000);
            const live = sse(dechunk(resume.lastChunk)).filter((e) => e.data);
            assert.deepEqual(
                live.map((e) => JSON.parse(e.data).params.data),
                ['n3'],
                'new events of the stream keep arriving on the resumed connection',
            );
            await c.shutdown();
        });
    });
}

describe('protocol errors', () => {
    test('unknown impl, unknown version, unknown option key', async () => {
        for (const [start, re] of [
            [{ impl: 'nope', version: '1' }, /unknown impl "nope"/],
            [{ impl: 'ts-sdk-server', version: '0.1' }, /no version "0.1"/],
            [{ impl: 'ts-server', version: '2.4.0', options: { colour: 1 } }, /unknown option "colour"/],
        ]) {
            const c = child();
            const r = await c.cmd({ op: 'start', v: 1, seed: 1, epoch_ms: 0, options: {}, mcp: {}, ...start });
            assert.equal(r.ok, false);
            assert.match(r.error, re);
            c.kill();
        }
    });

    test('sync below the current time is an error; stdin EOF exits the child', async () => {
        const c = child();
        await c.start('ts-sdk-server', '1.32.2', {});
        assert.equal((await c.sync(1000)).now_ms, 1000);
        const r = await c.cmd({ op: 'sync', to_ms: 999, sent: [] });
        assert.equal(r.ok, false);
        assert.match(r.error, /below the current virtual time 1000/);
        c.proc.stdin.end();
        assert.equal(await c.exited, 0);
    });

    test('a waited-for connection that never arrives is an error after the real-time limit', async () => {
        const c = child({ MIDDLEBOX_SHIM_REAL_LIMIT_MS: '500' });
        await c.start('ts-sdk-server', '1.32.2', {});
        const r = await c.cmd({ op: 'sync', to_ms: 0, sent: [{ conn: 1, bytes: 10, eof: false }] });
        assert.equal(r.ok, false);
        assert.match(r.error, /conn 1 not accepted yet/);
        c.kill();
    });
});
