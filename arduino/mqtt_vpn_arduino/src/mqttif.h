/*
 * mqttif.h: the Arduino face of mqtt-vpn (IP over MQTT for lwIP).
 *
 * Sketches include this header and call the API of the original ESP8266
 * library (docs/c-api.md of the mqtt-vpn crate, section "Arduino"): the
 * three mqtt_if_init() forms taking IPAddress, and the interface-control
 * functions, handle first, returning void. Sketches written for the
 * original compile unchanged: the same names, argument types (char * or
 * const char *) and return types, so a control function may also be called
 * in `return f(...);` of a void function or stored in a function pointer of
 * the original's type.
 *
 * Underneath is the library's C ABI, mqttif_c.h: in the repository a link to
 * the generated include/mqttif.h, in the zip a copy of it
 * (scripts/package-arduino.sh). In C++ this header puts the C ABI into the
 * namespace mqtt_vpn_c and brings back to the global namespace what does not
 * clash with the original API: the types, the result codes and the C
 * functions the original has no form of (mqtt_if_tick, mqtt_if_set_ip6addr,
 * mqtt_if_get_stats, the wire functions, ...). Where the original returned
 * void and the C ABI returns an mqtt_if_result, the global name is a void
 * function here; the result is one qualified name away:
 *
 *   if (mqtt_vpn_c::mqtt_if_set_mtu(my_if, 1400) != MQTT_IF_OK) ...
 *
 * The C ABI's own init forms (mqtt_if_init with a uint32_t address,
 * mqtt_if_init_auth, mqtt_if_init_full, mqtt_vpn_if_init) skip the Arduino
 * setup below, so they are only reachable as mqtt_vpn_c::...; a uint32_t
 * address given to mqtt_if_init() converts to IPAddress.
 *
 * mqtt_if_init() also registers the platform table (the Arduino WiFiClient
 * transport of mqtt_vpn_transport.cpp plus the lwIP netif of
 * mqtt_vpn_netif.c, a link to the repository's shim/) and starts the
 * ticker that drives the library, so a sketch needs nothing in loop(). One
 * interface at a time.
 *
 * No other global name comes from this header: its helpers live in the
 * namespace mqtt_vpn_detail, so a sketch may name its globals as the
 * original's examples do (mqtt_vpn_addr, my_if, broker, ...).
 *
 * This header is also included from C (mqtt_vpn_netif.c); there it is just
 * the C ABI.
 */
#ifndef MQTT_VPN_ARDUINO_MQTTIF_H
#define MQTT_VPN_ARDUINO_MQTTIF_H

#ifndef __cplusplus

#include "mqttif_c.h"

/* lwIP's DNS servers (global in lwIP); defined by mqtt_vpn_netif.c. */
void mqtt_if_clear_dns(void);
void mqtt_if_add_dns(uint32_t addr);

#else /* C++ */

#ifdef MQTTIF_H
#error "in C++ include <mqttif.h>, which includes mqttif_c.h itself, not mqttif_c.h"
#endif

/* What mqttif_c.h includes, at global scope before it goes into the
 * namespace (their include guards keep them out of it). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <type_traits>

#include <IPAddress.h>

/* The handle type stays global, so that argument-dependent lookup of a call
 * on a handle finds the global (void) control functions only. */
struct mqtt_if_data;

namespace mqtt_vpn_c {
using ::mqtt_if_data;
#include "mqttif_c.h"
} /* namespace mqtt_vpn_c */

extern "C" {
/* lwIP's DNS servers (global in lwIP); defined by mqtt_vpn_netif.c. */
void mqtt_if_clear_dns(void);
void mqtt_if_add_dns(uint32_t addr);
}

/* ---- the C ABI's names that the original API does not have ---- */

using mqtt_vpn_c::mqtt_if_config;
using mqtt_vpn_c::mqtt_if_drop_reason;
using mqtt_vpn_c::mqtt_if_platform;
using mqtt_vpn_c::mqtt_if_result;
using mqtt_vpn_c::mqtt_if_stats;

using mqtt_vpn_c::MQTT_IF_OK;
using mqtt_vpn_c::MQTT_IF_ERR_NULL;
using mqtt_vpn_c::MQTT_IF_ERR_UTF8;
using mqtt_vpn_c::MQTT_IF_ERR_TOO_LONG;
using mqtt_vpn_c::MQTT_IF_ERR_INVALID_PREFIX;
using mqtt_vpn_c::MQTT_IF_ERR_INVALID_ARGUMENT;
using mqtt_vpn_c::MQTT_IF_ERR_NO_PLATFORM;
using mqtt_vpn_c::MQTT_IF_ERR_ATTACH;
using mqtt_vpn_c::MQTT_IF_ERR_BUSY;
using mqtt_vpn_c::MQTT_IF_ERR_NOT_CONNECTED;
using mqtt_vpn_c::MQTT_IF_ERR_DROPPED;
using mqtt_vpn_c::MQTT_IF_ERR_STATE;
using mqtt_vpn_c::MQTT_IF_ERR_PANIC;
using mqtt_vpn_c::MQTT_IF_ERR_INVALID_ADDRESS;
using mqtt_vpn_c::MQTT_IF_ERR_BUFFER_TOO_SMALL;
using mqtt_vpn_c::MQTT_IF_ERR_TOO_SHORT;
using mqtt_vpn_c::MQTT_IF_ERR_FORGED;
using mqtt_vpn_c::MQTT_IF_ERR_NOT_V2;
using mqtt_vpn_c::MQTT_IF_ERR_RANDOM;

using mqtt_vpn_c::MQTT_IF_DROP_MALFORMED;
using mqtt_vpn_c::MQTT_IF_DROP_MULTICAST_NOT_CARRIED;
using mqtt_vpn_c::MQTT_IF_DROP_TOO_LARGE;
using mqtt_vpn_c::MQTT_IF_DROP_BUFFER_TOO_SMALL;
using mqtt_vpn_c::MQTT_IF_DROP_UNKNOWN_TOPIC;
using mqtt_vpn_c::MQTT_IF_DROP_TOO_SHORT;
using mqtt_vpn_c::MQTT_IF_DROP_DECRYPT_FAILED;
using mqtt_vpn_c::MQTT_IF_DROP_REPLAYED;
using mqtt_vpn_c::MQTT_IF_DROP_TOO_OLD;
using mqtt_vpn_c::MQTT_IF_DROP_WRONG_VERSION;
using mqtt_vpn_c::MQTT_IF_DROP_NO_BOOT_ID;
using mqtt_vpn_c::MQTT_IF_DROP_NOT_FOR_THIS_NODE;
using mqtt_vpn_c::MQTT_IF_DROP_SENDER_TABLE_FULL;

using mqtt_vpn_c::mqtt_if_del;
using mqtt_vpn_c::mqtt_if_drop_reason_str;
using mqtt_vpn_c::mqtt_if_get_stats;
using mqtt_vpn_c::mqtt_if_is_connected;
using mqtt_vpn_c::mqtt_if_key_v1;
using mqtt_vpn_c::mqtt_if_key_v2;
using mqtt_vpn_c::mqtt_if_new;
using mqtt_vpn_c::mqtt_if_open_v1;
using mqtt_vpn_c::mqtt_if_open_v2;
using mqtt_vpn_c::mqtt_if_output;
using mqtt_vpn_c::mqtt_if_output6;
using mqtt_vpn_c::mqtt_if_result_str;
using mqtt_vpn_c::mqtt_if_seal_v1;
using mqtt_vpn_c::mqtt_if_seal_v2;
using mqtt_vpn_c::mqtt_if_set_ip6addr;
using mqtt_vpn_c::mqtt_if_set_keepalive;
using mqtt_vpn_c::mqtt_if_set_platform;
using mqtt_vpn_c::mqtt_if_tcp_closed;
using mqtt_vpn_c::mqtt_if_tcp_connected;
using mqtt_vpn_c::mqtt_if_tcp_received;
using mqtt_vpn_c::mqtt_if_tick;

namespace mqtt_vpn_detail {
/* Registers the platform table and starts the ticker; false if the table
 * was refused. Called by every mqtt_if_init() form; defined in
 * mqtt_vpn_transport.cpp. */
bool begin_port(void);
/* Hands the new interface (or NULL) to the ticker. */
mqtt_if_data *port_started(mqtt_if_data *mq);

/* IPAddress as the C ABI wants it: lwIP byte order (network order in
 * memory), which is what IPAddress's uint32_t conversion gives. */
inline uint32_t addr(const IPAddress &address) { return (uint32_t)address; }

/* The char * forms (the original's parameter types) are templates taking
 * C = char only: they win over the const char * forms exactly when every
 * string argument is a char *, and never make a NULL argument ambiguous. */
template <typename C>
using if_char = typename std::enable_if<std::is_same<C, char>::value, int>::type;
} /* namespace mqtt_vpn_detail */

/* ---- the original API ---- */

/* Broker host (port 1883), interface address, VPN password ("" for plain).
 * Prefix "mqttip", netmask 255.255.255.0, no gateway. NULL on failure. */
inline mqtt_if_data *mqtt_if_init(const char *broker, IPAddress ipaddr,
                                  const char *password) {
  if (!mqtt_vpn_detail::begin_port()) {
    return NULL;
  }
  return mqtt_vpn_detail::port_started(mqtt_vpn_c::mqtt_if_init(
      broker, mqtt_vpn_detail::addr(ipaddr), password));
}

template <typename C, mqtt_vpn_detail::if_char<C> = 0>
inline mqtt_if_data *mqtt_if_init(C *broker, IPAddress ipaddr, C *password) {
  return mqtt_if_init((const char *)broker, ipaddr, (const char *)password);
}

/* The same with a broker login. */
inline mqtt_if_data *mqtt_if_init(const char *broker, const char *user,
                                  const char *broker_password,
                                  IPAddress ipaddr, const char *password) {
  if (!mqtt_vpn_detail::begin_port()) {
    return NULL;
  }
  return mqtt_vpn_detail::port_started(
      mqtt_vpn_c::mqtt_if_init_auth(broker, user, broker_password,
                                    mqtt_vpn_detail::addr(ipaddr), password));
}

template <typename C, mqtt_vpn_detail::if_char<C> = 0>
inline mqtt_if_data *mqtt_if_init(C *broker, C *user, C *broker_password,
                                  IPAddress ipaddr, C *password) {
  return mqtt_if_init((const char *)broker, (const char *)user,
                      (const char *)broker_password, ipaddr,
                      (const char *)password);
}

/* Everything: port, topic prefix, netmask and gateway too. */
inline mqtt_if_data *mqtt_if_init(const char *broker, const char *user,
                                  const char *broker_password, int port,
                                  const char *topic_pre, const char *password,
                                  IPAddress ipaddr, IPAddress netmask,
                                  IPAddress gw) {
  if (!mqtt_vpn_detail::begin_port()) {
    return NULL;
  }
  return mqtt_vpn_detail::port_started(mqtt_vpn_c::mqtt_if_init_full(
      broker, user, broker_password, port, topic_pre, password,
      mqtt_vpn_detail::addr(ipaddr), mqtt_vpn_detail::addr(netmask),
      mqtt_vpn_detail::addr(gw)));
}

template <typename C, mqtt_vpn_detail::if_char<C> = 0>
inline mqtt_if_data *mqtt_if_init(C *broker, C *user, C *broker_password,
                                  int port, C *topic_pre, C *password,
                                  IPAddress ipaddr, IPAddress netmask,
                                  IPAddress gw) {
  return mqtt_if_init((const char *)broker, (const char *)user,
                      (const char *)broker_password, port,
                      (const char *)topic_pre, (const char *)password, ipaddr,
                      netmask, gw);
}

/* mqtt_if_del(mqtt_if_data *) is the C ABI's own (it returns void there
 * too); mqtt_if_clear_dns() and mqtt_if_add_dns(uint32_t) are declared
 * above. */

/* Also reads <prefix>/<addr>: a LAN host this node routes for. */
inline void mqtt_if_add_reading_topic(mqtt_if_data *mq, IPAddress addr) {
  (void)mqtt_vpn_c::mqtt_if_add_reading_topic(mq, mqtt_vpn_detail::addr(addr));
}

/* Also reads <prefix>/#: everything under the prefix (the original ESP32
 * library's call). */
inline void mqtt_if_add_wildcard_reading_topic(mqtt_if_data *mq) {
  (void)mqtt_vpn_c::mqtt_if_add_wildcard_reading_topic(mq);
}

/* Forgets the extra reading topics. */
inline void mqtt_if_flush_reading_topic(mqtt_if_data *mq) {
  (void)mqtt_vpn_c::mqtt_if_flush_reading_topic(mq);
}

/* Subscribes the reading topics (the default after init). */
inline void mqtt_if_subscribe(mqtt_if_data *mq) {
  (void)mqtt_vpn_c::mqtt_if_subscribe(mq);
}

/* Unsubscribes them until mqtt_if_subscribe(). */
inline void mqtt_if_unsubscribe(mqtt_if_data *mq) {
  (void)mqtt_vpn_c::mqtt_if_unsubscribe(mq);
}

/* Replaces the VPN password (NULL or "": plain mode). */
inline void mqtt_if_set_password(mqtt_if_data *mq, const char *password) {
  (void)mqtt_vpn_c::mqtt_if_set_password(mq, password);
}

template <typename C, mqtt_vpn_detail::if_char<C> = 0>
inline void mqtt_if_set_password(mqtt_if_data *mq, C *password) {
  mqtt_if_set_password(mq, (const char *)password);
}

/* Moves the interface to addr (lwIP byte order; an IPAddress converts). */
inline void mqtt_if_set_ipaddr(mqtt_if_data *mq, uint32_t addr) {
  (void)mqtt_vpn_c::mqtt_if_set_ipaddr(mq, addr);
}

/* Sets the netmask (lwIP byte order). */
inline void mqtt_if_set_netmask(mqtt_if_data *mq, uint32_t addr) {
  (void)mqtt_vpn_c::mqtt_if_set_netmask(mq, addr);
}

/* Sets the gateway (lwIP byte order). */
inline void mqtt_if_set_gw(mqtt_if_data *mq, uint32_t addr) {
  (void)mqtt_vpn_c::mqtt_if_set_gw(mq, addr);
}

/* Brings the netif up. */
inline void mqtt_if_set_up(mqtt_if_data *mq) {
  (void)mqtt_vpn_c::mqtt_if_set_up(mq);
}

/* Takes the netif down (the broker connection stays). */
inline void mqtt_if_set_down(mqtt_if_data *mq) {
  (void)mqtt_vpn_c::mqtt_if_set_down(mq);
}

/* Sets the MTU (68 to 1500). */
inline void mqtt_if_set_mtu(mqtt_if_data *mq, int mtu) {
  (void)mqtt_vpn_c::mqtt_if_set_mtu(mq, mtu);
}

/* Sets lwIP NETIF_FLAG_* bits on the netif. */
inline void mqtt_if_set_flag(mqtt_if_data *mq, int flag) {
  (void)mqtt_vpn_c::mqtt_if_set_flag(mq, flag);
}

/* Clears lwIP NETIF_FLAG_* bits on the netif. */
inline void mqtt_if_clear_flag(mqtt_if_data *mq, int flag) {
  (void)mqtt_vpn_c::mqtt_if_clear_flag(mq, flag);
}

/*
 * Beyond the original API, IPv6 (an lwIP built with LWIP_IPV6):
 *
 *   mqtt_if_set_ip6addr(mq, "fd00::2");
 *
 * gives the interface an IPv6 address beside its IPv4 one; the node then
 * reads <prefix>/fd00::2 and <prefix>/ff02::1, and lwIP's IPv6 packets go
 * out through mqtt_if_output6(). "::" removes the address again.
 */

#endif /* __cplusplus */

#endif /* MQTT_VPN_ARDUINO_MQTTIF_H */
