/*
 * A NAT router between the VPN and the WiFi LAN, the original way: the full
 * mqtt_if_init() with every setting a char * global, an extra reading
 * topic for the LAN host in mqtt_vpn_target_addr, and the core's NAPT on
 * the VPN address (built with an lwIP variant that has NAPT).
 */
#include <ESP8266WiFi.h>
#include <mqttif.h>
#include <lwip/napt.h>
#include <lwip/dns.h>

const char* ssid = "lab";
const char* password = "lab-password";

char* broker = "broker.lan";
char* vpn_password = "secret";
int broker_port = 1883;
IPAddress mqtt_vpn_addr(10, 0, 1, 4);
IPAddress mqtt_vpn_target_addr(172, 16, 0, 100);

char* broker_username = "site";
char* broker_password = "site-password";
char* broker_topic_prefix = "lab";

struct mqtt_if_data *my_if;

#define NAPT 64
#define NAPT_PORT 8

void setup() {
  Serial.begin(115200);
  WiFi.mode(WIFI_STA);
  WiFi.begin(ssid, password);
  while (WiFi.status() != WL_CONNECTED) {
    delay(250);
  }

  my_if = mqtt_if_init(broker, broker_username, broker_password, broker_port,
                       broker_topic_prefix, vpn_password, mqtt_vpn_addr,
                       IPAddress(255, 255, 255, 0), IPAddress(0, 0, 0, 0));
  mqtt_if_add_reading_topic(my_if, mqtt_vpn_target_addr);

  Serial.printf("free heap %u\r\n", (unsigned)ESP.getFreeHeap());
  err_t ret = ip_napt_init(NAPT, NAPT_PORT);
  if (ret == ERR_OK) {
    ret = ip_napt_enable(mqtt_vpn_addr, 1);
  }
  if (ret != ERR_OK) {
    Serial.printf("NAPT failed: %d\r\n", (int)ret);
  }
}

void loop() {}
