/*
 * sim_esp.c: a simulated ESP8266 on the host. Real lwIP (Debian's liblwip,
 * run on one thread as a NO_SYS port would: lwip_init() then a main loop
 * calling sys_check_timeouts()), the lwIP netif shim (shim/) and the mqtt-vpn
 * static library, with a POSIX-socket transport to the broker. Serves what
 * the example sketches serve, with lwIP's raw TCP API: an echo on port 23
 * (mqtt_vpn_telnet) and "hello from esp8266!" over HTTP on port 80
 * (mqtt_vpn_webserver).
 *
 * usage: sim_esp [-6 IPV6] BROKER_HOST BROKER_PORT IP PASSWORD [PREFIX
 *        [KEEPALIVE]]
 * (PASSWORD "" is plain mode; -6 gives the interface an IPv6 address too,
 * and the services listen on both families). Stops cleanly on SIGTERM or
 * SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lwip/init.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "mqtt_vpn_netif.h"
#include "mqttif.h"

/* <netinet/tcp.h> clashes with lwIP's TCP_MSS; this is its value on Linux. */
#define SIM_TCP_NODELAY 1

/* ---- the transport: one TCP socket to the broker ---- */

enum link_state { LINK_CLOSED, LINK_CONNECTING, LINK_OPEN };

struct transport {
  int fd;
  enum link_state state;
  unsigned char rx[4096]; /* bytes read but not yet taken by the library */
  size_t rx_len;
};

static struct transport transport = {-1, LINK_CLOSED, {0}, 0};
static struct mqtt_vpn_netif vnetif;
static struct mqtt_if_data *mq;
static volatile sig_atomic_t stop;

static struct transport *tp(void *ctx) {
  return (struct transport *)((struct mqtt_vpn_netif *)ctx)->transport;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void close_socket(struct transport *t) {
  if (t->fd >= 0) {
    close(t->fd);
  }
  t->fd = -1;
  t->state = LINK_CLOSED;
  t->rx_len = 0;
}

static int tcp_connect_cb(void *ctx, const char *host, uint16_t port) {
  struct transport *t = tp(ctx);
  struct addrinfo hints, *res = NULL;
  char service[8];
  int fd, rc;

  close_socket(t);
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(service, sizeof service, "%u", (unsigned)port);
  if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL) {
    return -1;
  }
  fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return -1;
  }
  rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  t->fd = fd;
  t->state = LINK_CONNECTING; /* the main loop waits for POLLOUT */
  return 0;
}

static int32_t tcp_send_cb(void *ctx, const uint8_t *data, size_t len) {
  struct transport *t = tp(ctx);
  ssize_t n;
  if (t->state != LINK_OPEN) {
    return -1;
  }
  if (len > 0x7fffffff) {
    len = 0x7fffffff;
  }
  /* Blocking, as a WiFiClient write is: the broker always reads. */
  do {
    n = send(t->fd, data, len, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -1 : (int32_t)n;
}

static void tcp_close_cb(void *ctx) { close_socket(tp(ctx)); }

static int random_cb(void *ctx, uint8_t *buf, size_t len) {
  size_t done = 0;
  (void)ctx;
  while (done < len) {
    ssize_t n = getrandom(buf + done, len - done, 0);
    if (n < 0 && errno != EINTR) {
      return -1; /* the library drops and counts the packet */
    }
    if (n > 0) {
      done += (size_t)n;
    }
  }
  return 0;
}

static void log_cb(void *ctx, int level, const char *msg, size_t len) {
  (void)ctx;
  fprintf(stderr, "sim_esp: mqttif[%d]: %.*s\n", level, (int)len, msg);
}

/* Socket events, then lwIP timers and the library's tick. */
static void poll_transport(int timeout_ms) {
  struct transport *t = &transport;
  struct pollfd pfd;
  pfd.fd = t->fd;
  pfd.events = t->state == LINK_CONNECTING ? POLLOUT : POLLIN;
  pfd.revents = 0;
  if (t->fd < 0) {
    struct timespec ts = {0, (long)timeout_ms * 1000000L};
    nanosleep(&ts, NULL);
    return;
  }
  if (poll(&pfd, 1, timeout_ms) <= 0) {
    return;
  }
  if (t->state == LINK_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      close_socket(t);
      mqtt_if_tcp_closed(mq);
      return;
    }
    int flags = fcntl(t->fd, F_GETFL);
    fcntl(t->fd, F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    setsockopt(t->fd, IPPROTO_TCP, SIM_TCP_NODELAY, &one, sizeof one);
    t->state = LINK_OPEN;
    mqtt_if_tcp_connected(mq);
    return;
  }
  if (t->rx_len < sizeof t->rx) {
    ssize_t n = recv(t->fd, t->rx + t->rx_len, sizeof t->rx - t->rx_len,
                     MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      fprintf(stderr, "sim_esp: broker connection closed\n");
      close_socket(t);
      mqtt_if_tcp_closed(mq);
      return;
    }
    if (n > 0) {
      t->rx_len += (size_t)n;
    }
  }
}

static void feed_received(void) {
  struct transport *t = &transport;
  if (t->state == LINK_OPEN && t->rx_len > 0) {
    size_t used = mqtt_if_tcp_received(mq, t->rx, t->rx_len);
    /* the library may have closed the socket meanwhile */
    if (t->state == LINK_OPEN && used > 0) {
      memmove(t->rx, t->rx + used, t->rx_len - used);
      t->rx_len -= used;
    }
  }
}

/* ---- the services, on lwIP's raw TCP API ---- */

#define MAX_CONNS 32

struct conn {
  struct tcp_pcb *pcb;
  struct pbuf *pending; /* received, not yet echoed */
  int http;
  int peer_closed;
};

static struct conn conns[MAX_CONNS];
static struct tcp_pcb *listeners[2];

static void conn_free(struct conn *c) {
  if (c->pending != NULL) {
    pbuf_free(c->pending);
  }
  memset(c, 0, sizeof *c);
}

static void conn_close(struct conn *c) {
  struct tcp_pcb *pcb = c->pcb;
  tcp_arg(pcb, NULL);
  tcp_recv(pcb, NULL);
  tcp_sent(pcb, NULL);
  tcp_err(pcb, NULL);
  tcp_poll(pcb, NULL, 0);
  conn_free(c);
  if (tcp_close(pcb) != ERR_OK) {
    tcp_abort(pcb);
  }
}

/* Echoes whole pbufs while the send buffer has room. */
static void echo_send(struct conn *c) {
  while (c->pending != NULL) {
    struct pbuf *p = c->pending;
    u16_t len = p->len;
    if (len > tcp_sndbuf(c->pcb) ||
        tcp_write(c->pcb, p->payload, len, TCP_WRITE_FLAG_COPY) != ERR_OK) {
      break;
    }
    c->pending = p->next;
    if (c->pending != NULL) {
      pbuf_ref(c->pending);
    }
    while (pbuf_free(p) == 0) {
    }
    tcp_recved(c->pcb, len);
  }
  tcp_output(c->pcb);
  if (c->peer_closed && c->pending == NULL) {
    conn_close(c);
  }
}

static const char http_reply[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 19\r\n"
    "Connection: close\r\n"
    "\r\n"
    "hello from esp8266!";

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p,
                     err_t err) {
  struct conn *c = (struct conn *)arg;
  (void)pcb;
  if (p == NULL || err != ERR_OK) {
    if (p != NULL) {
      pbuf_free(p);
    }
    c->peer_closed = 1;
    if (c->http || c->pending == NULL) {
      conn_close(c);
    }
    return ERR_OK;
  }
  if (c->http) {
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    if (c->http == 1) { /* answer the first request, then close */
      c->http = 2;
      tcp_write(pcb, http_reply, sizeof http_reply - 1, 0);
      conn_close(c);
    }
    return ERR_OK;
  }
  if (c->pending == NULL) {
    c->pending = p;
  } else {
    pbuf_cat(c->pending, p);
  }
  echo_send(c);
  return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
  (void)pcb;
  (void)len;
  echo_send((struct conn *)arg);
  return ERR_OK;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb) {
  (void)pcb;
  echo_send((struct conn *)arg);
  return ERR_OK;
}

static void on_err(void *arg, err_t err) {
  (void)err;
  if (arg != NULL) {
    conn_free((struct conn *)arg); /* lwIP already freed the pcb */
  }
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
  int i;
  (void)arg;
  if (err != ERR_OK || pcb == NULL) {
    return ERR_VAL;
  }
  for (i = 0; i < MAX_CONNS; i++) {
    if (conns[i].pcb == NULL) {
      struct conn *c = &conns[i];
      c->pcb = pcb;
      c->http = pcb->local_port == 80;
      tcp_arg(pcb, c);
      tcp_recv(pcb, on_recv);
      tcp_sent(pcb, on_sent);
      tcp_err(pcb, on_err);
      tcp_poll(pcb, on_poll, 1);
      return ERR_OK;
    }
  }
  tcp_abort(pcb);
  return ERR_ABRT;
}

static struct tcp_pcb *listen_on(u16_t port) {
  struct tcp_pcb *pcb = tcp_new();
  struct tcp_pcb *listener;
  if (pcb == NULL || tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
    fprintf(stderr, "sim_esp: cannot bind port %u\n", (unsigned)port);
    exit(1);
  }
  listener = tcp_listen(pcb);
  tcp_accept(listener, on_accept);
  return listener;
}

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [-6 IPV6] BROKER_HOST BROKER_PORT IP PASSWORD [PREFIX "
          "[KEEPALIVE]]\n",
          argv0);
}

int main(int argc, char **argv) {
  struct mqtt_vpn_netif_transport ops;
  struct in_addr ip, mask;
  struct sigaction sa;
  const char *ipv6 = NULL;
  const char *argv0 = argv[0];
  int i, opt;

  while ((opt = getopt(argc, argv, "+6:")) != -1) {
    if (opt != '6') {
      usage(argv0);
      return 2;
    }
    ipv6 = optarg;
  }
  argc -= optind - 1; /* argv[1..] are the positional arguments */
  argv += optind - 1;
  if (argc < 5 || argc > 7 || inet_pton(AF_INET, argv[3], &ip) != 1) {
    usage(argv0);
    return 2;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  setvbuf(stderr, NULL, _IOLBF, 0);

  lwip_init();

  memset(&ops, 0, sizeof ops);
  ops.tcp_connect = tcp_connect_cb;
  ops.tcp_send = tcp_send_cb;
  ops.tcp_close = tcp_close_cb;
  ops.random = random_cb;
  ops.log = log_cb;
  if (mqtt_vpn_netif_register(&vnetif, &ops, &transport) != MQTT_IF_OK) {
    fprintf(stderr, "sim_esp: platform refused\n");
    return 1;
  }
  inet_pton(AF_INET, "255.255.255.0", &mask);
  mq = mqtt_if_init_full(argv[1], NULL, NULL, atoi(argv[2]),
                         argc > 5 ? argv[5] : NULL, argv[4], ip.s_addr,
                         mask.s_addr, 0);
  if (mq == NULL) {
    fprintf(stderr, "sim_esp: mqtt_if_init_full failed\n");
    return 1;
  }
  if (argc > 6) {
    mqtt_if_set_keepalive(mq, (uint16_t)atoi(argv[6]));
  }
  if (ipv6 != NULL) {
    mqtt_if_result res = mqtt_if_set_ip6addr(mq, ipv6);
    if (res != MQTT_IF_OK) {
      fprintf(stderr, "sim_esp: IPv6 address %s: %s\n", ipv6,
              mqtt_if_result_str(res));
      mqtt_if_del(mq);
      return 1;
    }
  }
  listeners[0] = listen_on(23);
  listeners[1] = listen_on(80);
  fprintf(stderr, "sim_esp: %s%s%s up, broker %s:%s\n", argv[3],
          ipv6 != NULL ? " " : "", ipv6 != NULL ? ipv6 : "", argv[1], argv[2]);

  while (!stop) {
    poll_transport(5);
    feed_received();
    sys_check_timeouts();
    mqtt_if_tick(mq, now_ms());
    feed_received(); /* what waited for room in the transmit buffer */
  }

  fprintf(stderr, "sim_esp: stopping\n");
  for (i = 0; i < MAX_CONNS; i++) {
    if (conns[i].pcb != NULL) {
      struct tcp_pcb *pcb = conns[i].pcb;
      tcp_arg(pcb, NULL);
      conn_free(&conns[i]);
      tcp_abort(pcb);
    }
  }
  for (i = 0; i < 2; i++) {
    tcp_close(listeners[i]);
  }
  mqtt_if_del(mq); /* DISCONNECT, tcp_close, netif_remove */
  close_socket(&transport);
  return 0;
}
