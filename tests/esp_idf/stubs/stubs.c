/* Trivial host definitions of the ESP-IDF/FreeRTOS calls the component
 * makes, so the compile test can link. Nothing here runs a task. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esp_log.h"
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/task.h"

void esp_log_stub(const char *level, const char *tag, const char *format, ...) {
  va_list args;
  fprintf(stderr, "%s (%s) ", level, tag);
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fputc('\n', stderr);
}

uint32_t esp_random(void) { return (uint32_t)rand(); }

void esp_fill_random(void *buf, size_t len) {
  unsigned char *p = (unsigned char *)buf;
  size_t i;
  for (i = 0; i < len; i++) {
    p[i] = (unsigned char)rand();
  }
}

int64_t esp_timer_get_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void esp_restart(void) { abort(); }

BaseType_t xTaskCreate(TaskFunction_t code, const char *name, uint32_t stack,
                       void *param, UBaseType_t priority, TaskHandle_t *handle) {
  (void)code;
  (void)name;
  (void)stack;
  (void)param;
  (void)priority;
  if (handle != NULL) {
    *handle = NULL;
  }
  return pdPASS; /* the task is not run on the host */
}

void vTaskDelay(TickType_t ticks) {
  struct timespec ts = {0, (long)ticks * 1000000L};
  nanosleep(&ts, NULL);
}
