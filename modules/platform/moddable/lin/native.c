/*
 * xs-iot native module for the Moddable simulator on Linux (`-p lin`): the
 * same functions as ../esp32/native.c, with what a desktop process can offer.
 *
 *   RTC memory    a static array: kept while the simulator process lives, like
 *                 RTC memory through a deep sleep; lost when it exits (power-off).
 *   deepSleep     there is no way to re-run the app from here, so it throws an
 *   restart       Error naming what the device would have done; the app logs it.
 *   lightSleep    returns "deferred" at once: the process keeps running and the
 *                 time to the next timer passes as it would asleep (the clock jumps)
 *   setWakePins   checks the pins (0..63) and the level, keeps nothing
 *   wakeCause     always "power-on" (every simulator launch is a cold boot).
 *   randomFill    getrandom(2) from the kernel's CSPRNG.
 */

#include "xsmc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define XSIOT_RTC_BYTES 1024 /* same size as on ESP32 */

static uint8_t gRtc[XSIOT_RTC_BYTES];

static void rtcRange(xsMachine *the, int writable, void **bytes, xsUnsignedValue *length, xsIntegerValue *offset)
{
	*offset = xsmcToInteger(xsArg(0));
	if (writable)
		xsmcGetBufferWritable(xsArg(1), bytes, length);
	else
		xsmcGetBufferReadable(xsArg(1), bytes, length);
	if ((*offset < 0) || (*offset > XSIOT_RTC_BYTES) || (*length > (xsUnsignedValue)(XSIOT_RTC_BYTES - *offset)))
		xsRangeError("rtc: range outside the region");
}

void xs_xsiot_rtc_byte_length(xsMachine *the)
{
	xsmcSetInteger(xsResult, XSIOT_RTC_BYTES);
}

void xs_xsiot_rtc_read(xsMachine *the)
{
	void *bytes;
	xsUnsignedValue length;
	xsIntegerValue offset;
	rtcRange(the, 1, &bytes, &length, &offset);
	memcpy(bytes, gRtc + offset, length);
}

void xs_xsiot_rtc_write(xsMachine *the)
{
	void *bytes;
	xsUnsignedValue length;
	xsIntegerValue offset;
	rtcRange(the, 0, &bytes, &length, &offset);
	memcpy(gRtc + offset, bytes, length);
}

void xs_xsiot_deep_sleep(xsMachine *the)
{
	double us = xsmcToNumber(xsArg(0));
	if (!(us >= 1) || (us > 9007199254740991.0))
		xsRangeError("deepSleep: duration out of range");
	xsUnknownError("deepSleep: not available in the simulator (a device would sleep now and boot again)");
}

void xs_xsiot_light_sleep(xsMachine *the)
{
	double us = xsmcToNumber(xsArg(0));
	if (!(us >= 1) || (us > 9007199254740991.0))
		xsRangeError("lightSleep: duration out of range");
	xsmcSetString(xsResult, "deferred");
}

void xs_xsiot_set_wake_pins(xsMachine *the)
{
	int level = xsmcToInteger(xsArg(2));
	(void)xsmcToInteger(xsArg(0));
	(void)xsmcToInteger(xsArg(1));
	if ((level != 0) && (level != 1))
		xsRangeError("setWakePins: level must be 0 or 1");
}

void xs_xsiot_restart(xsMachine *the)
{
	xsUnknownError("restart: not available in the simulator (a device would reset now)");
}

void xs_xsiot_wake_cause(xsMachine *the)
{
	xsmcSetString(xsResult, "power-on");
}

void xs_xsiot_random_fill(xsMachine *the)
{
	void *bytes;
	xsUnsignedValue length;
	xsUnsignedValue done = 0;
	xsmcGetBufferWritable(xsArg(0), &bytes, &length);
	while (done < length) {
		ssize_t n = getrandom((uint8_t *)bytes + done, length - done, 0);
		if (n < 0) {
			if (EINTR == errno)
				continue;
			xsUnknownError("randomFill: getrandom failed");
		}
		done += (xsUnsignedValue)n;
	}
}
