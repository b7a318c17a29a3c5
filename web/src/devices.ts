// Device keys (docs/protocol.md, "Devices"): which keys are an identity's members, read from the
// identity's own DEVICE_AUTHORIZE and DEVICE_REVOKE statements (each embeds the device's
// DEVICE_ACCEPT, verified again here), the revocation bounds, and the pairing words.
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, fromBase64, utf8 } from './bytes';
import { systemId, verify, type Verified } from './events';
import { pb } from './proto';

export const DEVICE_ACCEPT = 1000;
export const DEVICE_AUTHORIZE = 1001;
export const DEVICE_REVOKE = 1002;

export interface Member {
    system: string;
    /** The name of the latest authorization. */
    name: string;
    /** The device's own DEVICE_ACCEPT, as the authorization embeds it (revocations embed it too). */
    acceptance: { signature: Uint8Array; event: Uint8Array };
    /** Per process (base64url), the last clock that stays valid; null: not revoked. */
    bounds: Map<string, number> | null;
}

/** The device key an identity's statement is about, when its embedded acceptance holds. */
export function deviceOf(statement: Verified, body: { acceptance?: { signature?: Uint8Array | null; event?: Uint8Array | null } | null }): string | null {
    if (!body.acceptance) return null;
    try {
        const acceptance = verify(body.acceptance);
        if (acceptance.type !== DEVICE_ACCEPT || acceptance.system === statement.system) return null;
        const named = pb.DeviceAcceptance.decode(acceptance.event.content ?? new Uint8Array()).identity?.key;
        return named && systemId(named) === statement.system ? acceptance.system : null;
    } catch {
        return null;
    }
}

/** The devices `identity` authorized, with the bounds of those it revoked. */
export function devicesOf(identityEvents: Verified[]): Member[] {
    const members = new Map<string, Member & { named: number }>();
    for (const e of identityEvents) {
        try {
            if (e.type !== DEVICE_AUTHORIZE) continue;
            const body = pb.DeviceAuthorization.decode(e.event.content ?? new Uint8Array());
            const device = deviceOf(e, body);
            if (!device) continue;
            const held = members.get(device);
            // Renaming is a new authorization: the latest names the device.
            if (!held || e.ms > held.named) {
                const acceptance = { signature: body.acceptance!.signature!, event: body.acceptance!.event! };
                members.set(device, { system: device, name: body.name ?? '', acceptance, bounds: held?.bounds ?? null, named: e.ms });
            }
        } catch { /* a malformed statement authorizes nothing */ }
    }
    for (const e of identityEvents) {
        try {
            if (e.type !== DEVICE_REVOKE) continue;
            const body = pb.DeviceRevocation.decode(e.event.content ?? new Uint8Array());
            const device = deviceOf(e, body);
            if (!device) continue;
            const bounds = new Map<string, number>();
            for (const b of body.bounds ?? []) {
                const process = b.process?.process;
                if (process) bounds.set(btoaUrl(process), Number(b.lastLogicalClock));
            }
            const held = members.get(device);
            if (!held) continue;
            // Two revocations keep only what both keep.
            held.bounds = held.bounds
                ? new Map([...bounds].filter(([p]) => held.bounds!.has(p)).map(([p, c]) => [p, Math.min(c, held.bounds!.get(p)!)]))
                : bounds;
        } catch { /* a malformed revocation revokes nothing */ }
    }
    return [...members.values()].map(({ named: _named, ...member }) => member);
}

const btoaUrl = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** Whether a member's event stays valid under its revocation bounds. */
export const permits = (member: Member, event: Verified): boolean =>
    member.bounds === null || (member.bounds.get(btoaUrl(event.process)) ?? 0) >= event.clock;

/** The identity a DEVICE_ACCEPT names (not yet proof: the identity must authorize the key). */
export function acceptedIdentity(acceptance: Verified): string | null {
    try {
        const key = pb.DeviceAcceptance.decode(acceptance.event.content ?? new Uint8Array()).identity?.key;
        return key?.length === 32 && systemId(key) !== acceptance.system ? systemId(key) : null;
    } catch {
        return null;
    }
}

export function acceptanceContent(identity: string): Uint8Array {
    return pb.DeviceAcceptance.encode({ identity: { keyType: 1, key: fromBase64(identity) } }).finish();
}

/** The pairing code `agora device approve` takes: the device key as `agora` prints keys (the 32
 * bytes in base64url), which is also this client's id of the system. */
export function pairingCode(device: string): string {
    return device;
}

/** The five confirmation words both sides show (11 bits each of a SHA-256 over both keys). */
export async function confirmationWords(identity: string, device: string): Promise<string> {
    const { wordlist } = await import('@scure/bip39/wordlists/english.js');
    const digest = sha256(concat([utf8('agora device pairing v1'), Uint8Array.of(0), fromBase64(identity), fromBase64(device)]));
    const words = [];
    for (let position = 0; position < 5; position++) {
        const bit = position * 11;
        const window = ((digest[bit >> 3] << 24) | (digest[(bit >> 3) + 1] << 16) | (digest[(bit >> 3) + 2] << 8)) >>> 0;
        words.push(wordlist[(window >>> (32 - 11 - (bit % 8))) & 0x7ff]);
    }
    return words.join(' ');
}
