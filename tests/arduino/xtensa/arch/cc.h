/* lwIP port header for the compile check on the bare xtensa-lx106 compiler:
 * no C library, so no inttypes.h, unistd.h, ctype.h or stdio.h. */
#ifndef MQTT_VPN_TEST_XTENSA_CC_H
#define MQTT_VPN_TEST_XTENSA_CC_H

#define BYTE_ORDER LITTLE_ENDIAN

#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_UNISTD_H 1
#define LWIP_NO_CTYPE_H 1
#define X8_F "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "lu"
#define S32_F "ld"
#define X32_F "lx"
#define SZT_F "u"

#define LWIP_ERRNO_STDINCLUDE 0
#define LWIP_PROVIDE_ERRNO 1

void mqtt_vpn_test_diag(const char *fmt, ...);
void mqtt_vpn_test_abort(const char *msg);
#define LWIP_PLATFORM_DIAG(x) \
  do {                        \
    mqtt_vpn_test_diag x;     \
  } while (0)
#define LWIP_PLATFORM_ASSERT(x) mqtt_vpn_test_abort(x)

unsigned long mqtt_vpn_test_rand(void);
#define LWIP_RAND() ((u32_t)mqtt_vpn_test_rand())

#endif
