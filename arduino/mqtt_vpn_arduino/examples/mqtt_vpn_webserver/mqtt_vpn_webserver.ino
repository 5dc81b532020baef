// mqtt_vpn_webserver: answers "hello from esp8266!" on port 80, also over
// the VPN (curl http://10.0.1.2/ from any other node). One mqtt_if_init()
// call on top of a plain ESP8266WebServer.
#include <ESP8266WiFi.h>
#include <ESP8266WebServer.h>
#include <mqttif.h>

// ---- settings ----
const char *ssid = "your-ssid";
const char *wifi_password = "your-wifi-password";
const char *broker = "broker.example.org";   // port 1883
const char *vpn_password = "secret";         // "" for no encryption
IPAddress vpn_address(10, 0, 1, 2);
// ------------------

ESP8266WebServer server(80);

void handleRoot() { server.send(200, "text/plain", "hello from esp8266!"); }

void handleNotFound() { server.send(404, "text/plain", "not found\n"); }

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

  server.on("/", handleRoot);
  server.onNotFound(handleNotFound);
  server.begin();
}

void loop() { server.handleClient(); }
