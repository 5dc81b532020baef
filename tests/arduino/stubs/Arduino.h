/* Arduino.h stub: declarations only (see README.md). */
#ifndef STUB_ARDUINO_H
#define STUB_ARDUINO_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
#include <functional>

#define OUTPUT 0x01

unsigned long millis(void);
void delay(unsigned long ms);
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t val);

class Print;

class Printable {
 public:
  virtual ~Printable() {}
  virtual size_t printTo(Print &p) const = 0;
};

class Print {
 public:
  virtual ~Print() {}
  virtual size_t write(uint8_t c) = 0;
  virtual size_t write(const uint8_t *buf, size_t len);
  size_t print(const char *s);
  size_t print(const Printable &p);
  size_t println(const char *s);
  size_t println(const Printable &p);
  size_t printf(const char *fmt, ...) __attribute__((format(printf, 2, 3)));
};

class Stream : public Print {
 public:
  virtual int available() = 0;
  virtual int read() = 0;
  size_t readBytes(uint8_t *buf, size_t len);
};

class HardwareSerial : public Stream {
 public:
  void begin(unsigned long baud);
  int available() override;
  int read() override;
  size_t write(uint8_t c) override;
  using Print::write;
  void flush();
};
extern HardwareSerial Serial;
extern HardwareSerial Serial1;

class EspClass {
 public:
  uint8_t *random(uint8_t *out, size_t len) const;
  uint32_t getFreeHeap();
  void restart();
};
extern EspClass ESP;

void setup(void);
void loop(void);
#endif

#endif
