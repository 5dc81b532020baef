/* Debian's lwipopts.h with core locking on or off as the test asks
 * (MQTT_VPN_TEST_CORE_LOCKING), as arduino-esp32's sdkconfig sets it. */
#include_next <lwipopts.h>
#undef LWIP_TCPIP_CORE_LOCKING
#define LWIP_TCPIP_CORE_LOCKING MQTT_VPN_TEST_CORE_LOCKING
