/* Host stub of ESP-IDF's esp_system.h. */
#ifndef STUB_ESP_SYSTEM_H
#define STUB_ESP_SYSTEM_H
void esp_restart(void) __attribute__((noreturn));
#endif
