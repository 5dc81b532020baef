/*
 * mqttif.h: the Arduino face of mqtt-vpn (IP over MQTT for lwIP).
 *
 * Sketches include this header and call the C++ API of the original ESP8266
 * library (see the README of the mqtt-vpn crate and its c-api.md): the three
 * mqtt_if_init() overloads take IPAddress, and the interface-control
 * functions take the handle first. Underneath is the library's C ABI,
 * mqttif_c.h, a verbatim copy of the generated include/mqttif.h (the
 * packaging script, scripts/package-arduino.sh, copies it; a test checks the
 * copy is current). C has no overloading, so the C ABI names the init forms
 * mqtt_if_init, mqtt_if_init_auth and mqtt_if_init_full; the overloads below
 * map onto them.
 *
 * The control functions of the C ABI return an mqtt_if_result where the
 * original returned void; sketches that ignore the value compile unchanged.
 * String arguments are const char *: a char * converts, and string literals
 * bind without ambiguity against the C forms.
 *
 * mqtt_if_init() also registers the platform table (the Arduino WiFiClient
 * transport of mqtt_vpn_transport.cpp plus the lwIP netif of
 * mqtt_vpn_netif.c) and starts the ticker that drives the library, so a
 * sketch needs nothing in loop(). One interface at a time.
 *
 * This header is also included from C (mqtt_vpn_netif.c); there it is just
 * the C ABI.
 */
#ifndef MQTT_VPN_ARDUINO_MQTTIF_H
#define MQTT_VPN_ARDUINO_MQTTIF_H

#include "mqttif_c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* lwIP's DNS servers (global in lwIP); defined by mqtt_vpn_netif.c. */
void mqtt_if_clear_dns(void);
void mqtt_if_add_dns(uint32_t addr);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus

#include <IPAddress.h>

/* Registers the platform table and starts the ticker; false if the table
 * was refused. Called by every mqtt_if_init() overload; defined in
 * mqtt_vpn_transport.cpp. */
bool mqtt_vpn_arduino_begin(void);
/* Hands the new interface (or NULL) to the ticker. */
mqtt_if_data *mqtt_vpn_arduino_started(mqtt_if_data *mq);

/* Helpers of this header live in their own namespace: the original
 * library's sketches use names such as `mqtt_vpn_addr` for their own
 * globals. */
namespace mqtt_vpn_detail {
/* IPAddress as the C ABI wants it: lwIP byte order (network order in
 * memory), which is what IPAddress's uint32_t conversion gives. */
inline uint32_t addr(const IPAddress &address) { return (uint32_t)address; }
} /* namespace mqtt_vpn_detail */

/* Broker host (port 1883), interface address, VPN password ("" for plain).
 * Prefix "mqttip", netmask 255.255.255.0, no gateway. NULL on failure. */
inline mqtt_if_data *mqtt_if_init(const char *broker, IPAddress ipaddr,
                                  const char *password) {
  if (!mqtt_vpn_arduino_begin()) {
    return NULL;
  }
  return mqtt_vpn_arduino_started(
      mqtt_if_init(broker, mqtt_vpn_detail::addr(ipaddr), password));
}

/* The same with a broker login. */
inline mqtt_if_data *mqtt_if_init(const char *broker, const char *user,
                                  const char *broker_password,
                                  IPAddress ipaddr, const char *password) {
  if (!mqtt_vpn_arduino_begin()) {
    return NULL;
  }
  return mqtt_vpn_arduino_started(mqtt_if_init_auth(
      broker, user, broker_password, mqtt_vpn_detail::addr(ipaddr), password));
}

/* Everything: port, topic prefix, netmask and gateway too. */
inline mqtt_if_data *mqtt_if_init(const char *broker, const char *user,
                                  const char *broker_password, int port,
                                  const char *topic_pre, const char *password,
                                  IPAddress ipaddr, IPAddress netmask,
                                  IPAddress gw) {
  if (!mqtt_vpn_arduino_begin()) {
    return NULL;
  }
  return mqtt_vpn_arduino_started(mqtt_if_init_full(
      broker, user, broker_password, port, topic_pre, password,
      mqtt_vpn_detail::addr(ipaddr), mqtt_vpn_detail::addr(netmask), mqtt_vpn_detail::addr(gw)));
}

/* Also reads <prefix>/<addr>: a LAN host this node routes for. */
inline void mqtt_if_add_reading_topic(mqtt_if_data *mq, IPAddress addr) {
  (void)mqtt_if_add_reading_topic(mq, mqtt_vpn_detail::addr(addr));
}

/*
 * The other control functions of the original API are the C ABI's own,
 * declared in mqttif_c.h with the same names and argument orders:
 *
 *   void mqtt_if_del(mqtt_if_data *);
 *   void mqtt_if_flush_reading_topic(mqtt_if_data *);
 *   void mqtt_if_subscribe(mqtt_if_data *);
 *   void mqtt_if_unsubscribe(mqtt_if_data *);
 *   void mqtt_if_set_password(mqtt_if_data *, char *password);
 *   void mqtt_if_set_ipaddr(mqtt_if_data *, uint32_t addr);
 *   void mqtt_if_set_netmask(mqtt_if_data *, uint32_t addr);
 *   void mqtt_if_set_gw(mqtt_if_data *, uint32_t addr);
 *   void mqtt_if_set_up(mqtt_if_data *);
 *   void mqtt_if_set_down(mqtt_if_data *);
 *   void mqtt_if_set_mtu(mqtt_if_data *, int mtu);
 *   void mqtt_if_set_flag(mqtt_if_data *, int flag);
 *   void mqtt_if_clear_flag(mqtt_if_data *, int flag);
 *   void mqtt_if_clear_dns(void);
 *   void mqtt_if_add_dns(uint32_t addr);
 *
 * (all but mqtt_if_del and the DNS pair return an mqtt_if_result that
 * may be ignored).
 *
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
