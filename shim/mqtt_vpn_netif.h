/*
 * mqtt_vpn_netif.h: the lwIP network interface of an mqtt-vpn tunnel.
 *
 * Portable C99 against lwIP 2.x. The shim owns the lwIP `struct netif`:
 * it adds it when the library attaches an interface, sends what lwIP
 * routes to it through mqtt_if_output(), and feeds the packets the library
 * receives to lwIP. The TCP transport (tcp_connect/send/close), random and
 * log callbacks come from the port (WiFiClient on the ESP8266, POSIX
 * sockets in the host simulation).
 *
 * One copy for every port: the Arduino library's src/mqtt_vpn_netif.{c,h}
 * are symbolic links to this directory (scripts/package-arduino.sh puts the
 * files themselves into the zip), and the ESP-IDF component compiles it
 * from here. `#include "mqttif.h"` is the C ABI: the Arduino library's
 * mqttif.h (which includes its copy, mqttif_c.h) or the repository's
 * include/mqttif.h, whichever is on the include path.
 *
 * Use, on the lwIP thread:
 *
 *     static struct mqtt_vpn_netif vn;   // lives as long as the interface
 *     struct mqtt_vpn_netif_transport tr = {0};
 *     tr.tcp_connect = ...; tr.tcp_send = ...; tr.tcp_close = ...;
 *     tr.random = ...; tr.log = ...;     // the port's callbacks
 *     tr.detached = ...;                 // optional, after mqtt_if_del()
 *     if (mqtt_vpn_netif_register(&vn, &tr, &my_transport_state) ==
 *         MQTT_IF_OK) {
 *       struct mqtt_if_data *mq = mqtt_if_init(...);
 *     }
 *
 * Every platform callback receives the `struct mqtt_vpn_netif *` as its
 * port context; the transport finds its own state in `->transport`.
 *
 * IPv6 (lwIP built with LWIP_IPV6): after mqtt_if_set_ip6addr(mq, "fd00::2")
 * the netif has that address (usable at once: no duplicate address
 * detection over the tunnel), lwIP's IPv6 output goes through
 * mqtt_if_output6(), and received IPv6 packets reach ip6_input. Without
 * LWIP_IPV6 the address only changes the library's topics.
 *
 * Received packets are handed to MQTT_VPN_NETIF_INPUT: ip_input for
 * NO_SYS ports (ESP8266), tcpip_input otherwise (ESP32); define it to
 * override (the host simulation runs Debian's NO_SYS=0 lwIP on one thread
 * and uses ip_input).
 */
#ifndef MQTT_VPN_NETIF_H
#define MQTT_VPN_NETIF_H

#include <stddef.h>
#include <stdint.h>

#include "lwip/netif.h"
#include "mqttif.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tunnel's lwIP interface; zero it before use. */
struct mqtt_vpn_netif {
  struct netif netif;        /* the lwIP interface ("mq") */
  struct mqtt_if_data *mq;   /* set by netif_attach, NULL after detach */
  void *transport;           /* the transport's state, for its callbacks */
  uint8_t attached;          /* netif_add succeeded, netif_remove pending */
  uint8_t ip6_slot;          /* 1 + the netif's address slot of the IPv6
                                address the library set; 0 for none */
  void (*detached)(void *ctx); /* the transport's, after netif_detach */
};

/* The port's half of the platform table: the broker connection, random
 * bytes and log lines (see struct mqtt_if_platform for what each must do),
 * plus `detached`, called (may be NULL) when mqtt_if_del() has detached the
 * netif, for the transport to drop its connection and handle. Each gets the
 * `struct mqtt_vpn_netif *` as its context. */
struct mqtt_vpn_netif_transport {
  int (*tcp_connect)(void *ctx, const char *host, uint16_t port);
  int32_t (*tcp_send)(void *ctx, const uint8_t *data, size_t len);
  void (*tcp_close)(void *ctx);
  int (*random)(void *ctx, uint8_t *buf, size_t len); /* 0: filled */
  void (*log)(void *ctx, int level, const char *msg, size_t len);
  void (*detached)(void *ctx);
};

/* The whole platform setup of a port: zeroes `vn`, gives it the transport's
 * state (`vn->transport`) and `detached` hook, fills a platform table with
 * the netif_* callbacks of this shim and the transport's callbacks, and
 * registers it with `vn` as the port context (mqtt_if_set_platform), for
 * the next mqtt_if_init*. Returns what mqtt_if_set_platform returns;
 * MQTT_IF_ERR_NULL for a NULL `vn` or `transport`, MQTT_IF_ERR_STATE (and
 * changes nothing) while `vn` still has an interface attached. */
mqtt_if_result mqtt_vpn_netif_register(
    struct mqtt_vpn_netif *vn,
    const struct mqtt_vpn_netif_transport *transport, void *transport_state);

/* Fills only the netif_* callbacks of a platform table (zero it first);
 * mqtt_vpn_netif_register() uses it. */
void mqtt_vpn_netif_platform(struct mqtt_if_platform *platform);

/* The DNS servers of lwIP (no handle: they are global in lwIP). No-ops when
 * lwIP is built without DNS. */
void mqtt_if_clear_dns(void);
void mqtt_if_add_dns(uint32_t addr);

#ifdef __cplusplus
}
#endif

#endif /* MQTT_VPN_NETIF_H */
