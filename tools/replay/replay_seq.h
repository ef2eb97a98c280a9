/*
 * replay_seq: which sequence numbers each audit producer has been seen
 * with, in bounded memory.
 *
 * Per producer (`svc`) the seen seqs are kept as sorted, disjoint ranges
 * [lo, hi], so memory grows with the number of gaps, not of events: a
 * million contiguous seqs are one range. Arrival order does not matter.
 */
#ifndef REPLAY_SEQ_H
#define REPLAY_SEQ_H

#include <stddef.h>
#include <stdint.h>

struct replay_seqs;

struct replay_seqs *replay_seqs_new(void);
void replay_seqs_free(struct replay_seqs *s);

/* Records seq (>= 1) of producer svc. 1: first time; 0: seen before;
 * -1: seq < 1 or out of memory. */
int replay_seqs_add(struct replay_seqs *s, const char *svc, int64_t seq);

/* Calls fn for every missing range [lo, hi] between 1 and the highest seq
 * seen, per producer, in order; returns how many there were. */
typedef void (*replay_gap_fn)(void *arg, const char *svc, int64_t lo,
                              int64_t hi);
size_t replay_seqs_gaps(const struct replay_seqs *s, replay_gap_fn fn,
                        void *arg);

/* Number of producers seen. */
size_t replay_seqs_producers(const struct replay_seqs *s);

#endif
