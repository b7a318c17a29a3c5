// One server's HTTP API (spec section 4): requests, status checks and protobuf decoding. Every
// event in an answer is verified here; one event that does not verify fails the whole answer,
// so a server can neither forge nor earn attribution (as crates/client does).
import { base64url, fromBase64 } from './bytes';
import { verify, VerifyError, type Verified } from './events';
import { pb } from './proto';

const TIMEOUT_MS = 6000;

export class ServerError extends Error {
    constructor(readonly server: string, message: string) {
        super(message);
    }
}

export interface Failure {
    server: string;
    error: string;
}

/** Normalizes a server address: scheme, host, port, no trailing slash. */
export function normalizeServer(text: string): string {
    const url = new URL(text.trim().includes('://') ? text.trim() : `https://${text.trim()}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('a server address starts with http:// or https://');
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

async function call(server: string, path: string, init?: RequestInit): Promise<Uint8Array> {
    let response: Response;
    try {
        response = await fetch(server + path, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS), cache: 'no-store' });
    } catch (error) {
        const name = (error as Error).name;
        throw new ServerError(server, name === 'TimeoutError' ? 'did not answer in time' : 'cannot be reached');
    }
    const body = new Uint8Array(await response.arrayBuffer());
    if (!response.ok) {
        const text = new TextDecoder().decode(body).trim().slice(0, 200);
        throw new ServerError(server, `answered ${response.status}${text ? `: ${text}` : ''}`);
    }
    return body;
}

function decoded<T>(server: string, what: string, decode: () => T): T {
    try {
        return decode();
    } catch (error) {
        throw new ServerError(server, `sent a malformed ${what}: ${(error as Error).message}`);
    }
}

/** Verifies every event; the first that fails names the server as lying. */
export function verifyAll(server: string, signed: Parameters<typeof verify>[0][], expectSystem?: string): Verified[] {
    return signed.map((s) => {
        let event: Verified;
        try {
            event = verify(s);
        } catch (error) {
            throw new ServerError(server, `served an invalid event (${error instanceof VerifyError ? error.message : 'unreadable'})`);
        }
        if (expectSystem && event.system !== expectSystem) {
            throw new ServerError(server, 'served an invalid event (signed by another identity than the one asked for)');
        }
        return event;
    });
}

const systemParam = (system: string) => base64url(pb.PublicKey.encode({ keyType: 1, key: fromBase64(system) }).finish());

export type Ranges = Map<string, [number, number][]>;

export async function getRanges(server: string, system: string): Promise<Ranges> {
    const body = await call(server, `/ranges?system=${systemParam(system)}`);
    const answer = decoded(server, 'ranges answer', () => pb.RangesForSystem.decode(body));
    const ranges: Ranges = new Map();
    for (const item of answer.rangesForProcesses ?? []) {
        const process = item.process?.process;
        if (!process) continue;
        ranges.set(base64url(process), (item.ranges ?? []).map((r) => [Number(r.low), Number(r.high)]));
    }
    return ranges;
}

export async function getEvents(server: string, system: string, ranges: Ranges, filters: string): Promise<Verified[]> {
    const request = pb.RangesForSystem.encode({
        rangesForProcesses: [...ranges].map(([process, list]) => ({
            process: { process: fromBase64(process) },
            ranges: list.map(([low, high]) => ({ low, high })),
        })),
    }).finish();
    const body = await call(server, `/events?system=${systemParam(system)}&ranges=${base64url(request)}${filters}`);
    const answer = decoded(server, 'events answer', () => pb.Events.decode(body));
    const events = verifyAll(server, answer.events ?? [], system);
    for (const event of events) {
        const held = ranges.get(base64url(event.process)) ?? [];
        if (!held.some(([low, high]) => event.clock >= low && event.clock <= high)) {
            throw new ServerError(server, 'served an invalid event (one that was not asked for)');
        }
    }
    return events;
}

export async function queryLatest(server: string, system: string, types: number[]): Promise<Verified[]> {
    const numbers = base64url(pb.RepeatedUInt64.encode({ numbers: types }).finish());
    const body = await call(server, `/query_latest?system=${systemParam(system)}&event_types=${numbers}`);
    const answer = decoded(server, 'latest answer', () => pb.Events.decode(body));
    return verifyAll(server, answer.events ?? [], system);
}

export async function postEvents(server: string, events: Verified[]): Promise<void> {
    const body = pb.Events.encode({ events: events.map((e) => ({ signature: e.signature, event: e.bytes })) }).finish();
    await call(server, '/events', { method: 'POST', body: body as BodyInit, headers: { 'content-type': 'application/octet-stream' } });
}

export interface References {
    items: Verified[];
    counts: number[];
    cursor: Uint8Array | null;
}

export async function queryReferences(server: string, request: Parameters<typeof pb.QueryReferencesRequest.encode>[0], filters: string): Promise<References> {
    const query = base64url(pb.QueryReferencesRequest.encode(request).finish());
    const body = await call(server, `/query_references?query=${query}${filters}`);
    const answer = decoded(server, 'references answer', () => pb.QueryReferencesResponse.decode(body));
    const items = verifyAll(server, (answer.items ?? []).map((i) => i.event ?? {}));
    return { items, counts: (answer.counts ?? []).map(Number), cursor: answer.cursor ?? null };
}

/** A page of results, with the related events (the latest edit of each result post) verified too. */
export async function eventsPage(server: string, path: string): Promise<{ events: Verified[]; related: Verified[]; cursor: Uint8Array | null }> {
    const body = await call(server, path);
    const answer = decoded(server, 'answer', () => pb.ResultEventsAndRelatedEventsAndCursor.decode(body));
    return {
        events: verifyAll(server, answer.resultEvents?.events ?? []),
        related: verifyAll(server, answer.relatedEvents?.events ?? []),
        cursor: answer.cursor ?? null,
    };
}

export async function topics(server: string, range: string): Promise<{ topic: string; count: number }[]> {
    const body = await call(server, `/top_string_references?limit=10&time_range=${range}`);
    const answer = decoded(server, 'topics answer', () => pb.ResultTopStringReferences.decode(body));
    return (answer.buckets ?? []).map((b) => ({ topic: new TextDecoder().decode(b.key ?? new Uint8Array()), count: Number(b.value) }));
}

export async function recommendedProfiles(server: string, filters: string): Promise<string[]> {
    const body = await call(server, `/recommended_profiles?${filters.slice(1)}`);
    const answer = decoded(server, 'recommendations', () => pb.PublicKeys.decode(body));
    return (answer.systems ?? []).filter((k) => k.key?.length === 32).map((k) => base64url(k.key!));
}

export async function challenge(server: string) {
    const body = await call(server, '/challenge');
    return decoded(server, 'challenge', () => pb.HarborChallengeResponse.decode(body));
}

export async function claimHandle(server: string, request: Parameters<typeof pb.ClaimHandleRequest.encode>[0]): Promise<void> {
    const body = pb.ClaimHandleRequest.encode(request).finish();
    await call(server, '/claim_handle', { method: 'POST', body: body as BodyInit });
}

export async function resolveHandle(server: string, handle: string): Promise<string | null> {
    try {
        const body = await call(server, `/resolve_handle?handle=${encodeURIComponent(handle)}`);
        const key = pb.PublicKey.decode(body).key;
        return key ? base64url(key) : null;
    } catch (error) {
        if (error instanceof ServerError && /answered (404|500)/.test(error.message)) return null;
        throw error;
    }
}
