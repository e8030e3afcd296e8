/*
 * The platform Crypto on Node: random bytes from the OS generator
 * (node:crypto randomFillSync) and HMAC-SHA256 from OpenSSL. The portable
 * modules/platform/sha256.ts computes the same tags (checked in
 * host-tests/platform/sha256-node.test.ts).
 */
import { createHmac, randomFillSync } from "node:crypto";
import type { Crypto } from "../../modules/platform/system";

export const nodeCrypto: Crypto = {
  randomFill(buffer: Uint8Array): Uint8Array {
    if (!(buffer instanceof Uint8Array)) throw new TypeError("randomFill: buffer must be a Uint8Array");
    return randomFillSync(buffer);
  },
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return new Uint8Array(createHmac("sha256", key).update(data).digest());
  },
};
