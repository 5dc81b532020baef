/*
 * abi_test.c: the C ABI of include/mqttif.h, from C, without a network.
 * A fake platform records what the library asks of the port; the broker's
 * side is bytes fed to mqtt_if_tcp_received. Run by tests/c_abi.rs, also
 * under valgrind. Prints one line per check; exits 1 if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttif.h"

static int failures;
static int checks;

#define CHECK(cond)                                                    \
  do {                                                                 \
    checks++;                                                          \
    if (!(cond)) {                                                     \
      failures++;                                                      \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                  \
  } while (0)

#define CHECK_RES(expr, want)                                             \
  do {                                                                    \
    mqtt_if_result got_ = (expr);                                         \
    checks++;                                                             \
    if (got_ != (want)) {                                                 \
      failures++;                                                         \
      fprintf(stderr, "FAIL %s:%d: %s = %u (%s), want %s\n", __FILE__,    \
              __LINE__, #expr, (unsigned)got_, mqtt_if_result_str(got_), \
              #want);                                                     \
    }                                                                     \
  } while (0)

static uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  uint8_t bytes[4];
  uint32_t v;
  bytes[0] = a;
  bytes[1] = b;
  bytes[2] = c;
  bytes[3] = d;
  memcpy(&v, bytes, 4); /* lwIP byte order: network order in memory */
  return v;
}

/* ---- the fake platform ---- */

struct fake {
  int attach_calls, detach_calls, attach_fails;
  uint32_t ip, mask, gw;
  uint16_t mtu;
  int up;
  uint8_t flags;
  int connect_calls, connect_result, close_calls;
  char host[300];
  uint16_t port;
  uint8_t sent[65536];
  size_t sent_len;
  int send_limit; /* bytes accepted per call, 0 = all */
  uint8_t input[2048];
  size_t input_len;
  int input_calls;
  struct mqtt_if_data *mq;
  int reenter_output_from_input; /* answer a packet inside netif_input */
  mqtt_if_result reentrant_result;
  int reenter_from_send;
  mqtt_if_result busy_result;
  uint8_t ip6[16]; /* the netif's IPv6 address, all zero for none */
  int ip6_calls;
  int del_from_attach, del_from_detach; /* a port that deletes re-entrantly */
  int random_fails; /* the random callback reports failure */
};

static struct fake fake;

static int f_attach(void *ctx, struct mqtt_if_data *mq, uint32_t ip,
                    uint32_t mask, uint32_t gw, uint16_t mtu) {
  struct fake *f = (struct fake *)ctx;
  f->attach_calls++;
  if (f->del_from_attach) {
    mqtt_if_del(mq); /* must do nothing: the interface is being made */
  }
  if (f->attach_fails) {
    return -1;
  }
  f->mq = mq;
  f->ip = ip;
  f->mask = mask;
  f->gw = gw;
  f->mtu = mtu;
  f->up = 1;
  return 0;
}

static void f_detach(void *ctx) {
  struct fake *f = (struct fake *)ctx;
  f->detach_calls++;
  if (f->del_from_detach) {
    mqtt_if_del(f->mq); /* lwIP's netif_remove path calling back: a no-op */
  }
}

static void f_input(void *ctx, const uint8_t *packet, size_t len) {
  struct fake *f = (struct fake *)ctx;
  f->input_calls++;
  if (len <= sizeof f->input) {
    memcpy(f->input, packet, len);
    f->input_len = len;
  }
  if (f->reenter_output_from_input) {
    /* lwIP answers a ping inside its input function. */
    f->reentrant_result = mqtt_if_output(f->mq, packet, len, 0);
  }
}

static void f_set_addr(void *ctx, uint32_t ip, uint32_t mask, uint32_t gw) {
  struct fake *f = (struct fake *)ctx;
  f->ip = ip;
  f->mask = mask;
  f->gw = gw;
}

static void f_set_ip6addr(void *ctx, const uint8_t *addr) {
  struct fake *f = (struct fake *)ctx;
  f->ip6_calls++;
  memcpy(f->ip6, addr, 16);
}

static void f_set_up(void *ctx, bool up) { ((struct fake *)ctx)->up = up; }

static void f_set_mtu(void *ctx, uint16_t mtu) {
  ((struct fake *)ctx)->mtu = mtu;
}

static void f_set_flags(void *ctx, uint8_t set, uint8_t clear) {
  struct fake *f = (struct fake *)ctx;
  f->flags = (uint8_t)((f->flags | set) & (uint8_t)~clear);
}

static int f_connect(void *ctx, const char *host, uint16_t port) {
  struct fake *f = (struct fake *)ctx;
  f->connect_calls++;
  strncpy(f->host, host, sizeof f->host - 1);
  f->port = port;
  return f->connect_result;
}

static int32_t f_send(void *ctx, const uint8_t *data, size_t len) {
  struct fake *f = (struct fake *)ctx;
  if (f->reenter_from_send) {
    f->busy_result = mqtt_if_tick(f->mq, 0);
    mqtt_if_del(f->mq); /* refused: the interface is in use */
  }
  if (f->send_limit > 0 && len > (size_t)f->send_limit) {
    len = (size_t)f->send_limit;
  }
  if (f->sent_len + len > sizeof f->sent) {
    f->sent_len = 0;
  }
  memcpy(f->sent + f->sent_len, data, len);
  f->sent_len += len;
  return (int32_t)len;
}

static void f_close(void *ctx) { ((struct fake *)ctx)->close_calls++; }

static int f_random(void *ctx, uint8_t *buf, size_t len) {
  if (((struct fake *)ctx)->random_fails) {
    return -1;
  }
  memset(buf, 0x5a, len);
  return 0;
}

static void f_log(void *ctx, int level, const char *msg, size_t len) {
  (void)ctx;
  printf("  log[%d] %.*s\n", level, (int)len, msg);
}

static struct mqtt_if_platform platform(void) {
  struct mqtt_if_platform p;
  memset(&p, 0, sizeof p);
  p.netif_attach = f_attach;
  p.netif_detach = f_detach;
  p.netif_input = f_input;
  p.netif_set_addr = f_set_addr;
  p.netif_set_up = f_set_up;
  p.netif_set_mtu = f_set_mtu;
  p.netif_set_flags = f_set_flags;
  p.tcp_connect = f_connect;
  p.tcp_send = f_send;
  p.tcp_close = f_close;
  p.random = f_random;
  p.log = f_log;
  p.netif_set_ip6addr = f_set_ip6addr;
  return p;
}

static void reset_fake(void) {
  memset(&fake, 0, sizeof fake);
  fake.connect_result = 1;
}

/* Whether the bytes sent so far contain `needle`. */
static int sent_contains(const void *needle, size_t len) {
  size_t i;
  for (i = 0; i + len <= fake.sent_len; i++) {
    if (memcmp(fake.sent + i, needle, len) == 0) {
      return 1;
    }
  }
  return 0;
}

/* A 28-byte IPv4/UDP packet from 10.0.1.2 to `dst`. */
static size_t ip_packet(uint8_t *buf, uint8_t dst_last) {
  static const uint8_t header[28] = {
      0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 1, 2,
      10, 0, 1, 1, 0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0};
  memcpy(buf, header, sizeof header);
  buf[19] = dst_last;
  return sizeof header;
}

/* fd00::<last>, as 16 bytes in network order. */
static void fd00(uint8_t *out, uint8_t last) {
  memset(out, 0, 16);
  out[0] = 0xfd;
  out[15] = last;
}

/* A 48-byte IPv6/UDP packet from fd00::2 to `dst` (16 bytes). */
static size_t ip6_packet(uint8_t *buf, const uint8_t *dst) {
  static const uint8_t udp[8] = {0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0};
  memset(buf, 0, 40);
  buf[0] = 0x60;
  buf[5] = 8; /* payload length */
  buf[6] = 17; /* UDP */
  buf[7] = 64; /* hop limit */
  fd00(buf + 8, 2);
  memcpy(buf + 24, dst, 16);
  memcpy(buf + 40, udp, sizeof udp);
  return 48;
}

/* An MQTT PUBLISH (QoS 0) frame. */
static size_t publish_frame(uint8_t *out, const char *topic,
                            const uint8_t *payload, size_t len) {
  size_t tlen = strlen(topic);
  size_t body = 2 + tlen + len;
  size_t n = 0;
  out[n++] = 0x30;
  do { /* remaining length, variable-length integer */
    uint8_t byte = (uint8_t)(body % 128);
    body /= 128;
    out[n++] = (uint8_t)(body > 0 ? byte | 0x80 : byte);
  } while (body > 0);
  out[n++] = (uint8_t)(tlen >> 8);
  out[n++] = (uint8_t)tlen;
  memcpy(out + n, topic, tlen);
  n += tlen;
  memcpy(out + n, payload, len);
  return n + len;
}

static const uint8_t connack[4] = {0x20, 2, 0, 0};

/* ---- the checks ---- */

static void result_strings(void) {
  unsigned code;
  for (code = 0; code <= MQTT_IF_ERR_NOT_V2; code++) {
    const char *s = mqtt_if_result_str(code);
    CHECK(s != NULL && strlen(s) > 0);
  }
  CHECK(strcmp(mqtt_if_result_str(MQTT_IF_OK), "success") == 0);
  CHECK(strcmp(mqtt_if_result_str(9999), "unknown result code") == 0);
  CHECK(strcmp(mqtt_if_result_str(MQTT_IF_ERR_RANDOM + 1),
               "unknown result code") == 0);
}

static void without_a_platform_nothing_is_made(void) {
  struct mqtt_if_data *mq = (struct mqtt_if_data *)&fake; /* overwritten */
  struct mqtt_if_config c;
  memset(&c, 0, sizeof c);
  c.broker_host = "broker";
  CHECK(mqtt_if_init("broker", ip4(10, 0, 1, 2), "") == NULL);
  CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_ERR_NO_PLATFORM);
  CHECK(mq == NULL);
}

static void platform_registration_is_checked(void) {
  struct mqtt_if_platform p = platform();
  CHECK_RES(mqtt_if_set_platform(NULL, &fake), MQTT_IF_ERR_NULL);
  p.tcp_send = NULL;
  CHECK_RES(mqtt_if_set_platform(&p, &fake), MQTT_IF_ERR_NO_PLATFORM);
  p = platform();
  p.random = NULL;
  CHECK_RES(mqtt_if_set_platform(&p, &fake), MQTT_IF_ERR_NO_PLATFORM);
  p = platform();
  p.netif_attach = NULL; /* optional */
  p.log = NULL;
  CHECK_RES(mqtt_if_set_platform(&p, &fake), MQTT_IF_OK);
  p = platform();
  CHECK_RES(mqtt_if_set_platform(&p, &fake), MQTT_IF_OK);
}

static void init_and_del_attach_and_detach_the_netif(void) {
  struct mqtt_if_data *mq;
  reset_fake();
  mq = mqtt_if_init("broker.example", ip4(10, 0, 1, 2), "");
  CHECK(mq != NULL);
  CHECK(fake.attach_calls == 1 && fake.mq == mq);
  CHECK(fake.ip == ip4(10, 0, 1, 2));
  CHECK(fake.mask == ip4(255, 255, 255, 0));
  CHECK(fake.gw == 0 && fake.mtu == 1500);
  CHECK(fake.connect_calls == 0); /* the first tick connects */
  CHECK(!mqtt_if_is_connected(mq));
  mqtt_if_del(mq);
  CHECK(fake.detach_calls == 1 && fake.close_calls == 0);

  reset_fake();
  mq = mqtt_if_init_auth("b", "user", "secret", ip4(10, 0, 1, 3), "pw");
  CHECK(mq != NULL && fake.ip == ip4(10, 0, 1, 3));
  mqtt_if_del(mq);

  reset_fake();
  mq = mqtt_if_init_full("b", NULL, NULL, 1884, "vpn/site1", "pw",
                         ip4(10, 9, 0, 2), ip4(255, 255, 0, 0),
                         ip4(10, 9, 0, 1));
  CHECK(mq != NULL && fake.mask == ip4(255, 255, 0, 0));
  CHECK(fake.gw == ip4(10, 9, 0, 1));
  CHECK_RES(mqtt_if_tick(mq, 0), MQTT_IF_OK);
  CHECK(fake.connect_calls == 1 && strcmp(fake.host, "b") == 0);
  CHECK(fake.port == 1884);
  mqtt_if_del(mq);
  CHECK(fake.close_calls == 1 && fake.detach_calls == 1);

  reset_fake();
  mq = mqtt_vpn_if_init("mqtt://broker.lan:1885", NULL, NULL, NULL, "",
                        ip4(10, 0, 1, 4), ip4(255, 255, 255, 0), 0);
  CHECK(mq != NULL);
  mqtt_if_tick(mq, 5);
  CHECK(strcmp(fake.host, "broker.lan") == 0 && fake.port == 1885);
  mqtt_if_del(mq);

  reset_fake();
  fake.attach_fails = 1;
  CHECK(mqtt_if_init("b", ip4(10, 0, 1, 2), "") == NULL);
  CHECK(fake.attach_calls == 1 && fake.detach_calls == 0);

  mqtt_if_del(NULL); /* a no-op */
}

static void null_handles_are_refused_everywhere(void) {
  uint8_t packet[28];
  size_t n = ip_packet(packet, 1);
  CHECK_RES(mqtt_if_tick(NULL, 0), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_tcp_connected(NULL), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_tcp_closed(NULL), MQTT_IF_ERR_NULL);
  CHECK(mqtt_if_tcp_received(NULL, connack, sizeof connack) == 0);
  CHECK_RES(mqtt_if_output(NULL, packet, n, 0), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_output6(NULL, packet, n, NULL), MQTT_IF_ERR_NULL);
  CHECK(!mqtt_if_is_connected(NULL));
  CHECK_RES(mqtt_if_add_reading_topic(NULL, ip4(172, 16, 0, 1)),
            MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_add_wildcard_reading_topic(NULL), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_flush_reading_topic(NULL), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_subscribe(NULL), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_unsubscribe(NULL), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_password(NULL, "pw"), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_ipaddr(NULL, 0), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_netmask(NULL, 0), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_gw(NULL, 0), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_ip6addr(NULL, "fd00::2"), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_up(NULL), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_down(NULL), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_mtu(NULL, 1400), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_flag(NULL, 1), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_clear_flag(NULL, 1), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_keepalive(NULL, 20), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_new(NULL, NULL), MQTT_IF_ERR_NULL);
  mqtt_if_del(NULL);
}

static void bad_strings_are_refused(void) {
  struct mqtt_if_config c;
  struct mqtt_if_data *mq = NULL;
  char long_host[400];
  char long_prefix[200];
  const char *bad_prefixes[] = {"a/+", "#", "mqttip/#", "$SYS"};
  size_t i;

  reset_fake();
  memset(long_host, 'h', sizeof long_host - 1);
  long_host[sizeof long_host - 1] = 0;
  memset(long_prefix, 'p', 129);
  long_prefix[129] = 0;

  CHECK(mqtt_if_init(NULL, ip4(10, 0, 1, 2), "") == NULL);
  CHECK(mqtt_if_init("\xff\xfe", ip4(10, 0, 1, 2), "") == NULL);
  CHECK(mqtt_if_init(long_host, ip4(10, 0, 1, 2), "") == NULL);
  CHECK(mqtt_if_init_auth("b", "\xc3\x28", "pw", ip4(10, 0, 1, 2), "") ==
        NULL);
  CHECK(mqtt_if_init_full("b", NULL, NULL, 0, NULL, "", 1, 2, 3) == NULL);
  CHECK(mqtt_if_init_full("b", NULL, NULL, -1, NULL, "", 1, 2, 3) == NULL);
  CHECK(mqtt_if_init_full("b", NULL, NULL, 70000, NULL, "", 1, 2, 3) == NULL);
  CHECK(mqtt_if_init_full("b", NULL, NULL, 1883, long_prefix, "", 1, 2, 3) ==
        NULL);
  CHECK(mqtt_vpn_if_init(NULL, NULL, NULL, NULL, "", 1, 2, 3) == NULL);
  CHECK(mqtt_vpn_if_init("mqtts://b:8883", NULL, NULL, NULL, "", 1, 2, 3) ==
        NULL);
  CHECK(mqtt_vpn_if_init("mqtt://:1883", NULL, NULL, NULL, "", 1, 2, 3) ==
        NULL);
  CHECK(fake.attach_calls == 0);

  memset(&c, 0, sizeof c);
  c.ipaddr = ip4(10, 0, 1, 2);
  CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_ERR_NULL); /* no host */
  CHECK(mq == NULL);
  c.broker_host = "\xff";
  CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_ERR_UTF8);
  c.broker_host = long_host;
  CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_ERR_TOO_LONG);
  c.broker_host = "b";
  for (i = 0; i < sizeof bad_prefixes / sizeof bad_prefixes[0]; i++) {
    c.topic_prefix = bad_prefixes[i];
    CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_ERR_INVALID_PREFIX);
  }
  c.topic_prefix = long_prefix;
  CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_ERR_INVALID_PREFIX);
  c.topic_prefix = NULL;
  c.broker_password = "pw"; /* without a user name */
  CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_ERR_INVALID_ARGUMENT);
  c.broker_password = NULL;
  c.mtu = 67;
  CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_ERR_INVALID_ARGUMENT);
  c.mtu = 1501;
  CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_ERR_INVALID_ARGUMENT);
  c.mtu = 0;
  CHECK_RES(mqtt_if_new(&c, NULL), MQTT_IF_ERR_NULL);
  CHECK(fake.attach_calls == 0);
  CHECK_RES(mqtt_if_new(&c, &mq), MQTT_IF_OK);
  CHECK(mq != NULL);

  CHECK_RES(mqtt_if_set_password(mq, long_host), MQTT_IF_ERR_TOO_LONG);
  CHECK_RES(mqtt_if_set_password(mq, NULL), MQTT_IF_OK); /* plain */
  CHECK_RES(mqtt_if_set_mtu(mq, 67), MQTT_IF_ERR_INVALID_ARGUMENT);
  CHECK_RES(mqtt_if_set_mtu(mq, 1501), MQTT_IF_ERR_INVALID_ARGUMENT);
  CHECK_RES(mqtt_if_set_mtu(mq, -5), MQTT_IF_ERR_INVALID_ARGUMENT);
  CHECK_RES(mqtt_if_set_flag(mq, 256), MQTT_IF_ERR_INVALID_ARGUMENT);
  CHECK_RES(mqtt_if_clear_flag(mq, -1), MQTT_IF_ERR_INVALID_ARGUMENT);
  mqtt_if_del(mq);
}

static void netif_control_reaches_the_platform(void) {
  struct mqtt_if_data *mq;
  reset_fake();
  mq = mqtt_if_init("b", ip4(10, 0, 1, 2), "");
  CHECK_RES(mqtt_if_set_ipaddr(mq, ip4(10, 0, 1, 9)), MQTT_IF_OK);
  CHECK(fake.ip == ip4(10, 0, 1, 9));
  CHECK_RES(mqtt_if_set_netmask(mq, ip4(255, 255, 0, 0)), MQTT_IF_OK);
  CHECK(fake.mask == ip4(255, 255, 0, 0) && fake.ip == ip4(10, 0, 1, 9));
  /* a mask with a hole is refused and the netif keeps its mask */
  CHECK_RES(mqtt_if_set_netmask(mq, ip4(255, 0, 255, 0)),
            MQTT_IF_ERR_INVALID_ARGUMENT);
  CHECK(fake.mask == ip4(255, 255, 0, 0));
  CHECK_RES(mqtt_if_set_gw(mq, ip4(10, 0, 0, 1)), MQTT_IF_OK);
  CHECK(fake.gw == ip4(10, 0, 0, 1));
  CHECK_RES(mqtt_if_set_down(mq), MQTT_IF_OK);
  CHECK(fake.up == 0);
  CHECK_RES(mqtt_if_set_up(mq), MQTT_IF_OK);
  CHECK(fake.up == 1);
  CHECK_RES(mqtt_if_set_mtu(mq, 1400), MQTT_IF_OK);
  CHECK(fake.mtu == 1400);
  CHECK_RES(mqtt_if_set_flag(mq, 0x21), MQTT_IF_OK);
  CHECK_RES(mqtt_if_clear_flag(mq, 0x01), MQTT_IF_OK);
  CHECK(fake.flags == 0x20);
  mqtt_if_del(mq);
}

/* Connects a fresh interface at address 10.0.1.2 through CONNACK. */
static struct mqtt_if_data *connected(const char *password) {
  struct mqtt_if_data *mq;
  reset_fake();
  mq = mqtt_if_init("b", ip4(10, 0, 1, 2), password);
  CHECK_RES(mqtt_if_output(mq, (const uint8_t *)"x", 1, 0),
            MQTT_IF_ERR_NOT_CONNECTED);
  CHECK_RES(mqtt_if_tcp_connected(mq), MQTT_IF_ERR_STATE);
  CHECK_RES(mqtt_if_tick(mq, 0), MQTT_IF_OK);
  CHECK(fake.connect_calls == 1 && fake.sent_len > 12 && fake.sent[0] == 0x10);
  CHECK(sent_contains("MQTT_VPN_", 9));
  CHECK(mqtt_if_tcp_received(mq, connack, sizeof connack) == sizeof connack);
  CHECK(mqtt_if_is_connected(mq));
  CHECK(sent_contains("mqttip/10.0.1.2", 15));
  CHECK(sent_contains("mqttip/255.255.255.255", 22));
  return mq;
}

static void packets_cross_in_plain_mode(void) {
  uint8_t packet[28], frame[128];
  size_t n, f;
  struct mqtt_if_data *mq = connected("");

  n = ip_packet(packet, 1);
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output(mq, packet, n, ip4(10, 0, 1, 7)), MQTT_IF_OK);
  /* the next hop picks the topic */
  f = publish_frame(frame, "mqttip/10.0.1.7", packet, n);
  CHECK(fake.sent_len == f && memcmp(fake.sent, frame, f) == 0);
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output(mq, packet, n, ip4(255, 255, 255, 255)),
            MQTT_IF_OK);
  CHECK(sent_contains("mqttip/255.255.255.255", 22));
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output(mq, packet, n, 0), MQTT_IF_OK);
  CHECK(sent_contains("mqttip/10.0.1.1", 15));
  CHECK_RES(mqtt_if_output(mq, packet, 10, 0), MQTT_IF_ERR_DROPPED);
  CHECK_RES(mqtt_if_output(mq, NULL, 10, 0), MQTT_IF_ERR_NULL);

  /* inbound: only our topics, delivered byte for byte */
  n = ip_packet(packet, 2); /* for us, 10.0.1.2 */
  f = publish_frame(frame, "mqttip/10.0.1.2", packet, n);
  CHECK(mqtt_if_tcp_received(mq, frame, f) == f);
  CHECK(fake.input_calls == 1 && fake.input_len == n);
  CHECK(memcmp(fake.input, packet, n) == 0);
  f = publish_frame(frame, "mqttip/10.0.1.3", packet, n);
  CHECK(mqtt_if_tcp_received(mq, frame, f) == f);
  CHECK(fake.input_calls == 1);
  /* on our topic but for someone else: dropped and counted, never relayed */
  {
    struct mqtt_if_stats stats;
    n = ip_packet(packet, 9);
    f = publish_frame(frame, "mqttip/10.0.1.2", packet, n);
    CHECK(mqtt_if_tcp_received(mq, frame, f) == f && fake.input_calls == 1);
    CHECK_RES(mqtt_if_get_stats(mq, &stats), MQTT_IF_OK);
    CHECK(stats.dropped_in[MQTT_IF_DROP_NOT_FOR_THIS_NODE] == 1);
  }
  /* the reading topic's address is ours to deliver */
  packet[16] = 172, packet[17] = 16, packet[18] = 0, packet[19] = 100;
  CHECK(mqtt_if_tcp_received(mq, NULL, 5) == 0);
  CHECK(mqtt_if_tcp_received(mq, NULL, 0) == 0);

  /* a reading topic added while connected is subscribed at once */
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_add_reading_topic(mq, ip4(172, 16, 0, 100)), MQTT_IF_OK);
  CHECK(sent_contains("mqttip/172.16.0.100", 19));
  f = publish_frame(frame, "mqttip/172.16.0.100", packet, n);
  CHECK(mqtt_if_tcp_received(mq, frame, f) == f && fake.input_calls == 2);
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_flush_reading_topic(mq), MQTT_IF_OK);
  CHECK(fake.sent_len > 0 && fake.sent[0] == 0xa2); /* UNSUBSCRIBE */
  CHECK(mqtt_if_tcp_received(mq, frame, f) == f && fake.input_calls == 2);
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_add_wildcard_reading_topic(mq), MQTT_IF_OK);
  CHECK(sent_contains("mqttip/#", 8));
  CHECK(mqtt_if_tcp_received(mq, frame, f) == f && fake.input_calls == 3);
  CHECK_RES(mqtt_if_unsubscribe(mq), MQTT_IF_OK);
  CHECK_RES(mqtt_if_subscribe(mq), MQTT_IF_OK);

  /* the address moves, and the subscription with it */
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_set_ipaddr(mq, ip4(10, 0, 1, 20)), MQTT_IF_OK);
  CHECK(sent_contains("mqttip/10.0.1.20", 16));

  /* a partial socket still gets every byte, in order */
  fake.sent_len = 0;
  fake.send_limit = 7;
  CHECK_RES(mqtt_if_output(mq, packet, n, ip4(10, 0, 1, 7)), MQTT_IF_OK);
  mqtt_if_tick(mq, 10);
  mqtt_if_tick(mq, 11);
  mqtt_if_tick(mq, 12);
  mqtt_if_tick(mq, 13);
  mqtt_if_tick(mq, 14);
  mqtt_if_tick(mq, 15);
  f = publish_frame(frame, "mqttip/10.0.1.7", packet, n);
  CHECK(fake.sent_len == f && memcmp(fake.sent, frame, f) == 0);
  fake.send_limit = 0;

  fake.sent_len = 0;
  mqtt_if_del(mq);
  CHECK(fake.sent_len == 2 && fake.sent[0] == 0xe0); /* DISCONNECT */
  CHECK(fake.close_calls == 1 && fake.detach_calls == 1);
}

static void sealed_packets_carry_56_bytes_more(void) {
  uint8_t packet[28];
  size_t n = ip_packet(packet, 1);
  struct mqtt_if_data *mq = connected("secret");
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output(mq, packet, n, 0), MQTT_IF_OK);
  /* 0x30, length, topic length (2), topic (15), payload */
  CHECK(fake.sent_len == 2 + 2 + 15 + n + 56);
  CHECK(fake.sent[1] == 2 + 15 + n + 56);
  mqtt_if_del(mq);
}

static void lwip_may_answer_inside_netif_input(void) {
  uint8_t packet[28], frame[128];
  size_t n = ip_packet(packet, 2), f;
  struct mqtt_if_data *mq = connected("");
  fake.reenter_output_from_input = 1;
  fake.reentrant_result = MQTT_IF_ERR_PANIC;
  fake.sent_len = 0;
  f = publish_frame(frame, "mqttip/10.0.1.2", packet, n);
  CHECK(mqtt_if_tcp_received(mq, frame, f) == f);
  CHECK_RES(fake.reentrant_result, MQTT_IF_OK);
  CHECK(sent_contains("mqttip/10.0.1.2", 15));
  fake.reenter_output_from_input = 0;

  /* other callbacks must not call in: refused, not corrupted */
  fake.reenter_from_send = 1;
  fake.busy_result = MQTT_IF_OK;
  CHECK_RES(mqtt_if_output(mq, packet, n, 0), MQTT_IF_OK);
  CHECK_RES(fake.busy_result, MQTT_IF_ERR_BUSY);
  fake.reenter_from_send = 0;
  CHECK(mqtt_if_is_connected(mq));
  mqtt_if_del(mq);
}

static void ipv6_addresses_are_checked_before_anything_changes(void) {
  static const char *const invalid[] = {
      "",            "fd00::zz",  "fd00:::2",    "10.0.1.2", "fe80::1%mq0",
      "ff02::1",     "ff05::1:3", "::1",         " fd00::2", "fd00::2 ",
      "1:2:3:4:5:6:7:8:9"};
  char too_long[64];
  uint8_t want[16];
  struct mqtt_if_data *mq;
  size_t i;

  reset_fake();
  mq = mqtt_if_init("b", ip4(10, 0, 1, 2), "");
  CHECK_RES(mqtt_if_set_ip6addr(mq, NULL), MQTT_IF_ERR_NULL);
  CHECK_RES(mqtt_if_set_ip6addr(mq, "fd00::\xff"), MQTT_IF_ERR_UTF8);
  for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
    mqtt_if_result res = mqtt_if_set_ip6addr(mq, invalid[i]);
    checks++;
    if (res != MQTT_IF_ERR_INVALID_ADDRESS) {
      failures++;
      fprintf(stderr, "FAIL: mqtt_if_set_ip6addr(\"%s\") = %s\n", invalid[i],
              mqtt_if_result_str(res));
    }
  }
  /* 46 bytes: one more than the longest address text */
  memset(too_long, 0, sizeof too_long);
  memcpy(too_long, "0000:0000:0000:0000:0000:ffff:255.255.255.2551", 46);
  CHECK_RES(mqtt_if_set_ip6addr(mq, too_long), MQTT_IF_ERR_TOO_LONG);
  CHECK(fake.ip6_calls == 0);

  /* the longest text there is, taken */
  CHECK_RES(
      mqtt_if_set_ip6addr(mq, "0000:0000:0000:0000:0000:ffff:255.255.255.255"),
      MQTT_IF_OK);
  CHECK(fake.ip6_calls == 1 && fake.ip6[10] == 0xff && fake.ip6[15] == 0xff);
  CHECK_RES(mqtt_if_set_ip6addr(mq, "FD00:0:0:0:0:0:0:2"), MQTT_IF_OK);
  fd00(want, 2);
  CHECK(fake.ip6_calls == 2 && memcmp(fake.ip6, want, 16) == 0);
  CHECK_RES(mqtt_if_set_ip6addr(mq, "::"), MQTT_IF_OK); /* removed */
  memset(want, 0, 16);
  CHECK(fake.ip6_calls == 3 && memcmp(fake.ip6, want, 16) == 0);
  mqtt_if_del(mq);
}

static void ipv6_packets_cross_when_the_interface_has_an_ipv6_address(void) {
  uint8_t packet[48], frame[128], dst[16], hop[16], all_nodes[16];
  size_t n, f;
  struct mqtt_if_data *mq = connected("");

  fd00(dst, 1);
  n = ip6_packet(packet, dst);

  /* set while connected: both topics subscribed at once, as RFC 5952 writes
   * the address */
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_set_ip6addr(mq, "fd00:0:0::2"), MQTT_IF_OK);
  CHECK(sent_contains("mqttip/fd00::2", 14));
  CHECK(sent_contains("mqttip/ff02::1", 14));

  /* outbound: the topic of the destination, byte for byte */
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output6(mq, packet, n, NULL), MQTT_IF_OK);
  f = publish_frame(frame, "mqttip/fd00::1", packet, n);
  CHECK(fake.sent_len == f && memcmp(fake.sent, frame, f) == 0);
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output6(mq, packet, n, dst), MQTT_IF_OK); /* lwIP's */
  CHECK(fake.sent_len == f && memcmp(fake.sent, frame, f) == 0);
  memset(hop, 0, sizeof hop);
  CHECK_RES(mqtt_if_output6(mq, packet, n, hop), MQTT_IF_OK); /* :: */
  fd00(hop, 9);
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output6(mq, packet, n, hop), MQTT_IF_ERR_DROPPED);
  CHECK(fake.sent_len == 0);
  /* mqtt_if_output still takes IPv6 with no next hop, and only so */
  CHECK_RES(mqtt_if_output(mq, packet, n, 0), MQTT_IF_OK);
  CHECK(sent_contains("mqttip/fd00::1", 14));
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output(mq, packet, n, ip4(10, 0, 1, 7)),
            MQTT_IF_ERR_DROPPED);
  CHECK(fake.sent_len == 0);
  {
    uint8_t v4[28];
    size_t n4 = ip_packet(v4, 1);
    CHECK_RES(mqtt_if_output6(mq, v4, n4, NULL), MQTT_IF_ERR_DROPPED);
    CHECK(fake.sent_len == 0);
  }
  CHECK_RES(mqtt_if_output6(mq, packet, 39, NULL), MQTT_IF_ERR_DROPPED);
  CHECK_RES(mqtt_if_output6(mq, NULL, n, NULL), MQTT_IF_ERR_NULL);

  /* multicast: all nodes has a topic, the rest is not carried */
  memset(all_nodes, 0, 16);
  all_nodes[0] = 0xff;
  all_nodes[1] = 0x02;
  all_nodes[15] = 1;
  n = ip6_packet(packet, all_nodes);
  CHECK_RES(mqtt_if_output6(mq, packet, n, all_nodes), MQTT_IF_OK);
  CHECK(sent_contains("mqttip/ff02::1", 14));
  packet[39] = 2; /* ff02::2, all routers */
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output6(mq, packet, n, NULL), MQTT_IF_ERR_DROPPED);
  CHECK(fake.sent_len == 0);

  /* inbound: the IPv6 topics are read, delivered byte for byte */
  fd00(dst, 2);
  n = ip6_packet(packet, dst);
  f = publish_frame(frame, "mqttip/fd00::2", packet, n);
  CHECK(mqtt_if_tcp_received(mq, frame, f) == f);
  CHECK(fake.input_calls == 1 && fake.input_len == n);
  CHECK(memcmp(fake.input, packet, n) == 0);
  f = publish_frame(frame, "mqttip/fd00::3", packet, n);
  CHECK(mqtt_if_tcp_received(mq, frame, f) == f && fake.input_calls == 1);

  /* removed: unsubscribed, and no longer read */
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_set_ip6addr(mq, "::"), MQTT_IF_OK);
  CHECK(fake.sent_len > 0 && fake.sent[0] == 0xa2); /* UNSUBSCRIBE */
  CHECK(sent_contains("mqttip/fd00::2", 14));
  f = publish_frame(frame, "mqttip/fd00::2", packet, n);
  CHECK(mqtt_if_tcp_received(mq, frame, f) == f && fake.input_calls == 1);
  mqtt_if_del(mq);

  /* not connected: dropped, as for IPv4 */
  reset_fake();
  mq = mqtt_if_init("b", ip4(10, 0, 1, 2), "");
  CHECK_RES(mqtt_if_set_ip6addr(mq, "fd00::2"), MQTT_IF_OK);
  CHECK_RES(mqtt_if_output6(mq, packet, n, NULL), MQTT_IF_ERR_NOT_CONNECTED);
  mqtt_if_del(mq);
}

static void sealed_ipv6_packets_carry_56_bytes_more(void) {
  uint8_t packet[48], dst[16];
  size_t n;
  struct mqtt_if_data *mq = connected("secret");
  fd00(dst, 1);
  n = ip6_packet(packet, dst);
  CHECK_RES(mqtt_if_set_ip6addr(mq, "fd00::2"), MQTT_IF_OK);
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output6(mq, packet, n, dst), MQTT_IF_OK);
  /* 0x30, length, topic length (2), topic (14), payload */
  CHECK(fake.sent_len == 2 + 2 + 14 + n + 56);
  CHECK(sent_contains("mqttip/fd00::1", 14));
  CHECK(!sent_contains(packet, n)); /* sealed, not plain */
  mqtt_if_del(mq);
}

static void a_lost_connection_is_retried_with_backoff(void) {
  struct mqtt_if_data *mq = connected("");
  CHECK_RES(mqtt_if_tcp_closed(mq), MQTT_IF_OK);
  CHECK(!mqtt_if_is_connected(mq));
  CHECK_RES(mqtt_if_tcp_closed(mq), MQTT_IF_ERR_STATE);
  fake.connect_result = -1;
  mqtt_if_tick(mq, 999);
  CHECK(fake.connect_calls == 1);
  mqtt_if_tick(mq, 1000); /* 1 s */
  CHECK(fake.connect_calls == 2);
  mqtt_if_tick(mq, 2999);
  CHECK(fake.connect_calls == 2);
  mqtt_if_tick(mq, 3000); /* then 2 s */
  CHECK(fake.connect_calls == 3);
  fake.connect_result = 0; /* connecting: the port reports later */
  mqtt_if_tick(mq, 7000); /* then 4 s */
  CHECK(fake.connect_calls == 4);
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_tcp_connected(mq), MQTT_IF_OK);
  CHECK(fake.sent_len > 0 && fake.sent[0] == 0x10);
  fake.sent_len = 0;
  CHECK(mqtt_if_tcp_received(mq, connack, sizeof connack) == 4);
  CHECK(mqtt_if_is_connected(mq));
  CHECK(sent_contains("mqttip/10.0.1.2", 15)); /* subscribed again */
  /* a broker that refuses: the session fails, the socket is closed */
  CHECK_RES(mqtt_if_tcp_closed(mq), MQTT_IF_OK);
  fake.connect_result = 1;
  mqtt_if_tick(mq, 8000); /* backoff was reset to 1 s by the CONNACK */
  CHECK(fake.connect_calls == 5);
  {
    static const uint8_t refused[4] = {0x20, 2, 0, 5};
    int closes = fake.close_calls;
    CHECK(mqtt_if_tcp_received(mq, refused, 4) == 4);
    CHECK(fake.close_calls == closes + 1 && !mqtt_if_is_connected(mq));
  }
  CHECK_RES(mqtt_if_set_keepalive(mq, 20), MQTT_IF_OK);
  mqtt_if_del(mq);
}

/* A nonce the port could not draw never goes out as zeros: the packet is
 * dropped and counted, and an interface without a client id cannot even be
 * made without random bytes. */
static void a_failing_random_source_drops_and_counts_the_packet(void) {
  uint8_t packet[28];
  size_t n;
  struct mqtt_if_stats stats;
  struct mqtt_if_data *mq = connected("pw");
  n = ip_packet(packet, 1);
  fake.random_fails = 1;
  fake.sent_len = 0;
  CHECK_RES(mqtt_if_output(mq, packet, n, 0), MQTT_IF_ERR_DROPPED);
  CHECK(fake.sent_len == 0);
  CHECK_RES(mqtt_if_get_stats(mq, &stats), MQTT_IF_OK);
  CHECK(stats.dropped_no_random == 1 && stats.tx_packets == 0);
  fake.random_fails = 0;
  CHECK_RES(mqtt_if_output(mq, packet, n, 0), MQTT_IF_OK);
  CHECK(fake.sent_len == 2 + 2 + 15 + n + 56);
  mqtt_if_del(mq);
  fake.random_fails = 1;
  CHECK(mqtt_if_init("b", ip4(10, 0, 1, 2), "pw") == NULL);
  fake.random_fails = 0;
}

/* The header promises that mqtt_if_del from a platform callback does
 * nothing; a second free would show under valgrind (and often crash). */
static void a_delete_from_a_platform_callback_does_nothing(void) {
  struct mqtt_if_data *mq;
  reset_fake();
  fake.del_from_detach = 1;
  mq = mqtt_if_init("b", ip4(10, 0, 1, 2), "");
  CHECK(mq != NULL);
  mqtt_if_del(mq);
  CHECK(fake.detach_calls == 1);

  reset_fake();
  fake.del_from_attach = 1;
  mq = mqtt_if_init("b", ip4(10, 0, 1, 2), "");
  CHECK(mq != NULL && fake.attach_calls == 1);
  CHECK_RES(mqtt_if_tick(mq, 0), MQTT_IF_OK); /* still alive and usable */
  CHECK(fake.connect_calls == 1);
  fake.del_from_attach = 0;
  mqtt_if_del(mq);
  CHECK(fake.detach_calls == 1);
}

int main(void) {
  without_a_platform_nothing_is_made();
  platform_registration_is_checked();
  result_strings();
  init_and_del_attach_and_detach_the_netif();
  null_handles_are_refused_everywhere();
  bad_strings_are_refused();
  netif_control_reaches_the_platform();
  packets_cross_in_plain_mode();
  sealed_packets_carry_56_bytes_more();
  lwip_may_answer_inside_netif_input();
  ipv6_addresses_are_checked_before_anything_changes();
  ipv6_packets_cross_when_the_interface_has_an_ipv6_address();
  sealed_ipv6_packets_carry_56_bytes_more();
  a_lost_connection_is_retried_with_backoff();
  a_failing_random_source_drops_and_counts_the_packet();
  a_delete_from_a_platform_callback_does_nothing();
  printf("abi_test: %d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
