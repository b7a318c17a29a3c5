// The bundle-size budget: the JavaScript and CSS a first visit downloads, gzipped. The build
// fails when it is exceeded, so growth is a decision, not an accident.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUDGET_GZIP_BYTES = 64 * 1024;
const dist = join(dirname(fileURLToPath(import.meta.url)), '../dist');
const files = readdirSync(join(dist, 'assets')).filter((f) => /\.(js|css)$/.test(f));
let total = 0;
for (const file of files) {
    const size = gzipSync(readFileSync(join(dist, 'assets', file)), { level: 9 }).length;
    total += size;
    console.log(`${file}: ${(size / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`total: ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET_GZIP_BYTES / 1024} KiB)`);
if (total > BUDGET_GZIP_BYTES) {
    console.error(`bundle over budget by ${((total - BUDGET_GZIP_BYTES) / 1024).toFixed(1)} KiB`);
    process.exit(1);
}
