/*
 * The MQTT encoders with the 5.0 properties codec installed (see ./props-hook.ts): what a
 * caller that encodes 5.0 packets imports. ./encode-core.ts is the same without the
 * properties codec, for a 3.1.1-only build.
 */
import "./properties";
export * from "./encode-core";
