// Handles and purge, the official client's own way: @polycentric/polycentric-core's
// APIMethods.postClaimHandle / getResolveHandle (unsigned claims, which Agora
// accepts under its default `open` handle policy), and its purge flow
// (getChallenge, ProcessHandle.solveChallenge, postPurge).
//
//   AGORA_SERVER=http://127.0.0.1:8081 node --test interop/handles.test.mjs
//
// The official calls only say ok / not ok, so each refusal is also checked
// with a plain fetch for Agora's status and message (the reference answered
// 500 to a taken or unknown handle; Agora answers 409 and 404).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { APIMethods, Models, ProcessHandle, Protocol } from '@polycentric/polycentric-core';
import { stopHandle } from './common.mjs';

const SERVER = (process.env.AGORA_SERVER ?? '').replace(/\/+$/, '');
const WAIT_MS = Number(process.env.AGORA_INTEROP_WAIT_MS ?? 20000);
const RUN = crypto.randomBytes(4).toString('hex');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function rawClaim(system, handle) {
    const response = await fetch(`${SERVER}/claim_handle`, {
        method: 'POST',
        body: Protocol.ClaimHandleRequest.encode({ system, handle }).finish(),
    });
    return { status: response.status, text: await response.text() };
}

async function rawResolve(handle) {
    const response = await fetch(`${SERVER}/resolve_handle?handle=${encodeURIComponent(handle)}`);
    return { status: response.status, text: await response.text() };
}

async function serverHolds(system) {
    const ranges = await APIMethods.getRanges(SERVER, system);
    return ranges.rangesForProcesses.reduce((n, p) => n + p.ranges.length, 0);
}


describe('official client handle flow against Agora', { skip: SERVER === '' && 'AGORA_SERVER is not set' }, () => {
    let a;
    let b;
    const first = `a-${RUN}`;
    const second = `a_${RUN}-2`;

    before(async () => {
        a = await ProcessHandle.createTestProcessHandle();
        b = await ProcessHandle.createTestProcessHandle();
    });

    after(() => {
        for (const h of [a, b]) if (h) stopHandle(h);
    });

    test('A claims a handle and it resolves to A', async () => {
        await APIMethods.postClaimHandle(SERVER, { system: a.system(), handle: first });
        const resolved = await APIMethods.getResolveHandle(SERVER, first);
        assert.ok(Models.PublicKey.equal(resolved, a.system()), 'resolves to A');
    });

    test('A re-claims another handle: the new one resolves, the old one is gone (404)', async () => {
        await APIMethods.postClaimHandle(SERVER, { system: a.system(), handle: second });
        const resolved = await APIMethods.getResolveHandle(SERVER, second);
        assert.ok(Models.PublicKey.equal(resolved, a.system()), 'resolves to A');
        await assert.rejects(APIMethods.getResolveHandle(SERVER, first), /!ok/);
        const raw = await rawResolve(first);
        assert.equal(raw.status, 404, raw.text);
    });

    test('a handle with a bad character is refused (400, the reference message)', async () => {
        await assert.rejects(
            APIMethods.postClaimHandle(SERVER, { system: b.system(), handle: 'no spaces!' }),
            /!ok/,
        );
        const raw = await rawClaim(b.system(), 'no spaces!');
        assert.equal(raw.status, 400);
        assert.match(raw.text, /may only have uppercase and lowercase letters/);
    });

    test('a handle over 64 bytes is refused (400), 64 is fine', async () => {
        const long = 'x'.repeat(56) + RUN + 'y';
        assert.equal(long.length, 65);
        await assert.rejects(
            APIMethods.postClaimHandle(SERVER, { system: b.system(), handle: long }),
            /!ok/,
        );
        const raw = await rawClaim(b.system(), long);
        assert.equal(raw.status, 400);
        assert.match(raw.text, /between 1 and 64 characters/);
        await APIMethods.postClaimHandle(SERVER, { system: b.system(), handle: long.slice(0, 64) });
        const resolved = await APIMethods.getResolveHandle(SERVER, long.slice(0, 64));
        assert.ok(Models.PublicKey.equal(resolved, b.system()));
    });

    test("B cannot take A's handle (409 naming the holder)", async () => {
        await assert.rejects(
            APIMethods.postClaimHandle(SERVER, { system: b.system(), handle: second }),
            /!ok/,
        );
        const raw = await rawClaim(b.system(), second);
        assert.equal(raw.status, 409);
        assert.match(raw.text, /taken/);
        const resolved = await APIMethods.getResolveHandle(SERVER, second);
        assert.ok(Models.PublicKey.equal(resolved, a.system()), 'still A');
    });

    test("the official purge flow removes A's events and handle; the challenge cannot be replayed", async () => {
        await a.addServer(SERVER);
        await a.post(`handles ${RUN}: purge me`);
        await ProcessHandle.fullSync(a);
        const deadline = Date.now() + WAIT_MS;
        while ((await serverHolds(a.system())) === 0) {
            assert.ok(Date.now() < deadline, 'server never got A\'s events');
            await sleep(100);
        }
        // Stop A's background sync first, or it could publish A's events again.
        stopHandle(a);
        const challenge = await APIMethods.getChallenge(SERVER);
        const solved = await ProcessHandle.solveChallenge(a, challenge);
        await APIMethods.postPurge(SERVER, solved);
        assert.equal(await serverHolds(a.system()), 0, 'no events of A remain');
        const raw = await rawResolve(second);
        assert.equal(raw.status, 404, "A's handle was released");
        await assert.rejects(APIMethods.postPurge(SERVER, solved), /!ok/);
        const replay = await fetch(`${SERVER}/purge`, {
            method: 'POST',
            body: Protocol.HarborValidateRequest.encode(solved).finish(),
        });
        assert.equal(replay.status, 401);
        assert.match(await replay.text(), /already used/);
    });
});
