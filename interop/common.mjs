// What the official-client suites (interop.test.mjs, export.test.mjs,
// read_agora.test.mjs, read_devices.test.mjs, read_edits.test.mjs) share: the
// server they run against, waits on the server and on the official client's
// queries, decoding helpers, fetching every event of a key, and handles that
// read from the server and stop cleanly. Not a test file itself.

import assert from 'node:assert/strict';
import {
    APIMethods,
    Models,
    ProcessHandle,
    Protocol,
    Queries,
} from '@polycentric/polycentric-core';

export const SERVER = (process.env.AGORA_SERVER ?? '').replace(/\/+$/, '');
export const WAIT_MS = Number(process.env.AGORA_INTEROP_WAIT_MS ?? 20000);
export const CT = Models.ContentType;
export const SCHEME = 'polycentric://';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const decodeEvent = (signedEvent) => Models.Event.fromBuffer(signedEvent.event);
export const postText = (event) => Protocol.Post.decode(event.content).content;
export const bytesEqual = (a, b) => Buffer.from(a).equals(Buffer.from(b));

// The URLInfo of a polycentric:// link (the scheme may be left off).
export function decodeURLInfo(text) {
    const trimmed = text.trim();
    const encoded = trimmed.startsWith(SCHEME) ? trimmed.slice(SCHEME.length) : trimmed;
    return Protocol.URLInfo.decode(Buffer.from(encoded, 'base64url'));
}

// Poll `fn` until it returns { ok: true, value }; `detail` says what it saw last.
export async function waitFor(what, fn, timeoutMs = WAIT_MS) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        try {
            last = await fn();
            if (last.ok) return last.value;
        } catch (err) {
            last = { detail: `threw: ${err?.message ?? err}` };
        }
        if (Date.now() > deadline) {
            assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last?.detail ?? JSON.stringify(last)}`);
        }
        await sleep(100);
    }
}

// Subscribe to an official client observable until `predicate(value)` holds.
export function observeUntil(what, observable, predicate, describeValue, timeoutMs = WAIT_MS) {
    return new Promise((resolve, reject) => {
        let last = '(no value emitted)';
        let done = false;
        let subscription;
        const finish = (fn) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            // subscribe() may call back synchronously, before `subscription` is set.
            setImmediate(() => subscription?.unsubscribe());
            fn();
        };
        const timer = setTimeout(() => {
            finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${last}`)));
        }, timeoutMs);
        subscription = observable.subscribe({
            next: (value) => {
                last = describeValue(value);
                if (predicate(value)) finish(() => resolve(value));
            },
            error: (err) => finish(() => reject(err)),
        });
    });
}

// Collect the cells of an official QueryIndex query (network + disk) until
// `predicate(cells)` holds.
export function queryIndexUntil(handle, system, contentType, predicate, describeCells, timeoutMs = WAIT_MS) {
    return new Promise((resolve, reject) => {
        let cells = [];
        let done = false;
        const queryHandle = handle.queryManager.queryIndex.query(system, contentType, (patch) => {
            cells = Queries.QueryIndex.applyPatch(cells, patch);
            if (!done && predicate(cells)) {
                done = true;
                clearTimeout(timer);
                queryHandle.unregister();
                resolve(cells);
            }
        });
        const timer = setTimeout(() => {
            done = true;
            queryHandle.unregister();
            reject(new Error(`timed out after ${timeoutMs} ms on query_index; cells: ${describeCells(cells)}`));
        }, timeoutMs);
        queryHandle.advance(50);
    });
}

// The signed events among QueryIndex cells.
export const signedEventsOf = (cells) => cells.filter((c) => c.signedEvent !== undefined).map((c) => c.signedEvent);

// The post texts among QueryIndex cells.
export const cellPostTexts = (cells) => signedEventsOf(cells).map((s) => postText(decodeEvent(s)));

// The signed post events of `system` through the official QueryIndex query,
// once `predicate(texts)` holds for their texts.
export async function postsUntil(handle, system, predicate) {
    const cells = await queryIndexUntil(
        handle,
        system,
        CT.ContentTypePost,
        (cs) => predicate(cellPostTexts(cs)),
        (cs) => `posts ${JSON.stringify(cellPostTexts(cs))}`,
    );
    return signedEventsOf(cells);
}

// Stop a handle's background work so the test process can exit. Without
// this, a second process of an identity keeps re-ingesting the other
// process's SERVER event once its synchroniser is gone: ingest ->
// updateHeadIfNeeded -> new head query -> new server-list query ->
// GET /query_index content_type=10 -> ingest ... (a client-side loop).
// Stopping twice is harmless: a handle is stopped once.
const stopped = new WeakSet();
export function stopHandle(handle) {
    if (stopped.has(handle)) return;
    stopped.add(handle);
    const qm = handle.queryManager;
    qm.skipLoadedBatchUpdate = true;
    qm.queryHead.shouldUseNetwork(false);
    qm.queryLatest.shouldUseNetwork(false);
    qm.queryEvent.shouldUseNetwork(false);
    qm.queryIndex.useNetwork(false);
    handle.synchronizer.cleanup();
}

// A new official test handle that looks for `system` on `servers` (address
// hints only, as when a person opens a link): a reader of that identity.
export async function readerOf(system, servers = [SERVER]) {
    const reader = await ProcessHandle.createTestProcessHandle();
    for (const server of servers) reader.addAddressHint(system, server);
    return reader;
}

// The web client's post-stats request: counts = [likes, dislikes, replies].
export function postStatsQuery(pointer) {
    return APIMethods.getQueryReferences(
        SERVER,
        Models.pointerToReference(pointer),
        undefined,
        { fromType: CT.ContentTypePost, countLwwElementReferences: [], countReferences: [] },
        [
            { value: Models.Opinion.OpinionLike, fromType: CT.ContentTypeOpinion },
            { value: Models.Opinion.OpinionDislike, fromType: CT.ContentTypeOpinion },
        ],
        [{ fromType: CT.ContentTypePost }],
    );
}

// `reference` is a pointer (reference_type 2) to exactly `pointer`.
export function assertPointerTo(reference, pointer, what) {
    assert.ok(reference, `${what}: reference missing`);
    assert.equal(reference.referenceType.toNumber(), 2, `${what}: reference_type must be 2 (pointer)`);
    const p = Protocol.Pointer.decode(reference.reference);
    assert.ok(bytesEqual(p.system.key, pointer.system.key), `${what}: pointer system`);
    assert.ok(bytesEqual(p.process.process, pointer.process.process), `${what}: pointer process`);
    assert.equal(p.logicalClock.toString(), pointer.logicalClock.toString(), `${what}: pointer logical clock`);
    assert.ok(bytesEqual(p.eventDigest.digest, pointer.eventDigest.digest), `${what}: pointer digest`);
}

// A process's ranges as the server reports them (GET /ranges), as [low, high] numbers.
export async function serverRanges(system, proc) {
    const ranges = await APIMethods.getRanges(SERVER, system);
    const forProcess = ranges.rangesForProcesses.find((r) =>
        Models.Process.equal(Models.Process.fromProto(r.process), proc),
    );
    return forProcess ? forProcess.ranges.map((r) => [r.low.toNumber(), r.high.toNumber()]) : [];
}

// A copy of `signed` whose event's last byte is flipped (it still decodes).
export function altered(signed) {
    const event = Uint8Array.from(signed.event);
    event[event.length - 1] ^= 0x01;
    return { signature: signed.signature, event };
}

// Every event the server holds of `system`, as its ranges list them, fetched
// with the official APIMethods (getEvents verifies each signature): [{ signed, event }].
export async function fetchAll(system) {
    const ranges = await APIMethods.getRanges(SERVER, system);
    const held = ranges.rangesForProcesses.reduce(
        (sum, r) => sum + r.ranges.reduce((n, range) => n + range.high.subtract(range.low).toNumber() + 1, 0),
        0,
    );
    const served = await APIMethods.getEvents(SERVER, system, ranges);
    assert.equal(served.events.length, held, 'the server served every event its ranges list');
    return served.events.map((signed) => ({ signed, event: decodeEvent(signed) }));
}

// { contentType: count } of `events`, content types as numbers.
export function typeCounts(events) {
    const counts = {};
    for (const { event } of events) {
        const type = event.contentType.toNumber();
        counts[type] = (counts[type] ?? 0) + 1;
    }
    return counts;
}

export const ofType = (events, type) => events.filter(({ event }) => event.contentType.toNumber() === type);

// The single event of `type` among `events`.
export function onlyOfType(events, type, what) {
    const found = ofType(events, type);
    assert.equal(found.length, 1, `${what}: exactly one event of content type ${type}`);
    return found[0];
}

/** The names of `env`'s entries that are unset, for a suite's skip reason. */
export const missingEnv = (env) => Object.entries(env).filter(([, value]) => !value).map(([key]) => key);

/**
 * Records everything logged from now on (the official client reports failed network loads and
 * rejected events with console.log/warn/error) while still printing it; returns the record.
 */
export function captureConsole() {
    const logged = [];
    for (const level of ['log', 'warn', 'error']) {
        const original = console[level];
        console[level] = (...args) => {
            logged.push(`${level}: ${args.map((a) => (a instanceof Error ? a.stack : String(a))).join(' ')}`);
            original.apply(console, args);
        };
    }
    return logged;
}
