/* ESP8266mDNS.h stub (see README.md). */
#ifndef STUB_ESP8266MDNS_H
#define STUB_ESP8266MDNS_H

#include <ESP8266WiFi.h>

class MDNSResponder {
 public:
  bool begin(const char *hostname);
  void update();
};
extern MDNSResponder MDNS;

#endif
