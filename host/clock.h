/* The host's monotonic clock (runtime.c). */
#ifndef WMH_CLOCK_H
#define WMH_CLOCK_H
#include <stdint.h>

int64_t wmh_mono_us(void); /* CLOCK_MONOTONIC in microseconds */
#endif
