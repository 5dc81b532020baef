/*
 * mqtt_vpn_idf.h: mqtt-vpn (IP over MQTT for lwIP) as an ESP-IDF component.
 *
 * The ESP32 C API of the original library:
 *
 *   mqtt_if_data *mqtt_vpn_if_init(char *broker_uri, char *user,
 *                                  char *broker_password, char *topic_pre,
 *                                  char *password, ip4_addr_t ipaddr,
 *                                  ip4_addr_t netmask, ip4_addr_t gw);
 *   void mqtt_if_add_wildcard_reading_topic(mqtt_if_data *);
 *
 * plus the interface-control functions of mqttif.h (they return an
 * mqtt_if_result where the original returned void; callers that ignore it
 * compile unchanged).
 *
 * Why mqtt_vpn_if_init is a macro here: the Rust library's C ABI
 * (mqttif.h) already exports a function mqtt_vpn_if_init, with uint32_t
 * addresses and without a platform. C has no overloading, and passing an
 * ip4_addr_t (a struct) by value is not guaranteed to be passed like a
 * uint32_t on every calling convention, so the component never lets a
 * struct reach the Rust symbol. Instead mqttif.h is included first (its
 * declaration of the Rust function is seen unchanged; its include guard
 * keeps it from being read again), and then mqtt_vpn_if_init becomes a
 * function-like macro naming mqtt_vpn_idf_if_init, a C function of this
 * component taking ip4_addr_t by value (C to C, one compiler, one ABI). It
 * registers the platform (this component's lwIP socket transport plus the
 * lwIP netif shim), starts the FreeRTOS task that drives the library, and
 * calls the Rust mqtt_vpn_if_init with ipaddr.addr etc. under the lwIP core
 * lock. The Rust function stays reachable as (mqtt_vpn_if_init)(...): a
 * parenthesised name is not a macro call. Define MQTT_VPN_IDF_NO_COMPAT
 * before including this header to keep the name for the Rust function.
 *
 * Threading: the library is only entered with the lwIP core lock held (or
 * in the tcpip thread). The component's own task does that; application
 * code that calls the control functions (mqtt_if_set_*, mqtt_if_add_*,
 * mqtt_if_del...) after init must wrap them in mqtt_vpn_idf_lock() /
 * mqtt_vpn_idf_unlock() (LOCK_TCPIP_CORE, needs
 * CONFIG_LWIP_TCPIP_CORE_LOCKING=y; without it the calls must run in the
 * tcpip thread, e.g. via tcpip_callback()).
 *
 * One interface at a time: a second init before mqtt_if_del() returns NULL.
 */
#ifndef MQTT_VPN_IDF_H
#define MQTT_VPN_IDF_H

#include "lwip/ip4_addr.h"
#include "mqttif.h"
#include "mqtt_vpn_netif.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The spec's mqtt_vpn_if_init: broker URI "mqtt://host[:port]", broker
 * login (NULL for none), topic prefix (NULL: "mqttip"), VPN password (NULL
 * or "": plain mode), addresses as lwIP ip4_addr_t. NULL on failure. */
mqtt_if_data *mqtt_vpn_idf_if_init(const char *broker_uri, const char *user,
                                   const char *broker_password,
                                   const char *topic_pre, const char *password,
                                   ip4_addr_t ipaddr, ip4_addr_t netmask,
                                   ip4_addr_t gw);

/* The lwIP core lock, for application calls into the library after init.
 * No-ops when lwIP is built without core locking. */
void mqtt_vpn_idf_lock(void);
void mqtt_vpn_idf_unlock(void);

#ifdef __cplusplus
}
#endif

#ifndef MQTT_VPN_IDF_NO_COMPAT
#define mqtt_vpn_if_init(broker_uri, user, broker_password, topic_pre,      \
                         password, ipaddr, netmask, gw)                     \
  mqtt_vpn_idf_if_init((broker_uri), (user), (broker_password), (topic_pre), \
                       (password), (ipaddr), (netmask), (gw))
#endif

#endif /* MQTT_VPN_IDF_H */
