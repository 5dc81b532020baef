/* WiFiClient.h stub (see README.md). */
#ifndef STUB_WIFICLIENT_H
#define STUB_WIFICLIENT_H

#include <Arduino.h>

class WiFiClient : public Stream {
 public:
  int connect(const char *host, uint16_t port);
  uint8_t connected();
  int available() override;
  int read() override;
  int read(uint8_t *buf, size_t len);
  size_t write(uint8_t c) override;
  size_t write(const uint8_t *buf, size_t len) override;
  int availableForWrite();
  void setNoDelay(bool on);
  void setSync(bool on);
  void stop();
  operator bool();
};

#endif
