/* Host stand-in for ESP-IDF's lwip/netdb.h (getaddrinfo): POSIX's. */
#ifndef STUB_LWIP_NETDB_H
#define STUB_LWIP_NETDB_H
#include <netdb.h>
#endif
