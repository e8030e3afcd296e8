/*
 * xs-iot native module for ESP32 (all chips the manifest lists: ESP32, -C3, -S3).
 *
 * BUILT ON PAPER: there is no ESP-IDF toolchain where this was written, so this
 * file has never been compiled. It is kept tiny on purpose, and every ESP-IDF
 * call names the documentation it relies on (ESP-IDF v5.x, the series Moddable
 * SDK 8 builds with). The Linux twin (../lin/native.c) has the same functions
 * and is compiled and run in the Moddable simulator.
 *
 * Functions (declared in ../native.js, typed in ../native.d.ts):
 *   rtcByteLength() -> number
 *   rtcRead(offset, Uint8Array), rtcWrite(offset, Uint8Array)   bounds-checked
 *   deepSleep(microseconds)   timer wake-up (and the wake pins), then deep sleep; does not return
 *   lightSleep(microseconds)  Wi-Fi stopped, timer wake-up (and the wake pins), light sleep,
 *                             Wi-Fi started again; returns "timer" or "pin"
 *   setWakePins(maskLow, maskHigh, level)   the GPIOs that end a light or deep sleep
 *   restart()                 software reset; does not return
 *   wakeCause() -> "power-on" | "deep-sleep" | "restart" | "watchdog" | "external"
 *   randomFill(Uint8Array)    hardware RNG
 */

#include "xsmc.h"
#include "xsHost.h"

#include <string.h>

#include "esp_attr.h"     /* RTC_NOINIT_ATTR: api-reference/system/mem_alloc + api-guides/memory-types "RTC slow memory" */
#include "esp_sleep.h"    /* api-reference/system/sleep_modes */
#include "esp_system.h"   /* esp_restart, esp_reset_reason: api-reference/system/misc_system_api */
#include "esp_random.h"   /* esp_fill_random: api-reference/system/random */
#include "esp_wifi.h"     /* esp_wifi_stop/esp_wifi_start: api-reference/network/esp_wifi */
#include "driver/gpio.h"  /* gpio_wakeup_enable: api-reference/peripherals/gpio */
#include "soc/soc_caps.h" /* SOC_PM_SUPPORT_EXT1_WAKEUP, SOC_GPIO_SUPPORT_DEEPSLEEP_WAKEUP */

#define XSIOT_RTC_BYTES 1024
#define XSIOT_RTC_MAGIC 0x78736931u /* "xsi1": marks the region as initialised by us */

/*
 * RTC_NOINIT_ATTR places the data in RTC memory and the startup code leaves it
 * alone on every reset (api-guides/memory-types: "RTC_NOINIT_ATTR ... not
 * initialized by the bootloader or application"), so it survives deep sleep AND
 * esp_restart(). (RTC_DATA_ATTR would survive deep sleep only: it is
 * re-initialised on every other restart, api-guides/deep-sleep-stub.)
 * After power-on its content is random, hence the magic word and the explicit
 * clear below.
 */
typedef struct {
	uint32_t magic;
	uint8_t data[XSIOT_RTC_BYTES];
} xsiotRtcRegion;

static RTC_NOINIT_ATTR xsiotRtcRegion gRtc;
static uint8_t gRtcChecked = 0;

static xsiotRtcRegion *rtcRegion(void)
{
	if (!gRtcChecked) {
		/* esp_reset_reason(): api-reference/system/misc_system_api "Reset Reason" */
		esp_reset_reason_t reason = esp_reset_reason();
		if ((XSIOT_RTC_MAGIC != gRtc.magic) || (ESP_RST_POWERON == reason) || (ESP_RST_BROWNOUT == reason)) {
			memset(gRtc.data, 0, sizeof(gRtc.data));
			gRtc.magic = XSIOT_RTC_MAGIC;
		}
		gRtcChecked = 1;
	}
	return &gRtc;
}

/* Validates offset and the buffer argument; returns the buffer's bytes. */
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
	memcpy(bytes, rtcRegion()->data + offset, length);
}

void xs_xsiot_rtc_write(xsMachine *the)
{
	void *bytes;
	xsUnsignedValue length;
	xsIntegerValue offset;
	rtcRange(the, 0, &bytes, &length, &offset);
	memcpy(rtcRegion()->data + offset, bytes, length);
}

void xs_xsiot_deep_sleep(xsMachine *the)
{
	double us = xsmcToNumber(xsArg(0));
	if (!(us >= 1) || (us > 9007199254740991.0))
		xsRangeError("deepSleep: duration out of range");
	rtcRegion(); /* keep the magic valid so the region is trusted on wake */
	/*
	 * esp_sleep_enable_timer_wakeup(uint64_t time_in_us): api-reference/system/sleep_modes
	 * "Timer"; returns ESP_ERR_INVALID_ARG when the value is out of range.
	 */
	if (ESP_OK != esp_sleep_enable_timer_wakeup((uint64_t)us))
		xsRangeError("deepSleep: duration rejected by esp_sleep_enable_timer_wakeup");
	armWakePins(the, 1);
	/* esp_deep_sleep_start(): "This function does not return." (sleep_modes "Entering deep sleep") */
	esp_deep_sleep_start();
}

/* The wake pins set by setWakePins (a GPIO bit mask and the level), armed before each sleep. */
static uint64_t gWakeMask = 0;
static int gWakeLevel = 0;

/*
 * Arms the wake pins for the next sleep (sleep_modes "Wakeup Sources"):
 * - deep sleep: EXT1 on chips that have it (ESP32, -S3: RTC GPIOs only;
 *   esp_sleep_enable_ext1_wakeup(mask, mode), ESP_EXT1_WAKEUP_ANY_HIGH for level 1,
 *   ESP_EXT1_WAKEUP_ALL_LOW for level 0, which with one pin is "that pin low"); on the
 *   ESP32-C3 the deep-sleep GPIO wake-up (esp_deep_sleep_enable_gpio_wakeup(mask, mode),
 *   GPIO0-5, ESP_GPIO_WAKEUP_GPIO_HIGH/LOW).
 * - light sleep: the GPIO wake-up of any pin (gpio_wakeup_enable(pin, level interrupt) for
 *   each, then esp_sleep_enable_gpio_wakeup()).
 * An error from ESP-IDF (a pin the chip cannot wake on) is a RangeError; nothing sleeps then.
 */
static void armWakePins(xsMachine *the, int deep)
{
	if (!gWakeMask)
		return;
	if (deep) {
#if SOC_PM_SUPPORT_EXT1_WAKEUP
		if (ESP_OK != esp_sleep_enable_ext1_wakeup(gWakeMask, gWakeLevel ? ESP_EXT1_WAKEUP_ANY_HIGH : ESP_EXT1_WAKEUP_ALL_LOW))
			xsRangeError("setWakePins: EXT1 refused a pin (RTC GPIOs only)");
#elif SOC_GPIO_SUPPORT_DEEPSLEEP_WAKEUP
		if (ESP_OK != esp_deep_sleep_enable_gpio_wakeup(gWakeMask, gWakeLevel ? ESP_GPIO_WAKEUP_GPIO_HIGH : ESP_GPIO_WAKEUP_GPIO_LOW))
			xsRangeError("setWakePins: deep-sleep GPIO wake-up refused a pin");
#else
		xsRangeError("setWakePins: this chip has no pin wake-up from deep sleep");
#endif
		return;
	}
	for (int pin = 0; pin < 64; pin++) {
		if (!(gWakeMask & ((uint64_t)1 << pin)))
			continue;
		if (ESP_OK != gpio_wakeup_enable((gpio_num_t)pin, gWakeLevel ? GPIO_INTR_HIGH_LEVEL : GPIO_INTR_LOW_LEVEL))
			xsRangeError("setWakePins: gpio_wakeup_enable refused a pin");
	}
	if (ESP_OK != esp_sleep_enable_gpio_wakeup())
		xsRangeError("setWakePins: esp_sleep_enable_gpio_wakeup failed");
}

void xs_xsiot_set_wake_pins(xsMachine *the)
{
	uint32_t low = (uint32_t)xsmcToInteger(xsArg(0));
	uint32_t high = (uint32_t)xsmcToInteger(xsArg(1));
	int level = xsmcToInteger(xsArg(2));
	if ((level != 0) && (level != 1))
		xsRangeError("setWakePins: level must be 0 or 1");
	uint64_t mask = ((uint64_t)high << 32) | low;
	for (int pin = 0; pin < 64; pin++)
		if ((mask & ((uint64_t)1 << pin)) && !GPIO_IS_VALID_GPIO(pin)) /* driver/gpio.h */
			xsRangeError("setWakePins: not a GPIO of this chip");
	gWakeMask = mask;
	gWakeLevel = level;
}

void xs_xsiot_light_sleep(xsMachine *the)
{
	double us = xsmcToNumber(xsArg(0));
	if (!(us >= 1) || (us > 9007199254740991.0))
		xsRangeError("lightSleep: duration out of range");
	/*
	 * sleep_modes "Wi-Fi/Bluetooth and Sleep Modes": the radio is not kept through a light sleep
	 * entered with esp_light_sleep_start(); stop Wi-Fi first (an error when it was not started
	 * is fine) and start it again after. The app has closed its links before; Moddable's Wi-Fi
	 * then associates again when the app opens them.
	 */
	int wifi = (ESP_OK == esp_wifi_stop());
	if (ESP_OK != esp_sleep_enable_timer_wakeup((uint64_t)us))
		xsRangeError("lightSleep: duration rejected by esp_sleep_enable_timer_wakeup");
	armWakePins(the, 0);
	/* esp_light_sleep_start(): returns after the wake-up (sleep_modes "Entering Light-sleep") */
	esp_light_sleep_start();
	esp_sleep_wakeup_cause_t cause = esp_sleep_get_wakeup_cause();
	/* the timer stays armed otherwise: a later deep sleep re-arms its own */
	esp_sleep_disable_wakeup_source(ESP_SLEEP_WAKEUP_TIMER);
	if (wifi)
		esp_wifi_start();
	xsmcSetString(xsResult, (ESP_SLEEP_WAKEUP_GPIO == cause || ESP_SLEEP_WAKEUP_EXT1 == cause) ? "pin" : "timer");
}

void xs_xsiot_restart(xsMachine *the)
{
	rtcRegion();
	/* esp_restart(): misc_system_api "Software reset"; does not return. */
	esp_restart();
}

void xs_xsiot_wake_cause(xsMachine *the)
{
	const char *cause = "power-on";
	/* esp_sleep_get_wakeup_cause(): sleep_modes "Checking Sleep Wakeup Cause";
	   ESP_SLEEP_WAKEUP_UNDEFINED when the reset was not a wake from sleep. */
	esp_sleep_wakeup_cause_t wake = esp_sleep_get_wakeup_cause();
	if (ESP_SLEEP_WAKEUP_TIMER == wake)
		cause = "deep-sleep";
	else if (ESP_SLEEP_WAKEUP_UNDEFINED != wake)
		cause = "external"; /* EXT0/EXT1/GPIO/touch/ULP wake sources */
	else {
		/* esp_reset_reason(): misc_system_api, enum esp_reset_reason_t */
		switch (esp_reset_reason()) {
			case ESP_RST_DEEPSLEEP: cause = "deep-sleep"; break;
			case ESP_RST_SW: cause = "restart"; break;
			case ESP_RST_PANIC: cause = "restart"; break; /* the panic handler restarts the chip */
			case ESP_RST_INT_WDT:
			case ESP_RST_TASK_WDT:
			case ESP_RST_WDT: cause = "watchdog"; break;
			case ESP_RST_EXT: cause = "external"; break;
			default: cause = "power-on"; break; /* POWERON, BROWNOUT, SDIO, UNKNOWN */
		}
	}
	xsmcSetString(xsResult, (char *)cause);
}

void xs_xsiot_random_fill(xsMachine *the)
{
	void *bytes;
	xsUnsignedValue length;
	xsmcGetBufferWritable(xsArg(0), &bytes, &length);
	/* esp_fill_random(void *buf, size_t len): api-reference/system/random; true random
	   numbers while Wi-Fi or Bluetooth is on, otherwise see that page's caveat. */
	esp_fill_random(bytes, length);
}
