// Discovery across servers (as crates/client/src/discover.rs): explore, search, trending topics and
// topic feeds asked of every server at once. Every served event is verified; a server that serves
// one that does not verify is failed for that read and none of its answer is used. Results are
// merged without duplicates and each keeps the servers that returned it.
import { base64url } from './bytes';
import { emptyGathered, filtersParam, keepAuthors, type Gathered } from './client';
import { editTarget, pointerSlot, systemId, replyTarget, topicReference, type Verified } from './events';
import { keep } from './store';
import { CT } from './proto';
import * as remote from './remote';

export interface Found {
    event: Verified;
    servers: string[];
}

async function ask<T>(servers: string[], fn: (server: string) => Promise<T>): Promise<{ answers: [string, T][]; gathered: Gathered }> {
    const gathered = emptyGathered();
    const answers: [string, T][] = [];
    await Promise.all(servers.map(async (server) => {
        try {
            answers.push([server, await fn(server)]);
            gathered.answered.push(server);
        } catch (error) {
            gathered.failed.push({ server, error: (error as Error).message });
        }
    }));
    // Keep the order servers were given in, so attribution reads the same every time.
    answers.sort((a, b) => servers.indexOf(a[0]) - servers.indexOf(b[0]));
    gathered.answered.sort((a, b) => servers.indexOf(a) - servers.indexOf(b));
    return { answers, gathered };
}

/** Merges answers by slot; each result keeps its best rank and the servers that returned it. */
function merge(answers: [string, Verified[]][]): (Found & { rank: number })[] {
    const bySlot = new Map<string, Found & { rank: number }>();
    for (const [server, events] of answers) {
        events.forEach((event, rank) => {
            const held = bySlot.get(event.slot);
            if (held) {
                held.servers.push(server);
                held.rank = Math.min(held.rank, rank);
            } else bySlot.set(event.slot, { event, servers: [server], rank });
        });
    }
    return [...bySlot.values()];
}

const isPost = (e: Verified) => e.type === CT.POST;

/** Where each server's next page starts (base64url cursor); absent: no more there. */
export type Cursors = Record<string, string>;

/** One page of `path` (with `limit` and each server's cursor) from every server, or with
 * `after` from the servers that have a next page; a full page with a cursor has a next one. */
async function pages(servers: string[], path: string, limit: number, after?: Cursors) {
    const asked = after ? servers.filter((s) => s in after) : servers;
    const next: Cursors = {};
    const edits: Verified[] = [];
    const { answers, gathered } = await ask(asked, async (s) => {
        const cursor = after?.[s] ? `&cursor=${after[s]}` : '';
        const page = await remote.eventsPage(s, `${path}&limit=${limit}${cursor}${filtersParam()}`);
        if (page.cursor && page.events.length === limit) next[s] = base64url(page.cursor);
        // Related edits are kept only when signed by the key of a result post they point at.
        const results = new Set(page.events.map((e) => e.slot));
        edits.push(...page.related.filter((e) => {
            const target = editTarget(e)?.target;
            return !!target && systemId(target.system) === e.system && results.has(pointerSlot(target));
        }));
        return page.events;
    });
    await keep(edits);
    return { answers, gathered, next };
}

/** Everyone's newest posts, without replies, newest first; with `after`, the next page of the
 * servers that have one. */
export async function explore(servers: string[], limit = 30, after?: Cursors) {
    const { answers, gathered, next } = await pages(servers, '/explore?', limit, after);
    const now = Date.now() + 10 * 60_000;
    const results = merge(answers).filter((f) => isPost(f.event) && !replyTarget(f.event))
        .sort((a, b) => Math.min(b.event.ms, now) - Math.min(a.event.ms, now));
    await keepAuthors(results, gathered);
    return { results, gathered, next };
}

/** Adds a later page to what is shown: new results after, known ones gain servers. */
export function mergeMore(shown: Found[], more: Found[]): Found[] {
    const out = shown.map((f) => ({ ...f, servers: [...f.servers] }));
    for (const f of more) {
        const held = out.find((o) => o.event.slot === f.event.slot);
        if (held) held.servers = [...new Set([...held.servers, ...f.servers])];
        else out.push(f);
    }
    return out;
}

/** Identities the servers recommend, with the servers that recommended each. */
export async function recommended(servers: string[]) {
    const { answers, gathered } = await ask(servers, (s) => remote.recommendedProfiles(s, filtersParam()));
    const bySystem = new Map<string, string[]>();
    for (const [server, systems] of answers) for (const system of systems) bySystem.set(system, [...(bySystem.get(system) ?? []), server]);
    const results = [...bySystem].map(([system, from]) => ({ system, servers: from })).sort((a, b) => b.servers.length - a.servers.length);
    return { results, gathered };
}

/** Posts (or people) matching `text`, by best rank on any server, then by how many returned it;
 * with `after`, the next page of the servers that have one. */
export async function search(servers: string[], text: string, kind: 'messages' | 'profiles', after?: Cursors) {
    const path = `/search?search=${encodeURIComponent(text)}&search_type=${kind}`;
    const { answers, gathered, next } = await pages(servers, path, 20, after);
    let results = merge(answers);
    if (kind === 'messages') results = results.filter((f) => isPost(f.event));
    else {
        // One result per person: the servers that returned any of their profile events.
        const bySystem = new Map<string, Found & { rank: number }>();
        for (const f of results) {
            const held = bySystem.get(f.event.system);
            if (held) {
                held.servers = [...new Set([...held.servers, ...f.servers])];
                held.rank = Math.min(held.rank, f.rank);
            } else bySystem.set(f.event.system, { ...f, servers: [...f.servers] });
        }
        results = [...bySystem.values()];
    }
    results.sort((a, b) => a.rank - b.rank || b.servers.length - a.servers.length || b.event.ms - a.event.ms);
    await keepAuthors(results, gathered);
    return { results, gathered, next };
}

/** Most posts read from one server for one topic when counting the posts servers share (as the
 * CLI's `TOPIC_POSTS_READ_MAX`). */
const TOPIC_POSTS_READ_MAX = 500;
/** How far past now a server still dates a post by its own timestamp (the store's
 * `FUTURE_MARGIN_MS`); a post dated later is counted by its arrival, which only that server knows. */
const FUTURE_MARGIN_MS = 10 * 60 * 1000;
const RANGE_MS: Record<string, number> = { '12h': 12 * 3_600_000, '1d': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };

/** Whether `post` has `topic` as a bytes reference. */
function carriesTopic(post: Verified, topic: string): boolean {
    const { referenceType, reference: wanted } = topicReference(topic);
    return (post.event.references ?? []).some((r) => Number(r.referenceType) === referenceType
        && r.reference?.length === wanted.length && r.reference.every((byte, i) => byte === wanted[i]));
}

/** The slots of the posts `server` serves for `topic` that every server counts in the window
 * (from the first TOPIC_POSTS_READ_MAX); a post that does not carry the topic fails the server. */
async function topicPosts(server: string, topic: string, sinceMs: number, nowMs: number): Promise<Set<string>> {
    const slots = new Set<string>();
    let cursor: Uint8Array | undefined;
    for (let read = 0; ;) {
        const page = await remote.queryReferences(server, { reference: topicReference(topic), requestEvents: { fromType: CT.POST }, cursor }, '');
        for (const post of page.items) {
            if (!isPost(post) || !carriesTopic(post, topic)) throw new Error(`it served a post for #${topic} that does not carry it`);
            if (post.ms >= sinceMs && post.ms <= nowMs + FUTURE_MARGIN_MS) slots.add(post.slot);
        }
        read += page.items.length;
        if (!page.cursor || page.items.length === 0 || read >= TOPIC_POSTS_READ_MAX) return slots;
        cursor = page.cursor;
    }
}

/** Most used topics, each post counted once: for a topic several servers return, the posts each
 * serves are read, and a post two servers hold counts once (never below one server's count, as
 * the CLI counts them). A server whose posts cannot be read is failed and its counts left out. */
export async function trending(servers: string[], range: string) {
    const nowMs = Date.now();
    const sinceMs = nowMs - (RANGE_MS[range] ?? RANGE_MS['30d']);
    const { answers, gathered } = await ask(servers, (s) => remote.topics(s, range));
    const returnedBy = new Map<string, number>();
    for (const [, topics] of answers) for (const { topic } of topics) returnedBy.set(topic, (returnedBy.get(topic) ?? 0) + 1);
    const read = await Promise.all(answers.map(async ([server, topics]) => {
        try {
            return await Promise.all(topics.map(async (t) => ({
                ...t,
                posts: (returnedBy.get(t.topic) ?? 0) > 1 ? await topicPosts(server, t.topic, sinceMs, nowMs) : new Set<string>(),
            })));
        } catch (error) {
            gathered.answered = gathered.answered.filter((s) => s !== server);
            gathered.failed.push({ server, error: (error as Error).message });
            return null;
        }
    }));
    const byTopic = new Map<string, { topic: string; count: number; most: number; posts: Set<string>; servers: string[] }>();
    answers.forEach(([server], i) => {
        for (const { topic, count, posts } of read[i] ?? []) {
            const held = byTopic.get(topic);
            if (!held) {
                byTopic.set(topic, { topic, count, most: count, posts: new Set(posts), servers: [server] });
                continue;
            }
            const copies = [...posts].filter((slot) => held.posts.has(slot)).length;
            held.count = Math.max(0, held.count + count - copies);
            held.most = Math.max(held.most, count);
            posts.forEach((slot) => held.posts.add(slot));
            held.servers.push(server);
        }
    });
    const results = [...byTopic.values()]
        .map(({ topic, count, most, servers }) => ({ topic, count: Math.max(count, most), servers }))
        .sort((a, b) => b.count - a.count || (a.topic < b.topic ? -1 : 1));
    return { results, gathered };
}

/** The posts of a topic (posts whose bytes reference is the topic), newest first. */
export async function topic(servers: string[], name: string) {
    const request = { reference: topicReference(name), requestEvents: { fromType: CT.POST } };
    const { answers, gathered } = await ask(servers, async (s) => (await remote.queryReferences(s, request, filtersParam())).items);
    const results = merge(answers).filter((f) => isPost(f.event)).sort((a, b) => b.event.ms - a.event.ms);
    await keepAuthors(results, gathered);
    return { results, gathered };
}

export const topicKey = (name: string) => base64url(new TextEncoder().encode(name));
