/* Host stub of FreeRTOS task.h (the calls mqtt_vpn_idf.c makes). */
#ifndef STUB_FREERTOS_TASK_H
#define STUB_FREERTOS_TASK_H
#include <stdint.h>
#include "freertos/FreeRTOS.h"
typedef void *TaskHandle_t;
typedef void (*TaskFunction_t)(void *);
BaseType_t xTaskCreate(TaskFunction_t code, const char *name, uint32_t stack,
                       void *param, UBaseType_t priority, TaskHandle_t *handle);
void vTaskDelay(TickType_t ticks);
#endif
