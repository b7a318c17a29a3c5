// The wire types, generated from crates/protocol/proto/protocol.proto (scripts/proto.mjs).
import { userpackage } from './gen/protocol.js';

export const pb = userpackage;
export type { userpackage as PbTypes } from './gen/protocol.js';

/** Content types (spec section 3.2). */
export const CT = {
    DELETE: 1,
    SYSTEM_PROCESSES: 2,
    POST: 3,
    FOLLOW: 4,
    USERNAME: 5,
    DESCRIPTION: 6,
    BLOB_SECTION: 8,
    AVATAR: 9,
    SERVER: 10,
    OPINION: 14,
    BLOCK: 18,
    /** Agora's post edit (docs/protocol.md, "Edits"). */
    POST_EDIT: 1003,
} as const;

export const REFERENCE_POINTER = 2;
export const REFERENCE_BYTES = 3;
export const LIKE = Uint8Array.of(1);
export const DISLIKE = Uint8Array.of(2);
export const NEUTRAL = Uint8Array.of(3);
