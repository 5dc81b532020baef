/* ESP8266WebServer.h stub (see README.md). */
#ifndef STUB_ESP8266WEBSERVER_H
#define STUB_ESP8266WEBSERVER_H

#include <ESP8266WiFi.h>

class ESP8266WebServer {
 public:
  typedef std::function<void(void)> THandlerFunction;
  explicit ESP8266WebServer(int port);
  void begin();
  void handleClient();
  void on(const char *uri, THandlerFunction handler);
  void onNotFound(THandlerFunction handler);
  void send(int code, const char *content_type, const char *content);
};

#endif
