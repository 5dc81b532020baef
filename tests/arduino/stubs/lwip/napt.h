/* lwip/napt.h stub: the ESP8266 core's NAPT API (see README.md). */
#ifndef STUB_LWIP_NAPT_H
#define STUB_LWIP_NAPT_H

#include "lwip/err.h"

#ifdef __cplusplus
extern "C" {
#endif

err_t ip_napt_init(uint16_t max_nat, uint8_t max_portmap);
err_t ip_napt_enable_no(uint8_t number, int enable);

#ifdef __cplusplus
}
#endif

#endif
