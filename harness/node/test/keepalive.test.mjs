import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Child, dechunk, openSessionWithGet } from './harness.mjs';

const FRAME = ': keepalive\n\n';
const children = [];
const child = () => {
    const c = new Child();
    children.push(c);
    return c;
};
after(() => children.forEach((c) => c.kill()));

for (const [impl, version] of [
    ['ts-sdk-server', '1.32.2'],
    ['ts-server', '2.4.0'],
]) {
    describe(`${impl} ${version} GET stream keepalive`, () => {
        test('session s1, 202, SSE GET, one keepalive at exactly 15000, timer attributed and cleared', async () => {
            const c = child();
            await c.start(impl, version, { keepalive_ms: 15000, event_store: false });
            const { sid, initialized, get, getResponse } = await openSessionWithGet(c);
            assert.equal(sid, 's1');
            assert.equal(initialized.status, 202);
            assert.equal(getResponse.status, 200);
            assert.match(getResponse.headers['content-type'], /^text\/event-stream/);
            assert.equal(getResponse.headers.date, undefined, 'no wall-clock Date header');

            let r = await c.sync(14999);
            assert.equal(r.now_ms, 14999);
            assert.equal(r.next_ms, 15000);
            assert.equal(get.lastChunk, '', 'no bytes before the first period');
            const ka = r.timers.filter((t) => t.conn === get.id);
            assert.equal(ka.length, 1, `one timer for the GET conn: ${JSON.stringify(r.timers)}`);
            assert.deepEqual(ka[0], { id: ka[0].id, conn: get.id, delay_ms: 15000, repeat: true });

            r = await c.sync(15000);
            assert.equal(dechunk(get.lastChunk), FRAME, 'exactly one keepalive frame at 15000');
            assert.deepEqual(r.fired, [{ id: ka[0].id, at_ms: 15000 }]);
            assert.equal(r.next_ms, 30000);

            r = await c.sync(15000);
            assert.equal(get.lastChunk, '', 'no second frame without time passing');

            c.endConn(get);
            r = await c.sync(15000);
            assert.equal(r.timers.filter((t) => t.id === ka[0].id).length, 0, 'timer cleared after the client closed');
            const e = r.conns.find((x) => x.conn === get.id);
            assert.ok(e?.closed, `GET conn reported closed: ${JSON.stringify(r.conns)}`);
            r = await c.sync(15000);
            assert.equal(r.conns.find((x) => x.conn === get.id), undefined, 'a closed conn is reported once');
            assert.equal(await c.shutdown(), 0);
        });

        test('one sync to 60000 fires the interval once per period', async () => {
            const c = child();
            await c.start(impl, version, { keepalive_ms: 15000 });
            const { get } = await openSessionWithGet(c);
            const r = await c.sync(60000);
            const id = r.timers.find((t) => t.conn === get.id).id;
            assert.deepEqual(
                r.fired.filter((f) => f.id === id),
                [15000, 30000, 45000, 60000].map((at_ms) => ({ id, at_ms })),
            );
            assert.equal(dechunk(get.lastChunk), FRAME.repeat(4));
            assert.equal(r.next_ms, 75000);
            await c.shutdown();
        });

        test('keepalive_ms 0: no keepalive timer, no bytes', async () => {
            const c = child();
            await c.start(impl, version, { keepalive_ms: 0 });
            const { get } = await openSessionWithGet(c);
            const r = await c.sync(120000);
            assert.deepEqual(r.timers, []);
            assert.equal(r.next_ms, null);
            assert.equal(get.lastChunk, '');
            await c.shutdown();
        });

        test('default keepalive (null) is 15000', async () => {
            const c = child();
            await c.start(impl, version, { keepalive_ms: null });
            const { get } = await openSessionWithGet(c);
            const r = await c.sync(15000);
            assert.equal(dechunk(get.lastChunk), FRAME);
            assert.equal(r.timers.find((t) => t.conn === get.id).delay_ms, 15000);
            await c.shutdown();
        });
    });
}

describe('ts-sdk-server 1.29.0 (no keepalive)', () => {
    test('writes no keepalive and arms no timer', async () => {
        const c = child();
        await c.start('ts-sdk-server', '1.29.0', {});
        const { sid, get, getResponse } = await openSessionWithGet(c);
        assert.equal(sid, 's1');
        assert.equal(getResponse.status, 200);
        const r = await c.sync(60000);
        assert.equal(get.lastChunk, '');
        assert.deepEqual(r.timers, []);
        assert.deepEqual(r.fired, []);
        await c.shutdown();
    });

    test('a keepalive_ms is an error naming the version', async () => {
        const c = child();
        const r = await c.cmd({
            op: 'start',
            v: 1,
            impl: 'ts-sdk-server',
            version: '1.29.0',
            seed: 1,
            epoch_ms: 0,
            options: { keepalive_ms: 15000 },
            mcp: {},
        });
        assert.equal(r.ok, false);
        assert.match(r.error, /1\.29\.0 has no SSE keepalive/);
        c.kill();
    });
});
