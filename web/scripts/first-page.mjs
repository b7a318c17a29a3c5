// Measures how fast the first page shows from a local `agora serve`: starts one on a free port
// (the binary given as the first argument, default target/release/agora), loads the page in
// headless Chromium with an empty cache, and prints the first contentful paint and the time
// until the page's heading is visible, as the median of 5 loads.
//   node web/scripts/first-page.mjs target/release/agora
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const bin = process.argv[2] ?? 'target/release/agora';
const server = spawn(bin, ['serve'], {
    env: { ...process.env, AGORA_LISTEN: '127.0.0.1:0', AGORA_DATA_DIR: mkdtempSync(join(tmpdir(), 'agora-first-page-')), RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((resolve) => createInterface({ input: server.stdout }).once('line', (line) => resolve(line.split(/\s+/).find((w) => w.startsWith('http://')))));
const browser = await chromium.launch({
    executablePath: process.env.AGORA_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const paints = [];
const visible = [];
for (let i = 0; i < 5; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const start = Date.now();
    await page.goto(url);
    await page.getByRole('heading', { name: 'Welcome to Agora' }).waitFor();
    visible.push(Date.now() - start);
    paints.push(await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN));
    await context.close();
}
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
console.log(`first contentful paint: ${median(paints).toFixed(0)} ms; heading visible: ${median(visible)} ms (median of 5, ${url})`);
await browser.close();
server.kill('SIGTERM');
