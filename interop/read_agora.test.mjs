// The official client (@polycentric/polycentric-core) reads and verifies what
// the Agora client published: a profile, a follow, a post, a reply and a like.
// Driven by crates/cli/tests/it/interop_read.rs, which publishes them with the
// `agora` binary against a real `agora serve`; every variable must be set or
// the suite is skipped:
//
//   AGORA_SERVER       base URL of the server
//   AGORA_LINK         the author's system link, as `agora link` prints it (the
//                      only thing the official client is told about the author)
//   AGORA_FOLLOWED     the system link of the identity the author follows
//   AGORA_NAME         the username the author set (`agora profile --name`)
//   AGORA_DESCRIPTION  the description the author set
//   AGORA_POST         the text of the author's post
//   AGORA_REPLY        the text of the author's reply to that post (which the
//                      author also liked)
//
// Nothing is read with Agora's code: the link is decoded, and the events are
// fetched, signature-checked and interpreted, by the official client's own
// URLInfo decoding, queries (QueryCRDT, QueryCRDTSet, QueryIndex) and
// APIMethods.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { APIMethods, Models, Queries, Util } from '@polycentric/polycentric-core';
import {
    SERVER,
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
} from './common.mjs';

const ENV = {
    server: SERVER,
    link: process.env.AGORA_LINK,
    followed: process.env.AGORA_FOLLOWED,
    name: process.env.AGORA_NAME,
    description: process.env.AGORA_DESCRIPTION,
    post: process.env.AGORA_POST,
    reply: process.env.AGORA_REPLY,
};
const MISSING = Object.entries(ENV).filter(([, value]) => !value).map(([key]) => key);

// Everything the official client logs (it reports failed network loads and
// rejected events with console.log/warn/error); the last test asserts it is empty.
const logged = [];
for (const level of ['log', 'warn', 'error']) {
    const original = console[level];
    console[level] = (...args) => {
        logged.push(`${level}: ${args.map((a) => (a instanceof Error ? a.stack : String(a))).join(' ')}`);
        original.apply(console, args);
    };
}

function decodeSystemLink(text) {
    assert.ok(text.trim().startsWith(SCHEME), `not a ${SCHEME} link: ${text}`);
    return Models.URLInfo.getSystemLink(decodeURLInfo(text));
}

describe('the official client reads what the Agora client published', {
    skip: MISSING.length > 0 && `unset: ${MISSING.join(', ')}`,
}, () => {
    let reader;
    let author;
    let post;

    before(async () => {
        author = decodeSystemLink(ENV.link);
        // Where the author lives comes from the link alone, as when a person opens it.
        reader = await readerOf(author.system, author.servers);
    });

    after(() => {
        if (reader) stopHandle(reader);
    });

    test('the Agora link decodes with the official URLInfo and names the server', () => {
        assert.equal(author.system.keyType.toNumber(), 1, 'an Ed25519 system');
        assert.deepEqual(author.servers, [SERVER]);
    });

    test('every event the server holds for the author passes the official signature check', async () => {
        const ranges = await APIMethods.getRanges(SERVER, author.system);
        const held = ranges.rangesForProcesses.reduce(
            (sum, r) => sum + r.ranges.reduce((n, range) => n + range.high.subtract(range.low).toNumber() + 1, 0),
            0,
        );
        // getEvents runs Models.SignedEvent.fromProto on each event: it throws on a bad signature.
        const served = await APIMethods.getEvents(SERVER, author.system, ranges);
        assert.equal(served.events.length, held, 'the server served every event its ranges list');
        const types = new Map();
        for (const signed of served.events) {
            const event = decodeEvent(signed);
            assert.ok(Models.PublicKey.equal(event.system, author.system), 'every event is the author\'s');
            const key = event.contentType.toNumber();
            types.set(key, (types.get(key) ?? 0) + 1);
            await reader.ingest(signed);
        }
        // One server, a username, a description, a post, a reply, a follow and a like.
        assert.equal(types.get(CT.ContentTypeServer.toNumber()), 1, 'SERVER events');
        assert.equal(types.get(CT.ContentTypeUsername.toNumber()), 1, 'USERNAME events');
        assert.equal(types.get(CT.ContentTypeDescription.toNumber()), 1, 'DESCRIPTION events');
        assert.equal(types.get(CT.ContentTypePost.toNumber()), 2, 'POST events');
        assert.equal(types.get(CT.ContentTypeFollow.toNumber()), 1, 'FOLLOW events');
        assert.equal(types.get(CT.ContentTypeOpinion.toNumber()), 1, 'OPINION events');
    });

    test('the username and description through the official CRDT queries', async () => {
        // A second handle that has ingested nothing, so the values come from the network.
        const fresh = await readerOf(author.system);
        try {
            const crdt = fresh.queryManager.queryCRDT;
            const describe = (v) => JSON.stringify({ missingData: v.missingData, value: v.value && Util.decodeText(v.value) });
            const name = await observeUntil(
                'username via QueryCRDT (/head + /query_latest)',
                Queries.QueryCRDT.queryCRDTObservable(crdt, author.system, CT.ContentTypeUsername),
                (v) => v.value !== undefined,
                describe,
            );
            assert.equal(Util.decodeText(name.value), ENV.name);
            const description = await observeUntil(
                'description via QueryCRDT',
                Queries.QueryCRDT.queryCRDTObservable(crdt, author.system, CT.ContentTypeDescription),
                (v) => v.value !== undefined,
                describe,
            );
            assert.equal(Util.decodeText(description.value), ENV.description);
        } finally {
            stopHandle(fresh);
        }
    });

    test('the follow set through the official CRDT set query holds the followed system', async () => {
        const followed = decodeSystemLink(ENV.followed).system;
        const follows = await observeUntil(
            'follow set via QueryCRDTSet (/query_index content_type=4)',
            Queries.QueryCRDTSet.queryCRDTSetCompleteObservable(
                reader.queryManager.queryCRDTSet,
                author.system,
                CT.ContentTypeFollow,
                Models.PublicKey.fromBuffer,
            ),
            (set) => set.size > 0,
            (set) => `${set.size} key(s)`,
        );
        assert.equal(follows.size, 1, 'the author follows exactly one identity');
        assert.ok(Models.PublicKey.equal([...follows][0], followed), 'the followed system is in the follow set');
    });

    test('the post and the reply through QueryIndex; the reply points at the post', async () => {
        const signed = await postsUntil(reader, author.system, (texts) => texts.length >= 2);
        assert.deepEqual(signed.map((s) => postText(decodeEvent(s))).sort(), [ENV.post, ENV.reply].sort());
        const postSigned = signed.find((s) => postText(decodeEvent(s)) === ENV.post);
        const replySigned = signed.find((s) => postText(decodeEvent(s)) === ENV.reply);
        post = Models.signedEventToPointer(postSigned);
        assert.equal(decodeEvent(postSigned).references.length, 0, 'the post replies to nothing');
        const replyEvent = decodeEvent(replySigned);
        assert.equal(replyEvent.references.length, 1, 'the reply carries one reference');
        assertPointerTo(replyEvent.references[0], post, 'reply');
    });

    test('the like and the reply are counted in the official post stats', async () => {
        assert.ok(post, 'the previous test found the post');
        const stats = await postStatsQuery(post);
        assert.deepEqual(stats.counts.map((c) => c.toNumber()), [1, 0, 1], 'counts = [likes, dislikes, replies]');
        assert.equal(stats.items.length, 1, 'one reply listed');
        // query_references items are not checked by APIMethods; check this one as the client does.
        const reply = Models.SignedEvent.fromProto(stats.items[0].event);
        assert.equal(postText(decodeEvent(reply)), ENV.reply);

        // The like itself: one OPINION event of the author, value LIKE, pointing at the post.
        const opinions = await APIMethods.getQueryIndex(SERVER, author.system, CT.ContentTypeOpinion);
        assert.equal(opinions.events.length, 1);
        const like = decodeEvent(opinions.events[0]);
        assert.ok(bytesEqual(like.lwwElement.value, Models.Opinion.OpinionLike), 'the opinion is a like');
        assertPointerTo(like.references[0], post, 'like');
    });

    test('the official client logged no rejected event or failed request', () => {
        assert.deepEqual(logged, []);
    });
});
