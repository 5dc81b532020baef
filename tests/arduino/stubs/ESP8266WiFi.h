/* ESP8266WiFi.h stub (see README.md). */
#ifndef STUB_ESP8266WIFI_H
#define STUB_ESP8266WIFI_H

#include <Arduino.h>
#include <IPAddress.h>
#include <WiFiClient.h>
#include <WiFiServer.h>

#define STATION_IF 0x00
#define SOFTAP_IF 0x01

enum WiFiMode_t { WIFI_OFF, WIFI_STA, WIFI_AP, WIFI_AP_STA };
enum wl_status_t { WL_IDLE_STATUS = 0, WL_CONNECTED = 3 };

class ESP8266WiFiClass {
 public:
  bool mode(WiFiMode_t m);
  wl_status_t begin(const char *ssid, const char *passphrase);
  wl_status_t status();
  IPAddress localIP();
};
extern ESP8266WiFiClass WiFi;

#endif
