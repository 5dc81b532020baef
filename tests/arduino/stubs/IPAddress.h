/* IPAddress.h stub: the ESP8266 core's IPv4 surface (see README.md). */
#ifndef STUB_IPADDRESS_H
#define STUB_IPADDRESS_H

#include <Arduino.h>

class IPAddress : public Printable {
 public:
  IPAddress();
  IPAddress(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  IPAddress(uint32_t addr); /* lwIP byte order */
  operator uint32_t() const; /* lwIP byte order */
  size_t printTo(Print &p) const override;

 private:
  uint8_t bytes_[4];
};

#endif
