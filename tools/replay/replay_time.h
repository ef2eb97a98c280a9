/*
 * replay_time: the times hs-replay takes: milliseconds since the epoch, or
 * UTC as 2026-12-04T10:00:00Z with optional .mmm.
 */
#ifndef REPLAY_TIME_H
#define REPLAY_TIME_H

#include <stdint.h>

/* ms since the epoch; -1 when s is neither form or out of range. */
int64_t replay_parse_time(const char *s);

#endif
