// The pages. Each shows what the browser holds at once, then what the servers answer, naming the
// servers that failed.
import { useEffect, useState } from 'preact/hooks';
import * as client from './client';
import { emptyGathered, joinGathered, pointerTo, type Gathered, type Profile, type Stats } from './client';
import * as discover from './discover';
import { fromBase64 } from './bytes';
import type { Member } from './devices';
import { pointerSlot, slotKey, type Verified } from './events';
import { publishAvatar } from './images';
import { exportBundle, parseLink, systemLink } from './links';
import { CT } from './proto';
import * as remote from './remote';
import { eventsOf, getCached, setCached } from './store';
import { A, Avatar, changed, Composer, Empty, navigate, Notices, PostCard, timeFormat, useChanges, useName, userPath, useVersions } from './ui';

const PAGE = 20;

async function blocked(): Promise<Set<string>> {
    return client.hasIdentity() ? new Set((await client.profile(client.me())).blocks) : new Set();
}

// ---- welcome ----

export function Welcome({ onReady }: { onReady: () => void }) {
    const [name, setName] = useState('');
    const [backup, setBackup] = useState('');
    const [identityLink, setIdentityLink] = useState('');
    const [pairing, setPairing] = useState<{ identity: string; code: string; words: string } | null>(null);
    useEffect(() => { void client.pairingState().then(setPairing); }, []);
    useEffect(() => {
        if (!pairing) return;
        // Waits for the identity's approval, asking its servers every two seconds.
        const timer = setInterval(() => { void client.checkPaired().then((done) => done && onReady()); }, 2000);
        return () => clearInterval(timer);
    }, [pairing]);
    const [error, setError] = useState<string | null>(null);
    const [busy, setBusy] = useState(false);
    const run = (fn: () => Promise<unknown>, then: () => void = onReady) => async (e: Event) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try { await fn(); then(); } catch (err) { setError((err as Error).message); } finally { setBusy(false); }
    };
    if (pairing) return <Pairing code={pairing.code} words={pairing.words} />;
    return (
        <section class="welcome">
            <h1>Welcome to Agora</h1>
            <p>A Polycentric client: your key stays in this browser, every post is signed here and sent to your servers, and everything you read is verified here.</p>
            <form onSubmit={run(() => client.createIdentity(name))} class="card">
                <h2>Create an identity</h2>
                <label for="new-name">Your name</label>
                <input id="new-name" value={name} autocomplete="nickname" onInput={(e) => setName(e.currentTarget.value)} />
                <button type="submit" disabled={busy}>Create identity</button>
            </form>
            <form onSubmit={run(() => client.importIdentity(backup))} class="card">
                <h2>Import an identity</h2>
                <label for="backup">Account backup link (from <code>agora export</code> or another Polycentric client)</label>
                <textarea id="backup" rows={3} value={backup} onInput={(e) => setBackup(e.currentTarget.value)} />
                <button type="submit" disabled={busy}>Import</button>
            </form>
            <form onSubmit={run(async () => { await client.startPairing(identityLink); setPairing(await client.pairingState()); }, () => undefined)} class="card">
                <h2>Pair this browser with your identity</h2>
                <p class="muted">This browser gets its own key, and your identity authorizes it: no secret is copied.</p>
                <label for="pair-link">Your identity's link (<code>agora link</code> prints it)</label>
                <input id="pair-link" value={identityLink} onInput={(e) => setIdentityLink(e.currentTarget.value)} />
                <button type="submit" disabled={busy}>Pair</button>
            </form>
            {error && <p class="error" role="alert">{error}</p>}
        </section>
    );
}

function Pairing({ code, words }: { code: string; words: string }) {
    return (
        <section class="welcome">
            <h1>Waiting for your approval</h1>
            <p>On a computer with your identity's root key, run:</p>
            <pre class="card"><code>agora device approve <span data-testid="pairing-code">{code}</span></code></pre>
            <p>and check that it shows exactly these words:</p>
            <p class="words" data-testid="confirmation-words">{words}</p>
            <p class="muted" role="status">This page continues by itself once the identity approved this browser.</p>
        </section>
    );
}

// ---- home ----

export function Home() {
    const tick = useChanges();
    const [posts, setPosts] = useState<Verified[] | null>(null);
    const [gathered, setGathered] = useState<Gathered | null>(null);
    const [shown, setShown] = useState(PAGE);
    const [followLink, setFollowLink] = useState('');
    const [followError, setFollowError] = useState<string | null>(null);
    const [isLive, setLive] = useState(false);

    const local = async () => {
        const mine = await client.profile(client.me());
        const hidden = new Set(mine.blocks);
        const systems = [client.me(), ...mine.follows.filter((s) => !hidden.has(s))];
        const all = (await Promise.all(systems.map(async (s) => (await client.profile(s)).posts))).flat();
        setPosts(all.filter(client.allowedByFilters).sort((a, b) => b.ms - a.ms));
        return systems;
    };
    useEffect(() => {
        let live = true;
        let close = () => {};
        void (async () => {
            const systems = await local();
            const results = await Promise.all(systems.map((s) => client.refresh(s)));
            if (!live) return;
            setGathered(results.reduce(joinGathered, emptyGathered()));
            await local();
            // New posts of everyone here arrive live from the servers that stream them.
            const servers = [...new Set((await Promise.all(systems.map((s) => client.serversOf(s)))).flat())].slice(0, 8);
            const stop = await client.live(systems, servers, () => { if (live) void local(); });
            if (live) { close = stop; setLive(true); } else stop();
        })();
        return () => { live = false; close(); };
    }, [tick]);

    const followByLink = async (e: Event) => {
        e.preventDefault();
        setFollowError(null);
        try {
            const link = parseLink(followLink);
            client.addHints(link.system, link.servers);
            await client.follow(link.system, true);
            setFollowLink('');
            changed();
        } catch (err) {
            setFollowError((err as Error).message);
        }
    };

    return (
        <section>
            <h1>Home</h1>
            <Composer />
            <form class="follow-form" onSubmit={followByLink}>
                <label for="follow-link">Follow someone by their link</label>
                <div class="row">
                    <input id="follow-link" value={followLink} placeholder="polycentric://…" onInput={(e) => setFollowLink(e.currentTarget.value)} />
                    <button type="submit">Follow</button>
                </div>
                {followError && <p class="error" role="alert">{followError}</p>}
            </form>
            <Notices gathered={gathered} what="this feed" />
            <h2>Your feed</h2>
            {isLive && <p class="muted">New posts appear here as they are written.</p>}
            {posts === null ? <p class="muted">Loading…</p> : posts.length === 0
                ? <Empty>Nothing here yet. Write a post, or follow someone by their link.</Empty>
                : <Feed posts={posts.slice(0, shown)} />}
            {posts && posts.length > shown && <button type="button" onClick={() => setShown(shown + PAGE)}>Show older posts</button>}
        </section>
    );
}

function Feed({ posts, from }: { posts: Verified[]; from?: Record<string, string[]> }) {
    const [servers, setServers] = useState<Record<string, string[]>>({});
    useEffect(() => {
        void (async () => {
            const next: Record<string, string[]> = {};
            for (const system of new Set(posts.map((p) => p.system))) next[system] = await client.serversOf(system);
            setServers(next);
        })();
    }, [posts]);
    return (
        <ol class="feed">
            {posts.map((p) => (
                <li key={p.slot}><PostCard event={p} servers={from?.[p.slot] ?? servers[p.system] ?? []} from={from?.[p.slot]} /></li>
            ))}
        </ol>
    );
}

// ---- profile ----

export function ProfilePage({ encoded }: { encoded: string }) {
    const tick = useChanges();
    const [error, setError] = useState<string | null>(null);
    const [system, setSystem] = useState<string | null>(null);
    const [prof, setProf] = useState<Profile | null>(null);
    const [mine, setMine] = useState<Profile | null>(null);
    const [gathered, setGathered] = useState<Gathered | null>(null);
    const [servers, setServers] = useState<string[]>([]);
    const [copied, setCopied] = useState(false);

    useEffect(() => {
        let live = true;
        let target: string;
        try {
            const link = parseLink(encoded);
            target = link.system;
            client.addHints(target, link.servers);
        } catch (err) {
            setError((err as Error).message);
            return;
        }
        setSystem(target);
        const local = async () => {
            if (!live) return;
            setProf(await client.profile(target));
            setMine(await client.profile(client.me()));
            setServers(await client.serversOf(target));
        };
        void (async () => {
            await local();
            const g = await client.refresh(target);
            if (!live) return;
            setGathered(g);
            await local();
        })();
        return () => { live = false; };
    }, [encoded, tick]);

    if (error) return <section><h1>Profile</h1><p class="error" role="alert">{error}</p></section>;
    if (!system || !prof || !mine) return <p class="muted">Loading…</p>;
    const isMe = system === client.me();
    const following = mine.follows.includes(system);
    const isBlocked = mine.blocks.includes(system);
    const link = systemLink(system, servers.slice(0, 3));
    const act = (fn: () => Promise<unknown>) => async () => { await fn(); changed(); };
    const copy = async () => {
        try { await navigator.clipboard.writeText(link); setCopied(true); } catch { setCopied(false); }
    };
    return (
        <section>
            <div class="profile-head">
                <Avatar system={system} size={128} servers={servers} />
                <div>
                    <h1>{prof.username ?? 'Someone without a name'}</h1>
                    {prof.description && <p class="description">{prof.description}</p>}
                    <p class="muted">Key {system.slice(0, 16)}…</p>
                </div>
            </div>
            <div class="row actions">
                {!isMe && <button type="button" onClick={act(() => client.follow(system, !following))}>{following ? 'Unfollow' : 'Follow'}</button>}
                {!isMe && <button type="button" onClick={act(() => client.block(system, !isBlocked))}>{isBlocked ? 'Unblock' : 'Block'}</button>}
                <button type="button" onClick={copy}>Copy link</button>
                {copied && <span role="status">Link copied</span>}
            </div>
            <label for="profile-link">Link to this profile</label>
            <input id="profile-link" class="link" readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
            <p class="muted">Servers: {servers.join(', ')}</p>
            <Notices gathered={gathered} what="this profile" />
            {isMe && <EditProfile profile={prof} />}
            <h2>Posts</h2>
            {isBlocked ? <Empty>You blocked this person; their posts are hidden.</Empty>
                : prof.posts.length === 0 ? <Empty>No posts yet.</Empty> : <PostsWithActions posts={prof.posts} servers={servers} />}
        </section>
    );
}

function PostsWithActions({ posts, servers }: { posts: Verified[]; servers: string[] }) {
    const [shown, setShown] = useState(PAGE);
    return (
        <>
            <ol class="feed">{posts.slice(0, shown).map((p) => <li key={p.slot}><PostCard event={p} servers={servers} /></li>)}</ol>
            {posts.length > shown && <button type="button" onClick={() => setShown(shown + PAGE)}>Show older posts</button>}
        </>
    );
}

function EditProfile({ profile }: { profile: Profile }) {
    const [name, setName] = useState(profile.username ?? '');
    const [description, setDescription] = useState(profile.description ?? '');
    const [avatar, setAvatar] = useState<File | null>(null);
    const [status, setStatus] = useState<string | null>(null);
    const save = async (e: Event) => {
        e.preventDefault();
        setStatus('Saving…');
        try {
            if (name !== (profile.username ?? '')) await client.setText(CT.USERNAME, name);
            if (description !== (profile.description ?? '')) await client.setText(CT.DESCRIPTION, description);
            if (avatar) await client.publish({ type: CT.AVATAR, lwwElement: { value: await publishAvatar(avatar), unixMilliseconds: Date.now() } });
            setStatus('Saved');
            changed();
        } catch (err) {
            setStatus((err as Error).message);
        }
    };
    return (
        <details class="card">
            <summary>Edit profile</summary>
            <form onSubmit={save}>
                <label for="edit-name">Name</label>
                <input id="edit-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
                <label for="edit-description">Description</label>
                <textarea id="edit-description" rows={2} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
                <label for="edit-avatar">Avatar</label>
                <input id="edit-avatar" type="file" accept="image/*" onChange={(e) => setAvatar(e.currentTarget.files?.[0] ?? null)} />
                <button type="submit">Save profile</button>
                {status && <p role="status">{status}</p>}
            </form>
        </details>
    );
}

// ---- post ----

export function PostPage({ encoded }: { encoded: string }) {
    const tick = useChanges();
    const [error, setError] = useState<string | null>(null);
    const [event, setEvent] = useState<Verified | null | undefined>(undefined);
    const [stats, setStats] = useState<Stats | null>(null);
    const [gathered, setGathered] = useState<Gathered | null>(null);
    const [servers, setServers] = useState<string[]>([]);
    const [mine, setMine] = useState<Profile | null>(null);

    useEffect(() => {
        let live = true;
        let link;
        try {
            link = parseLink(encoded);
            if (link.kind !== 'event') throw new Error('this is a profile link, not a post link');
        } catch (err) {
            setError((err as Error).message);
            return;
        }
        const { system, process, clock } = link;
        client.addHints(system, link.servers);
        const slot = slotKey(system, process, clock);
        const cacheKey = `stats:${slot}`;
        const local = async () => {
            const found = (await eventsOf(system)).get(slot) ?? null;
            const prof = await client.profile(system);
            const alive = found && prof.posts.some((p) => p.slot === slot) ? found : null;
            if (live) { setEvent(alive); setMine(await client.profile(client.me())); }
            return alive;
        };
        void (async () => {
            await local();
            const cached = await getCached<{ likes: number; dislikes: number; replyCount: number; replies: string[]; from: Record<string, string[]> }>(cacheKey);
            if (cached && live) {
                const replies = (await Promise.all(cached.replies.map(async (s) => (await eventsOf(s.split('|')[0])).get(s)))).filter((r): r is Verified => !!r);
                setStats({ ...cached, replies, gathered: emptyGathered() });
            }
            const all = await client.serversOf(system);
            if (live) setServers(all);
            const synced = await client.sync(system, all);
            const found = await local();
            const subject = found ? pointerTo(found) : { system: fromBase64(system), process, clock };
            const s = await client.stats(subject, await client.reactionServers(system));
            if (!live) return;
            setGathered(joinGathered(synced, s.gathered));
            if (s.gathered.answered.length) {
                setStats(s);
                await setCached(cacheKey, { likes: s.likes, dislikes: s.dislikes, replyCount: s.replyCount, replies: s.replies.map((r) => r.slot), from: s.from });
                await client.keepAuthors(s.replies.map((r) => ({ event: r, servers: s.from[r.slot] ?? [] })), s.gathered);
            }
        })();
        return () => { live = false; };
    }, [encoded, tick]);

    if (error) return <section><h1>Post</h1><p class="error" role="alert">{error}</p></section>;
    if (event === undefined) return <p class="muted">Loading…</p>;
    if (event === null) return <section><h1>Post</h1><Notices gathered={gathered} what="this post" /><Empty>This post is not available: it was deleted, or none of its servers has it.</Empty></section>;
    const slot = pointerSlot(pointerTo(event));
    const myOpinion = mine?.opinions.get(slot) ?? null;
    const isMine = event.system === client.signer();
    const hidden = new Set(mine?.blocks ?? []);
    const vote = (value: 'like' | 'dislike') => async () => {
        await client.opinion(pointerTo(event), myOpinion === value ? null : value);
        changed();
    };
    const removePost = async () => {
        if (!confirm('Delete this post on every server?')) return;
        await client.remove(event);
        changed();
        navigate(userPath(client.me(), servers.slice(0, 3)));
    };
    const replies = (stats?.replies ?? []).filter((r) => !hidden.has(client.ownerOf(r.system)) && client.allowedByFilters(r));
    return (
        <section>
            <h1>Post</h1>
            <PostCard event={event} servers={servers} />
            <div class="row actions" role="group" aria-label="Reactions">
                <button type="button" aria-pressed={myOpinion === 'like'} onClick={vote('like')}>Like <span class="count" data-testid="likes">{stats?.likes ?? 0}</span></button>
                <button type="button" aria-pressed={myOpinion === 'dislike'} onClick={vote('dislike')}>Dislike <span class="count" data-testid="dislikes">{stats?.dislikes ?? 0}</span></button>
                <span class="muted">Replies <span data-testid="reply-count">{stats?.replyCount ?? 0}</span></span>
                {isMine && <button type="button" class="danger" onClick={removePost}>Delete</button>}
            </div>
            <Versions event={event} isMine={isMine} />
            <Notices gathered={gathered} what="this post" />
            <Composer replyTo={event} label="Write a reply" />
            <h2>Replies</h2>
            {replies.length === 0 ? <Empty>No replies yet.</Empty> : (
                <ol class="feed">{replies.map((r) => <li key={r.slot}><PostCard event={r} servers={stats?.from[r.slot] ?? servers} from={stats?.from[r.slot]} /></li>)}</ol>
            )}
        </section>
    );
}

/** The "Edit" control of one's own post, and its history when it was edited. */
function Versions({ event, isMine }: { event: Verified; isMine: boolean }) {
    const versions = useVersions(event);
    const latest = versions[versions.length - 1]?.text ?? '';
    const [text, setText] = useState<string | null>(null);
    const [status, setStatus] = useState<string | null>(null);
    const save = async (e: Event) => {
        e.preventDefault();
        if (text === null || !text.trim()) return setStatus('Write the new text first.');
        try {
            await client.editPost(event, text);
            setText(null);
            setStatus('Edited');
            changed();
        } catch (err) {
            setStatus((err as Error).message);
        }
    };
    return (
        <>
            {isMine && (
                <details class="card" onToggle={(e) => { if ((e.currentTarget as HTMLDetailsElement).open && text === null) setText(latest); }}>
                    <summary>Edit</summary>
                    <form onSubmit={save}>
                        <label for="edit-text">New text of this post</label>
                        <textarea id="edit-text" rows={3} maxLength={10000} value={text ?? latest} onInput={(e) => setText(e.currentTarget.value)} />
                        <button type="submit">Save edit</button>
                    </form>
                    {status && <p role="status">{status}</p>}
                </details>
            )}
            {versions.length > 1 && (
                <details class="card history">
                    <summary>History ({versions.length} versions)</summary>
                    <ol aria-label="Versions, oldest first">
                        {versions.map((v, i) => (
                            <li key={v.event.slot}>
                                <span class="muted">{i === 0 ? 'Original' : 'Edit'}, <time dateTime={new Date(v.event.ms).toISOString()}>{timeFormat.format(v.event.ms)}</time>: </span>
                                <span class="version-text">{v.text}</span>
                            </li>
                        ))}
                    </ol>
                </details>
            )}
        </>
    );
}

// ---- discovery ----

function useServers(): string[] | null {
    const [servers, setServers] = useState<string[] | null>(null);
    useEffect(() => { void client.myServers().then(setServers); }, []);
    return servers;
}

function FoundList({ results, hidden }: { results: discover.Found[]; hidden: Set<string> }) {
    const shown = results.filter((f) => !hidden.has(client.ownerOf(f.event.system)) && client.allowedByFilters(f.event));
    if (shown.length === 0) return <Empty>Nothing found.</Empty>;
    return <ol class="feed">{shown.map((f) => <li key={f.event.slot}><PostCard event={f.event} servers={f.servers} from={f.servers} /></li>)}</ol>;
}

function useDiscovery<T>(key: string, run: (servers: string[]) => Promise<{ results: T; gathered: Gathered }>, revive: (cached: any) => Promise<T>, store: (results: T) => unknown) {
    const servers = useServers();
    const [results, setResults] = useState<T | null>(null);
    const [gathered, setGathered] = useState<Gathered | null>(null);
    const [hidden, setHidden] = useState<Set<string>>(new Set());
    useEffect(() => {
        if (!servers) return;
        let live = true;
        void (async () => {
            setHidden(await blocked());
            const cached = await getCached(key);
            if (cached && live) setResults(await revive(cached));
            const answer = await run(servers);
            if (!live) return;
            setGathered(answer.gathered);
            if (answer.gathered.answered.length) {
                setResults(answer.results);
                await setCached(key, store(answer.results));
            } else if (!cached) setResults(answer.results);
        })();
        return () => { live = false; };
    }, [servers, key]);
    return { results, gathered, hidden };
}

/** Found events are cached as slots with servers; revived from the local store. */
async function reviveFound(cached: { slot: string; servers: string[] }[]): Promise<discover.Found[]> {
    const out: discover.Found[] = [];
    for (const c of cached) {
        const slot = c.slot;
        const event = (await eventsOf(slot.split('|')[0])).get(slot);
        if (event) out.push({ event, servers: c.servers });
    }
    return out;
}
const toCache = (found: discover.Found[]) => found.map((f) => ({ slot: f.event.slot, servers: f.servers }));
const same = <T,>(x: T) => x;

type Paged = { results: discover.Found[]; gathered: Gathered; next: discover.Cursors };

/** A discovery read page by page: the first page (shown at once from the cache), then "show
 * more" asks the servers that have a next page and adds their results. */
function usePaged(key: string, read: (servers: string[], after?: discover.Cursors) => Promise<Paged>) {
    const [next, setNext] = useState<discover.Cursors>({});
    const [more, setMore] = useState<discover.Found[]>([]);
    const [moreGathered, setMoreGathered] = useState<Gathered | null>(null);
    const [busy, setBusy] = useState(false);
    const first = async (servers: string[]) => {
        const answer = await read(servers);
        setNext(answer.next);
        return answer;
    };
    const { results, gathered, hidden } = useDiscovery(key, first, reviveFound, toCache);
    const showMore = async () => {
        setBusy(true);
        const answer = await read(Object.keys(next), next);
        setMore((shown) => discover.mergeMore(shown, answer.results));
        setNext(answer.next);
        setMoreGathered(answer.gathered);
        setBusy(false);
    };
    return {
        results: results && discover.mergeMore(results, more),
        gathered: moreGathered ?? gathered,
        hidden,
        more: (label: string) => Object.keys(next).length > 0 && <button type="button" disabled={busy} onClick={showMore}>{busy ? 'Loading…' : label}</button>,
    };
}

export function Explore() {
    const { results, gathered, hidden, more } = usePaged('explore', (servers, after) => discover.explore(servers, 30, after));
    return (
        <section>
            <h1>Explore</h1>
            <p class="muted">Everyone's newest posts on your servers, each with the servers that returned it.</p>
            <Notices gathered={gathered} what="explore" />
            <Recommended />
            <h2>Newest posts</h2>
            {results === null ? <p class="muted">Loading…</p> : <FoundList results={results} hidden={hidden} />}
            {more('Show more posts')}
        </section>
    );
}

function Recommended() {
    const servers = useServers();
    const [people, setPeople] = useState<{ system: string; servers: string[] }[]>([]);
    useEffect(() => {
        if (!servers) return;
        let live = true;
        void (async () => {
            const hidden = await blocked();
            const me = client.me();
            const mine = await client.profile(me);
            const answer = await discover.recommended(servers);
            const shown = answer.results.filter((p) => p.system !== me && !hidden.has(p.system) && !mine.follows.includes(p.system)).slice(0, 5);
            await client.learnProfiles(shown);
            if (live) setPeople(shown);
        })();
        return () => { live = false; };
    }, [servers]);
    if (people.length === 0) return null;
    return (
        <>
            <h2>People to follow</h2>
            <ul class="people">{people.map((p) => <RecommendedPerson key={p.system} system={p.system} servers={p.servers} />)}</ul>
        </>
    );
}

function RecommendedPerson({ system, servers }: { system: string; servers: string[] }) {
    const name = useName(system);
    return (
        <li class="person">
            <Avatar system={system} size={32} servers={servers} />
            <A href={userPath(system, servers)}>{name}</A>
            <span class="from">recommended by: {servers.join(', ')}</span>
        </li>
    );
}

export function Search({ query, kind }: { query: string; kind: 'messages' | 'profiles' }) {
    const [text, setText] = useState(query);
    return (
        <section>
            <h1>Search</h1>
            <form role="search" onSubmit={(e) => { e.preventDefault(); navigate(`/find?q=${encodeURIComponent(text)}&type=${kind}`); }}>
                <label for="search-text">Search posts or people</label>
                <div class="row">
                    <input id="search-text" type="search" value={text} onInput={(e) => setText(e.currentTarget.value)} />
                    <button type="submit">Search</button>
                </div>
                <div class="row" role="group" aria-label="What to search">
                    <A href={`/find?q=${encodeURIComponent(query)}&type=messages`} aria-label="Search posts">{kind === 'messages' ? <strong>Posts</strong> : 'Posts'}</A>
                    <A href={`/find?q=${encodeURIComponent(query)}&type=profiles`} aria-label="Search people">{kind === 'profiles' ? <strong>People</strong> : 'People'}</A>
                </div>
            </form>
            {query && <SearchResults key={`${kind}:${query}`} query={query} kind={kind} />}
        </section>
    );
}

function SearchResults({ query, kind }: { query: string; kind: 'messages' | 'profiles' }) {
    const { results, gathered, hidden, more } = usePaged(`search:${kind}:${query}`, (servers, after) => discover.search(servers, query, kind, after));
    return (
        <>
            <Notices gathered={gathered} what="this search" />
            {results === null ? <p class="muted">Searching…</p> : kind === 'messages' ? <FoundList results={results} hidden={hidden} /> : <People results={results.filter((f) => !hidden.has(client.ownerOf(f.event.system)))} />}
            {more('Show more results')}
        </>
    );
}

function Person({ found }: { found: discover.Found }) {
    const name = useName(found.event.system);
    return (
        <li class="person">
            <Avatar system={found.event.system} size={32} servers={found.servers} />
            <A href={userPath(found.event.system, found.servers)}>{name}</A>
            <span class="from">from: {found.servers.join(', ')}</span>
        </li>
    );
}

function People({ results }: { results: discover.Found[] }) {
    if (results.length === 0) return <Empty>Nobody found.</Empty>;
    return <ul class="people">{results.map((f) => <Person key={f.event.system} found={f} />)}</ul>;
}

export function Trending() {
    const [range, setRange] = useState('30d');
    const { results, gathered } = useDiscovery(`trending:${range}`, (s) => discover.trending(s, range), async (c) => c, same);
    return (
        <section>
            <h1>Trending topics</h1>
            <label for="range">Period</label>
            <select id="range" value={range} onChange={(e) => setRange(e.currentTarget.value)}>
                <option value="12h">12 hours</option><option value="1d">1 day</option><option value="7d">7 days</option><option value="30d">30 days</option>
            </select>
            <Notices gathered={gathered} what="trending topics" />
            {results === null ? <p class="muted">Loading…</p> : results.length === 0 ? <Empty>No topics in this period.</Empty> : (
                <ol class="topics">{results.map((t: { topic: string; count: number; servers: string[] }) => (
                    <li key={t.topic}><A href={`/t/${encodeURIComponent(t.topic)}`}>#{t.topic}</A> <span class="muted">{t.count} {t.count === 1 ? 'post' : 'posts'}</span> <span class="from">from: {t.servers.join(', ')}</span></li>
                ))}</ol>
            )}
        </section>
    );
}

export function Topic({ name }: { name: string }) {
    const { results, gathered, hidden } = useDiscovery(`topic:${name}`, (s) => discover.topic(s, name), reviveFound, toCache);
    return (
        <section>
            <h1>#{name}</h1>
            <Notices gathered={gathered} what="this topic" />
            {results === null ? <p class="muted">Loading…</p> : <FoundList results={results} hidden={hidden} />}
        </section>
    );
}

// ---- settings ----

export function Settings() {
    const tick = useChanges();
    const [mine, setMine] = useState<Profile | null>(null);
    const [servers, setServers] = useState<string[]>([]);
    const [newServer, setNewServer] = useState('');
    const [backup, setBackup] = useState<string | null>(null);
    const [levels, setLevelsState] = useState(client.levels());
    const [handle, setHandle] = useState('');
    const [status, setStatus] = useState<string | null>(null);
    const [pushed, setPushed] = useState<Gathered | null>(null);
    useEffect(() => {
        void (async () => {
            setMine(await client.profile(client.me()));
            setServers(await client.myServers());
        })();
    }, [tick]);
    if (!mine) return <p class="muted">Loading…</p>;
    const add = async (e: Event) => {
        e.preventDefault();
        try {
            const server = remote.normalizeServer(newServer);
            if (mine.servers.length === 0) await client.addServer(client.origin(), true);
            await client.addServer(server, true);
            setNewServer('');
            setStatus(`Added ${server}`);
            changed();
            setPushed(await client.pushOwn());
        } catch (err) {
            setStatus((err as Error).message);
        }
    };
    const showBackup = async () => {
        const events = [...(await eventsOf(client.me())).values()];
        const winners = client.lwwSet(events, CT.SERVER).map((w) => w.event);
        setBackup(exportBundle(client.seed(), winners));
    };
    const claim = async (e: Event) => {
        e.preventDefault();
        setStatus((await client.claimHandle(handle)).join('; '));
    };
    const saveLevels = (name: keyof client.Levels, value: number) => {
        const next = { ...levels, [name]: value };
        setLevelsState(next);
        client.setLevels(next);
    };
    return (
        <section>
            <h1>Settings</h1>
            {status && <p role="status" class="notice">{status}</p>}
            <div class="card">
                <h2>Your servers</h2>
                <p class="muted">Every post is sent to each of them; people read you from any.</p>
                <ul class="servers">{servers.map((s) => (
                    <li key={s}>{s} {mine.servers.length > 1 && <button type="button" onClick={async () => { await client.addServer(s, false); changed(); }}>Remove<span class="visually-hidden"> {s}</span></button>}</li>
                ))}</ul>
                <form onSubmit={add}>
                    <label for="new-server">Add a server (any Polycentric server)</label>
                    <div class="row"><input id="new-server" value={newServer} placeholder="https://…" onInput={(e) => setNewServer(e.currentTarget.value)} /><button type="submit">Add server</button></div>
                </form>
                <Notices gathered={pushed} what="sending your posts" />
            </div>
            {!client.isDevice() && <Devices />}
            <div class="card">
                <h2>Handle</h2>
                <form onSubmit={claim}>
                    <label for="handle">Claim a handle on your servers (letters, digits, - and _)</label>
                    <div class="row"><input id="handle" value={handle} pattern="[A-Za-z0-9_-]{1,64}" onInput={(e) => setHandle(e.currentTarget.value)} /><button type="submit">Claim</button></div>
                </form>
            </div>
            <div class="card">
                <h2>Content filters</h2>
                <p class="muted">Servers that label content hide what is above these levels (0 strictest, 3 shows everything).</p>
                {client.CATEGORIES.map((name) => (
                    <div key={name} class="row">
                        <label for={`level-${name}`}>{name}</label>
                        <select id={`level-${name}`} value={String(levels[name])} onChange={(e) => saveLevels(name, Number(e.currentTarget.value))}>
                            {[0, 1, 2, 3].map((l) => <option key={l} value={String(l)}>{l}</option>)}
                        </select>
                    </div>
                ))}
            </div>
            <div class="card">
                <h2>Blocked people</h2>
                {mine.blocks.length === 0 ? <Empty>You have blocked nobody.</Empty> : (
                    <ul>{mine.blocks.map((s) => <BlockedPerson key={s} system={s} />)}</ul>
                )}
            </div>
            <div class="card">
                <h2>Account backup</h2>
                {client.isDevice()
                    ? <p>This browser is a device of your identity: its backup link holds this device's own key, not your identity's root key.</p>
                    : <p>The backup link holds your secret key: whoever has it is you. Import it in another browser, with <code>agora import</code>, or in another Polycentric client.</p>}
                <button type="button" onClick={showBackup}>Show backup link</button>
                {backup && <><label for="backup-link">Backup link</label><textarea id="backup-link" readOnly rows={4} value={backup} /></>}
            </div>
        </section>
    );
}

/** The identity's devices, approving a new one by its pairing code, and revoking. */
function Devices() {
    const tick = useChanges();
    const [list, setList] = useState<Member[]>([]);
    const [code, setCode] = useState('');
    const [name, setName] = useState('');
    const [request, setRequest] = useState<{ device: string; words: string; acceptance: Verified } | null>(null);
    const [status, setStatus] = useState<string | null>(null);
    useEffect(() => { void client.members(client.me()).then(setList); }, [tick]);
    const find = async (e: Event) => {
        e.preventDefault();
        setStatus(null);
        try { setRequest(await client.pairingRequest(code)); } catch (err) { setStatus((err as Error).message); }
    };
    const approve = async () => {
        await client.approveDevice(request!.acceptance, name.trim() || `device-${list.length + 1}`);
        setStatus(`Approved ${name.trim() || `device-${list.length + 1}`}`);
        setRequest(null); setCode(''); setName('');
        changed();
    };
    const revoke = (member: Member) => async () => {
        if (!confirm(`Revoke ${member.name}? What it signed until now stays; anything later is refused.`)) return;
        await client.revokeDevice(member);
        setStatus(`Revoked ${member.name}`);
        changed();
    };
    return (
        <div class="card">
            <h2>Devices</h2>
            {list.length === 0 ? <Empty>No other device signs for this identity.</Empty> : (
                <ul class="servers">{list.map((m) => (
                    <li key={m.system}>{m.name} <span class="muted">{m.bounds ? 'revoked' : 'active'}</span> {!m.bounds && <button type="button" onClick={revoke(m)}>Revoke<span class="visually-hidden"> {m.name}</span></button>}</li>
                ))}</ul>
            )}
            {request ? (
                <div>
                    <p>Does the new device show exactly these words?</p>
                    <p class="words" data-testid="approve-words">{request.words}</p>
                    <label for="device-name">Name of the device</label>
                    <input id="device-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
                    <div class="row"><button type="button" onClick={approve}>The words match: approve</button><button type="button" onClick={() => setRequest(null)}>Cancel</button></div>
                </div>
            ) : (
                <form onSubmit={find}>
                    <label for="pairing-code">Approve a device by its pairing code (<code>agora device pair</code> prints it)</label>
                    <div class="row"><input id="pairing-code" value={code} onInput={(e) => setCode(e.currentTarget.value)} /><button type="submit">Find device</button></div>
                </form>
            )}
            {status && <p role="status">{status}</p>}
        </div>
    );
}

function BlockedPerson({ system }: { system: string }) {
    const name = useName(system);
    return <li>{name} <button type="button" onClick={async () => { await client.block(system, false); changed(); }}>Unblock<span class="visually-hidden"> {name}</span></button></li>;
}

