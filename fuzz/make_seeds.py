#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/<target>/ (the files named
`seed-*`). Deterministic; run from anywhere: python3 fuzz/make_seeds.py

The sealed payloads are the wire-v1 vectors of tests/data/wire-v1.json (made
with NaCl), so no crypto library is needed here. Input formats: the module
docs of fuzz/src/<target>.rs.
"""

import json
import pathlib
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
VECTORS = json.loads((FUZZ.parent / "tests/data/wire-v1.json").read_text())


def vector(name, field="payload"):
    for v in VECTORS["vectors"] + VECTORS["reject"]:
        if v["name"] == name:
            return bytes.fromhex(v[field])
    raise KeyError(name)


def write(target, name, data):
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def ipv4(src, dst, payload=b"", proto=17, options=b""):
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 0x1234, 0x4000, 64,
                    proto, 0, bytes(src), bytes(dst))
    return h + options + payload


def ipv6(src, dst, payload=b"", nh=58):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64,
                       bytes(src), bytes(dst)) + payload


FD00_1 = bytes([0xfd] + [0] * 14 + [1])
FD00_2 = bytes([0xfd] + [0] * 14 + [2])
FF02_1 = bytes([0xff, 2] + [0] * 13 + [1])
FF02_1_FF00_2 = bytes([0xff, 2] + [0] * 9 + [1, 0xff, 0, 0, 2])  # solicited-node
A1, A2, A3, BCAST = [10, 0, 1, 1], [10, 0, 1, 2], [10, 0, 1, 3], [255] * 4
UDP = struct.pack("!HHHH", 12345, 12345, 12, 0) + b"ping"
ICMP_ECHO = vector("icmp_echo_secret", "plaintext")


def remaining_length(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + remaining_length(len(body)) + body


def publish(topic, payload, qos=0, pid=1, dup=False, retain=False):
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t
    if qos:
        body += struct.pack("!H", pid)
    return packet(0x30 | qos << 1 | (8 if dup else 0) | (1 if retain else 0), body + payload)


CONNACK = bytes([0x20, 2, 0, 0])
SUBACK = lambda pid, *codes: packet(0x90, struct.pack("!H", pid) + bytes(codes))
UNSUBACK = lambda pid: bytes([0xb0, 2]) + struct.pack("!H", pid)
PUBREL = lambda pid: bytes([0x62, 2]) + struct.pack("!H", pid)
PUBACK = lambda pid: bytes([0x40, 2]) + struct.pack("!H", pid)
PINGRESP = bytes([0xd0, 0])

# ---- wire_open: payloads opened with "secret" ----
for v in VECTORS["vectors"]:
    if v["password"] == "secret":
        write("wire_open", f"vector-{v['name']}", bytes.fromhex(v["payload"]))
for v in VECTORS["reject"]:
    if v["password"] == "secret":  # not "wrong_password": it opens with "secret"
        write("wire_open", f"reject-{v['name']}", bytes.fromhex(v["payload"]))
write("wire_open", "other-password-mtu_1500", vector("mtu_1500"))

# ---- ip_peek ----
for v in VECTORS["vectors"]:
    write("ip_peek", f"vector-{v['name']}", bytes.fromhex(v["plaintext"]))
write("ip_peek", "ipv4-udp", ipv4(A1, A2, UDP))
write("ip_peek", "ipv4-options", ipv4(A1, A2, UDP, options=bytes([0x94, 4, 0, 0])))
write("ip_peek", "ipv4-link-padding", ipv4(A1, A2, b"") + bytes(26))
write("ip_peek", "ipv4-truncated", ipv4(A1, A2, UDP)[:30])
write("ip_peek", "ipv6-neighbour-solicitation",
      ipv6(FD00_1, FF02_1_FF00_2, bytes([135, 0, 0, 0, 0, 0, 0, 0]) + FD00_2))
write("ip_peek", "ipv6-all-nodes", ipv6(FD00_1, FF02_1, bytes([128, 0, 0, 0, 0, 1, 0, 1])))

# ---- topic_parse: flags || prefix \n topic \n payload ----
def topic_seed(name, flags, prefix, topic, payload):
    write("topic_parse", name, bytes([flags]) + prefix + b"\n" + topic + b"\n" + payload)

topic_seed("own-sealed-vector", 0, b"mqttip", b"mqttip/10.0.1.2", vector("icmp_echo_secret"))
topic_seed("broadcast-sealed-vector", 0, b"mqttip", b"mqttip/255.255.255.255",
           vector("min_ipv4_header_broadcast"))
topic_seed("own-plain", 0, b"mqttip", b"mqttip/10.0.1.2", ipv4(A1, A2, UDP))
topic_seed("subnet-broadcast-plain", 0, b"mqttip", b"mqttip/255.255.255.255",
           ipv4(A1, [10, 0, 1, 255], UDP))
topic_seed("reading-topic", 0x04, b"mqttip", b"mqttip/10.0.1.3", ipv4(A1, A3, UDP))
topic_seed("read-all-other-node", 0x01, b"vpn/site", b"vpn/site/10.9.9.9", ipv4(A1, [10, 9, 9, 9]))
topic_seed("ipv6-own", 0x02, b"mqttip", b"mqttip/fd00::2", ipv6(FD00_1, FD00_2, UDP, nh=17))
topic_seed("ipv6-all-nodes", 0x02, b"mqttip", b"mqttip/ff02::1",
           ipv6(FD00_1, FF02_1, bytes([128, 0, 0, 0, 0, 1, 0, 1])))
topic_seed("ipv6-multicast-not-carried", 0x02, b"mqttip", b"mqttip/fd00::2",
           ipv6(FD00_1, FF02_1_FF00_2, bytes(24)))
topic_seed("other-prefix", 0, b"mqttip", b"other/10.0.1.2", ipv4(A1, A2))
topic_seed("leading-zero", 0, b"mqttip", b"mqttip/10.0.01.2", ipv4(A1, A2))
topic_seed("reserved-prefix", 0, b"$SYS", b"$SYS/10.0.1.2", ipv4(A1, A2))
topic_seed("wildcard-prefix", 0, b"a/+/b", b"a/+/b/10.0.1.2", ipv4(A1, A2))
topic_seed("longest-prefix", 0, b"p" * 128, b"p" * 128 + b"/ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", b"")
topic_seed("mtu-576-too-large", 0x40, b"mqttip", b"mqttip/10.0.1.2", ipv4(A1, A2, bytes(600)))
topic_seed("short-buffer", 0x08, b"mqttip", b"mqttip/10.0.1.2", ipv4(A1, A2, UDP))
topic_seed("netmask-31", 0x10, b"mqttip", b"mqttip/10.0.1.3", ipv4(A2, A3, UDP))

# ---- mqtt_session: options || seed (4) || stream ----
def session_seed(name, options, stream, seed=0x12345678):
    write("mqtt_session", name, bytes([options]) + struct.pack("!I", seed) + stream)

SEALED = vector("icmp_echo_secret")
session_seed("connack-suback-publish", 0x3a, CONNACK + SUBACK(1, 0, 0) + publish("mqttip/10.0.1.2", SEALED))
session_seed("qos1-qos2-pubrel", 0xba,
             CONNACK + SUBACK(1, 0, 0x80) + publish("mqttip/10.0.1.2", b"one", qos=1, pid=7)
             + publish("mqttip/10.0.1.2", b"two", qos=2, pid=8)
             + publish("mqttip/10.0.1.2", b"two", qos=2, pid=8, dup=True) + PUBREL(8)
             + PINGRESP + UNSUBACK(2) + PUBACK(3))
session_seed("oversize-publish-skipped", 0x05,
             CONNACK + publish("mqttip/10.0.1.2", vector("mtu_1500"), qos=1, pid=9) + PINGRESP)
session_seed("refused", 0x3a, bytes([0x20, 2, 0, 5]))
session_seed("publish-before-connack", 0x3a, publish("t", b"x") + CONNACK)
session_seed("keepalive-pings", 0x39, CONNACK + PINGRESP + PINGRESP + PINGRESP, seed=0xfedcba98)
session_seed("tiny-tx-buffer", 0x01, CONNACK + b"".join(
    publish("t", b"p", qos=1, pid=i) for i in range(1, 12)))
session_seed("malformed-length", 0x3a, CONNACK + bytes([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))

# ---- c_abi: setup || creation arguments || calls ----
def cstr(s):
    return bytes([len(s)]) + s

def be16(n):
    return struct.pack("!H", n)

def long(b):
    return be16(len(b)) + b

TICK = lambda ms: bytes([0]) + be16(ms)
RECV = lambda b: bytes([1]) + long(b)
ACCEPT = bytes([2, 0])
PUBLISH_OWN = lambda pkt, sealed=False, qos=0, split=0: (
    bytes([3, (0x10 if sealed else 0) | qos << 2]) + long(pkt) + be16(split))
PUBLISH_BCAST = lambda pkt: bytes([3, 1]) + long(pkt) + be16(0)
OUTPUT = lambda pkt: bytes([4]) + long(pkt)
OUTPUT_VIA = lambda pkt, hop: bytes([0x84]) + long(pkt) + bytes(hop)
SEND_PACKET = lambda dst, n: bytes([5]) + bytes(dst) + be16(n)
SET_PASSWORD = lambda pw: bytes([6]) + cstr(pw)
PLAIN = bytes([7])
SET_IP = lambda a: bytes([8]) + bytes(a)
SET_MASK = lambda a: bytes([9]) + bytes(a)
SET_GW = lambda a: bytes([10]) + bytes(a)
SET_MTU = lambda m: bytes([11]) + struct.pack("!i", m)
SET_FLAG = lambda f: bytes([12 | 0x80]) + struct.pack("!h", f)
KEEPALIVE = lambda s: bytes([13]) + be16(s)
READ_10_0_1_3 = bytes([14])
READ_ALL, FLUSH, SUBSCRIBE, UNSUBSCRIBE = bytes([15]), bytes([16]), bytes([17]), bytes([18])
TCP_UP, TCP_CLOSED = bytes([19]), bytes([20])
PORT = lambda send_mode, connect=1: bytes([21, send_mode | (connect + 1) << 2])
SUBACK_OK = bytes([22, 0]) + be16(1)
MISC = bytes([23]) + struct.pack("!I", 3)

def c_abi_seed(name, setup, args, calls):
    write("c_abi", name, bytes([setup]) + args + b"".join(calls))

UP = [TICK(0), ACCEPT, SUBACK_OK, TICK(10)]
c_abi_seed("init-plain-traffic", 0x01, bytes(A2), UP + [
    PUBLISH_OWN(ipv4(A1, A2, UDP)), PUBLISH_BCAST(ipv4(A1, BCAST, UDP)),
    OUTPUT(ipv4(A2, A1, UDP)), OUTPUT_VIA(ipv4(A2, [8, 8, 8, 8], UDP), A1),
    SEND_PACKET(A3, 100), TICK(60000), TICK(60000), TCP_CLOSED, TICK(2000), ACCEPT])
c_abi_seed("init-sealed-vector", 0x05, bytes(A2), UP + [
    RECV(publish("mqttip/10.0.1.2", SEALED)),
    PUBLISH_OWN(ICMP_ECHO, sealed=True, qos=1, split=5),
    PUBLISH_OWN(ICMP_ECHO, sealed=True, qos=2), OUTPUT(ICMP_ECHO),
    SET_PASSWORD(b"another"), RECV(publish("mqttip/10.0.1.2", SEALED)), PLAIN])
c_abi_seed("new-full-config", 0x00,
           cstr(b"broker.local") + cstr(b"user") + cstr(b"pass") + cstr(b"vpn")
           + cstr(b"secret") + cstr(b"node-2") + be16(1884) + bytes(A2)
           + bytes([255, 255, 0, 0]) + bytes(A1) + be16(576) + be16(30),
           UP + [PUBLISH_OWN(ipv4(A1, A2, UDP), sealed=True), SET_MTU(1000), SET_MTU(400),
                 SET_IP(A3), SET_MASK([255, 255, 255, 252]), SET_GW(A1), READ_10_0_1_3,
                 READ_ALL, FLUSH, UNSUBSCRIBE, SUBSCRIBE, KEEPALIVE(5), TICK(100), ACCEPT,
                 SET_FLAG(0x10), MISC])
c_abi_seed("init-full-prefix", 0x06,
           cstr(b"u") + cstr(b"p") + cstr(b"site/a") + struct.pack("!I", 8883)
           + bytes(A2) + bytes([255, 255, 255, 0]) + bytes([0, 0, 0, 0]),
           UP + [PUBLISH_OWN(ICMP_ECHO, sealed=True), SEND_PACKET(BCAST, 20)])
c_abi_seed("uri-connect-pending", 0x0b,
           cstr(b"mqtt://[::1]:1884") + cstr(b"") + cstr(b"") + cstr(b"")
           + bytes(A2) + bytes(4) + bytes(4),
           [TICK(0), TCP_UP, ACCEPT, SUBACK_OK, TICK(20000), TCP_CLOSED, TICK(1000), TCP_UP])
c_abi_seed("partial-sends-and-reentry", 0x31, bytes(A2), [PORT(1)] + UP + [
    PUBLISH_OWN(ipv4(A1, A2, UDP)), SEND_PACKET(A1, 1400), PORT(2), SEND_PACKET(A1, 1400),
    SEND_PACKET(A1, 1400), RECV(publish("mqttip/10.0.1.2", ipv4(A1, A2, UDP), qos=1)),
    PORT(3), TICK(10), PORT(0, connect=-1), TICK(5000)])
c_abi_seed("minimal-table", 0x81, bytes(A2), UP + [PUBLISH_OWN(ipv4(A1, A2, UDP)), SET_MTU(576)])
c_abi_seed("attach-fails", 0x41, bytes(A2), [TICK(0)])
