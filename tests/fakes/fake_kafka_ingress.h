/*
 * fake_kafka_ingress: a scripted stand-in for the producer half of
 * lib/hs_kafka.h, for the hs-ingress unit tests (cmocka).
 *
 * hs_kafka_produce_acked() checks its topic, key length and key against
 * the expect_* values the test queued and returns the hs_err queued with
 * will_return(); a call the test did not script fails it.
 * hs_kafka_produce_then() does the same and hands that result to its
 * done function before it returns. The last value
 * produced is kept (fake_kafka_last) so a test can decode it.
 * hs_kafka_producer_ping() returns the int queued with will_return().
 */
#ifndef FAKE_KAFKA_INGRESS_H
#define FAKE_KAFKA_INGRESS_H

#include <stddef.h>

/* The value of the last hs_kafka_produce_acked() call (any outcome), and
 * how many calls there were since fake_kafka_reset(). */
const unsigned char *fake_kafka_last(size_t *len);
int fake_kafka_calls(void);
void fake_kafka_reset(void);

#endif
