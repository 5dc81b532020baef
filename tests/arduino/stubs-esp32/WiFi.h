/* Stand-in for arduino-esp32's WiFi.h in the preprocessing test of the
 * transport (tests/arduino_library.rs): the ESP8266 stubs' client. */
#pragma once
#include "WiFiClient.h"
