// Account backup (export bundle, spec section 2.6) between the official client
// (@polycentric/polycentric-core) and Agora, against a running Agora server.
// Driven by crates/cli/tests/it/export.rs; each test runs only when its
// environment variables are set:
//
//   AGORA_SERVER           base URL of the server (required; else all skip)
//   AGORA_EXPORT_OUT       (a1) create an official identity whose SERVER is
//                          AGORA_SERVER, publish one post, sync, and write its
//                          export link (ProcessHandle.createExportBundle) here
//   AGORA_OFFICIAL_BUNDLE  (a2) a file holding that link, and
//   AGORA_EXPECT_POST      the text Agora posted after importing it: read it
//                          back with the official queries, under the same key
//   AGORA_EXPORT           (b) a link printed by `agora export`: import it the
//                          way the official apps do (decode the URLInfo,
//                          createProcessHandleFromKey, ingest the bundled
//                          events), then publish AGORA_OFFICIAL_POST and sync
//   AGORA_OFFICIAL_POST    the text to publish in (b)

import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
    APIMethods,
    MetaStore,
    Models,
    PersistenceDriver,
    ProcessHandle,
    Protocol,
} from '@polycentric/polycentric-core';
import {
    SERVER,
    CT,
    SCHEME,
    decodeEvent,
    postText,
    bytesEqual,
    decodeURLInfo,
    waitFor,
    postsUntil,
    readerOf,
    stopHandle,
    serverRanges,
} from './common.mjs';

// The link form of an export bundle, as the official apps show it.
function encodeExportLink(bundle) {
    const info = Protocol.URLInfo.encode({
        urlType: Models.URLInfo.URLInfoTypeExportBundle,
        body: Protocol.ExportBundle.encode(bundle).finish(),
    }).finish();
    return SCHEME + Buffer.from(info).toString('base64url');
}

const decodeExportLink = (text) => Models.URLInfo.getExportBundle(decodeURLInfo(text));

const handles = [];
after(() => handles.forEach(stopHandle));

describe('export bundles between the official client and Agora', { skip: !SERVER && 'AGORA_SERVER is not set' }, () => {
    test('(a1) the official client exports an identity whose server is Agora', { skip: !process.env.AGORA_EXPORT_OUT }, async () => {
        const handle = await ProcessHandle.createTestProcessHandle();
        handles.push(handle);
        await handle.addServer(SERVER);
        await handle.post('official post before export');
        await ProcessHandle.fullSync(handle);
        await waitFor('the server to hold the official events', async () => {
            const ranges = await APIMethods.getRanges(SERVER, handle.system());
            const held = ranges.rangesForProcesses.flatMap((r) => r.ranges.map((x) => x.high.toNumber()));
            return { ok: held.includes(2), detail: JSON.stringify(held) };
        });
        const bundle = await handle.createExportBundle();
        assert.equal(bundle.events.events.length, 1, 'one SERVER event in effect');
        fs.writeFileSync(process.env.AGORA_EXPORT_OUT, encodeExportLink(bundle) + '\n');
    });

    test('(a2) the official client reads back what Agora posted under the imported key', { skip: !process.env.AGORA_OFFICIAL_BUNDLE }, async () => {
        const bundle = decodeExportLink(fs.readFileSync(process.env.AGORA_OFFICIAL_BUNDLE, 'utf8'));
        const system = Models.PublicKey.fromProto({ keyType: bundle.keyPair.keyType, key: bundle.keyPair.publicKey });
        const reader = await readerOf(system);
        handles.push(reader);
        const expected = process.env.AGORA_EXPECT_POST;
        const signed = await postsUntil(reader, system, (texts) => texts.includes(expected));
        const posts = signed.map((s) => ({ text: postText(decodeEvent(s)), event: decodeEvent(s) }));
        const agoraPost = posts.find((p) => p.text === expected);
        const before = posts.find((p) => p.text === 'official post before export');
        assert.ok(before, 'the official post is still there');
        assert.ok(Models.PublicKey.equal(agoraPost.event.system, system), 'same system key');
        assert.ok(!Models.Process.equal(agoraPost.event.process, before.event.process), 'Agora used a new process');
        assert.equal(agoraPost.event.logicalClock.toNumber(), 1, "the new process's first event");
    });

    test('(b) the official client imports an Agora export and publishes under the same key', { skip: !process.env.AGORA_EXPORT }, async () => {
        const bundle = decodeExportLink(process.env.AGORA_EXPORT);
        assert.equal(bundle.keyPair.keyType.toNumber(), 1);
        const privateKey = Models.PrivateKey.fromProto({ keyType: bundle.keyPair.keyType, key: bundle.keyPair.privateKey });
        const derived = await Models.PrivateKey.derivePublicKey(privateKey);
        assert.ok(bytesEqual(derived.key, bundle.keyPair.publicKey), 'the key pair matches');
        const servers = bundle.events.events.map((e) => {
            const event = decodeEvent(e);
            assert.equal(event.contentType.toNumber(), CT.ContentTypeServer.toNumber());
            return new TextDecoder().decode(event.lwwElementSet.value);
        });
        assert.deepEqual(servers, [SERVER], 'the bundle names the Agora server');

        // The official import: a handle from the key (new process), then ingest the bundle.
        const metaStore = await MetaStore.createMetaStore(PersistenceDriver.createPersistenceDriverMemory());
        const handle = await ProcessHandle.createProcessHandleFromKey(metaStore, privateKey);
        handles.push(handle);
        for (const event of bundle.events.events) await handle.ingest(event);
        assert.ok(bytesEqual(handle.system().key, bundle.keyPair.publicKey), 'same system');
        const state = await handle.loadSystemState(handle.system());
        assert.deepEqual(state.servers(), [SERVER], 'the imported identity knows its server');

        const pointer = await handle.post(process.env.AGORA_OFFICIAL_POST);
        // The official handle may publish on its own before the post, so the clock is not
        // necessarily 1; what matters is the new process and the server's acceptance.
        const clock = pointer.logicalClock.toNumber();
        assert.ok(Models.Process.equal(pointer.process, handle.process()), 'posted by the new process');
        assert.ok(bytesEqual(pointer.system.key, bundle.keyPair.publicKey), 'under the same key');
        await ProcessHandle.fullSync(handle);
        await waitFor('the server to accept the official post', async () => {
            const held = await serverRanges(handle.system(), handle.process());
            return { ok: held.some(([lo, hi]) => lo <= 1 && clock <= hi), detail: JSON.stringify(held) };
        });
    });
});
