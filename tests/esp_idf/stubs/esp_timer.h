/* Host stub of ESP-IDF's esp_timer.h. */
#ifndef STUB_ESP_TIMER_H
#define STUB_ESP_TIMER_H
#include <stdint.h>
int64_t esp_timer_get_time(void); /* microseconds since boot */
#endif
