/* Host stub of ESP-IDF's esp_log.h: declarations only, for compile tests. */
#ifndef STUB_ESP_LOG_H
#define STUB_ESP_LOG_H
void esp_log_stub(const char *level, const char *tag, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
#define ESP_LOGE(tag, format, ...) esp_log_stub("E", tag, format, ##__VA_ARGS__)
#define ESP_LOGW(tag, format, ...) esp_log_stub("W", tag, format, ##__VA_ARGS__)
#define ESP_LOGI(tag, format, ...) esp_log_stub("I", tag, format, ##__VA_ARGS__)
#define ESP_LOGD(tag, format, ...) esp_log_stub("D", tag, format, ##__VA_ARGS__)
#define ESP_LOGV(tag, format, ...) esp_log_stub("V", tag, format, ##__VA_ARGS__)
#endif
