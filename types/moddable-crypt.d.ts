/*
 * The part of Moddable's `crypt` module the binding uses, for the type check
 * with @moddable/typings 5.6 (npm), which does not declare it. The SDK's own
 * typings declare it for mcconfig builds, so this file is only in
 * modules/platform/moddable/tsconfig.json.
 */
declare module "crypt" {
  /** A message digest; "SHA256" gives 32-byte outputs over 64-byte blocks. */
  export class Digest {
    constructor(algorithm: "MD5" | "SHA1" | "SHA224" | "SHA256" | "SHA384" | "SHA512");
    write(message: string | ArrayBuffer): void;
    /** Finishes the digest and returns it. */
    close(): ArrayBuffer;
    /** Starts a new digest. */
    reset(): void;
    readonly blockSize: number;
    readonly outputSize: number;
  }
}
