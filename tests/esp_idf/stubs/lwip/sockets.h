/* Host stand-in for ESP-IDF's lwip/sockets.h: ESP-IDF maps the BSD names
 * (socket, connect, send, recv, select, setsockopt...) onto lwIP's socket
 * API; on the host they are the POSIX ones. Debian's lwIP headers are not
 * used here: they are built for the Hurd (no BSD names, no select). */
#ifndef STUB_LWIP_SOCKETS_H
#define STUB_LWIP_SOCKETS_H
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
/* <netinet/tcp.h> clashes with lwIP's TCP_MSS; this is its value on Linux
 * (and in lwIP's sockets.h). */
#ifndef TCP_NODELAY
#define TCP_NODELAY 1
#endif
#endif
