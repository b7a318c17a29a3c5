// The official client (@polycentric/polycentric-core) fetches, verifies and
// reads a post edited twice (docs/protocol.md, "Edits"): the post and its two
// POST_EDIT events (content type 1003) are ordinary signed events to it, and
// every post query it has keeps showing the original text.
// Driven by crates/cli/tests/it/interop_edits.rs, which makes them with the
// `agora` binary against a real `agora serve`: `agora init --name`, a post,
// then `agora edit` twice. Every variable must be set or the suite is skipped:
//
//   AGORA_SERVER        base URL of the server
//   AGORA_LINK          the author's link, as `agora link` prints it
//   AGORA_POST_LINK     the post's link, as `agora post --json` gives it
//   AGORA_NAME          the username the author set (`agora init --name`)
//   AGORA_ORIGINAL      the post's text as first written
//   AGORA_FIRST_EDIT    the text of the first edit
//   AGORA_SECOND_EDIT   the text of the second (latest) edit
//   AGORA_SEARCH_NEW    a word of the latest edit only
//   AGORA_SEARCH_OLD    a word of the original text only
//
// Links are decoded, events fetched (/ranges then /events) and
// signature-checked, and the post, the feeds and the profile read, with the
// official client's own code. An edit's body is a plain Post and its one
// reference a plain pointer, so the official Protocol decodes both; the
// client has no notion of an edit and stores the events as unknown types.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { APIMethods, Models, ProcessHandle, Protocol, Queries, Util } from '@polycentric/polycentric-core';
import {
    SERVER,
    WAIT_MS,
    CT,
    SCHEME,
    decodeEvent,
    postText,
    bytesEqual,
    decodeURLInfo,
    observeUntil,
    postsUntil,
    readerOf,
    stopHandle,
    postStatsQuery,
    assertPointerTo,
    altered,
    fetchAll,
    typeCounts,
    ofType,
    onlyOfType,
    captureConsole,
    missingEnv,
} from './common.mjs';

const ENV = {
    server: SERVER,
    link: process.env.AGORA_LINK,
    postLink: process.env.AGORA_POST_LINK,
    name: process.env.AGORA_NAME,
    original: process.env.AGORA_ORIGINAL,
    firstEdit: process.env.AGORA_FIRST_EDIT,
    secondEdit: process.env.AGORA_SECOND_EDIT,
    searchNew: process.env.AGORA_SEARCH_NEW,
    searchOld: process.env.AGORA_SEARCH_OLD,
};
const MISSING = missingEnv(ENV);
// Everything the official client logs; the last test asserts it is empty.
const logged = captureConsole();

const POST_EDIT = 1003;

// Run an official QueryCursor feed (the web client's explore and search
// feeds: `load` is one of QueryCursor's load callbacks) on `handle` until it
// shows its first cells, or says it found nothing: { cells } or { nothing: true }.
function feedUntilFirst(handle, load, what) {
    return new Promise((resolve, reject) => {
        let query;
        let done = false;
        const finish = (value) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            // The query may call back from its constructor's caller: stop it afterwards.
            setImmediate(() => query.cleanup());
            resolve(value);
        };
        const timer = setTimeout(() => {
            done = true;
            query.cleanup();
            reject(new Error(`timed out after ${WAIT_MS} ms waiting for the ${what} feed`));
        }, WAIT_MS);
        query = new Queries.QueryCursor.Query(
            handle,
            load,
            (cells) => finish({ cells }),
            10,
            () => finish({ nothing: true }),
        );
        query.advance();
    });
}

// A new official handle whose own server list is this server: its QueryCursor
// feeds ask it (as the web client's explore and search pages do).
async function feedReader() {
    const handle = await ProcessHandle.createTestProcessHandle();
    await handle.addServer(SERVER);
    return handle;
}

describe('the official client verifies an edited post and keeps showing the original', {
    skip: MISSING.length > 0 && `unset: ${MISSING.join(', ')}`,
}, () => {
    let author;
    let postLink;
    let reader;
    // Every event the server holds of the author, fetched once.
    let events;
    // The post ({ signed, event }) and its pointer; the edits, oldest first.
    let post;
    let postPointer;
    let edits;
    const handles = [];

    before(async () => {
        author = Models.URLInfo.getSystemLink(decodeURLInfo(ENV.link));
        postLink = Models.URLInfo.getEventLink(decodeURLInfo(ENV.postLink));
        reader = await readerOf(author.system, author.servers);
        handles.push(reader);
        events = await fetchAll(author.system);
        post = onlyOfType(events, CT.ContentTypePost.toNumber(), 'the author');
        postPointer = Models.signedEventToPointer(post.signed);
        edits = ofType(events, POST_EDIT).sort((a, b) => a.event.logicalClock.compare(b.event.logicalClock));
    });

    after(() => {
        for (const handle of handles) stopHandle(handle);
    });

    test('the links decode with the official client: the post link names the served post', () => {
        assert.ok(ENV.link.startsWith(SCHEME) && ENV.postLink.startsWith(SCHEME));
        assert.deepEqual(author.servers, [SERVER]);
        assert.deepEqual(postLink.servers, [SERVER]);
        assert.ok(Models.PublicKey.equal(postLink.system, author.system), 'the post is the author\'s');
        assert.ok(Models.Process.equal(postLink.process, post.event.process), 'the post\'s process');
        assert.equal(postLink.logicalClock.toString(), post.event.logicalClock.toString(), 'the post\'s clock');
    });

    test('the post and both edits pass the official signature check, and the official store takes them', async () => {
        // SERVER, USERNAME, the post and its two edits: nothing else.
        assert.deepEqual(typeCounts(events), {
            [CT.ContentTypeServer.toNumber()]: 1,
            [CT.ContentTypeUsername.toNumber()]: 1,
            [CT.ContentTypePost.toNumber()]: 1,
            [POST_EDIT]: 2,
        });
        const store = reader.store();
        for (const { signed, event } of events) {
            assert.ok(Models.PublicKey.equal(event.system, author.system), 'every event is the author\'s');
            assert.equal(Models.SignedEvent.fromProto(signed), signed, 'the official signature check passes');
            if (event.contentType.toNumber() === POST_EDIT) {
                assert.throws(
                    () => Models.SignedEvent.fromProto(altered(signed)),
                    /signature verification failed/,
                    'an altered edit fails the same check',
                );
            }
            // The official store takes every event, type 1003 included, and gives back the same bytes.
            await reader.ingest(signed);
            const stored = await store.indexEvents.getSignedEvent(author.system, event.process, event.logicalClock);
            assert.ok(stored, `the official store holds content type ${event.contentType}`);
            assert.ok(bytesEqual(stored.event, signed.event) && bytesEqual(stored.signature, signed.signature));
        }
    });

    test('each POST_EDIT (1003) carries a Post with its new text and one pointer to the post', () => {
        assert.deepEqual(edits.map(({ event }) => postText(event)), [ENV.firstEdit, ENV.secondEdit]);
        for (const { event } of edits) {
            const body = Protocol.Post.decode(event.content);
            assert.equal(body.image, undefined, 'no image');
            assert.equal(event.references.length, 1, 'exactly one reference');
            // The pointer names the post's system, process, clock and digest.
            assertPointerTo(event.references[0], postPointer, 'edit');
            assert.equal(event.lwwElement, undefined, 'no lww_element');
            assert.equal(event.lwwElementSet, undefined, 'no lww_element_set');
            assert.ok(event.logicalClock.greaterThan(post.event.logicalClock), 'written after the post');
        }
        // The served post is still the original, byte for byte as first signed.
        assert.equal(postText(post.event), ENV.original);
    });

    test('the official post queries show the original text: QueryIndex and QueryEvent', async () => {
        // A reader that holds the edits in its store, and one that has read nothing yet.
        const fresh = await readerOf(author.system);
        handles.push(fresh);
        for (const handle of [reader, fresh]) {
            const signed = await postsUntil(handle, author.system, (texts) => texts.length >= 1);
            assert.deepEqual(signed.map((s) => postText(decodeEvent(s))), [ENV.original], 'exactly the one post, unedited');
            assert.ok(bytesEqual(signed[0].event, post.signed.event), 'the served post');
        }
        // The post link opened as the web client opens it (/events for that one slot).
        const opened = await readerOf(author.system);
        handles.push(opened);
        const event = await observeUntil(
            'the post via QueryEvent',
            Queries.QueryEvent.queryEventObservable(
                opened.queryManager.queryEvent,
                postLink.system,
                postLink.process,
                postLink.logicalClock,
            ),
            () => true,
            (s) => postText(decodeEvent(s)),
        );
        assert.equal(postText(decodeEvent(event)), ENV.original);
    });

    test('the official post stats count no edit: no reply, like or dislike', async () => {
        const stats = await postStatsQuery(postPointer);
        assert.deepEqual(stats.counts.map((c) => c.toNumber()), [0, 0, 0], 'counts = [likes, dislikes, replies]');
        assert.equal(stats.items.length, 0, 'no reply listed');
    });

    test('the profile through the official QueryCRDT, with an edit as the process head', async () => {
        // /head answers with the latest event of the author's one process: the second edit.
        const head = await APIMethods.getHead(SERVER, author.system);
        assert.equal(head.events.length, 1, 'one process');
        assert.ok(bytesEqual(head.events[0].event, edits[1].signed.event), 'the head is the latest edit');
        const fresh = await readerOf(author.system);
        handles.push(fresh);
        const value = await observeUntil(
            'username via QueryCRDT (/head + /query_latest)',
            Queries.QueryCRDT.queryCRDTObservable(fresh.queryManager.queryCRDT, author.system, CT.ContentTypeUsername),
            (v) => v.value !== undefined,
            (v) => JSON.stringify({ missingData: v.missingData, value: v.value && Util.decodeText(v.value) }),
        );
        assert.equal(Util.decodeText(value.value), ENV.name);
    });

    test('explore: the official feed takes the latest edit in related_events and shows the original post', async () => {
        // The call itself (it verifies result and related events alike).
        const page = await APIMethods.getExplore(SERVER, 10);
        assert.equal(page.resultEvents.events.length, 1, 'the one post');
        assert.ok(bytesEqual(page.resultEvents.events[0].event, post.signed.event), 'the original post, byte for byte');
        assert.equal(page.relatedEvents.events.length, 1, 'one related event');
        assert.ok(bytesEqual(page.relatedEvents.events[0].event, edits[1].signed.event), 'the latest edit');
        // The web client's explore feed, which ingests related events into its store.
        const handle = await feedReader();
        handles.push(handle);
        const shown = await feedUntilFirst(handle, Queries.QueryCursor.makeGetExploreCallback(handle), 'explore');
        assert.ok(shown.cells, 'explore shows the post');
        assert.deepEqual(shown.cells.map((c) => postText(decodeEvent(c.signedEvent))), [ENV.original]);
        assert.equal(shown.cells[0].fromServer, SERVER);
        const latest = edits[1].event;
        const stored = await handle.store().indexEvents.getSignedEvent(author.system, latest.process, latest.logicalClock);
        assert.ok(stored && bytesEqual(stored.event, edits[1].signed.event), 'the feed stored the latest edit');
    });

    test('search: found by the latest text, shown with the original; the old text finds nothing', async () => {
        const page = await APIMethods.getSearch(SERVER, ENV.searchNew, 10);
        assert.equal(page.resultEvents.events.length, 1, 'the one post');
        assert.ok(bytesEqual(page.resultEvents.events[0].event, post.signed.event), 'the original post, byte for byte');
        assert.equal(page.relatedEvents.events.length, 1, 'one related event');
        assert.ok(bytesEqual(page.relatedEvents.events[0].event, edits[1].signed.event), 'the latest edit');
        assert.ok(page.cursor, 'a cursor');
        const old = await APIMethods.getSearch(SERVER, ENV.searchOld, 10);
        assert.equal(old.resultEvents.events.length, 0, 'the old text is no longer found');
        assert.equal(old.relatedEvents.events.length, 0);

        // The web client's search feed, for each word.
        const handle = await feedReader();
        handles.push(handle);
        const messages = APIMethods.SearchType.Messages;
        const shown = await feedUntilFirst(handle, Queries.QueryCursor.makeGetSearchCallback(ENV.searchNew, messages), 'search');
        assert.ok(shown.cells, 'search shows the post');
        assert.deepEqual(shown.cells.map((c) => postText(decodeEvent(c.signedEvent))), [ENV.original]);
        const none = await feedUntilFirst(handle, Queries.QueryCursor.makeGetSearchCallback(ENV.searchOld, messages), 'search');
        assert.deepEqual(none, { nothing: true }, 'the old word finds nothing');
    });

    test('the official client logged no rejected event or failed request', () => {
        assert.deepEqual(logged, []);
    });
});
