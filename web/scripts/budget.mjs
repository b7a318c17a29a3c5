// The bundle-size budget, gzipped: what a first visit downloads (the JavaScript and CSS that
// index.html names) and everything in dist/assets (lazily loaded parts too). The build fails when
// either is exceeded, so growth is a decision, not an accident.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const FIRST_VISIT_BUDGET_BYTES = 64 * 1024;
const ALL_ASSETS_BUDGET_BYTES = 96 * 1024;
const dist = join(dirname(fileURLToPath(import.meta.url)), '../dist');
const html = readFileSync(join(dist, 'index.html'), 'utf8');
let firstVisit = 0;
let all = 0;
for (const file of readdirSync(join(dist, 'assets')).filter((f) => /\.(js|css)$/.test(f)).sort()) {
    const size = gzipSync(readFileSync(join(dist, 'assets', file)), { level: 9 }).length;
    const initial = html.includes(`/assets/${file}`);
    all += size;
    if (initial) firstVisit += size;
    console.log(`${file}: ${(size / 1024).toFixed(1)} KiB gzipped${initial ? '' : ' (loaded when needed)'}`);
}
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
console.log(`first visit: ${kib(firstVisit)} gzipped (budget ${kib(FIRST_VISIT_BUDGET_BYTES)}); all: ${kib(all)} (budget ${kib(ALL_ASSETS_BUDGET_BYTES)})`);
if (firstVisit > FIRST_VISIT_BUDGET_BYTES || all > ALL_ASSETS_BUDGET_BYTES) {
    console.error('the web client is over its size budget (web/scripts/budget.mjs)');
    process.exit(1);
}
