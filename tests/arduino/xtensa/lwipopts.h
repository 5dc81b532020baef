/* lwIP options close to the ESP8266 Arduino core's lwIP 2 build, for the
 * compile check of the netif shim. */
#ifndef MQTT_VPN_TEST_LWIPOPTS_H
#define MQTT_VPN_TEST_LWIPOPTS_H

#ifndef MQTT_VPN_TEST_IPV6
#define MQTT_VPN_TEST_IPV6 0
#endif

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define MEM_ALIGNMENT 4
#define LWIP_IPV4 1
#define LWIP_IPV6 MQTT_VPN_TEST_IPV6
#define IP_FORWARD 1
#define IP_NAPT 1
#define LWIP_DNS 1
#define DNS_MAX_SERVERS 2
#define LWIP_TCP 1
#define LWIP_UDP 1
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_NETIF_STATUS_CALLBACK 1
#define TCP_MSS 536

#endif
