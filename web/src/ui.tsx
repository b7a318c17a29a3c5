// Shared pieces of the pages: navigation, server notices, post cards, avatars, the composer.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import * as client from './client';
import { pointerTo, type Gathered } from './client';
import { postOf, replyTarget, topicOf, type Verified } from './events';
import { avatarManifest, imageUrl, publishPostImage } from './images';
import { eventLink, pagePath, systemLink } from './links';
import { onKept } from './store';

// ---- navigation ----

const listeners = new Set<() => void>();
export function navigate(path: string): void {
    history.pushState(null, '', path);
    for (const l of listeners) l();
    scrollTo(0, 0);
    document.getElementById('main')?.focus();
}
export function usePath(): string {
    const [path, setPath] = useState(location.pathname + location.search);
    useEffect(() => {
        const update = () => setPath(location.pathname + location.search);
        listeners.add(update);
        addEventListener('popstate', update);
        return () => { listeners.delete(update); removeEventListener('popstate', update); };
    }, []);
    return path;
}

export function A({ href, children, ...rest }: { href: string; children: ComponentChildren; [attribute: string]: unknown }) {
    return <a href={href} {...rest} onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(href);
    }}>{children}</a>;
}

// ---- changes: pages recompute their local state when anything is published ----

const changeListeners = new Set<() => void>();
export const changed = () => { for (const l of changeListeners) l(); };
export function useChanges(): number {
    const [tick, setTick] = useState(0);
    useEffect(() => {
        const l = () => setTick((t) => t + 1);
        changeListeners.add(l);
        return () => { changeListeners.delete(l); };
    }, []);
    return tick;
}

// ---- notices ----

/** Names the servers that failed for what this page shows, and why. */
export function Notices({ gathered, what }: { gathered: Gathered | null; what: string }) {
    if (!gathered || gathered.failed.length === 0) return null;
    return (
        <div class="notice" role="status">
            <p>Not used for {what}:</p>
            <ul>
                {gathered.failed.map((f) => (
                    <li key={f.server} class="failed-server"><strong>{f.server}</strong> {f.error}</li>
                ))}
            </ul>
        </div>
    );
}

export function Empty({ children }: { children: ComponentChildren }) {
    return <p class="empty">{children}</p>;
}

// ---- people ----

export const shortKey = (system: string) => system.slice(0, 8);
export const userPath = (system: string, servers: string[]) => pagePath('user', systemLink(system, servers));

export function Avatar({ system, size, servers }: { system: string; size: number; servers: string[] }) {
    const [url, setUrl] = useState<string | null>(null);
    const name = useName(system);
    const tick = useProfileChanges();
    useEffect(() => {
        let live = true;
        void (async () => {
            // The avatar may be set by any member of the identity: look for its sections under each.
            const owner = client.ownerOf(system);
            const manifest = avatarManifest((await client.profile(owner)).avatar, size);
            let found: string | null = null;
            if (manifest) for (const key of [owner, ...(await client.members(owner)).map((m) => m.system)]) {
                found = await imageUrl(key, manifest, servers);
                if (found) break;
            }
            if (live) setUrl(found);
        })();
        return () => { live = false; };
    }, [system, tick]);
    return url
        ? <img class="avatar" src={url} width={size} height={size} alt="" />
        : <span class="avatar placeholder" style={{ width: `${size}px`, height: `${size}px`, fontSize: `${Math.max(14, size / 2.5)}px` }} aria-hidden="true">{name.slice(0, 1)}</span>;
}

/** Re-renders when anything is published here or other people's names were learned. */
function useProfileChanges(): number {
    const tick = useChanges();
    const [learned, setLearned] = useState(0);
    useEffect(() => client.onLearned(() => setLearned((t) => t + 1)), []);
    return tick * 1000 + learned;
}

export function useName(system: string): string {
    const [name, setName] = useState<string | null>(null);
    const tick = useProfileChanges();
    useEffect(() => {
        let live = true;
        void client.profile(client.ownerOf(system)).then((p) => live && setName(p.username));
        return () => { live = false; };
    }, [system, tick]);
    return name ?? `${shortKey(system)}…`;
}

// ---- posts ----

export const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function PostImage({ event, servers }: { event: Verified; servers: string[] }) {
    const image = postOf(event)?.image;
    const [url, setUrl] = useState<string | null | undefined>(undefined);
    useEffect(() => {
        if (!image) return;
        let live = true;
        void imageUrl(event.system, image, servers).then((u) => live && setUrl(u));
        return () => { live = false; };
    }, [event.slot]);
    if (!image) return null;
    if (url === undefined) return <p class="muted">Loading image…</p>;
    if (url === null) return <p class="muted">The image is not available from these servers.</p>;
    return <img class="post-image" src={url} width={Number(image.width)} height={Number(image.height)} alt="Image attached to the post" loading="lazy" />;
}

/** Re-renders when the set of events waiting for a server changes. */
function usePending(): number {
    const [tick, setTick] = useState(0);
    useEffect(() => client.onPendingChange(() => setTick((t) => t + 1)), []);
    return tick;
}

export type Version = { event: Verified; text: string };

/** A post's versions (the original, then its edits by its own key, oldest first), kept up to date
 * as edits and deletions of its key arrive. */
export function useVersions(event: Verified): Version[] {
    const [versions, setVersions] = useState<Version[]>([]);
    const tick = useChanges();
    const [kept, setKept] = useState(0);
    useEffect(() => onKept((systems) => { if (systems.has(event.system)) setKept((k) => k + 1); }), [event.system]);
    useEffect(() => {
        let live = true;
        void client.versions(event).then((v) => live && setVersions(v));
        return () => { live = false; };
    }, [event.slot, tick, kept]);
    return versions[0]?.event.slot === event.slot ? versions : [];
}

export function PostCard({ event, servers, from }: { event: Verified; servers: string[]; from?: string[] }) {
    const body = postOf(event);
    const name = useName(event.system);
    const versions = useVersions(event);
    usePending();
    if (!body) return null;
    const latest = versions.length > 1 ? versions[versions.length - 1] : null;
    const link = eventLink(event.system, event.process, event.clock, servers.slice(0, 3));
    const topic = topicOf(event);
    const parent = replyTarget(event);
    const pending = client.hasIdentity() && event.system === client.signer() && client.isPending(event.slot);
    const author = client.ownerOf(event.system);
    return (
        <article class="post" aria-label={`Post by ${name}`}>
            <header>
                <Avatar system={author} size={32} servers={servers} />
                <A href={userPath(author, servers.slice(0, 3))} class="author">{name}</A>
                <A href={pagePath('post', link)} class="time"><time dateTime={new Date(event.ms).toISOString()}>{timeFormat.format(event.ms)}</time></A>
                {latest && <span class="edited" title={`Edited ${timeFormat.format(latest.event.ms)}`}>edited</span>}
            </header>
            {parent && <p class="muted">Reply to <A href={pagePath('post', eventLink(client.encodeId(parent.system), parent.process, parent.clock, servers.slice(0, 3)))}>a post</A></p>}
            <p class="text">{latest ? latest.text : body.text}</p>
            <PostImage event={event} servers={servers} />
            <footer>
                {topic && <A href={`/t/${encodeURIComponent(topic)}`} class="topic">#{topic}</A>}
                {pending && <span class="badge">Waiting for a server</span>}
                {from && <span class="from">from: {from.join(', ')}</span>}
            </footer>
        </article>
    );
}


// ---- composer ----

export function Composer({ replyTo, label = 'Write a post', onPosted }: { replyTo?: Verified; label?: string; onPosted?: () => void }) {
    const [text, setText] = useState('');
    const [topic, setTopic] = useState('');
    const [file, setFile] = useState<File | null>(null);
    const [busy, setBusy] = useState(false);
    const [error, setError] = useState<string | null>(null);
    const [fileKey, setFileKey] = useState(0);
    const submit = async (e: Event) => {
        e.preventDefault();
        if (!text.trim() && !file) return setError('Write something or attach an image first.');
        setBusy(true);
        setError(null);
        try {
            const image = file ? await publishPostImage(file) : undefined;
            await client.post({ text, topic: replyTo ? undefined : topic, replyTo: replyTo ? pointerTo(replyTo) : undefined, image });
            setText(''); setTopic(''); setFile(null); setFileKey((k) => k + 1);
            changed();
            onPosted?.();
        } catch (err) {
            setError((err as Error).message);
        } finally {
            setBusy(false);
        }
    };
    const id = replyTo ? 'reply' : 'compose';
    return (
        <form class="composer" onSubmit={submit}>
            <label for={`${id}-text`}>{label}</label>
            <textarea id={`${id}-text`} value={text} rows={3} maxLength={10000} onInput={(e) => setText(e.currentTarget.value)} />
            <div class="row">
                {!replyTo && <label class="inline">Topic <input id={`${id}-topic`} value={topic} placeholder="optional" onInput={(e) => setTopic(e.currentTarget.value)} /></label>}
                <label class="inline">Image <input key={fileKey} id={`${id}-image`} type="file" accept="image/png,image/jpeg,image/gif,image/webp" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} /></label>
                <button type="submit" disabled={busy}>{busy ? 'Signing…' : replyTo ? 'Reply' : 'Post'}</button>
            </div>
            {error && <p class="error" role="alert">{error}</p>}
        </form>
    );
}
