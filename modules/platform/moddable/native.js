/*
 * The host functions of xs-iot's own native module, in Moddable's
 * `function name() @ "c_symbol"` form. One C file implements them per platform:
 * esp32/native.c (ESP-IDF) and lin/native.c (Linux simulator). Their manifests
 * (esp32/manifest.json, lin/manifest.json) pick the right one; native.d.ts gives
 * the types. Callers go through modules/platform/moddable/system.ts, which adds
 * the argument checks; the C side checks bounds again.
 */

function rtcByteLength() @ "xs_xsiot_rtc_byte_length";
function rtcRead(offset, buffer) @ "xs_xsiot_rtc_read";
function rtcWrite(offset, buffer) @ "xs_xsiot_rtc_write";
function deepSleep(microseconds) @ "xs_xsiot_deep_sleep";
function lightSleep(microseconds) @ "xs_xsiot_light_sleep";
function setWakePins(maskLow, maskHigh, level) @ "xs_xsiot_set_wake_pins";
function restart() @ "xs_xsiot_restart";
function wakeCause() @ "xs_xsiot_wake_cause";
function randomFill(buffer) @ "xs_xsiot_random_fill";

export { rtcByteLength, rtcRead, rtcWrite, deepSleep, lightSleep, setWakePins, restart, wakeCause, randomFill };
