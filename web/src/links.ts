// Share links and account backups (spec sections 2.5 and 2.6): `polycentric://` + base64url of a
// URLInfo. Accepted as that, as the bare base64url, or as any URL whose last path segment is one
// (e.g. this client's /user/… and /post/… addresses).
import { base64url, fromBase64 } from './bytes';
import { publicKeyOf, systemId, verify, type Verified } from './events';
import { CT, pb } from './proto';

const SCHEME = 'polycentric://';

export type Link =
    | { kind: 'system'; system: string; servers: string[] }
    | { kind: 'event'; system: string; process: Uint8Array; clock: number; servers: string[] };

function urlInfo(text: string): ReturnType<typeof pb.URLInfo.decode> {
    let encoded = text.trim();
    if (encoded.startsWith(SCHEME)) encoded = encoded.slice(SCHEME.length);
    encoded = encoded.replace(/[?#].*$/, '').replace(/\/+$/, '');
    encoded = encoded.slice(encoded.lastIndexOf('/') + 1);
    return pb.URLInfo.decode(fromBase64(encoded));
}

/** Reads a system or event link; throws with a reason a person can act on. */
export function parseLink(text: string): Link {
    let info;
    try {
        info = urlInfo(text);
    } catch {
        throw new Error('this is not a Polycentric link');
    }
    const type = Number(info.urlType);
    if (type === 1) {
        const body = pb.URLInfoSystemLink.decode(info.body);
        const key = body.system?.key;
        if (!key || key.length !== 32) throw new Error('the link names no valid identity');
        return { kind: 'system', system: systemId(key), servers: body.servers ?? [] };
    }
    if (type === 2) {
        const body = pb.URLInfoEventLink.decode(info.body);
        const key = body.system?.key;
        const process = body.process?.process;
        if (!key || key.length !== 32 || !process || process.length !== 16) throw new Error('the link names no valid post');
        return { kind: 'event', system: systemId(key), process, clock: Number(body.logicalClock), servers: body.servers ?? [] };
    }
    if (type === 3) throw new Error('this is an account backup, not a share link: import it under Settings');
    throw new Error(`unknown link type ${type}`);
}

export function systemLink(system: string, servers: string[]): string {
    const body = pb.URLInfoSystemLink.encode({ system: { keyType: 1, key: fromBase64(system) }, servers }).finish();
    return SCHEME + base64url(pb.URLInfo.encode({ urlType: 1, body }).finish());
}

export function eventLink(system: string, process: Uint8Array, clock: number, servers: string[]): string {
    const body = pb.URLInfoEventLink.encode({
        system: { keyType: 1, key: fromBase64(system) },
        process: { process },
        logicalClock: clock,
        servers,
    }).finish();
    return SCHEME + base64url(pb.URLInfo.encode({ urlType: 2, body }).finish());
}

/** The path of this client's page for a link (the link's base64url as the last segment). */
export const pagePath = (kind: 'user' | 'post', link: string): string => `/${kind}/${link.slice(SCHEME.length)}`;

/** An account backup link: the key pair and the SERVER events in effect. */
export function exportBundle(seed: Uint8Array, servers: Verified[]): string {
    const body = pb.ExportBundle.encode({
        keyPair: { keyType: 1, privateKey: seed, publicKey: publicKeyOf(seed) },
        events: { events: servers.map((e) => ({ signature: e.signature, event: e.bytes })) },
    }).finish();
    return SCHEME + base64url(pb.URLInfo.encode({ urlType: 3, body }).finish());
}

/** Reads a backup: the seed (checked against its public key) and its verified SERVER events. */
export function parseBundle(text: string): { seed: Uint8Array; events: Verified[] } {
    let info;
    try {
        info = urlInfo(text);
    } catch {
        throw new Error('this is not an account backup link');
    }
    if (Number(info.urlType) !== 3) throw new Error('this link is not an account backup (agora export prints one)');
    const bundle = pb.ExportBundle.decode(info.body);
    const pair = bundle.keyPair;
    if (!pair || Number(pair.keyType) !== 1 || pair.privateKey?.length !== 32 || !pair.publicKey) throw new Error('the backup holds no Ed25519 key');
    const seed = pair.privateKey!;
    const system = systemId(publicKeyOf(seed));
    if (systemId(pair.publicKey!) !== system) throw new Error('the public key does not belong to the private key');
    const events = (bundle.events?.events ?? []).map((signed) => verify(signed));
    for (const event of events) {
        if (event.system !== system || event.type !== CT.SERVER) throw new Error('the backup holds an event that is not its own SERVER event');
    }
    return { seed, events };
}
