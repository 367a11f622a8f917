/* clock: the runner's only sources of time.  Monotonic time drives timers,
 * pacing and backoff; wall time is for reports and server-announced dates. */
#ifndef LLMB_CLOCK_H
#define LLMB_CLOCK_H
#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_mono_ns(void);
int64_t clock_wall_ms(void);

#endif
