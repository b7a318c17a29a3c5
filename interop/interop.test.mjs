// Interoperability test: the official TypeScript client
// (@polycentric/polycentric-core, pinned in package.json) against a running
// Agora server.
//
//   AGORA_SERVER=http://127.0.0.1:8081 node --test interop/
//
// Optional: AGORA_INTEROP_TRACE=1 prints every HTTP request the client makes;
// AGORA_INTEROP_WAIT_MS (default 20000) bounds each wait for the server.
// Without AGORA_SERVER the suite is skipped. Every run uses fresh random keys,
// so the server need not be empty. Assumes moderation is off (the default).
//
// Events are built and signed by the official client (ProcessHandle.post,
// setUsername, follow, opinion, ...); they are pushed with the client's own
// synchronisation and read back with its own queries and APIMethods.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import Long from 'long';
import {
    APIMethods,
    Models,
    ProcessHandle,
    Queries,
    Util,
    Version,
} from '@polycentric/polycentric-core';
import {
    SERVER,
    CT,
    sleep,
    waitFor,
    observeUntil,
    queryIndexUntil,
    cellPostTexts,
    stopHandle,
    decodeEvent,
    postText,
    bytesEqual,
    postStatsQuery,
    assertPointerTo,
    serverRanges,
} from './common.mjs';

const TRACE = process.env.AGORA_INTEROP_TRACE === '1';
const RUN = crypto.randomBytes(4).toString('hex');

// ---------------------------------------------------------------- tracing --
// The client's bundled fetch goes through node:http, so wrapping
// http.request shows exactly which routes and parameters it uses.
if (TRACE) {
    beforeEach((t) => console.log(`[trace] --- ${t.name}`));
    const original = http.request;
    http.request = function tracedRequest(...args) {
        const req = original.apply(this, args);
        const target = new URL(req.path, 'http://x');
        const keys = [...target.searchParams.keys()].join(',');
        console.log(`[trace] ${req.method} ${target.pathname}` + (keys ? ` ?${keys}` : ''));
        return req;
    };
}

// ---------------------------------------------------------------- helpers --
// (The shared ones are in common.mjs.)
const hex = (b) => Buffer.from(b).toString('hex');
const u64 = (n) => Long.fromNumber(n, true);

// Local ranges of one process of `system` in `handle`'s store, as [low, high] numbers.
async function localRanges(handle, system, proc) {
    const state = await handle.store().indexProcessStates.getProcessState(system, proc);
    return state.ranges.map((r) => [r.low.toNumber(), r.high.toNumber()]);
}

// True when every range of `want` lies inside one range of `got`.
function rangesCover(got, want) {
    return want.every(([lo, hi]) => got.some(([glo, ghi]) => glo <= lo && hi <= ghi));
}

// Push one handle's events with the official one-shot sync, then poll
// GET /ranges until the server holds every local event of that process.
async function syncAndWait(handle) {
    await ProcessHandle.fullSync(handle);
    const want = await localRanges(handle, handle.system(), handle.process());
    await waitFor(`server /ranges to cover ${JSON.stringify(want)}`, async () => {
        const got = await serverRanges(handle.system(), handle.process());
        return { ok: rangesCover(got, want), detail: JSON.stringify(got) };
    });
    return want;
}

// ------------------------------------------------------------------ tests --
describe('official polycentric-core client against Agora', { skip: SERVER === '' && 'AGORA_SERVER is not set' }, () => {
    // Identity A, process 1 (the author); identity B (a reader); A's process 2.
    let a1;
    let b;
    let a2;
    const username = `agora-interop-${RUN}`;
    const description = `Interop description ${RUN}: ünïcödé ✓`;
    const postTexts = [1, 2, 3, 4].map((i) => `interop ${RUN} post ${i}`);
    const replyText = `interop ${RUN} reply to post 1`;
    const a2PostText = `interop ${RUN} post from process 2`;
    const posts = [];
    let reply;
    let follow;
    let like;
    let a1Ranges;

    before(async () => {
        a1 = await ProcessHandle.createTestProcessHandle();
        b = await ProcessHandle.createTestProcessHandle();
        assert.ok(!Models.PublicKey.equal(a1.system(), b.system()), 'A and B must be different identities');
    });

    after(() => {
        for (const h of [a1, b, a2]) if (h) stopHandle(h);
    });

    test('client package loads as expected', () => {
        assert.equal(typeof Version.SHA, 'string');
        assert.equal(typeof ProcessHandle.fullSync, 'function');
        assert.equal(typeof APIMethods.getQueryReferences, 'function');
    });

    test('A publishes profile, posts, reply, follow and like, and syncs them to the server', async () => {
        await a1.addServer(SERVER);
        await a1.setUsername(username);
        await a1.setDescription(description);
        for (const text of postTexts) {
            posts.push(await a1.post(text));
            await sleep(3); // distinct unix_milliseconds keep the query_index order unambiguous
        }
        reply = await a1.post(replyText, undefined, Models.pointerToReference(posts[0]));
        await sleep(3);
        follow = await a1.follow(b.system());
        await sleep(3);
        like = await a1.opinion(Models.pointerToReference(posts[0]), Models.Opinion.OpinionLike);

        a1Ranges = await syncAndWait(a1);
        // addServer, username, description, 4 posts, reply, follow, like = 10 events.
        assert.deepEqual(a1Ranges, [[1, 10]]);
        assert.equal(like.logicalClock.toNumber(), 10);
    });

    test('server returns the exact signed bytes via /ranges, /events and /head', async () => {
        const ranges = await APIMethods.getRanges(SERVER, a1.system());
        assert.equal(ranges.rangesForProcesses.length, 1, 'only one process of A exists so far');

        // Fetch in batches of <= 20 like the synchroniser does (here: one batch).
        const events = await APIMethods.getEvents(SERVER, a1.system(), ranges); // verifies signatures
        assert.equal(events.events.length, 10);
        const byClock = new Map(events.events.map((e) => [decodeEvent(e).logicalClock.toNumber(), e]));
        for (let lc = 1; lc <= 10; lc++) {
            const local = await a1.store().indexEvents.getSignedEvent(a1.system(), a1.process(), u64(lc));
            const remote = byClock.get(lc);
            assert.ok(remote, `server is missing lc ${lc}`);
            assert.ok(bytesEqual(remote.event, local.event), `event bytes of lc ${lc} must be stored verbatim`);
            assert.ok(bytesEqual(remote.signature, local.signature), `signature of lc ${lc}`);
        }

        // A partial range returns only that slice.
        const slice = await APIMethods.getEvents(
            SERVER,
            a1.system(),
            Models.Ranges.rangesForSystemFromProto({
                rangesForProcesses: [{ process: a1.process(), ranges: [{ low: u64(4), high: u64(6) }] }],
            }),
        );
        assert.deepEqual(slice.events.map((e) => decodeEvent(e).logicalClock.toNumber()).sort(), [4, 5, 6]);

        const head = await APIMethods.getHead(SERVER, a1.system());
        const heads = head.events.map(decodeEvent).filter((e) => Models.Process.equal(e.process, a1.process()));
        assert.ok(heads.length >= 1, '/head must include A process 1');
        assert.equal(Math.max(...heads.map((e) => e.logicalClock.toNumber())), 10, '/head is the newest event');
    });

    test('B reads username, description and follow through the CRDT queries', async () => {
        // B learns where A lives the way a link or search result teaches it.
        b.addAddressHint(a1.system(), SERVER);

        const crdt = b.queryManager.queryCRDT;
        const gotName = await observeUntil(
            'username via QueryCRDT (/head + /query_latest)',
            Queries.QueryCRDT.queryCRDTObservable(crdt, a1.system(), CT.ContentTypeUsername),
            (v) => v.value !== undefined && Util.decodeText(v.value) === username,
            (v) => JSON.stringify({ missingData: v.missingData, value: v.value && Util.decodeText(v.value) }),
        );
        assert.equal(Util.decodeText(gotName.value), username);

        const gotDesc = await observeUntil(
            'description via QueryCRDT',
            Queries.QueryCRDT.queryCRDTObservable(crdt, a1.system(), CT.ContentTypeDescription),
            (v) => v.value !== undefined && Util.decodeText(v.value) === description,
            (v) => JSON.stringify({ missingData: v.missingData, value: v.value && Util.decodeText(v.value) }),
        );
        assert.equal(Util.decodeText(gotDesc.value), description);

        // Low level: /query_latest returns exactly the latest username and description events.
        const latest = await APIMethods.getQueryLatest(SERVER, a1.system(), [
            CT.ContentTypeUsername,
            CT.ContentTypeDescription,
        ]);
        const latestEvents = latest.events.map(decodeEvent);
        assert.equal(latestEvents.length, 2, '/query_latest: one event per requested type for the single process');
        const nameEvent = latestEvents.find((e) => e.contentType.equals(CT.ContentTypeUsername));
        const descEvent = latestEvents.find((e) => e.contentType.equals(CT.ContentTypeDescription));
        assert.equal(Util.decodeText(nameEvent.lwwElement.value), username);
        assert.equal(Util.decodeText(descEvent.lwwElement.value), description);

        const follows = await observeUntil(
            'follow set via QueryCRDTSet (/query_index content_type=4)',
            Queries.QueryCRDTSet.queryCRDTSetCompleteObservable(
                b.queryManager.queryCRDTSet,
                a1.system(),
                CT.ContentTypeFollow,
                Models.PublicKey.fromBuffer,
            ),
            (set) => [...set].some((k) => Models.PublicKey.equal(k, b.system())),
            (set) => `${set.size} key(s)`,
        );
        assert.equal(follows.size, 1, 'A follows exactly one identity');
    });

    test('B reads all posts and the reply through QueryIndex and /query_index', async () => {
        const all = [...postTexts, replyText];
        const cells = await queryIndexUntil(
            b,
            a1.system(),
            CT.ContentTypePost,
            (cs) => all.every((t) => cellPostTexts(cs).includes(t)),
            (cs) => JSON.stringify(cellPostTexts(cs)),
        );
        assert.equal(cellPostTexts(cells).length, 5);

        const index = await APIMethods.getQueryIndex(SERVER, a1.system(), CT.ContentTypePost, undefined, u64(10));
        const events = index.events.map(decodeEvent);
        assert.equal(events.length, 5);
        assert.ok(events.every((e) => e.contentType.equals(CT.ContentTypePost)), 'only posts');
        // Newest first: reply, post 4, 3, 2, 1.
        assert.deepEqual(events.map(postText), [replyText, ...[...postTexts].reverse()]);
        for (let i = 0; i + 1 < events.length; i++) {
            assert.ok(events[i].unixMilliseconds.greaterThanOrEqual(events[i + 1].unixMilliseconds), 'descending time');
        }

        const replyEvent = events.find((e) => postText(e) === replyText);
        assert.equal(replyEvent.references.length, 1, 'reply carries one reference');
        assertPointerTo(replyEvent.references[0], posts[0], 'reply');
        assert.ok(events.filter((e) => e !== replyEvent).every((e) => e.references.length === 0));
    });

    test('B sees the like and the reply counted on post 1, and nothing on post 2', async () => {
        const stats = await postStatsQuery(posts[0]);
        assert.deepEqual(stats.counts.map((c) => c.toNumber()), [1, 0, 1], 'post 1 counts = [likes, dislikes, replies]');
        assert.equal(stats.items.length, 1, 'one reply listed');
        const item = decodeEvent(stats.items[0].event);
        assert.equal(postText(item), replyText);
        assert.equal(stats.cursor, undefined, 'no cursor for a short page');

        const stats2 = await postStatsQuery(posts[1]);
        assert.deepEqual(stats2.counts.map((c) => c.toNumber()), [0, 0, 0], 'post 2 counts');
        assert.equal(stats2.items.length, 0);

        // The like itself: an OPINION event referencing post 1 with value [1].
        const opinions = await APIMethods.getQueryIndex(SERVER, a1.system(), CT.ContentTypeOpinion, undefined, u64(10));
        assert.equal(opinions.events.length, 1);
        const likeEvent = decodeEvent(opinions.events[0]);
        assert.ok(bytesEqual(likeEvent.lwwElement.value, Models.Opinion.OpinionLike));
        assertPointerTo(likeEvent.references[0], posts[0], 'like');
    });

    test('query_index honours limit and the after cursor', async () => {
        const first = await APIMethods.getQueryIndex(SERVER, a1.system(), CT.ContentTypePost, undefined, u64(2));
        const firstEvents = first.events.map(decodeEvent);
        assert.deepEqual(firstEvents.map(postText), [replyText, postTexts[3]], 'limit=2 gives the two newest');

        const after = firstEvents[1].unixMilliseconds;
        const second = await APIMethods.getQueryIndex(SERVER, a1.system(), CT.ContentTypePost, after, u64(10));
        const secondEvents = second.events.map(decodeEvent);
        assert.deepEqual(secondEvents.map(postText), [postTexts[2], postTexts[1], postTexts[0]], 'after= is exclusive');
        assert.ok(secondEvents.every((e) => e.unixMilliseconds.lessThan(after)));

        const none = await APIMethods.getQueryIndex(
            SERVER, a1.system(), CT.ContentTypePost, secondEvents[2].unixMilliseconds, u64(10),
        );
        assert.equal(none.events.length, 0, 'nothing older than the oldest post');

        // Default limit (no limit parameter) still answers.
        const dflt = await APIMethods.getQueryIndex(SERVER, a1.system(), CT.ContentTypeUsername);
        assert.equal(dflt.events.length, 1);
    });

    test('a second process of A pulls everything and sees the same state', async () => {
        a2 = await ProcessHandle.testProcessHandleCreateNewProcess(a1);
        assert.ok(Models.PublicKey.equal(a2.system(), a1.system()), 'same identity');
        assert.ok(!Models.Process.equal(a2.process(), a1.process()), 'new process');

        // Account import: ingest the export bundle (A's SERVER events); the
        // synchroniser then pulls A's history from the server (/ranges + /events).
        const bundle = await a1.createExportBundle();
        assert.equal(bundle.events.events.length, 1, 'export bundle holds the SERVER event');
        for (const e of bundle.events.events) await a2.ingest(e);

        await waitFor('process 2 to pull all of process 1', async () => {
            const got = await localRanges(a2, a1.system(), a1.process());
            return { ok: rangesCover(got, a1Ranges), detail: JSON.stringify(got) };
        });

        const nameState = await observeUntil(
            'username on process 2',
            Queries.QueryCRDT.queryCRDTObservable(a2.queryManager.queryCRDT, a2.system(), CT.ContentTypeUsername),
            (v) => v.value !== undefined && Util.decodeText(v.value) === username,
            (v) => JSON.stringify({ missingData: v.missingData, value: v.value && Util.decodeText(v.value) }),
        );
        assert.equal(Util.decodeText(nameState.value), username);
        const descState = await observeUntil(
            'description on process 2',
            Queries.QueryCRDT.queryCRDTObservable(a2.queryManager.queryCRDT, a2.system(), CT.ContentTypeDescription),
            (v) => v.value !== undefined && Util.decodeText(v.value) === description,
            (v) => JSON.stringify({ missingData: v.missingData, value: v.value && Util.decodeText(v.value) }),
        );
        assert.equal(Util.decodeText(descState.value), description);

        const cells = await queryIndexUntil(
            a2,
            a2.system(),
            CT.ContentTypePost,
            (cs) => [...postTexts, replyText].every((t) => cellPostTexts(cs).includes(t)),
            (cs) => JSON.stringify(cellPostTexts(cs)),
        );
        assert.equal(cellPostTexts(cells).length, 5);

        const follows = await observeUntil(
            'follow set on process 2',
            Queries.QueryCRDTSet.queryCRDTSetCompleteObservable(
                a2.queryManager.queryCRDTSet, a2.system(), CT.ContentTypeFollow, Models.PublicKey.fromBuffer,
            ),
            (set) => [...set].some((k) => Models.PublicKey.equal(k, b.system())),
            (set) => `${set.size} key(s)`,
        );
        assert.equal(follows.size, 1);

        // The pulled reply still points at post 1, byte for byte.
        const pulledReply = await a2.store().indexEvents.getSignedEvent(a1.system(), a1.process(), reply.logicalClock);
        assertPointerTo(decodeEvent(pulledReply).references[0], posts[0], 'pulled reply');
    });

    test('process 2 posts; B sees both processes of A', async () => {
        await a2.post(a2PostText);
        await syncAndWait(a2);

        const ranges = await APIMethods.getRanges(SERVER, a1.system());
        assert.equal(ranges.rangesForProcesses.length, 2, 'server knows two processes of A');
        for (const r of ranges.rangesForProcesses) {
            for (let i = 0; i + 1 < r.ranges.length; i++) {
                assert.ok(r.ranges[i].high.add(1).lessThan(r.ranges[i + 1].low), 'ranges sorted and disjoint');
            }
        }

        const index = await APIMethods.getQueryIndex(SERVER, a1.system(), CT.ContentTypePost, undefined, u64(10));
        const texts = index.events.map((e) => postText(decodeEvent(e)));
        assert.equal(texts[0], a2PostText, 'the newest post comes first, whatever process wrote it');
        assert.equal(texts.length, 6);

        const head = await APIMethods.getHead(SERVER, a1.system());
        const headProcesses = new Set(head.events.map((e) => hex(decodeEvent(e).process.process)));
        assert.ok(headProcesses.has(hex(a1.process().process)) && headProcesses.has(hex(a2.process().process)),
            '/head covers both processes');

        const cells = await queryIndexUntil(
            b,
            a1.system(),
            CT.ContentTypePost,
            (cs) => cellPostTexts(cs).includes(a2PostText),
            (cs) => JSON.stringify(cellPostTexts(cs)),
        );
        assert.ok(cellPostTexts(cells).includes(postTexts[0]));
    });

    test('moderation_filters sent as raw JSON in the query string are accepted', async () => {
        // The web client's defaults; APIMethods appends the JSON unencoded.
        // Assumes the server runs with moderation off (the default), so nothing is hidden.
        const levels = { hate: 2, sexual: 1, violence: 1 };
        const ranges = Models.Ranges.rangesForSystemFromProto({
            rangesForProcesses: [{ process: a1.process(), ranges: [{ low: u64(1), high: u64(10) }] }],
        });
        const events = await APIMethods.getEvents(SERVER, a1.system(), ranges, levels);
        assert.equal(events.events.length, 10);

        const stats = await APIMethods.getQueryReferences(
            SERVER,
            Models.pointerToReference(posts[0]),
            undefined,
            { fromType: CT.ContentTypePost, countLwwElementReferences: [], countReferences: [] },
            [{ value: Models.Opinion.OpinionLike, fromType: CT.ContentTypeOpinion }],
            [{ fromType: CT.ContentTypePost }],
            [],
            levels,
        );
        assert.deepEqual(stats.counts.map((c) => c.toNumber()), [1, 1]);
        assert.equal(stats.items.length, 1);

        const empty = await APIMethods.getEvents(SERVER, a1.system(), ranges, {});
        assert.equal(empty.events.length, 10, 'an empty filter list hides nothing');
    });

    test('empty and unknown subjects give empty answers the client accepts', async () => {
        const stranger = (await ProcessHandle.createTestProcessHandle());
        try {
            const ranges = await APIMethods.getRanges(SERVER, stranger.system());
            assert.equal(ranges.rangesForProcesses.length, 0);
            const head = await APIMethods.getHead(SERVER, stranger.system());
            assert.equal(head.events.length, 0);
            const latest = await APIMethods.getQueryLatest(SERVER, stranger.system(), [CT.ContentTypeUsername]);
            assert.equal(latest.events.length, 0);
            const index = await APIMethods.getQueryIndex(SERVER, stranger.system(), CT.ContentTypePost, undefined, u64(5));
            assert.equal(index.events.length, 0);
            assert.equal(index.proof.length, 0);
            const events = await APIMethods.getEvents(
                SERVER,
                stranger.system(),
                Models.Ranges.rangesForSystemFromProto({
                    rangesForProcesses: [{ process: stranger.process(), ranges: [{ low: u64(1), high: u64(5) }] }],
                }),
            );
            assert.equal(events.events.length, 0);

            // A post nobody has referenced: zero counts, no items, no cursor.
            const lonely = await stranger.post('never synced');
            const stats = await postStatsQuery(lonely);
            assert.deepEqual(stats.counts.map((c) => c.toNumber()), [0, 0, 0]);
            assert.equal(stats.items.length, 0);

            // Posting the same events again is accepted (duplicates are ignored):
            // the reply (lc 8) and the like (lc 10), twice each in one batch.
            const dupReply = await a1.store().indexEvents.getSignedEvent(a1.system(), a1.process(), reply.logicalClock);
            const dupLike = await a1.store().indexEvents.getSignedEvent(a1.system(), a1.process(), like.logicalClock);
            // (Only process 1: process 2 may still be publishing SYSTEM_PROCESSES events.)
            const before = await serverRanges(a1.system(), a1.process());
            await APIMethods.postEvents(SERVER, [dupReply, dupLike, dupReply, dupLike]);
            assert.deepEqual(await serverRanges(a1.system(), a1.process()), before, 'ranges unchanged by duplicates');
            assert.ok(rangesCover(before, a1Ranges));
            const again = await postStatsQuery(posts[0]);
            assert.deepEqual(again.counts.map((c) => c.toNumber()), [1, 0, 1], 're-posting must not double count');
        } finally {
            stopHandle(stranger);
        }
    });

    test('the server refuses a batch with a bad signature and the client sees the error', async () => {
        const good = await a1.store().indexEvents.getSignedEvent(a1.system(), a1.process(), u64(3));
        const badSig = new Uint8Array(good.signature);
        badSig[0] ^= 0xff;
        // A plain protobuf object: Models.SignedEvent.fromProto would refuse it client-side.
        const forged = { signature: badSig, event: good.event, moderationTags: [] };
        const warn = console.warn;
        console.warn = () => {}; // checkResponse logs the rejected status
        try {
            await assert.rejects(APIMethods.postEvents(SERVER, [forged]), /postEvents !ok/);
        } finally {
            console.warn = warn;
        }
    });

    test('/version answers JSON (not wrapped by the client: APIMethods has no getVersion)', async () => {
        assert.equal(APIMethods.getVersion, undefined);
        const res = await fetch(`${SERVER}/version`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /json/);
        const body = await res.json();
        assert.equal(typeof body.sha, 'string');
    });
});
