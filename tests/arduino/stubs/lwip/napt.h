/* lwip/napt.h stub: the ESP8266 core's NAPT API (see README.md). */
#ifndef STUB_LWIP_NAPT_H
#define STUB_LWIP_NAPT_H

#include "lwip/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The core's lwipopts.h: IP_NAPT is (LWIP_FEATURES && !LWIP_IPV6), the two
 * set by the board's "lwIP Variant" menu, and its napt.h declares nothing
 * without IP_NAPT. The host's lwIP always has IPv6, so the variant comes
 * from MQTT_VPN_TEST_LWIP_FEATURES and MQTT_VPN_TEST_LWIP_IPV6 (default:
 * the board default, "v2 Lower Memory": features on, IPv6 off). */
#ifndef MQTT_VPN_TEST_LWIP_FEATURES
#define MQTT_VPN_TEST_LWIP_FEATURES 1
#endif
#ifndef MQTT_VPN_TEST_LWIP_IPV6
#define MQTT_VPN_TEST_LWIP_IPV6 0
#endif
#ifndef IP_NAPT
#define IP_NAPT (MQTT_VPN_TEST_LWIP_FEATURES && !MQTT_VPN_TEST_LWIP_IPV6)
#endif

#if IP_NAPT
err_t ip_napt_init(uint16_t max_nat, uint8_t max_portmap);
err_t ip_napt_enable(uint32_t addr, int enable);
err_t ip_napt_enable_no(uint8_t number, int enable);
#endif

#ifdef __cplusplus
}
#endif

#endif
