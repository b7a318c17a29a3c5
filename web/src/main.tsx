// Entry point: the app shell, its routes, and the offline service worker.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import * as client from './client';
import { Explore, Home, PostPage, ProfilePage, Search, Settings, Topic, Trending, Welcome } from './pages';
import { A, changed, usePath, userPath } from './ui';
import './style.css';

function Route({ path }: { path: string }) {
    const url = new URL(path, location.origin);
    const segments = url.pathname.split('/').filter(Boolean);
    switch (segments[0]) {
        case undefined: return <Home />;
        case 'user': return <ProfilePage encoded={segments[1] ?? ''} />;
        case 'post': return <PostPage encoded={segments[1] ?? ''} />;
        case 'discover': return <Explore />;
        case 'find': return <Search query={url.searchParams.get('q') ?? ''} kind={url.searchParams.get('type') === 'profiles' ? 'profiles' : 'messages'} />;
        case 'trending': return <Trending />;
        case 't': return <Topic name={decodeURIComponent(segments[1] ?? '')} />;
        case 'settings': return <Settings />;
        default: return <section><h1>Not found</h1><p>There is no page at this address. <A href="/">Go home</A>.</p></section>;
    }
}

function Pending() {
    const [count, setCount] = useState(client.pendingCount());
    useEffect(() => client.onPendingChange(() => setCount(client.pendingCount())), []);
    if (count === 0) return null;
    return <p class="pending" role="status">{count === 1 ? '1 event is' : `${count} events are`} waiting for a server; they are sent when one answers.</p>;
}

function App() {
    const path = usePath();
    const [ready, setReady] = useState(client.hasIdentity());
    const nav = [['/', 'Home'], ['/discover', 'Explore'], ['/find', 'Search'], ['/trending', 'Trending']] as const;
    const here = new URL(path, location.origin).pathname;
    return (
        <>
            <a class="skip" href="#main">Skip to content</a>
            <header class="top">
                <A href="/" class="brand">Agora</A>
                {ready && (
                    <nav aria-label="Main">
                        <ul>
                            {nav.map(([href, label]) => <li key={href}><A href={href} {...(here === href ? { 'aria-current': 'page' } : {})}>{label}</A></li>)}
                            <li><A href={userPath(client.me(), [client.origin()])}>Profile</A></li>
                            <li><A href="/settings">Settings</A></li>
                        </ul>
                    </nav>
                )}
            </header>
            <main id="main" tabIndex={-1}>
                {ready && <Pending />}
                {ready ? <Route path={path} /> : <Welcome onReady={() => { setReady(true); changed(); }} />}
            </main>
        </>
    );
}

const root = document.getElementById('app')!;
root.textContent = '';
render(<App />, root);
client.startOutbox();
if ('serviceWorker' in navigator) void navigator.serviceWorker.register('/sw.js').catch(() => undefined);
