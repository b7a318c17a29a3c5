// Vite builds the client into dist/, which is committed and embedded into the `agora` binary.
// The output must be deterministic (content-hashed names, no timestamps): CI rebuilds it and
// fails if it differs from what is committed.
import { defineConfig } from 'vite';

export default defineConfig({
    oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
    build: {
        outDir: 'dist',
        emptyOutDir: true,
        target: 'es2022',
        sourcemap: false,
        modulePreload: { polyfill: false },
        reportCompressedSize: false,
    },
});
