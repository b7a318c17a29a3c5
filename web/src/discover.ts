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

/** Most used topics, each with its count summed over the servers that returned it. */
export async function trending(servers: string[], range: string) {
    const { answers, gathered } = await ask(servers, (s) => remote.topics(s, range));
    const byTopic = new Map<string, { topic: string; count: number; servers: string[] }>();
    for (const [server, topics] of answers) {
        for (const { topic, count } of topics) {
            const held = byTopic.get(topic) ?? { topic, count: 0, servers: [] };
            held.count += count;
            held.servers.push(server);
            byTopic.set(topic, held);
        }
    }
    return { results: [...byTopic.values()].sort((a, b) => b.count - a.count), gathered };
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
