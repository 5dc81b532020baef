// mqtt_vpn_telnet: a serial-to-telnet bridge reachable over the VPN
// (telnet 10.0.1.2 23 from any other node). One mqtt_if_init() call on top
// of a plain WiFi telnet bridge.
#include <ESP8266WiFi.h>
#include <mqttif.h>

// ---- settings ----
const char *ssid = "your-ssid";
const char *wifi_password = "your-wifi-password";
const char *broker = "broker.example.org";   // port 1883
const char *vpn_password = "secret";         // "" for no encryption
IPAddress vpn_address(10, 0, 1, 2);
// ------------------

WiFiServer server(23);
WiFiClient client;

void setup() {
  Serial.begin(115200);
  WiFi.mode(WIFI_STA);
  WiFi.begin(ssid, wifi_password);
  while (WiFi.status() != WL_CONNECTED) {
    delay(500);
  }
  Serial.print("WiFi up, address ");
  Serial.println(WiFi.localIP());

  mqtt_if_init(broker, vpn_address, vpn_password);

  server.begin();
  server.setNoDelay(true);
}

void loop() {
  if (server.hasClient()) {
    if (client.connected()) {
      server.accept().stop();  // one session at a time
    } else {
      client = server.accept();
    }
  }
  while (client.available() > 0) {
    Serial.write(client.read());
  }
  while (Serial.available() > 0) {
    int c = Serial.read();
    if (client.connected()) {
      client.write((uint8_t)c);
    }
  }
}
