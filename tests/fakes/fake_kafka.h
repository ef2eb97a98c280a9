/*
 * fake_kafka: a cmocka-scripted implementation of lib/hs_kafka.h for unit
 * tests (link hs_fake_kafka instead of hs_kafka). See fake_kafka.c for how
 * each call is scripted; an unscripted I/O call fails the test.
 */
#ifndef FAKE_KAFKA_H
#define FAKE_KAFKA_H

#include <stddef.h>

/* The key and value of the last message produced (valid until the next
 * produce or fake_kafka_reset); NULL when none. */
const void *fake_kafka_last_key(size_t *len);
const void *fake_kafka_last_val(size_t *len);
/* Forgets the last message. */
void fake_kafka_reset(void);

#endif
