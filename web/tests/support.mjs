// What the browser tests share: real `agora serve` processes (port 0, restartable on the same
// address with the same data), one headless Chromium, people (a browser context each, on the
// page a server serves), waits on what the page shows, and a generated PNG. Not a test file.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

export const BIN = process.env.AGORA_BIN;
export const ADMIN_TOKEN = 'web-test-token';
export const WAIT_MS = Number(process.env.AGORA_WEB_WAIT_MS ?? 15000);
export const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), '../test-output');
mkdirSync(OUTPUT, { recursive: true });

const running = new Set();

/** Starts `agora serve` on `listen` (default a free port) over `dataDir`; resolves once it prints its address. */
function spawnServe(listen, dataDir, extraEnv) {
    const child = spawn(BIN, ['serve'], {
        env: { ...process.env, AGORA_LISTEN: listen, AGORA_DATA_DIR: dataDir, AGORA_ADMIN_TOKEN: ADMIN_TOKEN, RUST_LOG: 'warn', ...extraEnv },
        stdio: ['ignore', 'pipe', 'inherit'],
    });
    running.add(child);
    child.on('exit', () => running.delete(child));
    return new Promise((resolve, reject) => {
        const lines = createInterface({ input: child.stdout });
        lines.once('line', (line) => {
            const url = line.split(/\s+/).find((w) => w.startsWith('http://'));
            url ? resolve({ child, url }) : reject(new Error(`no address in ${line}`));
        });
        child.once('exit', (code) => reject(new Error(`agora serve exited with ${code}`)));
    });
}

export async function startServer(extraEnv = {}) {
    const dataDir = mkdtempSync(join(tmpdir(), 'agora-web-'));
    let { child, url } = await spawnServe('127.0.0.1:0', dataDir, extraEnv);
    return {
        url,
        /** SIGTERM, and wait until it exited. */
        async stop() {
            if (child.exitCode !== null) return;
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await exited;
        },
        /** Starts again on the same address with the same store. */
        async resume() {
            ({ child } = await spawnServe(url.replace('http://', ''), dataDir, extraEnv));
        },
    };
}

export function stopAll() {
    for (const child of running) child.kill('SIGTERM');
}

let browser;
export async function launch() {
    browser = await chromium.launch({
        executablePath: process.env.AGORA_CHROMIUM ?? '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    return browser;
}

/** A fresh browser context (its own storage) on the page `server` serves. */
export async function visit(server, options = {}) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    await page.goto(server);
    return { context, page };
}

/** A person: a new identity named `name` on the page `server` serves. */
export async function person(server, name, options = {}) {
    const { context, page } = await visit(server, options);
    await page.getByLabel('Your name').fill(name);
    await page.getByRole('button', { name: 'Create identity' }).click();
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    return { page, context, server, name };
}

/** Goes to a page of the client by clicking through the main navigation. */
export async function nav(page, label) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
}

/** Writes a post from the home page's composer; waits until a server took it. */
export async function writePost(page, text, { topic, image } = {}) {
    await nav(page, 'Home');
    await page.getByLabel('Write a post').fill(text);
    if (topic) await page.getByLabel('Topic').fill(topic);
    if (image) await page.getByLabel('Image').setInputFiles({ name: 'picture.png', mimeType: 'image/png', buffer: image });
    await page.getByRole('button', { name: 'Post', exact: true }).click();
    await postCard(page, text).waitFor();
}

export async function waitSent(page) {
    await page.getByText(/waiting for a server/).first().waitFor({ state: 'detached' });
}

export const postCard = (page, text) => page.locator('article.post').filter({ hasText: text }).first();

/** The link of this person's profile (what "Copy link" copies). */
export async function ownLink(page) {
    await nav(page, 'Profile');
    return page.getByLabel('Link to this profile').inputValue();
}

/** Polls `fn` until it returns a truthy value. */
export async function until(what, fn, timeoutMs = WAIT_MS) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        last = await fn().catch((e) => `threw ${e.message}`);
        if (last && !(typeof last === 'string' && last.startsWith('threw'))) return last;
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${last}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

/** Saves a screenshot under test-output/ (gitignored). */
export async function screenshot(page, name) {
    await page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: true });
}

/** A PNG of `width`×`height` with a colour gradient (encoded here, no image library). */
export function png(width, height) {
    const rows = [];
    for (let y = 0; y < height; y++) {
        const row = Buffer.alloc(1 + width * 3);
        for (let x = 0; x < width; x++) row.set([(x * 255) / width, (y * 255) / height, 160], 1 + x * 3);
        rows.push(row);
    }
    const chunk = (type, data) => {
        const length = Buffer.alloc(4);
        length.writeUInt32BE(data.length);
        const body = Buffer.concat([Buffer.from(type), data]);
        const crc = Buffer.alloc(4);
        crc.writeUInt32BE(crc32(body));
        return Buffer.concat([length, body, crc]);
    };
    const header = Buffer.alloc(13);
    header.writeUInt32BE(width, 0);
    header.writeUInt32BE(height, 4);
    header.set([8, 2, 0, 0, 0], 8);
    return Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0)),
    ]);
}

function crc32(bytes) {
    let crc = 0xffffffff;
    for (const byte of bytes) {
        crc ^= byte;
        for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
    }
    return (crc ^ 0xffffffff) >>> 0;
}

const require = createRequire(import.meta.url);

/** axe-core's serious and critical violations on the page as it is now. */
export async function accessibilityProblems(page) {
    if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
    const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    return result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export const writeJson = (name, value) => writeFileSync(join(OUTPUT, name), JSON.stringify(value, null, 2));

/** Adds a server on the Settings page (published as a SERVER event). */
export async function addServer(page, server) {
    await nav(page, 'Settings');
    await page.getByLabel('Add a server').fill(server);
    await page.getByRole('button', { name: 'Add server' }).click();
    await page.locator('ul.servers li').filter({ hasText: server }).waitFor();
}

let officialClient;
/** The official client `@polycentric/polycentric-core`, installed in interop/ (test use only),
 * with the `Long` its 64-bit fields take. */
export async function official() {
    if (!officialClient) {
        const require = createRequire(join(process.env.AGORA_INTEROP_DIR, 'package.json'));
        officialClient = {
            ...(await import(pathToFileURL(require.resolve('@polycentric/polycentric-core')).href)),
            Long: require('long'),
        };
    }
    return officialClient;
}

/** The base64url of a system link with `server` put first among its hints. */
export async function withHint(link, server) {
    const { Protocol } = await official();
    const info = Protocol.URLInfo.decode(Buffer.from(link.replace('polycentric://', ''), 'base64url'));
    const body = Protocol.URLInfoSystemLink.decode(info.body);
    const servers = [server, ...body.servers];
    const encoded = Protocol.URLInfo.encode({
        urlType: info.urlType,
        body: Protocol.URLInfoSystemLink.encode({ system: body.system, servers }).finish(),
    }).finish();
    return Buffer.from(encoded).toString('base64url');
}

/** Posts of `system` (decoded `Post`s) through the official client's QueryIndex (which
 * verifies every event), once `predicate(texts)` holds. */
export function officialPosts(handle, system, Queries, Models, Protocol, predicate) {
    return new Promise((resolve, reject) => {
        let cells = [];
        const posts = () => cells.filter((c) => c.signedEvent)
            .map((c) => Protocol.Post.decode(Models.Event.fromBuffer(c.signedEvent.event).content));
        const texts = () => posts().map((p) => p.content);
        const query = handle.queryManager.queryIndex.query(system, Models.ContentType.ContentTypePost, (patch) => {
            cells = Queries.QueryIndex.applyPatch(cells, patch);
            if (predicate(texts())) {
                clearTimeout(timer);
                query.unregister();
                resolve(posts());
            }
        });
        const timer = setTimeout(() => { query.unregister(); reject(new Error(`official client saw only ${JSON.stringify(texts())}`)); }, WAIT_MS);
        query.advance(10);
    });
}

/** The bytes of the blob `manifest` names through the official client's QueryBlob (section
 * events fetched, signature-checked and joined). */
export function officialBlob(handle, system, manifest, { Queries, Models }) {
    return new Promise((resolve, reject) => {
        let subscription;
        const timer = setTimeout(() => { subscription?.unsubscribe(); reject(new Error('official client did not load the image')); }, WAIT_MS);
        subscription = Queries.QueryBlob.queryBlobObservable(handle.queryManager.queryBlob, system, Models.Process.fromProto(manifest.process), manifest.sections)
            .subscribe((bytes) => {
                if (bytes === undefined) return;
                clearTimeout(timer);
                setImmediate(() => subscription?.unsubscribe());
                resolve(bytes);
            });
    });
}

/** The username of `system` through the official client's QueryCRDT, once it is `expected`. */
export function officialUsername(handle, system, { Queries, Models }, expected) {
    return new Promise((resolve, reject) => {
        let last;
        let subscription;
        const timer = setTimeout(() => { subscription?.unsubscribe(); reject(new Error(`official client saw username ${last}`)); }, WAIT_MS);
        subscription = Queries.QueryCRDT.queryCRDTObservable(handle.queryManager.queryCRDT, system, Models.ContentType.ContentTypeUsername).subscribe((state) => {
            last = state.value ? new TextDecoder().decode(state.value) : undefined;
            if (last === expected) {
                clearTimeout(timer);
                setImmediate(() => subscription?.unsubscribe());
                resolve(last);
            }
        });
    });
}

/** Stops an official handle's background work so the test process can exit. */
export function stopHandle(handle) {
    const qm = handle.queryManager;
    qm.skipLoadedBatchUpdate = true;
    qm.queryHead.shouldUseNetwork(false);
    qm.queryLatest.shouldUseNetwork(false);
    qm.queryEvent.shouldUseNetwork(false);
    qm.queryIndex.useNetwork(false);
    handle.synchronizer.cleanup();
}

/** Runs `agora ARGS --home HOME` (a person at a terminal); resolves to its stdout. */
export async function agora(home, ...args) {
    const { stdout } = await promisify(execFile)(BIN, [...args, '--home', home], { env: { ...process.env, RUST_LOG: 'off' } });
    return stdout;
}

/** Starts `agora ARGS --home HOME` without waiting: its output so far, and its exit. */
export function agoraStart(home, ...args) {
    const child = spawn(BIN, [...args, '--home', home], { env: { ...process.env, RUST_LOG: 'off' }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const run = { stdout: '', stderr: '' };
    child.stdout.on('data', (data) => { run.stdout += data; });
    child.stderr.on('data', (data) => { run.stderr += data; });
    run.exited = new Promise((resolve) => child.on('exit', (code) => { running.delete(child); resolve(code); }));
    return run;
}

export const tempHome = () => mkdtempSync(join(tmpdir(), 'agora-home-'));
