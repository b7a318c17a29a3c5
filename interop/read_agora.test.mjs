// The official client (@polycentric/polycentric-core) reads and verifies what
// the Agora client published: a profile with an avatar, a follow, a post with
// an image, a reply and a like.
// Driven by crates/cli/tests/it/interop_read.rs, which publishes them with the
// `agora` binary against a real `agora serve`; every variable must be set or
// the suite is skipped:
//
//   AGORA_SERVER       base URL of the server
//   AGORA_LINK         the author's system link, as `agora link` prints it (the
//                      only thing the official client is told about the author)
//   AGORA_FOLLOWED     the system link of the identity the author follows
//   AGORA_AVATAR       JSON, the PNGs the author's avatar must hold (`agora
//                      profile --avatar`), largest first: [{ width, height,
//                      byteCount, file }], `file` holding the expected bytes
//   AGORA_IMAGE        JSON, the PNG the post's image must be: { width,
//                      height, byteCount, file }
//   AGORA_NAME         the username the author set (`agora profile --name`)
//   AGORA_DESCRIPTION  the description the author set
//   AGORA_NAME_WORD    a word of the username only
//   AGORA_DESCRIPTION_WORD  a word of the description only
//   AGORA_POST         the text of the author's post (the one with the image)
//   AGORA_REPLY        the text of the author's reply to that post (which the
//                      author also liked)
//
// Nothing is read with Agora's code: the link is decoded, and the events are
// fetched, signature-checked and interpreted, by the official client's own
// URLInfo decoding, queries (QueryCRDT, QueryCRDTSet, QueryIndex, QueryBlob)
// and APIMethods (including its profile search).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { APIMethods, Models, Protocol, Queries, Util } from '@polycentric/polycentric-core';
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
    captureConsole,
    missingEnv,
} from './common.mjs';

const ENV = {
    server: SERVER,
    link: process.env.AGORA_LINK,
    avatar: process.env.AGORA_AVATAR,
    image: process.env.AGORA_IMAGE,
    followed: process.env.AGORA_FOLLOWED,
    name: process.env.AGORA_NAME,
    description: process.env.AGORA_DESCRIPTION,
    nameWord: process.env.AGORA_NAME_WORD,
    descriptionWord: process.env.AGORA_DESCRIPTION_WORD,
    post: process.env.AGORA_POST,
    reply: process.env.AGORA_REPLY,
};
const MISSING = missingEnv(ENV);
// Everything the official client logs; the last test asserts it is empty.
const logged = captureConsole();

// The official web client cuts blobs into sections of at most 512 KiB.
const SECTION_BYTES = 512 * 1024;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// [width, height] from a PNG's IHDR chunk, which follows the signature.
function pngSize(bytes) {
    const buffer = Buffer.from(bytes);
    assert.ok(buffer.length >= 24, `${buffer.length} bytes is too short for a PNG`);
    assert.ok(buffer.subarray(0, 8).equals(PNG_SIGNATURE), 'the bytes start with the PNG signature');
    assert.equal(buffer.toString('latin1', 12, 16), 'IHDR', 'the first PNG chunk is IHDR');
    return [buffer.readUInt32BE(16), buffer.readUInt32BE(20)];
}

// A manifest's mime, size and byte count are the expected PNG's.
function assertManifest(manifest, expected, what) {
    assert.equal(manifest.mime, 'image/png', `${what}: mime`);
    assert.deepEqual(
        [manifest.width.toNumber(), manifest.height.toNumber(), manifest.byteCount.toNumber()],
        [expected.width, expected.height, expected.byteCount],
        `${what}: [width, height, byteCount]`,
    );
}

// The blob a manifest names, through the official QueryBlob (the query the web
// client shows images with): its section events, fetched from the network by
// the handle's QueryEvent, signature-checked and put back together.
function loadBlob(handle, system, manifest, what) {
    return observeUntil(
        `${what} via QueryBlob (/events for its section ranges)`,
        Queries.QueryBlob.queryBlobObservable(
            handle.queryManager.queryBlob,
            system,
            Models.Process.fromProto(manifest.process),
            manifest.sections,
        ),
        (bytes) => bytes !== undefined,
        (bytes) => (bytes === undefined ? 'undefined (a section is deleted)' : `${bytes.length} bytes`),
    );
}

// The loaded bytes are the expected PNG, of the size the manifest declares.
function assertPng(bytes, manifest, expected, what) {
    assert.equal(bytes.length, manifest.byteCount.toNumber(), `${what}: as many bytes as the manifest declares`);
    assert.deepEqual(pngSize(bytes), [manifest.width.toNumber(), manifest.height.toNumber()], `${what}: PNG size`);
    assert.ok(bytesEqual(bytes, readFileSync(expected.file)), `${what}: the bytes Agora published`);
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
    let expectedAvatar;
    let expectedImage;

    before(async () => {
        expectedAvatar = JSON.parse(ENV.avatar);
        expectedImage = JSON.parse(ENV.image);
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
        // One server, a username, a description, an avatar, a post, a reply, a
        // follow and a like, and the blob sections of the avatar sizes and the image.
        const sections = [...expectedAvatar, expectedImage].reduce(
            (n, png) => n + Math.ceil(png.byteCount / SECTION_BYTES),
            0,
        );
        assert.equal(types.get(CT.ContentTypeAvatar.toNumber()), 1, 'AVATAR events');
        assert.equal(types.get(CT.ContentTypeBlobSection.toNumber()), sections, 'BLOB_SECTION events');
        assert.equal(types.size, 8, `no other event types: ${JSON.stringify([...types])}`);
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

    test('the avatar bundle through the official CRDT query; every size loads through QueryBlob', async () => {
        const fresh = await readerOf(author.system);
        try {
            const avatar = await observeUntil(
                'avatar via QueryCRDT (content_type=9)',
                Queries.QueryCRDT.queryCRDTObservable(fresh.queryManager.queryCRDT, author.system, CT.ContentTypeAvatar),
                (v) => v.value !== undefined,
                (v) => JSON.stringify({ missingData: v.missingData, bytes: v.value?.length }),
            );
            // The web client decodes the AVATAR element as an ImageBundle.
            const bundle = Protocol.ImageBundle.decode(avatar.value);
            assert.equal(bundle.imageManifests.length, expectedAvatar.length, 'one manifest per avatar size');
            assert.deepEqual(
                bundle.imageManifests.map((m) => [m.width.toNumber(), m.height.toNumber()]),
                [[256, 256], [128, 128], [32, 32]],
            );
            for (const [i, manifest] of bundle.imageManifests.entries()) {
                const what = `avatar ${manifest.width}x${manifest.height}`;
                assertManifest(manifest, expectedAvatar[i], what);
                const bytes = await loadBlob(fresh, author.system, manifest, what);
                assertPng(bytes, manifest, expectedAvatar[i], what);
            }
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

    test('the post\'s image manifest loads through QueryBlob as the PNG Agora published', async () => {
        const fresh = await readerOf(author.system);
        try {
            const signed = await postsUntil(fresh, author.system, (texts) => texts.includes(ENV.post));
            const event = decodeEvent(signed.find((s) => postText(decodeEvent(s)) === ENV.post));
            const manifest = Protocol.Post.decode(event.content).image;
            assert.ok(manifest, 'the post carries an image manifest');
            assertManifest(manifest, expectedImage, 'post image');
            assert.ok(
                manifest.sections.reduce((n, r) => n + r.high.subtract(r.low).toNumber() + 1, 0) > 1,
                'the image spans several section events',
            );
            const bytes = await loadBlob(fresh, author.system, manifest, 'post image');
            assertPng(bytes, manifest, expectedImage, 'post image');
        } finally {
            stopHandle(fresh);
        }
        // The reply carries no image.
        const replies = await postsUntil(reader, author.system, (texts) => texts.includes(ENV.reply));
        const reply = decodeEvent(replies.find((s) => postText(decodeEvent(s)) === ENV.reply));
        assert.equal(Protocol.Post.decode(reply.content).image, undefined, 'the reply has no image');
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

    test('the official profile search answers with the event of the field that matched', async () => {
        // The event the official client's profile search puts first for `word`; getSearch
        // verifies every event it returns.
        const firstHit = async (word) => {
            const page = await APIMethods.getSearch(SERVER, word, 10, undefined, APIMethods.SearchType.Profiles);
            assert.ok(page.resultEvents.events.length > 0, `${word} finds the author`);
            const event = decodeEvent(page.resultEvents.events[0]);
            assert.ok(Models.PublicKey.equal(event.system, author.system), `${word}: the author`);
            return event;
        };
        const byDescription = await firstHit(ENV.descriptionWord);
        assert.equal(byDescription.contentType.toNumber(), CT.ContentTypeDescription.toNumber(), 'a description word: the DESCRIPTION event first');
        assert.equal(Util.decodeText(byDescription.lwwElement.value), ENV.description);
        const byName = await firstHit(ENV.nameWord);
        assert.equal(byName.contentType.toNumber(), CT.ContentTypeUsername.toNumber(), 'a name word: the USERNAME event first');
        assert.equal(Util.decodeText(byName.lwwElement.value), ENV.name);
    });

    test('the official client logged no rejected event or failed request', () => {
        assert.deepEqual(logged, []);
    });
});
