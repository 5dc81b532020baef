/* The README's example: existing ESP-IDF code calling the spec's
 * mqtt_vpn_if_init with ip4_addr_t values, unchanged. */
#include "mqtt_vpn_idf.h"

#include <stdio.h>

mqtt_if_data *app_start_vpn(void);

mqtt_if_data *app_start_vpn(void) {
  char uri[] = "mqtt://broker.local:1883";
  char user[] = "user";
  char broker_password[] = "secret";
  char prefix[] = "mqttip";
  char vpn_password[] = "vpn-password";
  ip4_addr_t ip, mask, gw;
  mqtt_if_data *mq;

  IP4_ADDR(&ip, 10, 0, 1, 2);
  IP4_ADDR(&mask, 255, 255, 255, 0);
  IP4_ADDR(&gw, 0, 0, 0, 0);
  mq = mqtt_vpn_if_init(uri, user, broker_password, prefix, vpn_password, ip,
                        mask, gw);
  if (mq == NULL) {
    return NULL;
  }
  mqtt_vpn_idf_lock();
  mqtt_if_add_wildcard_reading_topic(mq);
  mqtt_vpn_idf_unlock();
  return mq;
}

int main(void) {
  /* Linked, not run: there is no broker and no task on the host. */
  printf("%p\n", (void *)&app_start_vpn);
  return 0;
}
