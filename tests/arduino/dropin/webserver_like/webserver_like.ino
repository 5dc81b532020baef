/*
 * A web server reached through the VPN, set up the way the original
 * library's users did: the hello-server sample plus one mqtt_if_init().
 */
#include <ESP8266WiFi.h>
#include <WiFiClient.h>
#include <ESP8266WebServer.h>
#include <ESP8266mDNS.h>
#include <mqttif.h>

#ifndef STASSID
#define STASSID "lab"
#define STAPSK "lab-password"
#endif

char* broker = "broker.lan";
char* vpn_password = "secret";
IPAddress mqtt_vpn_addr(10, 0, 1, 3);

struct mqtt_if_data *my_if;

const char* ssid = STASSID;
const char* password = STAPSK;

ESP8266WebServer server(80);
const int led = 2;

void handleRoot() {
  digitalWrite(led, 1);
  server.send(200, "text/plain", "served over mqtt-vpn");
  digitalWrite(led, 0);
}

void handleNotFound() { server.send(404, "text/plain", "nothing here\n"); }

void setup(void) {
  pinMode(led, OUTPUT);
  Serial.begin(115200);
  WiFi.mode(WIFI_STA);
  WiFi.begin(ssid, password);
  while (WiFi.status() != WL_CONNECTED) {
    delay(250);
  }
  Serial.println(WiFi.localIP());

  my_if = mqtt_if_init(broker, mqtt_vpn_addr, vpn_password);

  if (MDNS.begin("vpn-web")) {
    Serial.println("mDNS up");
  }
  server.on("/", handleRoot);
  server.on("/vpn", []() {
    server.send(200, "text/plain", my_if != NULL ? "joined" : "not joined");
  });
  server.onNotFound(handleNotFound);
  server.begin();
}

void loop(void) {
  server.handleClient();
  MDNS.update();
}
