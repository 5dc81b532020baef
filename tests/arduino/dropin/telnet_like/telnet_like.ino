// A telnet bridge as a user of the original library would write it.
#include <ESP8266WiFi.h>
#include "mqttif.h"

const char *ssid = "lab";
const char *password = "lab-password";

char *broker = "broker.lan";
char *vpn_password = "secret";
IPAddress mqtt_vpn_addr(10, 0, 1, 2);

struct mqtt_if_data *my_if;

WiFiServer server(23);

void setup() {
  Serial.begin(115200);
  WiFi.mode(WIFI_STA);
  WiFi.begin(ssid, password);
  my_if = mqtt_if_init(broker, mqtt_vpn_addr, vpn_password);
  server.begin();
}

void loop() {}
