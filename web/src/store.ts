// What the browser keeps: every verified event read or written (IndexedDB, by slot and by
// system), and small cached answers (last explore, search, post stats) so pages show at once and
// with every server down. Events were verified before they were stored; they are decoded again on
// load without a second signature check.
import { type Verified } from './events';
import { CT, pb } from './proto';
import { systemId, slotKey } from './events';

interface StoredEvent {
    slot: string;
    system: string;
    signature: Uint8Array;
    bytes: Uint8Array;
    tags: { name: string; level: number }[];
}

let opened: Promise<IDBDatabase> | null = null;

function db(): Promise<IDBDatabase> {
    opened ??= new Promise((resolve, reject) => {
        const request = indexedDB.open('agora', 1);
        request.onupgradeneeded = () => {
            const events = request.result.createObjectStore('events', { keyPath: 'slot' });
            events.createIndex('system', 'system');
            request.result.createObjectStore('kv');
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    return opened;
}

function done<T>(request: IDBRequest<T>): Promise<T> {
    return new Promise((resolve, reject) => {
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
}

function fromStored(stored: StoredEvent): Verified {
    const event = pb.Event.decode(stored.bytes);
    const system = systemId(event.system!.key!);
    const process = event.process!.process!;
    const clock = Number(event.logicalClock);
    return {
        bytes: stored.bytes,
        signature: stored.signature,
        event,
        system,
        process,
        clock,
        type: Number(event.contentType),
        ms: Number(event.unixMilliseconds ?? 0),
        slot: slotKey(system, process, clock),
        tags: stored.tags ?? [],
    };
}

/** In memory: every system's events loaded so far, by slot. */
const bySystem = new Map<string, Map<string, Verified>>();
const loading = new Map<string, Promise<Map<string, Verified>>>();

/** All stored events of `system`. */
export function eventsOf(system: string): Promise<Map<string, Verified>> {
    const cached = bySystem.get(system);
    if (cached) return Promise.resolve(cached);
    let pending = loading.get(system);
    if (!pending) {
        pending = (async () => {
            const map = new Map<string, Verified>();
            try {
                const tx = (await db()).transaction('events', 'readonly');
                const rows = await done(tx.objectStore('events').index('system').getAll(system) as IDBRequest<StoredEvent[]>);
                for (const row of rows) map.set(row.slot, fromStored(row));
            } catch (error) {
                console.warn('local store unavailable', error);
            }
            const existing = bySystem.get(system);
            if (existing) for (const [slot, event] of existing) map.set(slot, event);
            bySystem.set(system, map);
            return map;
        })();
        loading.set(system, pending);
    }
    return pending;
}

const keptListeners = new Set<(systems: Set<string>) => void>();
/** Called with the systems of newly kept edits and deletions (what may change a post's version). */
export function onKept(listener: (systems: Set<string>) => void): () => void {
    keptListeners.add(listener);
    return () => { keptListeners.delete(listener); };
}

/** Keeps verified events (already held slots are left as they are). */
export async function keep(events: Verified[]): Promise<void> {
    if (events.length === 0) return;
    const fresh: Verified[] = [];
    for (const event of events) {
        const map = await eventsOf(event.system);
        if (!map.has(event.slot)) {
            map.set(event.slot, event);
            fresh.push(event);
        }
    }
    if (fresh.length === 0) return;
    const touched = new Set(fresh.filter((e) => e.type === CT.POST_EDIT || e.type === CT.DELETE).map((e) => e.system));
    if (touched.size) for (const listener of keptListeners) listener(touched);
    try {
        const tx = (await db()).transaction('events', 'readwrite');
        const store = tx.objectStore('events');
        for (const e of fresh) {
            store.put({ slot: e.slot, system: e.system, signature: e.signature, bytes: e.bytes, tags: e.tags } satisfies StoredEvent);
        }
        await new Promise<void>((resolve, reject) => {
            tx.oncomplete = () => resolve();
            tx.onerror = () => reject(tx.error);
        });
    } catch (error) {
        console.warn('could not keep events', error);
    }
}

export async function getCached<T>(key: string): Promise<T | undefined> {
    try {
        const tx = (await db()).transaction('kv', 'readonly');
        return (await done(tx.objectStore('kv').get(key))) as T | undefined;
    } catch {
        return undefined;
    }
}

export async function setCached(key: string, value: unknown): Promise<void> {
    try {
        const tx = (await db()).transaction('kv', 'readwrite');
        tx.objectStore('kv').put(value, key);
    } catch (error) {
        console.warn('could not cache', key, error);
    }
}

/** Small settings in localStorage (JSON). */
export function load<T>(key: string, fallback: T): T {
    try {
        const text = localStorage.getItem(`agora.${key}`);
        return text == null ? fallback : (JSON.parse(text) as T);
    } catch {
        return fallback;
    }
}

export function save(key: string, value: unknown): void {
    localStorage.setItem(`agora.${key}`, JSON.stringify(value));
}
