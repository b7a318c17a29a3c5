// The official client (@polycentric/polycentric-core) fetches, verifies and
// reads an identity with devices (docs/protocol.md, "Devices"): every event of
// its root key and of two devices, the device statements (content types 1000
// DEVICE_ACCEPT, 1001 DEVICE_AUTHORIZE, 1002 DEVICE_REVOKE) included.
// Driven by crates/cli/tests/it/interop_devices.rs, which makes them with the
// `agora` binary against a real `agora serve`: the root posts, pairs a phone
// and a tablet through `agora device pair` / `agora device approve`, the phone
// posts and sets a username of its own, the tablet posts, and the root revokes
// the tablet. Every variable must be set or the suite is skipped:
//
//   AGORA_SERVER           base URL of the server
//   AGORA_LINK             the identity's link, as `agora link` prints it
//   AGORA_ROOT             the root key, as `agora whoami` prints it
//   AGORA_NAME             the username the root set (`agora init --name`)
//   AGORA_ROOT_POST        the text of the root's post
//   AGORA_DEVICE           the phone's key, as `agora device list` prints it
//   AGORA_DEVICE_NAME      the phone's name in its DEVICE_AUTHORIZE
//   AGORA_DEVICE_USERNAME  the username set on the phone (`agora profile --name`)
//   AGORA_DEVICE_POST      the text of the phone's post
//   AGORA_REVOKED          the tablet's key (revoked after its post)
//   AGORA_REVOKED_NAME     the tablet's name in its DEVICE_AUTHORIZE
//   AGORA_REVOKED_POST     the text of the tablet's post
//
// Keys and the link are decoded, events fetched (/ranges then /events) and
// signature-checked, posts and usernames read, with the official client's own
// code. The device statements' bodies are not official messages: their few
// protobuf fields are split here (protoFields), and what they carry (a public
// key, a signed event, a process) is decoded and verified by the official
// client's Protocol and Models.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Long from 'long';
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
    root: process.env.AGORA_ROOT,
    name: process.env.AGORA_NAME,
    rootPost: process.env.AGORA_ROOT_POST,
    device: process.env.AGORA_DEVICE,
    deviceName: process.env.AGORA_DEVICE_NAME,
    deviceUsername: process.env.AGORA_DEVICE_USERNAME,
    devicePost: process.env.AGORA_DEVICE_POST,
    revoked: process.env.AGORA_REVOKED,
    revokedName: process.env.AGORA_REVOKED_NAME,
    revokedPost: process.env.AGORA_REVOKED_POST,
};
const MISSING = missingEnv(ENV);
// Everything the official client logs; the last test asserts it is empty.
const logged = captureConsole();

const DEVICE_ACCEPT = 1000;
const DEVICE_AUTHORIZE = 1001;
const DEVICE_REVOKE = 1002;
const STATEMENTS = [DEVICE_ACCEPT, DEVICE_AUTHORIZE, DEVICE_REVOKE];

// The fields of a protobuf message in order, as { number, value }: a varint as
// a BigInt, a length-delimited field as its bytes. The device statements use
// no other wire type.
function protoFields(bytes) {
    const buffer = Buffer.from(bytes);
    const fields = [];
    let at = 0;
    const varint = () => {
        let value = 0n;
        for (let shift = 0n; ; shift += 7n) {
            assert.ok(at < buffer.length, 'a truncated varint');
            const byte = buffer[at++];
            value |= BigInt(byte & 0x7f) << shift;
            if ((byte & 0x80) === 0) return value;
        }
    };
    while (at < buffer.length) {
        const key = varint();
        const number = Number(key >> 3n);
        const wireType = Number(key & 7n);
        if (wireType === 0) {
            fields.push({ number, value: varint() });
        } else if (wireType === 2) {
            const length = Number(varint());
            assert.ok(at + length <= buffer.length, 'a truncated field');
            fields.push({ number, value: buffer.subarray(at, at + length) });
            at += length;
        } else {
            assert.fail(`unexpected wire type ${wireType} in field ${number}`);
        }
    }
    return fields;
}

// The fields numbered `number`.
const fieldsNumbered = (fields, number) => fields.filter((f) => f.number === number).map((f) => f.value);

// The single field numbered `number`.
function onlyField(fields, number, what) {
    const values = fieldsNumbered(fields, number);
    assert.equal(values.length, 1, `${what}: exactly one field ${number}`);
    return values[0];
}

// DeviceAcceptance { PublicKey identity = 1; }: the identity, through the
// official PublicKey decoding.
function acceptedIdentity(content) {
    const fields = protoFields(content);
    assert.deepEqual(fields.map((f) => f.number), [1], 'DeviceAcceptance has only field 1');
    return Models.PublicKey.fromProto(Protocol.PublicKey.decode(fields[0].value));
}

// An embedded SignedEvent (DeviceAuthorization and DeviceRevocation field 1):
// decoded and signature-checked by the official client, with its exact bytes.
function embeddedAcceptance(fields, what) {
    const bytes = onlyField(fields, 1, what);
    // fromProto throws 'signature verification failed' on a bad signature.
    const signed = Models.SignedEvent.fromProto(Protocol.SignedEvent.decode(bytes));
    return { bytes, signed, event: decodeEvent(signed) };
}

// DeviceAuthorization { SignedEvent acceptance = 1; string name = 2; }
function authorization(content) {
    const fields = protoFields(content);
    return {
        acceptance: embeddedAcceptance(fields, 'DeviceAuthorization'),
        name: Util.decodeText(onlyField(fields, 2, 'DeviceAuthorization')),
    };
}

// DeviceRevocation { SignedEvent acceptance = 1; repeated DeviceBound bounds = 2; }
// with DeviceBound { Process process = 1; uint64 last_logical_clock = 2; }
function revocation(content) {
    const fields = protoFields(content);
    return {
        acceptance: embeddedAcceptance(fields, 'DeviceRevocation'),
        bounds: fieldsNumbered(fields, 2).map((bytes) => {
            const bound = protoFields(bytes);
            return {
                process: Models.Process.fromProto(Protocol.Process.decode(onlyField(bound, 1, 'DeviceBound'))),
                lastLogicalClock: onlyField(bound, 2, 'DeviceBound'),
            };
        }),
    };
}

describe('the official client verifies and reads an identity with devices', {
    skip: MISSING.length > 0 && `unset: ${MISSING.join(', ')}`,
}, () => {
    let root;
    let phone;
    let tablet;
    let reader;
    // The events the server holds of each key, fetched once.
    const events = {};

    before(async () => {
        const link = decodeURLInfo(ENV.link);
        root = Models.URLInfo.getSystemLink(link);
        phone = Models.PublicKey.fromString(ENV.device);
        tablet = Models.PublicKey.fromString(ENV.revoked);
        reader = await readerOf(root.system, root.servers);
        for (const key of [phone, tablet]) reader.addAddressHint(key, SERVER);
        events.root = await fetchAll(root.system);
        events.phone = await fetchAll(phone);
        events.tablet = await fetchAll(tablet);
    });

    after(() => {
        if (reader) stopHandle(reader);
    });

    test('the link and the keys decode with the official client: three Ed25519 keys', () => {
        assert.ok(ENV.link.startsWith(SCHEME));
        assert.deepEqual(root.servers, [SERVER]);
        assert.ok(Models.PublicKey.equal(root.system, Models.PublicKey.fromString(ENV.root)), 'the link names the root key');
        for (const key of [root.system, phone, tablet]) assert.equal(key.keyType.toNumber(), 1, 'an Ed25519 key');
        assert.ok(!Models.PublicKey.equal(root.system, phone));
        assert.ok(!Models.PublicKey.equal(root.system, tablet));
        assert.ok(!Models.PublicKey.equal(phone, tablet));
    });

    test('every event of the root and of both devices passes the official signature check', async () => {
        // The root: its SERVER, USERNAME and post, two authorizations and one revocation.
        assert.deepEqual(typeCounts(events.root), {
            [CT.ContentTypePost.toNumber()]: 1,
            [CT.ContentTypeUsername.toNumber()]: 1,
            [CT.ContentTypeServer.toNumber()]: 1,
            [DEVICE_AUTHORIZE]: 2,
            [DEVICE_REVOKE]: 1,
        });
        // The phone: its acceptance, its post and its own username.
        assert.deepEqual(typeCounts(events.phone), {
            [CT.ContentTypePost.toNumber()]: 1,
            [CT.ContentTypeUsername.toNumber()]: 1,
            [DEVICE_ACCEPT]: 1,
        });
        // The tablet: its acceptance and its post, both within the revocation's bound.
        assert.deepEqual(typeCounts(events.tablet), {
            [CT.ContentTypePost.toNumber()]: 1,
            [DEVICE_ACCEPT]: 1,
        });
        const store = reader.store();
        let statements = 0;
        for (const [system, list] of [[root.system, events.root], [phone, events.phone], [tablet, events.tablet]]) {
            for (const { signed, event } of list) {
                assert.ok(Models.PublicKey.equal(event.system, system), 'every event is signed by the key asked for');
                assert.equal(Models.SignedEvent.fromProto(signed), signed, 'the official signature check passes');
                if (STATEMENTS.includes(event.contentType.toNumber())) {
                    statements += 1;
                    assert.throws(
                        () => Models.SignedEvent.fromProto(altered(signed)),
                        /signature verification failed/,
                        'an altered device statement fails the same check',
                    );
                }
                // The official store takes every event, unknown content types
                // included, and gives back the same bytes.
                await reader.ingest(signed);
                const stored = await store.indexEvents.getSignedEvent(system, event.process, event.logicalClock);
                assert.ok(stored, `the official store holds content type ${event.contentType}`);
                assert.ok(bytesEqual(stored.event, signed.event) && bytesEqual(stored.signature, signed.signature));
            }
        }
        assert.equal(statements, 5, 'two acceptances, two authorizations, one revocation');
    });

    test('each DEVICE_ACCEPT (1000) names the root, also as /query_latest serves it', async () => {
        for (const [key, list] of [[phone, events.phone], [tablet, events.tablet]]) {
            const accept = onlyOfType(list, DEVICE_ACCEPT, 'a device');
            assert.ok(Models.PublicKey.equal(acceptedIdentity(accept.event.content), root.system), 'it accepts the root');
            assert.equal(accept.event.logicalClock.toNumber(), 1, 'the first event the device signed');
            assert.equal(accept.event.references.length, 0, 'no references');
            assert.equal(accept.event.lwwElement, undefined, 'no lww_element');
            // What an Agora client asks an unknown key for; the official call verifies it too.
            const latest = await APIMethods.getQueryLatest(SERVER, key, [Long.fromNumber(DEVICE_ACCEPT, true)]);
            assert.equal(latest.events.length, 1);
            assert.ok(bytesEqual(latest.events[0].event, accept.signed.event), 'the same acceptance');
        }
    });

    test('the DEVICE_AUTHORIZE events (1001) embed each acceptance byte for byte, verified by the official client', () => {
        const authorizations = ofType(events.root, DEVICE_AUTHORIZE).map(({ event }) => authorization(event.content));
        assert.deepEqual(authorizations.map((a) => a.name).sort(), [ENV.deviceName, ENV.revokedName].sort());
        for (const [key, list, name] of [[phone, events.phone, ENV.deviceName], [tablet, events.tablet, ENV.revokedName]]) {
            const { acceptance } = authorizations.find((a) => a.name === name);
            const served = onlyOfType(list, DEVICE_ACCEPT, name);
            assert.ok(Models.PublicKey.equal(acceptance.event.system, key), `${name}: the device's key signed it`);
            assert.equal(acceptance.event.contentType.toNumber(), DEVICE_ACCEPT);
            assert.ok(bytesEqual(acceptance.bytes, Protocol.SignedEvent.encode(served.signed).finish()), `${name}: the served acceptance, byte for byte`);
        }
    });

    test('the DEVICE_REVOKE (1002) embeds the tablet\'s acceptance and keeps exactly what it signed', async () => {
        const { acceptance, bounds } = revocation(onlyOfType(events.root, DEVICE_REVOKE, 'the root').event.content);
        assert.ok(Models.PublicKey.equal(acceptance.event.system, tablet), 'it revokes the tablet');
        const served = onlyOfType(events.tablet, DEVICE_ACCEPT, 'the tablet');
        assert.ok(bytesEqual(acceptance.signed.event, served.signed.event), 'the tablet\'s acceptance');
        // One bound: the tablet's only process, up to its post (clock 2), the last the server holds.
        const ranges = await APIMethods.getRanges(SERVER, tablet);
        assert.equal(ranges.rangesForProcesses.length, 1, 'the tablet signed with one process');
        const held = ranges.rangesForProcesses[0];
        assert.deepEqual(held.ranges.map((r) => [r.low.toNumber(), r.high.toNumber()]), [[1, 2]]);
        assert.equal(bounds.length, 1, 'one bound');
        assert.ok(Models.Process.equal(bounds[0].process, Models.Process.fromProto(held.process)), 'the tablet\'s process');
        assert.equal(bounds[0].lastLogicalClock, 2n);
        const post = onlyOfType(events.tablet, CT.ContentTypePost.toNumber(), 'the tablet');
        assert.equal(post.event.logicalClock.toNumber(), 2, 'the post is within the bound');
    });

    test('each key\'s posts through the official QueryIndex, decoded as Posts', async () => {
        for (const [key, text] of [[root.system, ENV.rootPost], [phone, ENV.devicePost], [tablet, ENV.revokedPost]]) {
            const fresh = await readerOf(key);
            try {
                const signed = await postsUntil(fresh, key, (texts) => texts.length >= 1);
                assert.deepEqual(signed.map((s) => postText(decodeEvent(s))), [text]);
                assert.ok(Models.PublicKey.equal(decodeEvent(signed[0]).system, key));
            } finally {
                stopHandle(fresh);
            }
        }
    });

    test('usernames through the official QueryCRDT: the root\'s own, and the phone\'s own', async () => {
        for (const [key, name] of [[root.system, ENV.name], [phone, ENV.deviceUsername]]) {
            // A handle that has ingested nothing, so the value comes from the network.
            const fresh = await readerOf(key);
            try {
                const value = await observeUntil(
                    'username via QueryCRDT (/head + /query_latest)',
                    Queries.QueryCRDT.queryCRDTObservable(fresh.queryManager.queryCRDT, key, CT.ContentTypeUsername),
                    (v) => v.value !== undefined,
                    (v) => JSON.stringify({ missingData: v.missingData, value: v.value && Util.decodeText(v.value) }),
                );
                assert.equal(Util.decodeText(value.value), name);
            } finally {
                stopHandle(fresh);
            }
        }
    });

    test('the official client logged no rejected event or failed request', () => {
        assert.deepEqual(logged, []);
    });
});
