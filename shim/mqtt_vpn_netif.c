/*
 * mqtt_vpn_netif.c: the lwIP network interface of an mqtt-vpn tunnel.
 * See mqtt_vpn_netif.h. Portable C99 against lwIP 2.x; no host-only code.
 */
#include "mqtt_vpn_netif.h"

#include <string.h>

#include "lwip/ip.h"
#include "lwip/ip4_addr.h"
#include "lwip/pbuf.h"
#if LWIP_DNS
#include "lwip/dns.h"
#endif
#if !NO_SYS
#include "lwip/tcpip.h"
#endif

#ifndef MQTT_VPN_NETIF_INPUT
#if NO_SYS
#define MQTT_VPN_NETIF_INPUT ip_input
#else
#define MQTT_VPN_NETIF_INPUT tcpip_input
#endif
#endif

static struct mqtt_vpn_netif *from_ctx(void *ctx) {
  return (struct mqtt_vpn_netif *)ctx;
}

/* What lwIP makes of a result of mqtt_if_output*(). */
static err_t to_err(mqtt_if_result res) {
  switch (res) {
    case MQTT_IF_OK:
      return ERR_OK;
    case MQTT_IF_ERR_DROPPED:
      return ERR_BUF;
    case MQTT_IF_ERR_NOT_CONNECTED:
      return ERR_CONN;
    default:
      return ERR_IF;
  }
}

/* The library wants a packet in one piece: a chain is copied into one
 * pbuf (free it with pbuf_free if it is not `p`); NULL if memory ran out. */
static struct pbuf *flatten(struct pbuf *p) {
  if (p->len == p->tot_len) {
    return p;
  }
  return pbuf_clone(PBUF_RAW, PBUF_RAM, p);
}

/* lwIP's IPv4 output: no link layer, the next hop picks the MQTT topic. */
static err_t mqtt_vpn_netif_output(struct netif *netif, struct pbuf *p,
                                   const ip4_addr_t *next_hop) {
  struct mqtt_vpn_netif *vn = (struct mqtt_vpn_netif *)netif->state;
  struct pbuf *flat;
  mqtt_if_result res;

  if (vn == NULL || vn->mq == NULL) {
    return ERR_IF;
  }
  flat = flatten(p);
  if (flat == NULL) {
    return ERR_MEM;
  }
  res = mqtt_if_output(vn->mq, (const uint8_t *)flat->payload, flat->len,
                       next_hop != NULL ? ip4_addr_get_u32(next_hop) : 0);
  if (flat != p) {
    pbuf_free(flat);
  }
  return to_err(res);
}

#if LWIP_IPV6
/* lwIP's IPv6 output: the packet goes to the topic of its destination
 * (lwIP passes the destination as the next hop: no neighbour discovery
 * here, the netif has no link layer). */
static err_t mqtt_vpn_netif_output_ip6(struct netif *netif, struct pbuf *p,
                                       const ip6_addr_t *next_hop) {
  struct mqtt_vpn_netif *vn = (struct mqtt_vpn_netif *)netif->state;
  struct pbuf *flat;
  uint8_t hop[16];
  mqtt_if_result res;

  if (vn == NULL || vn->mq == NULL) {
    return ERR_IF;
  }
  flat = flatten(p);
  if (flat == NULL) {
    return ERR_MEM;
  }
  if (next_hop != NULL) {
    memcpy(hop, next_hop->addr, sizeof hop); /* network order, as the ABI */
  }
  res = mqtt_if_output6(vn->mq, (const uint8_t *)flat->payload, flat->len,
                        next_hop != NULL ? hop : NULL);
  if (flat != p) {
    pbuf_free(flat);
  }
  return to_err(res);
}
#endif

static err_t mqtt_vpn_netif_init(struct netif *netif) {
  netif->name[0] = 'm';
  netif->name[1] = 'q';
  netif->output = mqtt_vpn_netif_output;
#if LWIP_IPV6
  netif->output_ip6 = mqtt_vpn_netif_output_ip6;
#endif
  netif->mtu = MQTT_IF_MAX_MTU;
  netif->hwaddr_len = 0;
  netif->flags = 0; /* point to point: no ARP, no broadcast link layer */
  return ERR_OK;
}

static int attach(void *ctx, struct mqtt_if_data *mq, uint32_t ipaddr,
                  uint32_t netmask, uint32_t gw, uint16_t mtu) {
  struct mqtt_vpn_netif *vn = from_ctx(ctx);
  ip4_addr_t ip, mask, gateway;

  if (vn == NULL || vn->attached) {
    return -1;
  }
  ip4_addr_set_u32(&ip, ipaddr);
  ip4_addr_set_u32(&mask, netmask);
  ip4_addr_set_u32(&gateway, gw);
  vn->mq = mq;
  if (netif_add(&vn->netif, &ip, &mask, &gateway, vn, mqtt_vpn_netif_init,
                MQTT_VPN_NETIF_INPUT) == NULL) {
    vn->mq = NULL;
    return -1;
  }
  vn->attached = 1;
  vn->ip6_slot = 0;
  vn->netif.mtu = mtu;
  netif_set_link_up(&vn->netif);
  netif_set_up(&vn->netif);
  return 0;
}

static void detach(void *ctx) {
  struct mqtt_vpn_netif *vn = from_ctx(ctx);
  if (vn->attached) {
    netif_set_down(&vn->netif);
    netif_remove(&vn->netif);
    vn->attached = 0;
  }
  vn->ip6_slot = 0;
  vn->mq = NULL;
  if (vn->detached != NULL) {
    vn->detached(ctx);
  }
}

/* A packet from the tunnel: copy into a PBUF_RAM pbuf (pool pbufs may be
 * smaller than a packet) and hand it to lwIP, which may answer at once.
 * ip_input and tcpip_input pass IPv6 packets on to ip6_input (and drop
 * them when lwIP is built without IPv6). */
static void input(void *ctx, const uint8_t *packet, size_t len) {
  struct mqtt_vpn_netif *vn = from_ctx(ctx);
  struct pbuf *p;

  if (!vn->attached || len == 0 || len > 0xffff) {
    return;
  }
  p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
  if (p == NULL) {
    return;
  }
  if (pbuf_take(p, packet, (u16_t)len) != ERR_OK ||
      vn->netif.input(p, &vn->netif) != ERR_OK) {
    pbuf_free(p);
  }
}

static void set_addr(void *ctx, uint32_t ipaddr, uint32_t netmask,
                     uint32_t gw) {
  struct mqtt_vpn_netif *vn = from_ctx(ctx);
  ip4_addr_t ip, mask, gateway;
  if (!vn->attached) {
    return;
  }
  ip4_addr_set_u32(&ip, ipaddr);
  ip4_addr_set_u32(&mask, netmask);
  ip4_addr_set_u32(&gateway, gw);
  netif_set_addr(&vn->netif, &ip, &mask, &gateway);
}

/* The IPv6 address the library was given (all zero: remove it). It takes
 * a free slot (slot 0 stays for a link-local address) and is usable at
 * once: duplicate address detection needs multicast neighbour
 * solicitations, which the tunnel does not carry. */
static void set_ip6addr(void *ctx, const uint8_t *addr) {
#if LWIP_IPV6
  struct mqtt_vpn_netif *vn = from_ctx(ctx);
  ip6_addr_t ip6;
  s8_t slot = -1;

  if (!vn->attached || addr == NULL) {
    return;
  }
  if (vn->ip6_slot > 0) {
    netif_ip6_addr_set_state(&vn->netif, (s8_t)(vn->ip6_slot - 1),
                             IP6_ADDR_INVALID);
    vn->ip6_slot = 0;
  }
  memset(&ip6, 0, sizeof ip6); /* also the zone, where lwIP has one */
  memcpy(ip6.addr, addr, 16);
  if (ip6_addr_isany(&ip6)) {
    return;
  }
  if (netif_add_ip6_address(&vn->netif, &ip6, &slot) == ERR_OK && slot >= 0) {
    netif_ip6_addr_set_state(&vn->netif, slot, IP6_ADDR_PREFERRED);
    vn->ip6_slot = (uint8_t)(slot + 1);
  }
#else
  (void)ctx;
  (void)addr;
#endif
}

static void set_up(void *ctx, bool up) {
  struct mqtt_vpn_netif *vn = from_ctx(ctx);
  if (!vn->attached) {
    return;
  }
  if (up) {
    netif_set_up(&vn->netif);
  } else {
    netif_set_down(&vn->netif);
  }
}

static void set_mtu(void *ctx, uint16_t mtu) {
  struct mqtt_vpn_netif *vn = from_ctx(ctx);
  if (vn->attached) {
    vn->netif.mtu = mtu;
  }
}

static void set_flags(void *ctx, uint8_t set, uint8_t clear) {
  struct mqtt_vpn_netif *vn = from_ctx(ctx);
  if (vn->attached) {
    vn->netif.flags = (u8_t)((vn->netif.flags | set) & (u8_t)~clear);
  }
}

void mqtt_vpn_netif_platform(struct mqtt_if_platform *platform) {
  platform->netif_attach = attach;
  platform->netif_detach = detach;
  platform->netif_input = input;
  platform->netif_set_addr = set_addr;
  platform->netif_set_up = set_up;
  platform->netif_set_mtu = set_mtu;
  platform->netif_set_flags = set_flags;
  platform->netif_set_ip6addr = set_ip6addr;
}

mqtt_if_result mqtt_vpn_netif_register(
    struct mqtt_vpn_netif *vn,
    const struct mqtt_vpn_netif_transport *transport, void *transport_state) {
  struct mqtt_if_platform platform;

  if (vn == NULL || transport == NULL) {
    return MQTT_IF_ERR_NULL;
  }
  if (vn->attached) {
    return MQTT_IF_ERR_STATE;
  }
  memset(vn, 0, sizeof *vn);
  vn->transport = transport_state;
  vn->detached = transport->detached;
  memset(&platform, 0, sizeof platform); /* later callbacks stay NULL */
  mqtt_vpn_netif_platform(&platform);
  platform.tcp_connect = transport->tcp_connect;
  platform.tcp_send = transport->tcp_send;
  platform.tcp_close = transport->tcp_close;
  platform.random = transport->random;
  platform.log = transport->log;
  return mqtt_if_set_platform(&platform, vn);
}

void mqtt_if_clear_dns(void) {
#if LWIP_DNS
  u8_t i;
  for (i = 0; i < DNS_MAX_SERVERS; i++) {
    dns_setserver(i, NULL);
  }
#endif
}

void mqtt_if_add_dns(uint32_t addr) {
#if LWIP_DNS
  u8_t i;
  ip_addr_t server;
  ip_addr_set_ip4_u32_val(server, addr); /* lwIP >= 2.1 */
  for (i = 0; i < DNS_MAX_SERVERS; i++) {
    if (ip_addr_isany(dns_getserver(i))) {
      dns_setserver(i, &server);
      return;
    }
  }
#else
  (void)addr;
#endif
}
