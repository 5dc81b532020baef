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
 * Use, on the lwIP thread:
 *
 *     static struct mqtt_vpn_netif vn;        // lives as long as the interface
 *     struct mqtt_if_platform p = {0};
 *     mqtt_vpn_netif_platform(&p);            // netif_* callbacks
 *     p.tcp_connect = ...; p.tcp_send = ...;  // the transport's
 *     p.tcp_close = ...; p.random = ...; p.log = ...;
 *     vn.transport = &my_transport_state;
 *     mqtt_if_set_platform(&p, &vn);          // every callback gets &vn
 *     struct mqtt_if_data *mq = mqtt_if_init(...);
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
};

/* Fills the netif_* callbacks of a platform table. */
void mqtt_vpn_netif_platform(struct mqtt_if_platform *platform);

/* The DNS servers of lwIP (no handle: they are global in lwIP). No-ops when
 * lwIP is built without DNS. */
void mqtt_if_clear_dns(void);
void mqtt_if_add_dns(uint32_t addr);

#ifdef __cplusplus
}
#endif

#endif /* MQTT_VPN_NETIF_H */
