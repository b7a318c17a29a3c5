// Signed events: verification of what servers send (the signature over the exact `event` bytes,
// never re-encoded), and building this process's next event with the clock and indices the spec
// (section 3.1) and crates/protocol/src/author.rs describe, so every server and official client
// accepts it.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { base64url, compare } from './bytes';
import { CT, pb, REFERENCE_BYTES, REFERENCE_POINTER } from './proto';

type Event = ReturnType<typeof pb.Event.decode>;

/** An event whose signature was checked over `bytes`, which it keeps. */
export interface Verified {
    bytes: Uint8Array;
    signature: Uint8Array;
    event: Event;
    /** base64url of the 32-byte public key. */
    system: string;
    process: Uint8Array;
    clock: number;
    type: number;
    ms: number;
    /** system|process|clock: one slot of one process's log. */
    slot: string;
    tags: { name: string; level: number }[];
}

export class VerifyError extends Error {}

export const systemId = (key: Uint8Array): string => base64url(key);
export const slotKey = (system: string, process: Uint8Array, clock: number): string =>
    `${system}|${base64url(process)}|${clock}`;

/** Verifies one served SignedEvent; throws a VerifyError naming what is wrong. */
export function verify(signed: { signature?: Uint8Array | null; event?: Uint8Array | null; moderationTags?: { name?: string | null; level?: number | null }[] | null }): Verified {
    const bytes = signed.event ?? new Uint8Array();
    const signature = signed.signature ?? new Uint8Array();
    let event: Event;
    try {
        event = pb.Event.decode(bytes);
    } catch (error) {
        throw new VerifyError(`event does not decode: ${(error as Error).message}`);
    }
    const key = event.system?.key;
    if (!key || Number(event.system?.keyType) !== 1 || key.length !== 32) throw new VerifyError('not an Ed25519 system key');
    const process = event.process?.process;
    if (!process || process.length !== 16) throw new VerifyError('process is not 16 bytes');
    if (!event.vectorClock || !event.indices) throw new VerifyError('vector clock or indices missing');
    if (signature.length !== 64) throw new VerifyError('signature is not 64 bytes');
    let valid = false;
    try {
        valid = ed25519.verify(signature, bytes, key, { zip215: true });
    } catch {
        valid = false;
    }
    if (!valid) throw new VerifyError('signature does not verify');
    const system = systemId(key);
    const clock = Number(event.logicalClock);
    return {
        bytes,
        signature,
        event,
        system,
        process,
        clock,
        type: Number(event.contentType),
        ms: Number(event.unixMilliseconds ?? 0),
        slot: slotKey(system, process, clock),
        tags: (signed.moderationTags ?? []).map((t) => ({ name: t.name ?? '', level: Number(t.level ?? 0) })),
    };
}

export const digestOf = (event: Verified): Uint8Array => sha256(event.bytes);

/** The signed wire form of an event, as POST /events takes it. */
export const toSigned = (event: Verified) => ({ signature: event.signature, event: event.bytes });

export interface PointerParts {
    system: Uint8Array;
    process: Uint8Array;
    clock: number;
    digest?: Uint8Array;
}

export function pointerOf(event: Verified): PointerParts {
    return { system: event.event.system!.key!, process: event.process, clock: event.clock, digest: digestOf(event) };
}

export function encodePointer(pointer: PointerParts): Uint8Array {
    return pb.Pointer.encode({
        system: { keyType: 1, key: pointer.system },
        process: { process: pointer.process },
        logicalClock: pointer.clock,
        eventDigest: pointer.digest ? { digestType: 1, digest: pointer.digest } : null,
    }).finish();
}

export function pointerSlot(pointer: PointerParts): string {
    return slotKey(systemId(pointer.system), pointer.process, pointer.clock);
}

export const pointerReference = (pointer: PointerParts) => ({ referenceType: REFERENCE_POINTER, reference: encodePointer(pointer) });
export const topicReference = (topic: string) => ({ referenceType: REFERENCE_BYTES, reference: new TextEncoder().encode(topic) });

/** The post an event replies to (its first pointer reference), if any. */
export function replyTarget(event: Verified): PointerParts | null {
    for (const reference of event.event.references ?? []) {
        if (Number(reference.referenceType) === REFERENCE_POINTER) {
            try {
                const p = pb.Pointer.decode(reference.reference!);
                if (p.system?.key && p.process?.process) {
                    return { system: p.system.key, process: p.process.process, clock: Number(p.logicalClock), digest: p.eventDigest?.digest ?? undefined };
                }
            } catch {
                return null;
            }
        }
    }
    return null;
}

/** The topic of a topic post (its first bytes reference), if any. */
export function topicOf(event: Verified): string | null {
    for (const reference of event.event.references ?? []) {
        if (Number(reference.referenceType) === REFERENCE_BYTES) {
            try {
                return new TextDecoder('utf-8', { fatal: true }).decode(reference.reference!);
            } catch {
                return null;
            }
        }
    }
    return null;
}

export type Manifest = NonNullable<ReturnType<typeof pb.Post.decode>['image']>;

export interface PostBody {
    text: string;
    image: Manifest | null;
}

export function postOf(event: Verified): PostBody | null {
    if (event.type !== CT.POST) return null;
    try {
        const post = pb.Post.decode(event.event.content ?? new Uint8Array());
        if (post.content == null) return null;
        return { text: post.content, image: post.image ?? null };
    } catch {
        return null;
    }
}

/** The post an edit points at: a POST_EDIT with exactly one reference, a pointer, and a
 * `Post` body with text (docs/protocol.md, "Edits"); null for anything else. */
export function editTarget(event: Verified): { target: PointerParts; text: string } | null {
    if (event.type !== CT.POST_EDIT || (event.event.references ?? []).length !== 1) return null;
    const target = replyTarget(event);
    let text: string | null | undefined;
    try { text = pb.Post.decode(event.event.content ?? new Uint8Array()).content; } catch { return null; }
    return target && text != null ? { target, text } : null;
}

/** Which edit wins: larger unix_milliseconds, then larger process, then larger clock. */
export const editOrder = (a: Verified, b: Verified): number =>
    a.ms - b.ms || compare(a.process, b.process) || a.clock - b.clock;

/** What varies between events; the author fills in the rest. */
export interface Draft {
    type: number;
    content?: Uint8Array;
    lwwElement?: { value: Uint8Array; unixMilliseconds: number };
    lwwElementSet?: { operation: number; value: Uint8Array; unixMilliseconds: number };
    references?: { referenceType: number; reference: Uint8Array }[];
}

/** A process's publishing state: the last clock and, per type, its latest clock (first-seen order). */
export interface ProcessState {
    seed: Uint8Array;
    process: Uint8Array;
    clock: number;
    indices: [number, number][];
}

/** Signs the next event of `state` at `ms` and advances the state (as `Author::publish`). */
export function publishNext(state: ProcessState, draft: Draft, ms: number): Verified {
    const clock = state.clock + 1;
    const key = ed25519.getPublicKey(state.seed);
    const bytes = pb.Event.encode({
        system: { keyType: 1, key },
        process: { process: state.process },
        logicalClock: clock,
        contentType: draft.type,
        content: draft.content ?? new Uint8Array(),
        vectorClock: {},
        indices: { indices: state.indices.map(([indexType, logicalClock]) => ({ indexType, logicalClock })) },
        lwwElementSet: draft.lwwElementSet ?? null,
        lwwElement: draft.lwwElement ?? null,
        references: draft.references ?? [],
        unixMilliseconds: ms,
    }).finish();
    const signature = ed25519.sign(bytes, state.seed);
    const verified = verify({ signature, event: bytes });
    state.clock = clock;
    const index = state.indices.find(([type]) => type === draft.type);
    if (index) index[1] = clock;
    else state.indices.push([draft.type, clock]);
    return verified;
}

export const publicKeyOf = (seed: Uint8Array): Uint8Array => ed25519.getPublicKey(seed);
export const sign = (message: Uint8Array, seed: Uint8Array): Uint8Array => ed25519.sign(message, seed);
