// Images as the official clients publish them (crates/client/src/images.rs): a PNG within
// 1000×1000 for posts, a 256/128/32 px square ImageBundle for avatars, cut into BLOB_SECTION
// events; read back only from section events verified as they are read, all present, adding up
// to the manifest's byte count.
import { concat } from './bytes';
import { publishBlob } from './client';
import { slotKey, type Verified } from './events';
import { CT, pb } from './proto';
import * as remote from './remote';
import { eventsOf, keep } from './store';

import type { Manifest } from './events';

async function toPng(source: ImageBitmap, width: number, height: number, crop?: { x: number; y: number; side: number }): Promise<Uint8Array> {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext('2d')!;
    if (crop) context.drawImage(source, crop.x, crop.y, crop.side, crop.side, 0, 0, width, height);
    else context.drawImage(source, 0, 0, width, height);
    const blob = await new Promise<Blob>((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the image could not be encoded'))), 'image/png'));
    return new Uint8Array(await blob.arrayBuffer());
}

async function decode(file: Blob): Promise<ImageBitmap> {
    try {
        return await createImageBitmap(file);
    } catch {
        throw new Error('this file is not an image the browser can read (PNG, JPEG, GIF or WebP)');
    }
}

/** Publishes a post image (PNG within 1000×1000) and returns its manifest. */
export async function publishPostImage(file: Blob) {
    const bitmap = await decode(file);
    const scale = Math.min(1, 1000 / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const png = await toPng(bitmap, width, height);
    const blob = await publishBlob(png);
    return { mime: 'image/png', width, height, byteCount: png.length, ...blob };
}

/** Publishes an avatar (center-cropped 256, 128 and 32 px squares) and returns its bundle bytes. */
export async function publishAvatar(file: Blob): Promise<Uint8Array> {
    const bitmap = await decode(file);
    const side = Math.min(bitmap.width, bitmap.height);
    const crop = { x: (bitmap.width - side) / 2, y: (bitmap.height - side) / 2, side };
    const manifests = [];
    for (const size of [256, 128, 32]) {
        const png = await toPng(bitmap, size, size, crop);
        manifests.push({ mime: 'image/png', width: size, height: size, byteCount: png.length, ...(await publishBlob(png)) });
    }
    return pb.ImageBundle.encode({ imageManifests: manifests }).finish();
}

const urls = new Map<string, string>();

/** An object URL of the image, from kept sections or fetched from `servers`; null when gone. */
export async function imageUrl(system: string, manifest: Manifest, servers: string[]): Promise<string | null> {
    const process = manifest.process?.process;
    if (!process || (manifest.sections ?? []).length > 64) return null;
    const clocks: number[] = [];
    for (const r of manifest.sections ?? []) for (let c = Number(r.low); c <= Number(r.high) && clocks.length < 64; c++) clocks.push(c);
    const key = slotKey(system, process, clocks[0] ?? 0) + `|${clocks.length}`;
    const cached = urls.get(key);
    if (cached) return cached;
    const slots = clocks.map((c) => slotKey(system, process, c));
    let held = await eventsOf(system);
    if (slots.some((s) => !held.has(s))) {
        const ranges: remote.Ranges = new Map([[slots[0].split('|')[1], clocks.map((c) => [c, c] as [number, number])]]);
        for (const server of servers) {
            try {
                await keep(await remote.getEvents(server, system, ranges, ''));
                held = await eventsOf(system);
                if (slots.every((s) => held.has(s))) break;
            } catch { /* another server may have it */ }
        }
    }
    const sections: Verified[] = [];
    for (const slot of slots) {
        const event = held.get(slot);
        if (!event || event.type !== CT.BLOB_SECTION) return null;
        sections.push(event);
    }
    const bytes = concat(sections.map((s) => s.event.content));
    if (bytes.length !== Number(manifest.byteCount)) return null;
    // Only image types: a blob URL has this page's origin, so a served "text/html" must not be one.
    const type = /^image\/(png|jpeg|gif|webp)$/.test(manifest.mime ?? '') ? manifest.mime! : 'image/png';
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
    urls.set(key, url);
    return url;
}

/** The manifest of a bundle closest to `size` px. */
export function avatarManifest(bundle: { imageManifests?: Manifest[] | null } | null, size: number): Manifest | null {
    const list = bundle?.imageManifests ?? [];
    if (!list.length) return null;
    return [...list].sort((a, b) => Math.abs(Number(a.width) - size) - Math.abs(Number(b.width) - size))[0];
}

