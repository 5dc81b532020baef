/* Schedule.h stub: the ESP8266 core's scheduler (see README.md). */
#ifndef STUB_SCHEDULE_H
#define STUB_SCHEDULE_H

#include <Arduino.h>

bool schedule_function(const std::function<void(void)> &fn);
bool schedule_recurrent_function_us(const std::function<bool(void)> &fn,
                                    uint32_t repeat_us);

#endif
