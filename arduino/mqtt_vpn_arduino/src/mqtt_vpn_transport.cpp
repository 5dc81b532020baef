/*
 * mqtt_vpn_transport.cpp: the Arduino half of the mqtt-vpn port. The
 * broker connection on a WiFiClient, random and log callbacks, and the
 * ticker that drives the library, registered by mqtt_if_init() (see
 * mqttif.h) together with the lwIP netif of mqtt_vpn_netif.c (the shim
 * shared with the ESP-IDF component, shim/ in the repository) through
 * mqtt_vpn_netif_register().
 *
 * Why the work is split the way it is:
 *
 * - The library calls tcp_send from inside mqtt_if_tick, but also from
 *   mqtt_if_output, which lwIP calls when it routes a packet to the netif.
 *   On the ESP8266 that happens in the SYS context, where a WiFiClient must
 *   not be used (its writes may wait). So tcp_send only copies into a
 *   transmit buffer, and the ticker writes it to the socket.
 * - Connecting blocks (DNS, TCP handshake), so it never runs in the ticker
 *   either: on the ESP8266 it is a one-shot schedule_function(), which the
 *   core runs after loop() returns, where blocking is allowed.
 * - ESP8266 ticker: schedule_recurrent_function_us() every 10 ms. It runs in
 *   the sketch's (CONT) context, between loop() iterations and at every
 *   yield()/delay(), so the sketch needs nothing in loop(), the library is
 *   only ever entered from one context (the ESP8266 runs CONT and SYS
 *   cooperatively, never at once), and WiFiClient may be used (not
 *   blocking: writes are bounded by availableForWrite() with setSync(false)).
 *   An lwIP sys_timeout or a Ticker would run in the SYS context instead,
 *   where WiFiClient is not allowed; a Ticker with attach_ms_scheduled
 *   would only run after loop(), never during a long delay().
 * - ESP32 (not verified on hardware): a FreeRTOS task every 10 ms does the
 *   connecting, reading and writing outside the lwIP core lock and calls
 *   the library under it (LOCK_TCPIP_CORE, arduino-esp32 3.x), the lock
 *   lwIP's own thread holds when it calls the netif's output; the transmit
 *   buffer both append to and drain is only touched under it. Without core
 *   locking the library refuses to compile. Sketches that call the control
 *   functions after setup() should take the same lock.
 *
 * One interface at a time: a second mqtt_if_init() before mqtt_if_del()
 * returns NULL.
 */
#include <Arduino.h>
#include <string.h>

#if defined(ESP8266)
#include <ESP8266WiFi.h>
#include <Schedule.h>
#elif defined(ESP32)
#include <WiFi.h>
#include <esp_random.h>
#include <freertos/FreeRTOS.h>
#include <freertos/task.h>
#include <lwip/tcpip.h>
#else
#error "mqtt_vpn_arduino supports the ESP8266 and ESP32 cores"
#endif

#include "mqtt_vpn_netif.h"
#include "mqttif.h"

#if defined(ESP32) && !LWIP_TCPIP_CORE_LOCKING
/* The transport's task and lwIP's thread (which calls mqtt_if_output, and
 * so tcp_send) share the transmit buffer: without the core lock nothing
 * keeps them apart. */
#error "mqtt_vpn_arduino on the ESP32 needs lwIP core locking (CONFIG_LWIP_TCPIP_CORE_LOCKING=y, the arduino-esp32 3.x default)"
#endif

#if defined(ESP32)
#define MQTT_VPN_LOCK() LOCK_TCPIP_CORE()
#define MQTT_VPN_UNLOCK() UNLOCK_TCPIP_CORE()
#else
#define MQTT_VPN_LOCK() \
  do {                  \
  } while (0)
#define MQTT_VPN_UNLOCK() \
  do {                    \
  } while (0)
#endif

#ifndef MQTT_VPN_TICK_MS
#define MQTT_VPN_TICK_MS 10
#endif

namespace {

enum LinkState : uint8_t { LINK_CLOSED, LINK_CONNECT_WANTED, LINK_OPEN };

struct Transport {
  WiFiClient client;
  LinkState state;
  char host[MQTT_IF_MAX_STRING + 1];
  uint16_t port;
  uint8_t rx[1460]; /* read from the socket, not yet taken by the library */
  size_t rx_len;
  uint8_t tx[2048]; /* accepted by tcp_send, not yet written to the socket */
  size_t tx_len;
  mqtt_if_data *mq;
  bool ticker_started;
  bool connecting; /* inside client.connect(), which may yield */
};

Transport transport;
struct mqtt_vpn_netif vnetif;

uint64_t now_ms() {
  static uint32_t last;
  static uint64_t high;
  uint32_t now = millis();
  if (now < last) {
    high += (uint64_t)1 << 32;
  }
  last = now;
  return high | now;
}

void reset_link(Transport &t) {
  if (!t.connecting) { /* else connect_step() stops it when connect returns */
    t.client.stop();
  }
  t.state = LINK_CLOSED;
  t.rx_len = 0;
  t.tx_len = 0;
}

/* The connection went away under us: tell the library, which reconnects.
 * On the ESP32 the buffers are emptied under the core lock, which lwIP's
 * thread holds when it appends to them. */
void lost_link(Transport &t) {
  MQTT_VPN_LOCK();
  reset_link(t);
  if (t.mq != NULL) {
    (void)mqtt_if_tcp_closed(t.mq);
  }
  MQTT_VPN_UNLOCK();
}

/* Blocking; never from the ticker or a library callback. */
void connect_step() {
  Transport &t = transport;
  if (t.state != LINK_CONNECT_WANTED || t.mq == NULL) {
    return;
  }
  /* connect() yields (ESP8266), which runs the ticker: it waits, see pump() */
  t.connecting = true;
  bool ok = t.client.connect(t.host, t.port) != 0;
  t.connecting = false;
  if (t.state != LINK_CONNECT_WANTED) { /* closed meanwhile */
    t.client.stop();
    return;
  }
  if (!ok) {
    lost_link(t);
    return;
  }
  t.client.setNoDelay(true);
#if defined(ESP8266)
  t.client.setSync(false);
#endif
  t.state = LINK_OPEN;
  MQTT_VPN_LOCK();
  (void)mqtt_if_tcp_connected(t.mq);
  MQTT_VPN_UNLOCK();
}

#if defined(ESP8266)
/* CONT context only (the library runs there too): no lock needed. */
void flush_tx(Transport &t) {
  if (t.state != LINK_OPEN || t.tx_len == 0) {
    return;
  }
  size_t room = t.client.availableForWrite();
  size_t n = t.tx_len < room ? t.tx_len : room;
  if (n == 0) {
    return;
  }
  size_t written = t.client.write(t.tx, n);
  if (written == 0 && !t.client.connected()) {
    lost_link(t);
    return;
  }
  memmove(t.tx, t.tx + written, t.tx_len - written);
  t.tx_len -= written;
}
#else
/* The transport task. lwIP's thread appends to t.tx (tcp_send, under the
 * core lock) while this writes: the bytes are copied out under the lock,
 * written without it (the write blocks on lwIP), and removed under it.
 * Appends meanwhile land after them. */
void flush_tx(Transport &t) {
  static uint8_t chunk[sizeof t.tx];
  MQTT_VPN_LOCK();
  size_t n = t.state == LINK_OPEN ? t.tx_len : 0;
  memcpy(chunk, t.tx, n);
  MQTT_VPN_UNLOCK();
  if (n == 0) {
    return;
  }
  size_t written = t.client.write(chunk, n);
  if (written == 0 && !t.client.connected()) {
    lost_link(t);
    return;
  }
  MQTT_VPN_LOCK();
  if (t.state == LINK_OPEN && written <= t.tx_len) {
    memmove(t.tx, t.tx + written, t.tx_len - written);
    t.tx_len -= written;
  }
  MQTT_VPN_UNLOCK();
}
#endif

void receive(Transport &t) {
  if (t.state != LINK_OPEN) {
    return;
  }
  int available = t.client.available();
  if (available <= 0) {
    if (!t.client.connected()) {
      lost_link(t);
    }
    return;
  }
  size_t room = sizeof t.rx - t.rx_len;
  size_t want = (size_t)available < room ? (size_t)available : room;
  if (want > 0) {
    int n = t.client.read(t.rx + t.rx_len, want);
    if (n > 0) {
      t.rx_len += (size_t)n;
    }
  }
  if (t.rx_len == 0) {
    return;
  }
  MQTT_VPN_LOCK();
  size_t used = mqtt_if_tcp_received(t.mq, t.rx, t.rx_len);
  MQTT_VPN_UNLOCK();
  /* the library may have closed the connection meanwhile */
  if (t.state == LINK_OPEN && used > 0) {
    memmove(t.rx, t.rx + used, t.rx_len - used);
    t.rx_len -= used;
  }
}

/* Every MQTT_VPN_TICK_MS: timers, then the socket both ways. */
void pump() {
  Transport &t = transport;
  if (t.mq == NULL || t.connecting) {
    return;
  }
  MQTT_VPN_LOCK();
  (void)mqtt_if_tick(t.mq, now_ms());
  MQTT_VPN_UNLOCK();
  flush_tx(t);
  receive(t);
  flush_tx(t);
}

/* ---- the platform callbacks (called by the library) ---- */

Transport &from_ctx(void *ctx) {
  struct mqtt_vpn_netif *vn = static_cast<struct mqtt_vpn_netif *>(ctx);
  return *static_cast<Transport *>(vn->transport);
}

int tcp_connect_cb(void *ctx, const char *host, uint16_t port) {
  Transport &t = from_ctx(ctx);
  size_t len = strlen(host);
  if (len > MQTT_IF_MAX_STRING) {
    return -1;
  }
  reset_link(t);
  memcpy(t.host, host, len + 1);
  t.port = port;
  t.state = LINK_CONNECT_WANTED;
#if defined(ESP8266)
  if (!schedule_function(connect_step)) {
    t.state = LINK_CLOSED;
    return -1;
  }
#endif /* the ESP32 task connects on its next round */
  return 0;
}

int32_t tcp_send_cb(void *ctx, const uint8_t *data, size_t len) {
  Transport &t = from_ctx(ctx);
  if (t.state != LINK_OPEN) {
    return -1;
  }
  size_t room = sizeof t.tx - t.tx_len;
  size_t n = len < room ? len : room;
  memcpy(t.tx + t.tx_len, data, n);
  t.tx_len += n;
  return (int32_t)n;
}

void tcp_close_cb(void *ctx) { reset_link(from_ctx(ctx)); }

/* The hardware RNG, which cannot fail. */
int random_cb(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
#if defined(ESP8266)
  ESP.random(buf, len);
#else
  esp_fill_random(buf, len);
#endif
  return 0;
}

void log_cb(void *ctx, int level, const char *msg, size_t len) {
  (void)ctx;
#ifndef MQTT_VPN_DEBUG
  if (level >= MQTT_IF_LOG_DEBUG) {
    return;
  }
#endif
  Serial.printf("mqttif[%d]: %.*s\n", level, (int)len, msg);
}

/* mqtt_if_del() detached the netif (the shim removed it): forget the
 * handle too. */
void detached_cb(void *ctx) {
  Transport &t = from_ctx(ctx);
  reset_link(t);
  t.mq = NULL;
}

#if defined(ESP32)
void ticker_task(void *arg) {
  (void)arg;
  for (;;) {
    connect_step();
    pump();
    vTaskDelay(pdMS_TO_TICKS(MQTT_VPN_TICK_MS));
  }
}
#endif

void start_ticker(Transport &t) {
  if (t.ticker_started) {
    return;
  }
#if defined(ESP8266)
  t.ticker_started = schedule_recurrent_function_us(
      []() {
        pump();
        return true;
      },
      MQTT_VPN_TICK_MS * 1000);
#else
  t.ticker_started =
      xTaskCreate(ticker_task, "mqtt_vpn", 6144, NULL, 2, NULL) == pdPASS;
#endif
}

}  // namespace

bool mqtt_vpn_detail::begin_port(void) {
  Transport &t = transport;
  struct mqtt_vpn_netif_transport ops;

  if (t.mq != NULL) {
    Serial.println("mqttif: one interface at a time; mqtt_if_del() first");
    return false;
  }
  memset(&ops, 0, sizeof ops);
  ops.tcp_connect = tcp_connect_cb;
  ops.tcp_send = tcp_send_cb;
  ops.tcp_close = tcp_close_cb;
  ops.random = random_cb;
  ops.log = log_cb;
  ops.detached = detached_cb;
  if (mqtt_vpn_netif_register(&vnetif, &ops, &t) != MQTT_IF_OK) {
    return false;
  }
  start_ticker(t);
  MQTT_VPN_LOCK(); /* released by mqtt_vpn_detail::port_started() */
  return true;
}

mqtt_if_data *mqtt_vpn_detail::port_started(mqtt_if_data *mq) {
  MQTT_VPN_UNLOCK();
  transport.mq = mq;
  if (mq == NULL) {
    Serial.println("mqttif: mqtt_if_init failed");
  }
  return mq;
}

/* Called by the library on a bug (never in normal operation). */
extern "C" void mqtt_vpn_panic_hook(const uint8_t *message, size_t len) {
  Serial.printf("mqttif: panic: %.*s\n", (int)len, (const char *)message);
  Serial.flush();
  ESP.restart();
  for (;;) {
  }
}
