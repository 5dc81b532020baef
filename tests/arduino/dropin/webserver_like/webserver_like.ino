// A web server reached through the VPN, with every setting spelled out.
#include <ESP8266WiFi.h>
#include <ESP8266WebServer.h>
#include <mqttif.h>

char *broker = "broker.lan";
char *vpn_password = "secret";
int broker_port = 1883;
IPAddress mqtt_vpn_addr(10, 0, 1, 3);

char *broker_username = "site";
char *broker_password = "site-password";
char *broker_topic_prefix = "mqttip";

struct mqtt_if_data *my_if;
ESP8266WebServer server(80);

void add_host() {
  IPAddress mqtt_vpn_target_addr(192, 168, 1, 20);
  mqtt_if_add_reading_topic(my_if, mqtt_vpn_target_addr);
}

void setup() {
  my_if = mqtt_if_init(broker, broker_username, broker_password, broker_port,
                       broker_topic_prefix, vpn_password, mqtt_vpn_addr,
                       IPAddress(255, 255, 255, 0), IPAddress(0, 0, 0, 0));
  struct mqtt_if_data *second =
      mqtt_if_init(broker, broker_username, broker_password, mqtt_vpn_addr,
                   vpn_password);
  mqtt_if_del(second);
  add_host();
  server.begin();
}

void loop() { server.handleClient(); }
