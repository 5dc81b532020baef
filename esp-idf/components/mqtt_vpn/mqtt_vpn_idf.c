/*
 * mqtt_vpn_idf.c: the ESP-IDF half of the mqtt-vpn port. The broker
 * connection on an lwIP BSD socket, random (esp_fill_random) and log
 * (ESP_LOGx) callbacks, and the FreeRTOS task that drives the library;
 * together with the lwIP netif shim (shim/mqtt_vpn_netif.c of the
 * repository, shared with the Arduino library) it is the platform table of
 * mqttif.h, which the shim's mqtt_vpn_netif_register() fills and registers.
 *
 * How the work is split (not verified on hardware):
 *
 * - The library is only entered in the lwIP core (tcpip_api_call: the core
 *   lock with CONFIG_LWIP_TCPIP_CORE_LOCKING, else a call run by the tcpip
 *   thread), because lwIP calls the netif's output (and so mqtt_if_output
 *   and tcp_send) from there too.
 * - Socket calls take the core lock themselves (or wait for the tcpip
 *   thread), so the platform callbacks, which run inside the core, never
 *   touch the socket: tcp_connect records the broker, tcp_send copies into
 *   a transmit buffer, tcp_close marks the connection stale. The task does
 *   the socket work outside the core: DNS, a non-blocking connect, send and
 *   recv with MSG_DONTWAIT, close.
 * - Every connection the library asks for has a generation number; a
 *   result of the task for an older generation (the library closed or
 *   reconnected meanwhile) is dropped and its socket closed.
 * - The task waits on select() for the socket with a 10 ms timeout, so the
 *   library is ticked at least every 10 ms and reads are prompt.
 */
#include "mqtt_vpn_idf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "esp_log.h"
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "lwip/netdb.h"
#include "lwip/priv/tcpip_priv.h"
#include "lwip/sockets.h"
#include "lwip/tcpip.h"

#ifndef MQTT_VPN_TICK_MS
#define MQTT_VPN_TICK_MS 10
#endif
#ifndef MQTT_VPN_TASK_STACK
#define MQTT_VPN_TASK_STACK 6144
#endif
#ifndef MQTT_VPN_TASK_PRIORITY
#define MQTT_VPN_TASK_PRIORITY 5
#endif

static const char *TAG = "mqtt_vpn";

enum link_state { LINK_CLOSED, LINK_CONNECT_WANTED, LINK_CONNECTING, LINK_OPEN };

/* Fields marked (core) are only used inside the lwIP core; (task) only by
 * the task. */
struct idf_transport {
  struct mqtt_if_data *mq;          /* (core) NULL when no interface */
  enum link_state state;            /* (core) what the library asked for */
  uint32_t generation;              /* (core) bumped on connect and close */
  char host[MQTT_IF_MAX_STRING + 1]; /* (core) for LINK_CONNECT_WANTED */
  uint16_t port;                    /* (core) */
  uint8_t tx[2048];                 /* (core) taken by tcp_send */
  size_t tx_len;                    /* (core) */
  bool task_started;                /* (core) */

  int fd;                           /* (task) the socket, or -1 */
  uint32_t fd_generation;           /* (task) the generation of fd */
  bool fd_open;                     /* (task) connect finished */
  uint8_t out[2048];                /* (task) being written to fd */
  size_t out_len, out_off;          /* (task) */
  uint8_t rx[1460];                 /* (task) read, not yet taken */
  size_t rx_len;                    /* (task) */
};

static struct idf_transport transport = {.fd = -1};
static struct mqtt_vpn_netif vnetif;

/* ---- running code in the lwIP core ---- */

struct core_call {
  struct tcpip_api_call_data base; /* first: tcpip_api_call's view */
  void (*fn)(struct idf_transport *t, void *arg);
  void *arg;
};

static err_t core_call_fn(struct tcpip_api_call_data *call) {
  struct core_call *c = (struct core_call *)call;
  c->fn(&transport, c->arg);
  return ERR_OK;
}

static void in_core(void (*fn)(struct idf_transport *t, void *arg),
                    void *arg) {
  struct core_call c;
  memset(&c, 0, sizeof c);
  c.fn = fn;
  c.arg = arg;
  (void)tcpip_api_call(core_call_fn, &c.base);
}

void mqtt_vpn_idf_lock(void) { LOCK_TCPIP_CORE(); }

void mqtt_vpn_idf_unlock(void) { UNLOCK_TCPIP_CORE(); }

/* ---- the platform callbacks (called by the library, in the core) ---- */

static struct idf_transport *tp(void *ctx) {
  return (struct idf_transport *)((struct mqtt_vpn_netif *)ctx)->transport;
}

static void forget_link(struct idf_transport *t) {
  t->state = LINK_CLOSED;
  t->generation++;
  t->tx_len = 0;
}

static int tcp_connect_cb(void *ctx, const char *host, uint16_t port) {
  struct idf_transport *t = tp(ctx);
  size_t len = strlen(host);
  if (len > MQTT_IF_MAX_STRING) {
    return -1;
  }
  forget_link(t);
  memcpy(t->host, host, len + 1);
  t->port = port;
  t->state = LINK_CONNECT_WANTED; /* the task connects on its next round */
  return 0;
}

static int32_t tcp_send_cb(void *ctx, const uint8_t *data, size_t len) {
  struct idf_transport *t = tp(ctx);
  size_t room, n;
  if (t->state != LINK_OPEN) {
    return -1;
  }
  room = sizeof t->tx - t->tx_len;
  n = len < room ? len : room;
  memcpy(t->tx + t->tx_len, data, n);
  t->tx_len += n;
  return (int32_t)n;
}

static void tcp_close_cb(void *ctx) { forget_link(tp(ctx)); }

/* The hardware RNG, which cannot fail. */
static int random_cb(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  esp_fill_random(buf, len);
  return 0;
}

static void log_cb(void *ctx, int level, const char *msg, size_t len) {
  (void)ctx;
  switch (level) {
    case MQTT_IF_LOG_ERROR:
      ESP_LOGE(TAG, "%.*s", (int)len, msg);
      break;
    case MQTT_IF_LOG_INFO:
      ESP_LOGI(TAG, "%.*s", (int)len, msg);
      break;
    default:
      ESP_LOGD(TAG, "%.*s", (int)len, msg);
      break;
  }
}

/* mqtt_if_del() detached the netif (the shim removed it): forget the
 * handle too. */
static void detached_cb(void *ctx) {
  struct idf_transport *t = tp(ctx);
  forget_link(t);
  t->mq = NULL;
}

/* ---- the task: socket work outside the core, library calls inside ---- */

static uint64_t now_ms(void) { return (uint64_t)(esp_timer_get_time() / 1000); }

/* What one round in the core decided, for the socket work after it. */
struct round {
  bool have_mq;
  enum link_state state;
  uint32_t generation;
  char host[MQTT_IF_MAX_STRING + 1];
  uint16_t port;
};

static void close_fd(struct idf_transport *t) {
  if (t->fd >= 0) {
    close(t->fd);
  }
  t->fd = -1;
  t->fd_open = false;
  t->out_len = 0;
  t->out_off = 0;
  t->rx_len = 0;
}

/* In the core: tick, take the connect request and what is to be sent. */
static void tick_in_core(struct idf_transport *t, void *arg) {
  struct round *r = (struct round *)arg;
  r->have_mq = t->mq != NULL;
  if (!r->have_mq) {
    return;
  }
  (void)mqtt_if_tick(t->mq, now_ms());
  r->state = t->state;
  r->generation = t->generation;
  if (t->state == LINK_CONNECT_WANTED) {
    memcpy(r->host, t->host, sizeof r->host);
    r->port = t->port;
    t->state = LINK_CONNECTING;
  }
  if (t->state == LINK_OPEN && t->fd_generation == t->generation &&
      t->out_len == 0 && t->tx_len > 0) {
    memcpy(t->out, t->tx, t->tx_len);
    t->out_len = t->tx_len;
    t->out_off = 0;
    t->tx_len = 0;
  }
}

/* In the core: the connection of generation *arg is up. */
static void connected_in_core(struct idf_transport *t, void *arg) {
  uint32_t generation = *(uint32_t *)arg;
  if (t->mq == NULL || t->generation != generation ||
      t->state != LINK_CONNECTING) {
    return;
  }
  t->state = LINK_OPEN;
  (void)mqtt_if_tcp_connected(t->mq);
}

/* In the core: the connection of generation *arg failed or closed. */
static void closed_in_core(struct idf_transport *t, void *arg) {
  uint32_t generation = *(uint32_t *)arg;
  if (t->mq == NULL || t->generation != generation) {
    return;
  }
  forget_link(t);
  (void)mqtt_if_tcp_closed(t->mq);
}

/* In the core: offer the received bytes; *arg becomes the number taken. */
static void received_in_core(struct idf_transport *t, void *arg) {
  size_t *used = (size_t *)arg;
  *used = 0;
  if (t->mq != NULL && t->generation == t->fd_generation &&
      t->state == LINK_OPEN) {
    *used = mqtt_if_tcp_received(t->mq, t->rx, t->rx_len);
  }
}

static void lost_link(struct idf_transport *t) {
  uint32_t generation = t->fd_generation;
  close_fd(t);
  in_core(closed_in_core, &generation);
}

/* Starts the non-blocking connect of generation r->generation. */
static void start_connect(struct idf_transport *t, const struct round *r) {
  struct addrinfo hints, *res = NULL;
  char service[8];
  int fd, flags, rc;

  close_fd(t);
  t->fd_generation = r->generation;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(service, sizeof service, "%u", (unsigned)r->port);
  /* DNS blocks: fine in this task, outside the core. */
  if (getaddrinfo(r->host, service, &hints, &res) != 0 || res == NULL) {
    ESP_LOGW(TAG, "cannot resolve %s", r->host);
    lost_link(t);
    return;
  }
  fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd < 0) {
    freeaddrinfo(res);
    lost_link(t);
    return;
  }
  flags = fcntl(fd, F_GETFL, 0);
  (void)fcntl(fd, F_SETFL, (flags < 0 ? 0 : flags) | O_NONBLOCK);
  rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  t->fd = fd;
  if (rc == 0) {
    t->fd_open = true;
    in_core(connected_in_core, &t->fd_generation);
  } else if (errno != EINPROGRESS) {
    lost_link(t);
  } /* else select() says when it is done */
}

/* The connect in progress finished (the socket is writable). */
static void finish_connect(struct idf_transport *t) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    lost_link(t);
    return;
  }
  {
    int one = 1;
    (void)setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  t->fd_open = true;
  in_core(connected_in_core, &t->fd_generation);
}

static void flush_out(struct idf_transport *t) {
  ssize_t n;
  if (t->fd < 0 || !t->fd_open || t->out_off >= t->out_len) {
    return;
  }
  n = send(t->fd, t->out + t->out_off, t->out_len - t->out_off, MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      lost_link(t);
    }
    return;
  }
  t->out_off += (size_t)n;
  if (t->out_off >= t->out_len) {
    t->out_len = 0;
    t->out_off = 0;
  }
}

static void receive(struct idf_transport *t) {
  ssize_t n;
  size_t used = 0;
  if (t->fd < 0 || !t->fd_open) {
    return;
  }
  if (t->rx_len < sizeof t->rx) {
    n = recv(t->fd, t->rx + t->rx_len, sizeof t->rx - t->rx_len,
             MSG_DONTWAIT);
    if (n == 0) {
      lost_link(t); /* the broker closed */
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        lost_link(t);
        return;
      }
    } else {
      t->rx_len += (size_t)n;
    }
  }
  if (t->rx_len == 0) {
    return;
  }
  in_core(received_in_core, &used);
  if (used > t->rx_len) {
    used = t->rx_len;
  }
  memmove(t->rx, t->rx + used, t->rx_len - used);
  t->rx_len -= used;
}

/* Waits up to MQTT_VPN_TICK_MS for the socket. */
static void wait_for_socket(struct idf_transport *t) {
  fd_set readable, writable;
  struct timeval timeout = {0, MQTT_VPN_TICK_MS * 1000};
  if (t->fd < 0) {
    vTaskDelay(pdMS_TO_TICKS(MQTT_VPN_TICK_MS) > 0
                   ? pdMS_TO_TICKS(MQTT_VPN_TICK_MS)
                   : 1);
    return;
  }
  FD_ZERO(&readable);
  FD_ZERO(&writable);
  if (t->fd_open) {
    FD_SET(t->fd, &readable);
  }
  if (!t->fd_open || t->out_off < t->out_len) {
    FD_SET(t->fd, &writable);
  }
  (void)select(t->fd + 1, &readable, &writable, NULL, &timeout);
}

static void one_round(struct idf_transport *t) {
  struct round r;
  memset(&r, 0, sizeof r);
  in_core(tick_in_core, &r);
  if (!r.have_mq) {
    close_fd(t);
    return;
  }
  if (t->fd >= 0 && t->fd_generation != r.generation) {
    close_fd(t); /* the library closed or reconnected: a stale socket */
  }
  if (r.state == LINK_CONNECT_WANTED) {
    start_connect(t, &r);
    return;
  }
  if (t->fd < 0) {
    return;
  }
  if (!t->fd_open) {
    fd_set writable;
    struct timeval now = {0, 0};
    FD_ZERO(&writable);
    FD_SET(t->fd, &writable);
    if (select(t->fd + 1, NULL, &writable, NULL, &now) > 0) {
      finish_connect(t);
    }
    return;
  }
  flush_out(t);
  receive(t);
}

static void mqtt_vpn_task(void *arg) {
  struct idf_transport *t = (struct idf_transport *)arg;
  for (;;) {
    one_round(t);
    wait_for_socket(t);
  }
}

/* ---- init ---- */

struct init_args {
  const char *broker_uri, *user, *broker_password, *topic_pre, *password;
  uint32_t ipaddr, netmask, gw;
  struct mqtt_if_data *mq;
};

static void init_in_core(struct idf_transport *t, void *arg) {
  struct init_args *a = (struct init_args *)arg;
  static const struct mqtt_vpn_netif_transport ops = {
      .tcp_connect = tcp_connect_cb,
      .tcp_send = tcp_send_cb,
      .tcp_close = tcp_close_cb,
      .random = random_cb,
      .log = log_cb,
      .detached = detached_cb,
  };

  a->mq = NULL;
  if (t->mq != NULL) {
    ESP_LOGE(TAG, "one interface at a time; mqtt_if_del() first");
    return;
  }
  if (mqtt_vpn_netif_register(&vnetif, &ops, t) != MQTT_IF_OK) {
    ESP_LOGE(TAG, "platform table refused");
    return;
  }
  /* The Rust function, not this header's macro of the same name. */
  a->mq = (mqtt_vpn_if_init)(a->broker_uri, a->user, a->broker_password,
                             a->topic_pre, a->password, a->ipaddr, a->netmask,
                             a->gw);
  if (a->mq == NULL) {
    ESP_LOGE(TAG, "mqtt_vpn_if_init failed (bad URI, prefix or address?)");
    return;
  }
  forget_link(t);
  t->mq = a->mq;
}

static void delete_in_core(struct idf_transport *t, void *arg) {
  (void)arg;
  mqtt_if_del(t->mq); /* detached_cb forgets the handle */
  t->mq = NULL;
}

mqtt_if_data *mqtt_vpn_idf_if_init(const char *broker_uri, const char *user,
                                   const char *broker_password,
                                   const char *topic_pre, const char *password,
                                   ip4_addr_t ipaddr, ip4_addr_t netmask,
                                   ip4_addr_t gw) {
  struct init_args a;
  struct idf_transport *t = &transport;

  memset(&a, 0, sizeof a);
  a.broker_uri = broker_uri;
  a.user = user;
  a.broker_password = broker_password;
  a.topic_pre = topic_pre;
  a.password = password;
  a.ipaddr = ip4_addr_get_u32(&ipaddr);
  a.netmask = ip4_addr_get_u32(&netmask);
  a.gw = ip4_addr_get_u32(&gw);
  in_core(init_in_core, &a);
  if (a.mq != NULL && !t->task_started) {
    /* Started once and kept: it idles while there is no interface. */
    t->task_started = xTaskCreate(mqtt_vpn_task, "mqtt_vpn",
                                  MQTT_VPN_TASK_STACK, t,
                                  MQTT_VPN_TASK_PRIORITY, NULL) == pdPASS;
    if (!t->task_started) {
      ESP_LOGE(TAG, "cannot start the mqtt_vpn task");
      in_core(delete_in_core, NULL);
      return NULL;
    }
  }
  return a.mq;
}

/* Called by the library on a bug (never in normal operation). */
void mqtt_vpn_panic_hook(const uint8_t *message, size_t len) {
  ESP_LOGE(TAG, "panic: %.*s", (int)len, (const char *)message);
  esp_restart();
  for (;;) {
  }
}
