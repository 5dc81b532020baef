/*
 * main.c: libmqttvpn.a on an emulated lx106 (QEMU -M sim -cpu lx106).
 *
 * Checks, on the ESP8266's CPU and calling convention, that the library
 * computes the wire vectors of tests/data (v1 and v2, byte for byte) and
 * runs a whole MQTT session through its C ABI with a platform table played
 * by this file: connect, subscribe, a packet each way, keepalive, a lost
 * broker, delete. Reports the heap one interface needs and the stack the
 * whole run used. One line per check; exit status 1 if any failed.
 *
 * What the emulation does not show: QEMU's lx106 lets unaligned 32-bit
 * loads and stores through (the chip raises an exception), runs the
 * flash code from RAM, and has no cache: timings are instruction counts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lx106.h"
#include "mqttif.h"
#include "vectors.h"

/* The most heap one interface may hold at its peak, in bytes. */
#ifndef HEAP_LIMIT
#define HEAP_LIMIT 8192
#endif

static unsigned passed, failed;

static int vcheck(int ok, const char *fmt, va_list ap) {
  printf("%s ", ok ? "PASS" : "FAIL");
  vfprintf(stdout, fmt, ap);
  printf("\n");
  if (ok) {
    passed++;
  } else {
    failed++;
  }
  return ok;
}

static int check(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ok = vcheck(ok, fmt, ap);
  va_end(ap);
  return ok;
}

/* A check that `got` is exactly `want`; on failure says where they part. */
static int check_bytes(const uint8_t *got, size_t got_len, const uint8_t *want,
                       size_t want_len, const char *fmt, ...) {
  va_list ap;
  size_t i = 0;
  int ok;
  while (i < got_len && i < want_len && got[i] == want[i]) {
    i++;
  }
  ok = got_len == want_len && i == want_len;
  va_start(ap, fmt);
  vcheck(ok, fmt, ap);
  va_end(ap);
  if (!ok) {
    printf("     got %lu bytes, want %lu", (unsigned long)got_len,
           (unsigned long)want_len);
    if (i < got_len && i < want_len) {
      printf("; byte %lu is %02x, want %02x", (unsigned long)i, got[i], want[i]);
    }
    printf("\n");
  }
  return ok;
}

static int check_result(mqtt_if_result got, mqtt_if_result want,
                        const char *fmt, ...) {
  va_list ap;
  int ok = got == want;
  va_start(ap, fmt);
  vcheck(ok, fmt, ap);
  va_end(ap);
  if (!ok) {
    printf("     result %lu (%s), want %lu (%s)\n", (unsigned long)got,
           mqtt_if_result_str(got), (unsigned long)want, mqtt_if_result_str(want));
  }
  return ok;
}

/* Room for the largest payload (1500 bytes + the v1 overhead of 56) and a
 * PUBLISH around it. Static: the stack figure is then the library's. */
static uint8_t out[2048];
static uint8_t frame[2048];
static uint8_t want[2048];

/* What a refused open must leave alone. */
#define UNTOUCHED 0xee
#define UNTOUCHED_LEN ((size_t)0x5a5a)

/* A check that a refused call left `out` (all of it) and `*out_len` as
 * they were; on failure says what it wrote. */
static int check_untouched(size_t out_len, const char *fmt, ...) {
  va_list ap;
  size_t first = sizeof out, last = 0, i;
  int ok;
  for (i = 0; i < sizeof out; i++) {
    /* A forged payload is checked in `out` and zeroed: no plaintext. */
    if (out[i] != UNTOUCHED && out[i] != 0) {
      if (first == sizeof out) {
        first = i;
      }
      last = i;
    }
  }
  ok = first == sizeof out && out_len == UNTOUCHED_LEN;
  va_start(ap, fmt);
  vcheck(ok, fmt, ap);
  va_end(ap);
  if (out_len != UNTOUCHED_LEN) {
    printf("     *out_len was set to %lu\n", (unsigned long)out_len);
  }
  if (first != sizeof out) {
    printf("     out[%lu..%lu] was written\n", (unsigned long)first,
           (unsigned long)last + 1);
  }
  return ok;
}

/* ---- the ROM helpers this image supplies (rom_arith.c) ---- */

static void the_rom_arithmetic_stand_ins_compute_exactly(void) {
  /* volatile: the compiler must call the helpers, not fold constants */
  volatile uint32_t n32 = 0xffffffffu, d32 = 0x80000001u;
  volatile uint32_t m32 = 1000000007u, ten = 10u;
  volatile int32_t neg = -7, two = 2;
  volatile uint64_t big = UINT64_C(0xfffffffffffffffe), seven = 7;
  volatile uint64_t a = UINT64_C(0x0123456789abcdef), b = UINT64_C(0x100000001);
  volatile uint64_t c = UINT64_C(0xfedcba9876543210), d = UINT64_C(0xfedcba98);
  volatile uint64_t x = UINT64_C(0x123456789abcdef0), y = UINT64_C(0x0fedcba987654321);
  volatile uint64_t ones = UINT64_MAX;
  volatile uint64_t w32 = 0xffffffffu;

  check(n32 / d32 == 1 && n32 % d32 == 0x7ffffffeu && m32 / ten == 100000000u &&
            m32 % ten == 7 && neg / two == -3,
        "ROM stand-ins: 32-bit division (__udivsi3, __umodsi3, __divsi3)");
  check(big / seven == UINT64_C(0x2492492492492492) && big % seven == 0 &&
            a / b == UINT64_C(0x1234567) && a % b == UINT64_C(0x88888888) &&
            c / d == UINT64_C(0x100000000) && c % d == UINT64_C(0x76543210),
        "ROM stand-ins: 64-bit division (__udivdi3, __umoddi3)");
  check(x * y == UINT64_C(0x2236d88fe5618cf0) && ones * ones == 1 &&
            w32 * w32 == UINT64_C(0xfffffffe00000001),
        "ROM stand-ins: 64-bit multiplication (__muldi3)");
}

/* ---- wire v1 ---- */

static void every_v1_vector_seals_and_opens_byte_for_byte(void) {
  size_t i;
  for (i = 0; i < N_V1_VECTORS; i++) {
    const struct v1_vector *v = &v1_vectors[i];
    uint8_t key[MQTT_IF_KEY_LEN];
    size_t len = 0;

    check_result(mqtt_if_key_v1(v->password, key), MQTT_IF_OK,
                 "v1 %s: mqtt_if_key_v1 derives a key", v->name);
    check_bytes(key, sizeof key, v->key, MQTT_IF_KEY_LEN,
                "v1 %s: the key is SHA-512(password)[0..32]", v->name);
    check_result(mqtt_if_seal_v1(key, v->nonce, v->plaintext, v->plaintext_len,
                                 out, sizeof out, &len),
                 MQTT_IF_OK, "v1 %s: mqtt_if_seal_v1 seals the plaintext", v->name);
    check_bytes(out, len, v->payload, v->payload_len,
                "v1 %s: with the vector's nonce it is the payload", v->name);
    len = 0;
    check_result(mqtt_if_open_v1(key, v->payload, v->payload_len, out,
                                 sizeof out, &len),
                 MQTT_IF_OK, "v1 %s: mqtt_if_open_v1 opens the payload", v->name);
    check_bytes(out, len, v->plaintext, v->plaintext_len,
                "v1 %s: to the plaintext", v->name);
  }
}

static void every_v1_reject_is_refused_and_writes_nothing(void) {
  size_t i;
  for (i = 0; i < N_V1_REJECTS; i++) {
    const struct v1_reject *r = &v1_rejects[i];
    uint8_t key[MQTT_IF_KEY_LEN];
    size_t len = UNTOUCHED_LEN;
    mqtt_if_result res;
    mqtt_if_key_v1(r->password, key);
    memset(out, UNTOUCHED, sizeof out);
    res = mqtt_if_open_v1(key, r->payload, r->payload_len, out, sizeof out, &len);
    check(res != MQTT_IF_OK, "v1 reject %s: refused (%s)", r->name,
          mqtt_if_result_str(res));
    check_untouched(len, "v1 reject %s: no plaintext written", r->name);
  }
}

/* ---- wire v2 ---- */

/* PBKDF2 with 10 000 rounds is the slowest thing the library does; its
 * instruction count bounds what it costs an ESP8266 (at least one cycle
 * per instruction). */
static void every_v2_kdf_vector_derives_its_key(void) {
  size_t i;
  uint32_t total_k = 0, per_key_k;
  for (i = 0; i < N_V2_KDFS; i++) {
    const struct v2_kdf *k = &v2_kdfs[i];
    uint8_t key[MQTT_IF_KEY_LEN];
    mqtt_if_result res;
    uint32_t start = lx106_cycles(), k_insns;
    res = mqtt_if_key_v2(k->password, k->network, key);
    k_insns = lx106_kilo_instructions(lx106_cycles() - start);
    total_k += k_insns;
    check_result(res, MQTT_IF_OK,
                 "v2 kdf %s: mqtt_if_key_v2 derives a key (%lu k instructions)",
                 k->name, (unsigned long)k_insns);
    check_bytes(key, sizeof key, k->key, MQTT_IF_KEY_LEN,
                "v2 kdf %s: PBKDF2-HMAC-SHA256 of the vector", k->name);
  }
  per_key_k = total_k / N_V2_KDFS;
  printf("lx106: PBKDF2 (10000 rounds): %lu k instructions per key, at least "
         "%lu ms at 80 MHz, %lu ms at 160 MHz\n",
         (unsigned long)per_key_k, (unsigned long)(per_key_k / 80),
         (unsigned long)(per_key_k / 160));
}

static void every_v2_vector_seals_and_opens_byte_for_byte(void) {
  size_t i;
  for (i = 0; i < N_V2_VECTORS; i++) {
    const struct v2_vector *v = &v2_vectors[i];
    size_t len = 0;
    check_result(mqtt_if_seal_v2(v->key, v->boot_id, v->counter, v->topic,
                                 v->plaintext, v->plaintext_len, out, sizeof out,
                                 &len),
                 MQTT_IF_OK, "v2 %s: mqtt_if_seal_v2 seals the plaintext", v->name);
    check_bytes(out, len, v->payload, v->payload_len,
                "v2 %s: for %s it is the payload", v->name, v->topic);
    len = 0;
    check_result(mqtt_if_open_v2(v->key, v->topic, v->payload, v->payload_len,
                                 out, sizeof out, &len),
                 MQTT_IF_OK, "v2 %s: mqtt_if_open_v2 opens the payload", v->name);
    check_bytes(out, len, v->plaintext, v->plaintext_len,
                "v2 %s: to the plaintext", v->name);
  }
}

static void every_v2_reject_is_refused_for_its_reason(void) {
  size_t i;
  for (i = 0; i < N_V2_REJECTS; i++) {
    const struct v2_reject *r = &v2_rejects[i];
    size_t len = UNTOUCHED_LEN;
    mqtt_if_result res;
    memset(out, UNTOUCHED, sizeof out);
    res = mqtt_if_open_v2(r->key, r->topic, r->payload, r->payload_len, out,
                          sizeof out, &len);
    check_result(res, r->error, "v2 reject %s: refused as %s", r->name,
                 mqtt_if_result_str(r->error));
    check_untouched(len, "v2 reject %s: no plaintext written", r->name);
  }
}

/* ---- the platform a port would supply, played by the test ---- */

struct port {
  struct mqtt_if_data *mq;
  int attach_calls, detach_calls;
  uint32_t ip, mask, gw;
  uint16_t mtu;
  int connect_calls, connect_result, close_calls;
  char host[64];
  uint16_t port;
  uint8_t sent[4096]; /* what the broker would have received */
  size_t sent_len;
  uint8_t input[2048]; /* the last packet handed to the IP stack */
  size_t input_len;
  int input_calls;
  uint8_t next_random; /* random() hands out next_random, next_random + 1, ... */
};

static struct port port;

static int p_attach(void *ctx, struct mqtt_if_data *mq, uint32_t ip,
                    uint32_t mask, uint32_t gw, uint16_t mtu) {
  struct port *p = ctx;
  p->attach_calls++;
  p->mq = mq;
  p->ip = ip;
  p->mask = mask;
  p->gw = gw;
  p->mtu = mtu;
  return 0;
}

static void p_detach(void *ctx) { ((struct port *)ctx)->detach_calls++; }

static void p_input(void *ctx, const uint8_t *packet, size_t len) {
  struct port *p = ctx;
  p->input_calls++;
  p->input_len = len <= sizeof p->input ? len : 0;
  memcpy(p->input, packet, p->input_len);
}

static int p_connect(void *ctx, const char *host, uint16_t port_number) {
  struct port *p = ctx;
  p->connect_calls++;
  strncpy(p->host, host, sizeof p->host - 1);
  p->port = port_number;
  return p->connect_result;
}

static int32_t p_send(void *ctx, const uint8_t *data, size_t len) {
  struct port *p = ctx;
  if (p->sent_len + len > sizeof p->sent) {
    return -1; /* the test forgot to clear it: fail the connection loudly */
  }
  memcpy(p->sent + p->sent_len, data, len);
  p->sent_len += len;
  return (int32_t)len;
}

static void p_close(void *ctx) { ((struct port *)ctx)->close_calls++; }

/* Known bytes instead of a CSPRNG, so that nonces and the client id are
 * predictable and a sealed PUBLISH can be compared byte for byte. */
static int p_random(void *ctx, uint8_t *buf, size_t len) {
  struct port *p = ctx;
  size_t i;
  for (i = 0; i < len; i++) {
    buf[i] = p->next_random++;
  }
  return 0;
}

static void p_log(void *ctx, int level, const char *msg, size_t len) {
  (void)ctx;
  printf("     log[%d] %.*s\n", level, (int)len, msg);
}

static uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  uint8_t bytes[4] = {a, b, c, d};
  uint32_t v;
  memcpy(&v, bytes, 4); /* lwIP byte order: network order in memory */
  return v;
}

/* ---- MQTT frames, as the broker would see or send them ---- */

static size_t put_remaining_length(uint8_t *buf, size_t len) {
  size_t n = 0;
  do {
    uint8_t byte = len & 0x7f;
    len >>= 7;
    buf[n++] = len > 0 ? byte | 0x80 : byte;
  } while (len > 0);
  return n;
}

static size_t put_string(uint8_t *buf, const char *s) {
  size_t len = strlen(s);
  buf[0] = (uint8_t)(len >> 8);
  buf[1] = (uint8_t)len;
  memcpy(buf + 2, s, len);
  return 2 + len;
}

/* PUBLISH at QoS 0. */
static size_t publish_frame(uint8_t *buf, const char *topic,
                            const uint8_t *payload, size_t len) {
  size_t n = 0;
  buf[n++] = 0x30;
  n += put_remaining_length(buf + n, 2 + strlen(topic) + len);
  n += put_string(buf + n, topic);
  memcpy(buf + n, payload, len);
  return n + len;
}

/* SUBSCRIBE of one topic at QoS 0. */
/* One SUBSCRIBE of packet id `id` for the `count` filters in `topics`,
 * each at QoS 0. */
static size_t subscribe_frame(uint8_t *buf, uint16_t id, const char *const *topics,
                              size_t count) {
  size_t n = 0, body = 2, i;
  for (i = 0; i < count; i++) {
    body += 2 + strlen(topics[i]) + 1;
  }
  buf[n++] = 0x82;
  n += put_remaining_length(buf + n, body);
  buf[n++] = (uint8_t)(id >> 8);
  buf[n++] = (uint8_t)id;
  for (i = 0; i < count; i++) {
    n += put_string(buf + n, topics[i]);
    buf[n++] = 0; /* QoS 0 */
  }
  return n;
}

static int sent_contains(const char *text) {
  size_t len = strlen(text), i;
  for (i = 0; i + len <= port.sent_len; i++) {
    if (memcmp(port.sent + i, text, len) == 0) {
      return 1;
    }
  }
  return 0;
}

/* CONNECT of MQTT 3.1.1 with a clean session and keepalive 120 s. The
 * client id is MQTT_VPN_ and the first four random bytes (00 01 02 03) as
 * a little-endian number: 0x03020100 = 50462976. */
static const uint8_t connect_frame[] = {
    0x10, 29, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 120, 0, 17,
    'M', 'Q', 'T', 'T', '_', 'V', 'P', 'N', '_',
    '5', '0', '4', '6', '2', '9', '7', '6'};
static const uint8_t connack[] = {0x20, 2, 0, 0};
static const uint8_t pingreq[] = {0xc0, 0};
static const uint8_t pingresp[] = {0xd0, 0};
static const uint8_t disconnect[] = {0xe0, 0};

static const struct v1_vector *v1_vector_named(const char *name) {
  size_t i;
  for (i = 0; i < N_V1_VECTORS; i++) {
    if (strcmp(v1_vectors[i].name, name) == 0) {
      return &v1_vectors[i];
    }
  }
  printf("lx106: no v1 vector %s\n", name);
  return NULL;
}

static struct mqtt_if_platform test_platform(void) {
  struct mqtt_if_platform p;
  memset(&p, 0, sizeof p);
  p.netif_attach = p_attach;
  p.netif_detach = p_detach;
  p.netif_input = p_input;
  p.tcp_connect = p_connect;
  p.tcp_send = p_send;
  p.tcp_close = p_close;
  p.random = p_random;
  p.log = p_log;
  return p;
}

/* Hands the broker's bytes to the interface; true if all were taken. */
static int feed(struct mqtt_if_data *mq, const uint8_t *data, size_t len) {
  return mqtt_if_tcp_received(mq, data, len) == len;
}

/* An IPv4 packet of `len` bytes (at least 20) from `src` to `dst`, with a
 * recognisable filling. */
static void ipv4_packet(uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                        uint8_t fill) {
  size_t i;
  memset(buf, 0, 20);
  buf[0] = 0x45;
  buf[2] = (uint8_t)(len >> 8);
  buf[3] = (uint8_t)len;
  buf[8] = 64;
  buf[9] = 17; /* UDP */
  memcpy(buf + 12, &src, 4);
  memcpy(buf + 16, &dst, 4);
  for (i = 20; i < len; i++) {
    buf[i] = (uint8_t)(i * fill);
  }
}

static uint8_t packet[1500];
static uint8_t sealed[1600];

static void a_whole_session_runs_through_the_c_abi(void) {
  const struct v1_vector *echo = v1_vector_named("icmp_echo_secret");
  const struct v1_vector *bcast = v1_vector_named("min_ipv4_header_broadcast");
  const struct mqtt_if_platform table = test_platform();
  static const uint8_t reply_nonce[24] = {
      0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb,
      0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
  uint8_t key[MQTT_IF_KEY_LEN];
  uint8_t nonce[24];
  struct mqtt_if_data *mq;
  size_t base_bytes, bytes_before_init, blocks_before_init;
  size_t after_init, after_traffic, peak, n, len, half;
  int inputs, i;

  if (echo == NULL || bcast == NULL) {
    check(0, "session: the v1 vectors it uses exist");
    return;
  }
  memset(&port, 0, sizeof port);
  mqtt_if_key_v1("secret", key);

  /* The heap of one interface: from registration (as tests/c_abi.rs
   * counts it) through traffic. */
  base_bytes = lx106_heap.live_bytes;
  lx106_heap_mark();
  check_result(mqtt_if_set_platform(&table, &port), MQTT_IF_OK,
               "session: mqtt_if_set_platform takes the test's table");
  bytes_before_init = lx106_heap.live_bytes;
  blocks_before_init = lx106_heap.live_blocks;

  port.next_random = 0;
  mq = mqtt_if_init("broker", ip4(10, 0, 1, 1), "secret");
  if (!check(mq != NULL && port.attach_calls == 1 && port.mq == mq,
             "session: mqtt_if_init makes an encrypted interface and attaches "
             "its netif")) {
    return;
  }
  after_init = lx106_heap.live_bytes - base_bytes;
  check(port.ip == ip4(10, 0, 1, 1) && port.mask == ip4(255, 255, 255, 0) &&
            port.gw == 0 && port.mtu == 1500,
        "session: the netif is 10.0.1.1/24, no gateway, MTU 1500");

  /* connect: the port reports the TCP connection later */
  port.connect_result = 0;
  check(mqtt_if_tick(mq, 0) == MQTT_IF_OK && port.connect_calls == 1 &&
            strcmp(port.host, "broker") == 0 && port.port == 1883 &&
            port.sent_len == 0,
        "session: the first tick connects to broker:1883");
  check_result(mqtt_if_tcp_connected(mq), MQTT_IF_OK,
               "session: mqtt_if_tcp_connected is taken");
  check_bytes(port.sent, port.sent_len, connect_frame, sizeof connect_frame,
              "session: the CONNECT is MQTT 3.1.1, clean, keepalive 120 s, "
              "client id MQTT_VPN_50462976");

  port.sent_len = 0;
  check(feed(mq, connack, sizeof connack) && mqtt_if_is_connected(mq),
        "session: after the CONNACK the session is up");
  {
    static const char *const topics[2] = {"mqttip/10.0.1.1",
                                          "mqttip/255.255.255.255"};
    n = subscribe_frame(want, 1, topics, 2);
  }
  check_bytes(port.sent, port.sent_len, want, n,
              "session: one SUBSCRIBE for mqttip/10.0.1.1 and "
              "mqttip/255.255.255.255");
  port.sent_len = 0;
  {
    static const uint8_t subacks[] = {0x90, 3, 0, 1, 0, 0x90, 3, 0, 2, 0};
    check(feed(mq, subacks, sizeof subacks) && port.sent_len == 0 &&
              mqtt_if_is_connected(mq),
          "session: both SUBACKs are taken, nothing is answered");
  }

  /* outbound: the nonce is the random callback's 00 01 .. 17, that of the
   * vector, so the PUBLISH carries the vector's payload */
  port.next_random = 0;
  check_result(mqtt_if_output(mq, echo->plaintext, echo->plaintext_len, 0),
               MQTT_IF_OK, "session: mqtt_if_output takes a ping for 10.0.1.2");
  n = publish_frame(want, "mqttip/10.0.1.2", echo->payload, echo->payload_len);
  check_bytes(port.sent, port.sent_len, want, n,
              "session: it goes out as PUBLISH mqttip/10.0.1.2 with the "
              "payload of vector icmp_echo_secret");

  /* a full-size packet: compared with what mqtt_if_seal_v1 makes of it */
  port.sent_len = 0;
  port.next_random = 0x40;
  for (i = 0; i < 24; i++) {
    nonce[i] = (uint8_t)(0x40 + i);
  }
  ipv4_packet(packet, 1500, ip4(10, 0, 1, 1), ip4(10, 0, 1, 7), 3);
  check_result(mqtt_if_output(mq, packet, 1500, 0), MQTT_IF_OK,
               "session: mqtt_if_output takes a 1500-byte packet");
  len = 0;
  mqtt_if_seal_v1(key, nonce, packet, 1500, sealed, sizeof sealed, &len);
  n = publish_frame(want, "mqttip/10.0.1.7", sealed, len);
  check_bytes(port.sent, port.sent_len, want, n,
              "session: it goes out as PUBLISH mqttip/10.0.1.7, sealed as "
              "mqtt_if_seal_v1 seals it");

  /* inbound: a broadcast sealed by the vector's NaCl */
  n = publish_frame(frame, "mqttip/255.255.255.255", bcast->payload,
                    bcast->payload_len);
  check(feed(mq, frame, n) && port.input_calls == 1,
        "session: a sealed PUBLISH on mqttip/255.255.255.255 reaches "
        "netif_input");
  check_bytes(port.input, port.input_len, bcast->plaintext, bcast->plaintext_len,
              "session: as the plaintext of vector min_ipv4_header_broadcast");

  /* inbound in two pieces, as a socket may hand it over */
  ipv4_packet(packet, 84, ip4(10, 0, 1, 2), ip4(10, 0, 1, 1), 7);
  mqtt_if_seal_v1(key, reply_nonce, packet, 84, sealed, sizeof sealed, &len);
  n = publish_frame(frame, "mqttip/10.0.1.1", sealed, len);
  half = 37;
  check(feed(mq, frame, half) && port.input_calls == 1,
        "session: the first %lu bytes of a PUBLISH deliver nothing yet",
        (unsigned long)half);
  check(feed(mq, frame + half, n - half) && port.input_calls == 2,
        "session: the other %lu bytes complete it", (unsigned long)(n - half));
  check_bytes(port.input, port.input_len, packet, 84,
              "session: netif_input gets the packet sealed for 10.0.1.1");

  inputs = port.input_calls;
  check(feed(mq, frame, n) && port.input_calls == inputs,
        "session: the same PUBLISH again is a replay and is dropped");
  n = publish_frame(frame, "mqttip/10.0.1.9", sealed, len);
  check(feed(mq, frame, n) && port.input_calls == inputs,
        "session: a PUBLISH for another node's topic is dropped");
  /* A bit of the tag's first 8 bytes: they are also the replay
   * fingerprint, so this is not taken for a replay but must fail to open. */
  sealed[40] ^= 1;
  n = publish_frame(frame, "mqttip/10.0.1.1", sealed, len);
  check(feed(mq, frame, n) && port.input_calls == inputs &&
            mqtt_if_is_connected(mq),
        "session: a forged PUBLISH is dropped and the link stays up");

  /* a full-size packet inbound */
  ipv4_packet(packet, 1500, ip4(10, 0, 1, 7), ip4(10, 0, 1, 1), 5);
  mqtt_if_seal_v1(key, reply_nonce + 1, packet, 1500, sealed, sizeof sealed,
                  &len);
  n = publish_frame(frame, "mqttip/10.0.1.1", sealed, len);
  check(feed(mq, frame, 700) && feed(mq, frame + 700, n - 700) &&
            port.input_calls == inputs + 1,
        "session: a sealed 1500-byte packet arrives in two pieces");
  check_bytes(port.input, port.input_len, packet, 1500,
              "session: netif_input gets all 1500 bytes of it");
  after_traffic = lx106_heap.live_bytes - base_bytes;
  check(after_traffic == after_init,
        "session: packets allocate nothing (%lu bytes live after init and "
        "after traffic)",
        (unsigned long)after_traffic);

  /* keepalive 120 s, counted from the last packet either way (at 0 ms) */
  port.sent_len = 0;
  mqtt_if_tick(mq, 119999);
  check(port.sent_len == 0, "session: no PINGREQ before 120 s of quiet");
  mqtt_if_tick(mq, 120000);
  check_bytes(port.sent, port.sent_len, pingreq, sizeof pingreq,
              "session: a PINGREQ at 120 s");
  port.sent_len = 0;
  mqtt_if_tick(mq, 121000);
  check(feed(mq, pingresp, sizeof pingresp), "session: the PINGRESP is taken");
  mqtt_if_tick(mq, 180000);
  check(mqtt_if_is_connected(mq) && port.close_calls == 0 && port.sent_len == 0,
        "session: answered, the link stays up past the 60 s answer timeout");
  mqtt_if_tick(mq, 240000);
  check_bytes(port.sent, port.sent_len, pingreq, sizeof pingreq,
              "session: the next PINGREQ at 240 s");
  mqtt_if_tick(mq, 299999);
  check(mqtt_if_is_connected(mq) && port.close_calls == 0,
        "session: unanswered, the link is kept until 60 s have passed");
  mqtt_if_tick(mq, 300000);
  check(!mqtt_if_is_connected(mq) && port.close_calls == 1,
        "session: at 60 s without an answer the connection is closed");
  mqtt_if_tick(mq, 300999);
  check(port.connect_calls == 1, "session: no reconnect before the 1 s backoff");
  port.sent_len = 0;
  port.connect_result = 1; /* this time the port connects at once */
  mqtt_if_tick(mq, 301000);
  check(port.connect_calls == 2, "session: it reconnects after 1 s");
  check_bytes(port.sent, port.sent_len, connect_frame, sizeof connect_frame,
              "session: with the same CONNECT");
  port.sent_len = 0;
  check(feed(mq, connack, sizeof connack) && mqtt_if_is_connected(mq) &&
            port.sent[0] == 0x82 && sent_contains("mqttip/10.0.1.1") &&
            sent_contains("mqttip/255.255.255.255"),
        "session: after the CONNACK it subscribes both topics again");
  peak = lx106_heap.peak_bytes - base_bytes;

  /* delete */
  port.sent_len = 0;
  mqtt_if_del(mq);
  check_bytes(port.sent, port.sent_len, disconnect, sizeof disconnect,
              "session: mqtt_if_del says DISCONNECT");
  check(port.close_calls == 2 && port.detach_calls == 1,
        "session: and closes the connection and detaches the netif");
  check(lx106_heap.live_blocks == blocks_before_init &&
            lx106_heap.live_bytes == bytes_before_init &&
            lx106_heap.bad_frees == 0 && lx106_heap.failed == 0,
        "session: every block the interface allocated is freed (left: the "
        "platform registration, %lu bytes in %lu block)",
        (unsigned long)lx106_heap.live_bytes,
        (unsigned long)lx106_heap.live_blocks);

  printf("lx106: heap after init: %lu bytes\n", (unsigned long)after_init);
  printf("lx106: heap high-water of one interface: %lu bytes\n",
         (unsigned long)peak);
  check(peak <= HEAP_LIMIT, "heap: the high-water of %lu bytes is within %lu",
        (unsigned long)peak, (unsigned long)HEAP_LIMIT);
}

/* The deepest stack any group of checks reached. */
static size_t stack_max;

/* Runs one group of checks on a freshly painted stack and reports how
 * deep it went, so that the figure can be traced to what uses it. */
static void run(const char *what, void (*group)(void)) {
  size_t used;
  lx106_stack_repaint();
  group();
  used = lx106_stack_used();
  printf("lx106: stack used by %s: %lu bytes\n", what, (unsigned long)used);
  if (used > stack_max) {
    stack_max = used;
  }
}

int main(void) {
  printf("lx106: libmqttvpn.a on an emulated lx106\n");
  run("the ROM stand-ins", the_rom_arithmetic_stand_ins_compute_exactly);
  run("v1 vectors", every_v1_vector_seals_and_opens_byte_for_byte);
  run("v1 rejects", every_v1_reject_is_refused_and_writes_nothing);
  run("the session", a_whole_session_runs_through_the_c_abi);
  run("v2 vectors", every_v2_vector_seals_and_opens_byte_for_byte);
  run("v2 rejects", every_v2_reject_is_refused_for_its_reason);
  run("v2 key derivation", every_v2_kdf_vector_derives_its_key);

  printf("lx106: stack used: %lu bytes\n", (unsigned long)stack_max);
  check(stack_max < lx106_stack_size(),
        "stack: %lu bytes used of the %lu reserved", (unsigned long)stack_max,
        (unsigned long)lx106_stack_size());
  printf("lx106: %u checks passed, %u failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
