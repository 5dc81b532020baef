// mqtt_vpn_nat: routes between the VPN and the ESP's WiFi LAN with lwIP
// NAPT. A Linux node with `ip route add 172.16.0.0/24 via 10.0.1.2`
// reaches the LAN host 172.16.0.100 behind the ESP. NAPT needs an lwIP
// variant with its features and without IPv6 (Tools > lwIP Variant: "v2
// Lower Memory", the default, or "v2 Higher Bandwidth"); the core's
// lwipopts.h defines IP_NAPT as LWIP_FEATURES && !LWIP_IPV6. With any other
// variant the sketch still builds, joins the VPN without NAT and says why
// at start.
#include <ESP8266WiFi.h>
#include <lwip/napt.h>
#include <mqttif.h>

// ---- settings ----
const char *ssid = "your-ssid";
const char *wifi_password = "your-wifi-password";
const char *broker = "broker.example.org";
int broker_port = 1883;
const char *broker_user = "";                // "" for no broker login
const char *broker_password = "";
const char *topic_prefix = "mqttip";
const char *vpn_password = "secret";         // "" for no encryption
IPAddress vpn_address(10, 0, 1, 2);
IPAddress vpn_netmask(255, 255, 255, 0);
IPAddress vpn_gateway(0, 0, 0, 0);
IPAddress lan_host(172, 16, 0, 100);         // reached through this ESP
// ------------------

mqtt_if_data *vpn;

void setup() {
  Serial.begin(115200);
#if !IP_NAPT
  Serial.println("NAT off: this lwIP variant has no NAPT (IPv6 and \"no "
                 "features\" variants lack it); pick \"v2 Lower Memory\" or "
                 "\"v2 Higher Bandwidth\" in Tools > lwIP Variant");
#endif
  WiFi.mode(WIFI_STA);
  WiFi.begin(ssid, wifi_password);
  while (WiFi.status() != WL_CONNECTED) {
    delay(500);
  }
  Serial.print("WiFi up, address ");
  Serial.println(WiFi.localIP());

  vpn = mqtt_if_init(broker, broker_user, broker_password, broker_port,
                     topic_prefix, vpn_password, vpn_address, vpn_netmask,
                     vpn_gateway);
  if (vpn == NULL) {
    Serial.println("mqtt_if_init failed");
    return;
  }
  // Packets for the LAN host arrive on <prefix>/172.16.0.100.
  mqtt_if_add_reading_topic(vpn, lan_host);

#if IP_NAPT
  // Translate what leaves through the WiFi station interface.
  if (ip_napt_init(1000, 10) != ERR_OK ||
      ip_napt_enable_no(STATION_IF, 1) != ERR_OK) {
    Serial.println("NAPT could not be started (out of memory?)");
  }
#endif
}

void loop() {}
