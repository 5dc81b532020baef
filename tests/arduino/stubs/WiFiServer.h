/* WiFiServer.h stub (see README.md). */
#ifndef STUB_WIFISERVER_H
#define STUB_WIFISERVER_H

#include <WiFiClient.h>

class WiFiServer {
 public:
  explicit WiFiServer(uint16_t port);
  void begin();
  void setNoDelay(bool on);
  bool hasClient();
  WiFiClient accept();
};

#endif
