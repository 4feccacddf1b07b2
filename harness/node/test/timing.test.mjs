import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Child, dechunk, openSessionWithGet } from './harness.mjs';

const children = [];
after(() => children.forEach((c) => c.kill()));

for (const [impl, version] of [
    ['ts-sdk-server', '1.32.2'],
    ['ts-server', '2.4.0'],
]) {
    test(`${impl} ${version}: a 30-virtual-minute GET stream (sync every 15 s) runs in well under 3 s`, async (t) => {
        const c = new Child();
        children.push(c);
        await c.start(impl, version, { keepalive_ms: 15000 });
        const { get } = await openSessionWithGet(c);
        const t0 = performance.now();
        let frames = 0;
        let r;
        for (let at = 15000; at <= 30 * 60 * 1000; at += 15000) {
            r = await c.sync(at);
            assert.equal(dechunk(get.lastChunk), ': keepalive\n\n', `one frame at ${at}`);
            frames++;
        }
        const wall = performance.now() - t0;
        assert.equal(frames, 120);
        assert.equal(r.now_ms, 1800000);
        assert.equal(r.next_ms, 1815000);
        t.diagnostic(
            `${impl} ${version}: 30 virtual minutes, 120 syncs, 120 keepalives in ${wall.toFixed(0)} ms of wall time ` +
                `(${(wall / 120).toFixed(2)} ms per sync round trip)`,
        );
        assert.ok(wall < 3000, `took ${wall.toFixed(0)} ms`);
        await c.shutdown();
    });
}
