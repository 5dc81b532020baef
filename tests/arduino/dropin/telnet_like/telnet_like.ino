/*
 * A serial-to-telnet bridge as a user of the original library wrote it:
 * settings as char * globals, the address in a global IPAddress named
 * mqtt_vpn_addr, the handle in my_if.
 */
#include <ESP8266WiFi.h>
#include <mqttif.h>

const char* ssid = "lab";
const char* password = "lab-password";

char* broker = "broker.lan";
char* vpn_password = "secret";
IPAddress mqtt_vpn_addr(10, 0, 1, 2);

struct mqtt_if_data *my_if;

#define MAX_SRV_CLIENTS 2
WiFiServer server(23);
WiFiClient clients[MAX_SRV_CLIENTS];

void setup() {
  Serial.begin(115200);
  WiFi.mode(WIFI_STA);
  WiFi.begin(ssid, password);
  while (WiFi.status() != WL_CONNECTED) {
    delay(250);
    Serial.print(".");
  }
  Serial.println(WiFi.localIP());

  my_if = mqtt_if_init(broker, mqtt_vpn_addr, vpn_password);

  server.begin();
  server.setNoDelay(true);
  Serial.print("telnet ");
  Serial.print(mqtt_vpn_addr);
  Serial.println(" 23");
}

void loop() {
  if (server.hasClient()) {
    uint8_t i;
    for (i = 0; i < MAX_SRV_CLIENTS; i++) {
      if (!clients[i] || !clients[i].connected()) {
        clients[i] = server.accept();
        Serial1.print("client ");
        break;
      }
    }
    if (i == MAX_SRV_CLIENTS) {
      server.accept().stop();
    }
  }
  for (uint8_t i = 0; i < MAX_SRV_CLIENTS; i++) {
    while (clients[i] && clients[i].available()) {
      Serial.write(clients[i].read());
    }
  }
  size_t len = Serial.available();
  if (len > 0) {
    uint8_t buf[64];
    len = Serial.readBytes(buf, len < sizeof buf ? len : sizeof buf);
    for (uint8_t i = 0; i < MAX_SRV_CLIENTS; i++) {
      if (clients[i] && clients[i].connected()) {
        clients[i].write(buf, len);
      }
    }
  }
}
