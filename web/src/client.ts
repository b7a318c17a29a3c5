// The client's semantics, as crates/client does them: this identity (key in browser storage,
// never sent), publishing to every one of its servers (what a server lacks is found by ranges and
// sent when it answers, so posts written offline go out later), reading a system from all its
// servers with every event verified, and the state (profile, follows, posts) computed from the
// verified events kept locally.
import { base64url, compare, concat, fromBase64, fromUtf8, randomBytes, utf8 } from './bytes';
import {
    digestOf, editOrder, editTarget, encodePointer, pointerReference, pointerSlot, postOf, publicKeyOf, publishNext, replyTarget, sign, systemId, verify,
    topicReference, type Draft, type PointerParts, type ProcessState, type Verified,
} from './events';
import {
    acceptanceContent, acceptedIdentity, confirmationWords, DEVICE_ACCEPT, DEVICE_AUTHORIZE, DEVICE_REVOKE, devicesOf, pairingCode, permits, type Member,
} from './devices';
import { parseBundle, parseLink } from './links';
import { CT, DISLIKE, LIKE, NEUTRAL, pb } from './proto';
import * as remote from './remote';
import { eventsOf, keep, load, save } from './store';

export interface Gathered {
    answered: string[];
    failed: remote.Failure[];
}

export const emptyGathered = (): Gathered => ({ answered: [], failed: [] });

export function joinGathered(a: Gathered, b: Gathered): Gathered {
    const answered = [...new Set([...a.answered, ...b.answered])];
    const failed = [...a.failed, ...b.failed.filter((f) => !a.failed.some((g) => g.server === f.server))];
    return { answered: answered.filter((s) => !failed.some((f) => f.server === s)), failed };
}

interface StoredIdentity {
    seed: string;
    process: string;
    clock: number;
    indices: [number, number][];
    /** When this browser is a device: the identity it belongs to (or asked to belong to). */
    root?: string;
    /** Whether the identity authorized this device. */
    paired?: boolean;
}

let identity: ProcessState | null = null;
let root: string | null = null;
let paired = false;
(() => {
    const stored = load<StoredIdentity | null>('identity', null);
    if (!stored) return;
    identity = { seed: fromBase64(stored.seed), process: fromBase64(stored.process), clock: stored.clock, indices: stored.indices };
    root = stored.root ?? null;
    paired = stored.paired ?? false;
})();

function persistIdentity(): void {
    if (!identity) return;
    save('identity', {
        seed: base64url(identity.seed),
        process: base64url(identity.process),
        clock: identity.clock,
        indices: identity.indices,
        ...(root ? { root, paired } : {}),
    } satisfies StoredIdentity);
}

/** Whether this browser has an identity it can use (a device waiting for approval has not). */
export const hasIdentity = (): boolean => identity !== null && (root === null || paired);
/** The identity this browser speaks for: its own key, or the identity it is a device of. */
export const me = (): string => root ?? signer();
/** The key this browser signs with (a device's own key, or the identity's). */
export const signer = (): string => systemId(publicKeyOf(identity!.seed));
export const seed = (): Uint8Array => identity!.seed;
export const isDevice = (): boolean => root !== null;
/** The identity a device key belongs to, for the keys whose identity was read here. */
const owners = new Map<string, string>();
export const ownerOf = (system: string): string => owners.get(system) ?? system;
export const origin = (): string => location.origin;

/** Servers learned from links, per system. */
const hints: Record<string, string[]> = load('hints', {});
export function addHints(system: string, servers: string[]): void {
    const known = hints[system] ?? [];
    const merged = [...new Set([...known, ...servers.map((s) => s.replace(/\/+$/, ''))])];
    if (merged.length !== known.length) {
        hints[system] = merged;
        save('hints', hints);
    }
}

/** Own events not yet taken by any server, by slot. */
const pending = new Set<string>(load<string[]>('pending', []));
const pendingListeners = new Set<() => void>();
export const pendingCount = (): number => pending.size;
export const isPending = (slot: string): boolean => pending.has(slot);
export function onPendingChange(listener: () => void): () => void {
    pendingListeners.add(listener);
    return () => { pendingListeners.delete(listener); };
}
function setPending(slots: string[], add: boolean): void {
    for (const slot of slots) add ? pending.add(slot) : pending.delete(slot);
    save('pending', [...pending]);
    for (const listener of pendingListeners) listener();
}

// ---- state computed from a system's verified events ----

export interface Profile {
    system: string;
    username: string | null;
    description: string | null;
    avatar: ReturnType<typeof pb.ImageBundle.decode> | null;
    servers: string[];
    follows: string[];
    blocks: string[];
    posts: Verified[];
    /** Own opinions, by subject slot: 'like' | 'dislike' | null. */
    opinions: Map<string, string | null>;
}

function lwwElement(events: Verified[], type: number): Uint8Array | null {
    let best: Verified | null = null;
    for (const e of events) {
        if (e.type !== type || !e.event.lwwElement) continue;
        if (!best) { best = e; continue; }
        const a = Number(e.event.lwwElement.unixMilliseconds), b = Number(best.event.lwwElement!.unixMilliseconds);
        if (a > b || (a === b && compare(e.process, best.process) > 0)) best = e;
    }
    return best?.event.lwwElement?.value ?? null;
}

/** An LWW element set: larger time wins, ADD wins ties. */
export function lwwSet(events: Verified[], type: number): { value: Uint8Array; event: Verified }[] {
    const winners = new Map<string, { add: boolean; ms: number; value: Uint8Array; event: Verified }>();
    for (const e of events) {
        const op = e.event.lwwElementSet;
        if (e.type !== type || !op) continue;
        const value = op.value ?? new Uint8Array();
        const key = base64url(value);
        const ms = Number(op.unixMilliseconds);
        const add = Number(op.operation ?? 0) === 0;
        const held = winners.get(key);
        if (!held || ms > held.ms || (ms === held.ms && add && !held.add)) winners.set(key, { add, ms, value, event: e });
    }
    return [...winners.values()].filter((w) => w.add).map((w) => ({ value: w.value, event: w.event }));
}

/** The slots deleted by DELETE events (each deletes an event of the key that signed it). */
function deletedSlots(events: Verified[]): Set<string> {
    const deleted = new Set<string>();
    for (const e of events) {
        if (e.type !== CT.DELETE) continue;
        try {
            const d = pb.Delete.decode(e.event.content);
            if (d.process?.process) deleted.add(`${e.system}|${base64url(d.process.process)}|${Number(d.logicalClock)}`);
        } catch { /* a malformed delete deletes nothing */ }
    }
    return deleted;
}

const keyOfValue = (value: Uint8Array): string | null => {
    try {
        const key = pb.PublicKey.decode(value).key;
        return key?.length === 32 ? systemId(key) : null;
    } catch {
        return null;
    }
};

/** The device keys `system` authorized (revoked ones with their bounds), from what is kept. */
export async function members(system: string): Promise<Member[]> {
    const list = devicesOf([...(await eventsOf(system)).values()]);
    for (const member of list) owners.set(member.system, system);
    return list;
}

/** An identity's events: its own and those of its devices within their bounds. */
async function identityEvents(system: string): Promise<Verified[]> {
    const events = [...(await eventsOf(system)).values()];
    for (const member of await members(system)) {
        events.push(...[...(await eventsOf(member.system)).values()].filter((e) => permits(member, e)));
    }
    return events;
}

export async function profile(system: string): Promise<Profile> {
    const events = await identityEvents(system);
    const deleted = deletedSlots(events);
    const live = events.filter((e) => !deleted.has(e.slot));
    const text = (type: number) => {
        const value = lwwElement(live, type);
        try { return value ? fromUtf8(value) : null; } catch { return null; }
    };
    const avatarBytes = lwwElement(live, CT.AVATAR);
    let avatar = null;
    try { avatar = avatarBytes ? pb.ImageBundle.decode(avatarBytes) : null; } catch { avatar = null; }
    const opinions = new Map<string, { ms: number; value: string | null }>();
    for (const e of live) {
        if (e.type !== CT.OPINION || !e.event.lwwElement) continue;
        const target = replyTarget(e);
        if (!target) continue;
        const slot = pointerSlot(target);
        const ms = Number(e.event.lwwElement.unixMilliseconds);
        const v = e.event.lwwElement.value ?? new Uint8Array();
        const value = v[0] === 1 ? 'like' : v[0] === 2 ? 'dislike' : null;
        const held = opinions.get(slot);
        if (!held || ms >= held.ms) opinions.set(slot, { ms, value });
    }
    return {
        system,
        username: text(CT.USERNAME),
        description: text(CT.DESCRIPTION),
        avatar,
        servers: lwwSet(live, CT.SERVER).map((s) => { try { return fromUtf8(s.value); } catch { return ''; } }).filter(Boolean),
        follows: lwwSet(live, CT.FOLLOW).map((f) => keyOfValue(f.value)).filter((k): k is string => k !== null),
        blocks: lwwSet(live, CT.BLOCK).map((f) => keyOfValue(f.value)).filter((k): k is string => k !== null),
        posts: live.filter((e) => postOf(e) !== null).sort((a, b) => b.ms - a.ms),
        opinions: new Map([...opinions].map(([slot, o]) => [slot, o.value])),
    };
}

/** A post and its edits by the post's own key, oldest first (the last one is what shows): edits
 * are read from what is kept of the post's key, whether synced from its log or carried in a
 * search or explore answer; deleted edits do not count. */
export async function versions(post: Verified): Promise<{ event: Verified; text: string }[]> {
    const events = [...(await eventsOf(post.system)).values()];
    const deleted = deletedSlots(events);
    const edits: { event: Verified; text: string }[] = [];
    for (const e of events) {
        const edit = e.type === CT.POST_EDIT && !deleted.has(e.slot) ? editTarget(e) : null;
        if (edit && e.system === post.system && pointerSlot(edit.target) === post.slot) edits.push({ event: e, text: edit.text });
    }
    edits.sort((a, b) => editOrder(a.event, b.event));
    return [{ event: post, text: postOf(post)?.text ?? '' }, ...edits];
}

/** This identity's servers: its SERVER set, or the page's origin before it has one. */
export async function myServers(): Promise<string[]> {
    if (!identity) return [origin()];
    const servers = (await profile(me())).servers;
    return servers.length ? servers : [origin()];
}

/** Where `system` can be read: its own servers, the hints of links to it, then this identity's. */
export async function serversOf(system: string): Promise<string[]> {
    const own = identity && system === me() ? [] : (await profile(system)).servers;
    return [...new Set([...own, ...(hints[system] ?? []), ...(await myServers())])];
}

// ---- moderation filter settings (sent as `moderation_filters`) ----

export const CATEGORIES = ['hate', 'sexual', 'violence'] as const;
export type Levels = Record<(typeof CATEGORIES)[number], number>;
export const levels = (): Levels => load('filters', { hate: 2, sexual: 1, violence: 1 });
export const setLevels = (value: Levels) => save('filters', value);
export const filtersParam = (): string => {
    const list = CATEGORIES.map((name) => ({ name, max_level: levels()[name], strict_mode: false }));
    return `&moderation_filters=${encodeURIComponent(JSON.stringify(list))}`;
};
/** Hides what a server tagged above the person's levels (servers that filter do it already). */
export const allowedByFilters = (e: Verified): boolean => e.tags.every((t) => !(t.name in levels()) || t.level <= levels()[t.name as keyof Levels]);

// ---- reading ----

/** Fetches what `servers` hold of `system` and this browser lacks, verifying every event. */
export async function sync(system: string, servers: string[]): Promise<Gathered> {
    const gathered = emptyGathered();
    // Each server is asked for what was missing before any answered, so every server that holds
    // something new is checked, not only the fastest.
    const held = new Set((await eventsOf(system)).keys());
    await Promise.all(servers.map(async (server) => {
        try {
            const theirs = await remote.getRanges(server, system);
            const missing: remote.Ranges = new Map();
            for (const [process, ranges] of theirs) {
                const list: [number, number][] = [];
                for (const [low, high] of ranges) {
                    for (let clock = low; clock <= high && list.length < 2000; clock++) {
                        if (!held.has(`${system}|${process}|${clock}`)) list.push([clock, clock]);
                    }
                }
                if (list.length) missing.set(process, compact(list));
            }
            if (missing.size) await keep(await remote.getEvents(server, system, missing, filtersParam()));
            gathered.answered.push(server);
        } catch (error) {
            gathered.failed.push({ server, error: (error as Error).message });
        }
    }));
    return gathered;
}

function compact(clocks: [number, number][]): [number, number][] {
    const out: [number, number][] = [];
    for (const [clock] of clocks) {
        const last = out[out.length - 1];
        if (last && last[1] + 1 === clock) last[1] = clock;
        else out.push([clock, clock]);
    }
    return out;
}

/** Reads `system` from every server it can be read from, then each of its devices. */
export async function refresh(system: string): Promise<Gathered> {
    const servers = await serversOf(system);
    let gathered = await sync(system, servers);
    for (const member of await members(system)) gathered = joinGathered(gathered, await sync(member.system, servers));
    return gathered;
}

// ---- live ----

/** The open subscription: one at a time, kept while the same systems are watched, so pages that
 * re-render do not open new streams (servers cap subscriptions per address). */
let subscription: { key: string; listeners: Set<() => void>; close: () => void } | null = null;

/** Subscribes to new events of `systems` (and their devices) on `servers` that stream them
 * (Agora's `GET /stream`; other servers do not, and are left alone after a few tries). Each
 * streamed event is verified and kept only if it belongs to a system asked for; `onEvents` runs
 * after each. Returns the function that stops listening. */
export async function live(systems: string[], servers: string[], onEvents: () => void): Promise<() => void> {
    const wanted = new Set(systems);
    for (const system of systems) for (const member of await members(system)) wanted.add(member.system);
    const key = `${[...wanted].sort().join(',')}|${[...servers].sort().join(',')}`;
    if (subscription?.key !== key) {
        subscription?.close();
        subscription = { key, listeners: new Set(), close: () => {} };
        subscription.close = openStreams(wanted, servers, subscription.listeners);
    }
    const listeners = subscription.listeners;
    listeners.add(onEvents);
    return () => { listeners.delete(onEvents); };
}

function openStreams(wanted: Set<string>, servers: string[], listeners: Set<() => void>): () => void {
    const param = [...wanted].slice(0, 500).map((s) => base64url(pb.PublicKey.encode({ keyType: 1, key: fromBase64(s) }).finish())).join(',');
    let closed = false;
    const sources = new Map<string, EventSource>();
    const open = (server: string, tries: number) => {
        if (closed) return;
        const source = new EventSource(`${server}/stream?systems=${param}`);
        sources.set(server, source);
        source.addEventListener('event', (message) => {
            try {
                const event = verify(pb.SignedEvent.decode(fromBase64((message as MessageEvent<string>).data)));
                if (wanted.has(event.system)) void keep([event]).then(() => { for (const listener of listeners) listener(); });
            } catch { /* an event that does not verify is never kept */ }
        });
        source.addEventListener('position', () => { tries = 0; });
        // A refused or ended stream is closed; it is opened again a few times, later each time
        // (a server without streams, or one at its subscription cap, is then left alone).
        source.onerror = () => {
            if (source.readyState !== EventSource.CLOSED) return;
            if (tries < 5) setTimeout(() => open(server, tries + 1), 1000 * 2 ** tries);
        };
    };
    for (const server of servers) open(server, 0);
    return () => { closed = true; for (const source of sources.values()) source.close(); };
}

// ---- identity ----

export async function createIdentity(name: string): Promise<void> {
    identity = { seed: randomBytes(32), process: randomBytes(16), clock: 0, indices: [] };
    persistIdentity();
    await publish({ type: CT.SERVER, lwwElementSet: { operation: 0, value: utf8(origin()), unixMilliseconds: Date.now() } });
    if (name.trim()) await setText(CT.USERNAME, name.trim());
}

/** Imports a backup: the same key as a new process of it; its servers come from the bundle. */
export async function importIdentity(text: string): Promise<Gathered> {
    const bundle = parseBundle(text);
    identity = { seed: bundle.seed, process: randomBytes(16), clock: 0, indices: [] };
    persistIdentity();
    await keep(bundle.events);
    return refresh(me());
}

// ---- pairing this browser as a device ----

/** Makes this browser a device of the identity `link` names: a new key that accepts the
 * identity, published to the identity's servers. The root's `agora device approve` with the
 * pairing code authorizes it; [`checkPaired`] notices. */
export async function startPairing(link: string): Promise<Gathered> {
    const parsed = parseLink(link);
    if (parsed.kind !== 'system') throw new Error('pairing needs the identity\'s link (agora link prints it)');
    addHints(parsed.system, parsed.servers);
    const servers = await serversOf(parsed.system);
    const read = await sync(parsed.system, servers);
    if (read.answered.length === 0) throw new Error(`no server answered for this identity (asked: ${servers.join(', ')})`);
    identity = { seed: randomBytes(32), process: randomBytes(16), clock: 0, indices: [] };
    root = parsed.system;
    paired = false;
    persistIdentity();
    await publish({ type: DEVICE_ACCEPT, content: acceptanceContent(parsed.system) });
    const pushed = await pushOwn();
    if (pushed.answered.length === 0) throw new Error(`no server of the identity took this browser's request: ${pushed.failed.map((f) => `${f.server} ${f.error}`).join('; ')}`);
    return pushed;
}

/** What a device waiting for approval shows: the identity, its pairing code and words. */
export async function pairingState(): Promise<{ identity: string; code: string; words: string } | null> {
    if (!identity || !root || paired) return null;
    return { identity: root, code: pairingCode(signer()), words: await confirmationWords(root, signer()) };
}

/** Whether the identity authorized this device yet (reads the identity's servers). */
export async function checkPaired(): Promise<boolean> {
    if (!root || paired) return paired;
    await sync(root, await serversOf(root));
    if ((await members(root)).some((m) => m.system === signer() && m.bounds === null)) {
        paired = true;
        persistIdentity();
        await refresh(root);
    }
    return paired;
}

// ---- approving and revoking devices (only where the root key is) ----

/** Reads the pairing request of the device whose pairing code (or link) is `code`: its
 * DEVICE_ACCEPT of this identity, from this identity's servers, and the words to compare. */
export async function pairingRequest(code: string): Promise<{ device: string; words: string; acceptance: Verified }> {
    if (isDevice()) throw new Error('only the identity\'s root key approves devices; this browser is a device');
    let device: string;
    try {
        const text = code.trim();
        // A link, the key as `agora` prints it (32 bytes), or the official clients' PublicKey form.
        const bytes = text.startsWith('polycentric://') ? null : fromBase64(text);
        device = bytes === null ? parseLink(text).system
            : bytes.length === 32 ? systemId(bytes)
            : systemId(pb.PublicKey.decode(bytes).key ?? new Uint8Array());
        if (fromBase64(device).length !== 32) throw new Error();
    } catch {
        throw new Error('this is not a pairing code (the new device shows one)');
    }
    await sync(device, await myServers());
    const acceptance = [...(await eventsOf(device)).values()].find((e) => e.type === DEVICE_ACCEPT && acceptedIdentity(e) === me());
    if (!acceptance) throw new Error(`no server of this identity holds a pairing request from ${device.slice(0, 12)}…: is the new device still waiting?`);
    return { device, words: await confirmationWords(me(), device), acceptance };
}

/** Authorizes a device whose acceptance was read (after the person compared the words). */
export async function approveDevice(acceptance: Verified, name: string): Promise<Verified> {
    const content = pb.DeviceAuthorization.encode({ acceptance: { signature: acceptance.signature, event: acceptance.bytes }, name }).finish();
    return publish({ type: DEVICE_AUTHORIZE, content });
}

/** Revokes a device: what this identity's servers hold of it now stays valid, nothing after. */
export async function revokeDevice(member: Member): Promise<Verified> {
    const last = new Map<string, number>();
    for (const server of await myServers()) {
        try {
            for (const [process, ranges] of await remote.getRanges(server, member.system)) {
                const high = Math.max(...ranges.map(([, h]) => h));
                last.set(process, Math.max(last.get(process) ?? 0, high));
            }
        } catch { /* a server that does not answer holds nothing we can keep */ }
    }
    const content = pb.DeviceRevocation.encode({
        acceptance: member.acceptance,
        bounds: [...last].map(([process, clock]) => ({ process: { process: fromBase64(process) }, lastLogicalClock: clock })),
    }).finish();
    return publish({ type: DEVICE_REVOKE, content });
}

// ---- publishing ----

/** Signs, keeps, and sends an event to every server of this identity. */
export async function publish(draft: Draft): Promise<Verified> {
    const event = publishNext(identity!, draft, Date.now());
    persistIdentity();
    await keep([event]);
    setPending([event.slot], true);
    void pushOwn();
    return event;
}

let pushing: Promise<Gathered> | null = null;
let pushAgain = false;

/** Sends every server of this identity what it lacks of this identity's events. */
export function pushOwn(): Promise<Gathered> {
    if (pushing) {
        pushAgain = true;
        return pushing;
    }
    pushing = (async () => {
        const gathered = emptyGathered();
        try {
            const system = signer();
            const servers = await myServers();
            const own = [...(await eventsOf(system)).values()].sort((a, b) => a.clock - b.clock);
            await Promise.all(servers.map(async (server) => {
                try {
                    const theirs = await remote.getRanges(server, system);
                    const lacking = own.filter((e) => {
                        const ranges = theirs.get(base64url(e.process)) ?? [];
                        return !ranges.some(([low, high]) => e.clock >= low && e.clock <= high);
                    });
                    for (let i = 0; i < lacking.length; i += 100) await remote.postEvents(server, lacking.slice(i, i + 100));
                    setPending(own.map((e) => e.slot), false);
                    gathered.answered.push(server);
                } catch (error) {
                    gathered.failed.push({ server, error: (error as Error).message });
                }
            }));
        } finally {
            pushing = null;
        }
        if (pushAgain) {
            pushAgain = false;
            void pushOwn();
        }
        return gathered;
    })();
    return pushing;
}

/** Retries sending while something is pending, and when the browser comes back online. */
export function startOutbox(): void {
    setInterval(() => { if (identity && pending.size) void pushOwn(); }, 2000);
    addEventListener('online', () => { if (identity) void pushOwn(); });
}

export const setText = (type: number, value: string) =>
    publish({ type, lwwElement: { value: utf8(value), unixMilliseconds: Date.now() } });

export const setMember = (type: number, value: Uint8Array, add: boolean) =>
    publish({ type, lwwElementSet: { operation: add ? 0 : 1, value, unixMilliseconds: Date.now() } });

const keyValue = (system: string) => pb.PublicKey.encode({ keyType: 1, key: fromBase64(system) }).finish();
export const follow = (system: string, add: boolean) => setMember(CT.FOLLOW, keyValue(system), add);
export const block = (system: string, add: boolean) => setMember(CT.BLOCK, keyValue(system), add);
export const addServer = (server: string, add: boolean) => setMember(CT.SERVER, utf8(server), add);

export interface Composed {
    text: string;
    topic?: string;
    replyTo?: PointerParts;
    image?: ReturnType<typeof pb.ImageManifest.decode> | Parameters<typeof pb.ImageManifest.encode>[0];
}

/** Also hands an event to servers outside this identity's own (the servers of the post it
 * reacts to), so its author sees replies and likes without following back. Best effort: the
 * event always goes to this identity's servers through the outbox. */
async function deliver(event: Verified, servers: string[]): Promise<void> {
    const own = await myServers();
    const others = servers.filter((s) => !own.includes(s));
    if (others.length === 0) return;
    // With it go the name and the SERVER events, so the author's servers can say who reacted and
    // where the rest of this identity lives.
    const mine = [...(await eventsOf(signer())).values()];
    const latest = (type: number) => mine.filter((e) => e.type === type).sort((a, b) => b.clock - a.clock).slice(0, 1);
    const batch = [...latest(CT.USERNAME), ...lwwSet(mine, CT.SERVER).map((w) => w.event), event];
    await Promise.all(others.map((s) => remote.postEvents(s, batch).catch(() => undefined)));
}

export async function post(composed: Composed): Promise<Verified> {
    const references = [];
    if (composed.replyTo) references.push(pointerReference(composed.replyTo));
    if (composed.topic?.trim()) references.push(topicReference(composed.topic.trim().replace(/^#/, '')));
    const content = pb.Post.encode({ content: composed.text, image: composed.image ?? null }).finish();
    const event = await publish({ type: CT.POST, content, references });
    if (composed.replyTo) void serversOf(systemId(composed.replyTo.system)).then((servers) => deliver(event, servers));
    return event;
}

/** Gives one of this browser's own posts new text: a POST_EDIT pointing at it, sent to every
 * server of this identity. */
export function editPost(target: Verified, text: string): Promise<Verified> {
    if (target.system !== signer()) throw new Error('only the key that signed a post edits it');
    const content = pb.Post.encode({ content: text }).finish();
    return publish({ type: CT.POST_EDIT, content, references: [pointerReference(pointerTo(target))] });
}

export async function opinion(subject: PointerParts, value: 'like' | 'dislike' | null): Promise<Verified> {
    const bytes = value === 'like' ? LIKE : value === 'dislike' ? DISLIKE : NEUTRAL;
    const event = await publish({
        type: CT.OPINION,
        lwwElement: { value: bytes, unixMilliseconds: Date.now() },
        references: [pointerReference(subject)],
    });
    void serversOf(systemId(subject.system)).then((servers) => deliver(event, servers));
    return event;
}

/** Where reactions to `system`'s posts may be: its servers, this identity's, and those of the
 * people this identity follows. */
export async function reactionServers(system: string): Promise<string[]> {
    const servers = await serversOf(system);
    if (identity) for (const followed of (await profile(me())).follows) servers.push(...(await serversOf(followed)));
    return [...new Set(servers)].slice(0, 12);
}

export function remove(target: Verified): Promise<Verified> {
    const content = pb.Delete.encode({
        process: { process: target.process },
        logicalClock: target.clock,
        indices: target.event.indices ?? { indices: [] },
        unixMilliseconds: target.event.unixMilliseconds ?? null,
        contentType: target.type,
    }).finish();
    return publish({ type: CT.DELETE, content });
}

/** Publishes a blob as 512 KiB BLOB_SECTION events; returns the manifest's process and sections. */
export async function publishBlob(bytes: Uint8Array) {
    const clocks: number[] = [];
    for (let at = 0; at < bytes.length; at += 512 * 1024) {
        const event = await publish({ type: CT.BLOB_SECTION, content: bytes.slice(at, at + 512 * 1024) });
        clocks.push(event.clock);
    }
    return { process: { process: identity!.process }, sections: compact(clocks.map((c) => [c, c])).map(([low, high]) => ({ low, high })) };
}

// ---- post statistics and replies ----

export interface Stats {
    likes: number;
    dislikes: number;
    replies: Verified[];
    replyCount: number;
    gathered: Gathered;
    /** For each reply slot, the servers that returned it. */
    from: Record<string, string[]>;
}

/** Claims `handle` on every server of this identity, signed over each server's challenge
 * (docs/protocol.md, "Handles with proof"; servers without the extension ignore the proof).
 * Returns a line per server saying what happened. */
export async function claimHandle(handle: string): Promise<string[]> {
    return Promise.all((await myServers()).map(async (server) => {
        try {
            const challenge = await remote.challenge(server);
            const body = pb.HarborChallengeResponseBody.decode(challenge.body ?? new Uint8Array());
            const message = concat([utf8('agora claim_handle v1'), Uint8Array.of(0), body.challenge ?? new Uint8Array(), utf8(handle)]);
            await remote.claimHandle(server, { system: { keyType: 1, key: fromBase64(signer()) }, handle, challenge, signature: sign(message, identity!.seed) });
            return `claimed ${handle} on ${server}`;
        } catch (error) {
            return `${server}: ${(error as Error).message}`;
        }
    }));
}

/** Pages of 20 replies read from each server for a post page. */
const REPLY_PAGES_MAX = 25;

export async function stats(subject: PointerParts, servers: string[]): Promise<Stats> {
    const result: Stats = { likes: 0, dislikes: 0, replies: [], replyCount: 0, gathered: emptyGathered(), from: {} };
    const subjectSlot = pointerSlot(subject);
    await Promise.all(servers.map(async (server) => {
        try {
            const request = {
                reference: pointerReference(subject),
                requestEvents: { fromType: CT.POST },
                countLwwElementReferences: [{ value: LIKE, fromType: CT.OPINION }, { value: DISLIKE, fromType: CT.OPINION }],
                countReferences: [{ fromType: CT.POST }],
            };
            const answer = await remote.queryReferences(server, request, '');
            // Every page of replies, up to REPLY_PAGES_MAX pages per server.
            let cursor = answer.cursor;
            for (let page = 1; cursor && page < REPLY_PAGES_MAX; page++) {
                const next = await remote.queryReferences(server, { ...request, cursor }, '');
                if (next.items.length === 0) break;
                answer.items.push(...next.items);
                cursor = next.cursor;
            }
            for (const reply of answer.items) {
                const target = replyTarget(reply);
                if (!target || pointerSlot(target) !== subjectSlot) throw new remote.ServerError(server, 'served an invalid event (a reply to another post)');
            }
            const [likes = 0, dislikes = 0, replies = 0] = answer.counts;
            result.likes = Math.max(result.likes, likes);
            result.dislikes = Math.max(result.dislikes, dislikes);
            result.replyCount = Math.max(result.replyCount, replies);
            for (const reply of answer.items) {
                if (!result.replies.some((r) => r.slot === reply.slot)) result.replies.push(reply);
                (result.from[reply.slot] ??= []).push(server);
            }
            result.gathered.answered.push(server);
        } catch (error) {
            result.gathered.failed.push({ server, error: (error as Error).message });
        }
    }));
    await keep(result.replies);
    result.replies.sort((a, b) => a.ms - b.ms);
    return result;
}

/** The pointer of a kept event (with its digest). */
export const pointerTo = (event: Verified): PointerParts => ({ system: event.event.system!.key!, process: event.process, clock: event.clock, digest: digestOf(event) });
export const encodeSubject = encodePointer;

/** Keeps found events, and learns the names and avatars of their authors from the servers that
 * returned them (a server that fails here only loses the name). */
const learnedListeners = new Set<() => void>();
/** Called when names or avatars of other people were learned (not a change of this identity). */
export function onLearned(listener: () => void): () => void {
    learnedListeners.add(listener);
    return () => { learnedListeners.delete(listener); };
}

export async function keepAuthors(found: { event: Verified; servers: string[] }[], _gathered: Gathered): Promise<void> {
    await keep(found.map((f) => f.event));
    await learnProfiles(found.map((f) => ({ system: f.event.system, servers: f.servers })));
}

/** Learns the names, avatars and servers of people found on `servers`, when not known yet. */
export async function learnProfiles(people: { system: string; servers: string[] }[]): Promise<void> {
    let learned = false;
    const asked = new Set<string>();
    await Promise.all(people.map(async ({ system, servers }) => {
        if (asked.has(system)) return;
        asked.add(system);
        addHints(system, servers);
        if (owners.has(system) || (await profile(system)).username !== null) return;
        for (const server of servers) {
            try {
                const latest = await remote.queryLatest(server, system, [CT.USERNAME, CT.DESCRIPTION, CT.AVATAR, CT.SERVER, DEVICE_ACCEPT]);
                await keep(latest);
                learned ||= latest.length > 0;
                // A device key: it is its identity's only if the identity authorized it.
                const accepted = latest.find((e) => e.type === DEVICE_ACCEPT);
                const identityKey = accepted && acceptedIdentity(accepted);
                if (identityKey) {
                    addHints(identityKey, servers);
                    await refresh(identityKey);
                    learned ||= owners.get(system) === identityKey;
                }
                return;
            } catch { /* the next server may answer */ }
        }
    }));
    if (learned) for (const listener of learnedListeners) listener();
}

export const encodeId = systemId;
