/* Trivial definitions of the stub declarations (see README.md); they only
 * have to link. main() is the core's, reduced to setup() and one loop().
 * What a sketch prints on a serial port, and its NAPT calls, go to stdout,
 * so a test can run a sketch and read what it said. */
#include <Arduino.h>
#include <stdarg.h>
#include <stdio.h>
#include <ESP8266WebServer.h>
#include <ESP8266WiFi.h>
#include <ESP8266mDNS.h>
#include <Schedule.h>
#include <lwip/napt.h>

HardwareSerial Serial;
HardwareSerial Serial1;
MDNSResponder MDNS;
EspClass ESP;
ESP8266WiFiClass WiFi;

unsigned long millis(void) { return 0; }
void delay(unsigned long) {}
void pinMode(uint8_t, uint8_t) {}
void digitalWrite(uint8_t, uint8_t) {}

size_t Stream::readBytes(uint8_t *buf, size_t len) {
  size_t n = 0;
  int c;
  while (n < len && (c = read()) >= 0) {
    buf[n++] = (uint8_t)c;
  }
  return n;
}

size_t Print::write(const uint8_t *buf, size_t len) {
  size_t n = 0;
  while (n < len && write(buf[n]) == 1) {
    n++;
  }
  return n;
}
size_t Print::print(const char *s) { return write((const uint8_t *)s, strlen(s)); }
size_t Print::print(const Printable &p) { return p.printTo(*this); }
size_t Print::println(const char *s) { return print(s) + print("\r\n"); }
size_t Print::println(const Printable &p) { return print(p) + print("\r\n"); }
size_t Print::printf(const char *fmt, ...) {
  char buf[256];
  va_list args;
  va_start(args, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  if (n < 0) {
    return 0;
  }
  return write((const uint8_t *)buf, strnlen(buf, sizeof buf));
}

void HardwareSerial::begin(unsigned long) {}
int HardwareSerial::available() { return 0; }
int HardwareSerial::read() { return -1; }
size_t HardwareSerial::write(uint8_t c) { return fwrite(&c, 1, 1, stdout); }
void HardwareSerial::flush() {}

uint8_t *EspClass::random(uint8_t *out, size_t len) const {
  memset(out, 0, len);
  return out;
}
void EspClass::restart() { abort(); }
uint32_t EspClass::getFreeHeap() { return 0; }

IPAddress::IPAddress() : bytes_{0, 0, 0, 0} {}
IPAddress::IPAddress(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
    : bytes_{a, b, c, d} {}
IPAddress::IPAddress(uint32_t addr) { memcpy(bytes_, &addr, 4); }
IPAddress::operator uint32_t() const {
  uint32_t addr;
  memcpy(&addr, bytes_, 4);
  return addr;
}
size_t IPAddress::printTo(Print &p) const { return p.print("0.0.0.0"); }

bool schedule_function(const std::function<void(void)> &) { return true; }
bool schedule_recurrent_function_us(const std::function<bool(void)> &,
                                    uint32_t) {
  return true;
}

int WiFiClient::connect(const char *, uint16_t) { return 0; }
uint8_t WiFiClient::connected() { return 0; }
int WiFiClient::available() { return 0; }
int WiFiClient::read() { return -1; }
int WiFiClient::read(uint8_t *, size_t) { return 0; }
size_t WiFiClient::write(uint8_t) { return 0; }
size_t WiFiClient::write(const uint8_t *, size_t) { return 0; }
int WiFiClient::availableForWrite() { return 0; }
void WiFiClient::setNoDelay(bool) {}
void WiFiClient::setSync(bool) {}
void WiFiClient::stop() {}
WiFiClient::operator bool() { return false; }

WiFiServer::WiFiServer(uint16_t) {}
void WiFiServer::begin() {}
void WiFiServer::setNoDelay(bool) {}
bool WiFiServer::hasClient() { return false; }
WiFiClient WiFiServer::accept() { return WiFiClient(); }

bool ESP8266WiFiClass::mode(WiFiMode_t) { return true; }
wl_status_t ESP8266WiFiClass::begin(const char *, const char *) { return WL_CONNECTED; }
wl_status_t ESP8266WiFiClass::status() { return WL_CONNECTED; }
IPAddress ESP8266WiFiClass::localIP() { return IPAddress(); }

ESP8266WebServer::ESP8266WebServer(int) {}
void ESP8266WebServer::begin() {}
void ESP8266WebServer::handleClient() {}
void ESP8266WebServer::on(const char *, THandlerFunction) {}
void ESP8266WebServer::onNotFound(THandlerFunction) {}
void ESP8266WebServer::send(int, const char *, const char *) {}

extern "C" err_t ip_napt_init(uint16_t max_nat, uint8_t max_portmap) {
  printf("[stub] ip_napt_init(%u, %u)\n", max_nat, max_portmap);
  return ERR_OK;
}
extern "C" err_t ip_napt_enable_no(uint8_t number, int enable) {
  printf("[stub] ip_napt_enable_no(%u, %d)\n", number, enable);
  return ERR_OK;
}
extern "C" err_t ip_napt_enable(uint32_t, int enable) {
  printf("[stub] ip_napt_enable(addr, %d)\n", enable);
  return ERR_OK;
}

bool MDNSResponder::begin(const char *) { return true; }
void MDNSResponder::update() {}

int main() {
  setup();
  loop();
  return 0;
}
