/* lwip/napt.h stub: the ESP8266 core's NAPT API (see README.md). */
#ifndef STUB_LWIP_NAPT_H
#define STUB_LWIP_NAPT_H

#include "lwip/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The core defines IP_NAPT as LWIP_FEATURES && !LWIP_IPV6: the IPv6 lwIP
 * variant has no NAPT and declares none of it. -DIP_NAPT=0 plays that. */
#ifndef IP_NAPT
#define IP_NAPT 1
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
