/* Stand-in for lwIP's tcpip.h as arduino-esp32 has it (core locking itself
 * comes from lwipopts.h, stubbed next to this). */
#pragma once
#define LOCK_TCPIP_CORE() mqtt_vpn_test_lock()
#define UNLOCK_TCPIP_CORE() mqtt_vpn_test_unlock()
