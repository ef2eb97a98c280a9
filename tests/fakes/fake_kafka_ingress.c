/*
 * fake_kafka_ingress: see fake_kafka_ingress.h. Implements only what
 * ingress_core calls; linking it instead of hs_kafka makes an unscripted
 * call a test failure rather than a network attempt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_kafka_ingress.h"
#include "hs_kafka.h"

static unsigned char *last;
static size_t last_len;
static int calls;

const unsigned char *fake_kafka_last(size_t *len)
{
    *len = last_len;
    return last;
}

int fake_kafka_calls(void)
{
    return calls;
}

void fake_kafka_reset(void)
{
    free(last);
    last = NULL;
    last_len = 0;
    calls = 0;
}

enum hs_err hs_kafka_produce_acked(struct hs_kafka_producer *p,
                                   const char *topic, const void *key,
                                   size_t keylen, const void *val,
                                   size_t vallen)
{
    (void)p;
    calls++;
    free(last);
    last = malloc(vallen ? vallen : 1);
    assert_non_null(last);
    memcpy(last, val, vallen);
    last_len = vallen;
    check_expected_ptr(topic);
    check_expected(keylen);
    check_expected_ptr(key);
    return (enum hs_err)mock_type(int);
}

/* The same script, the verdict handed to done before returning. */
enum hs_err hs_kafka_produce_then(struct hs_kafka_producer *p,
                                  const char *topic, const void *key,
                                  size_t keylen, const void *val,
                                  size_t vallen, hs_kafka_done_fn done,
                                  void *arg)
{
    done(arg, hs_kafka_produce_acked(p, topic, key, keylen, val, vallen));
    return HS_OK;
}

/* The outbox relay's calls; the ingress never relays. */
enum hs_err hs_kafka_produce(struct hs_kafka_producer *p, const char *topic,
                             const void *key, size_t keylen, const void *val,
                             size_t vallen)
{
    (void)p, (void)topic, (void)key, (void)keylen, (void)val, (void)vallen;
    fail_msg("the ingress does not relay the outbox");
    return HS_ERR_INTERNAL;
}

enum hs_err hs_kafka_flush(struct hs_kafka_producer *p, int timeout_ms)
{
    (void)p, (void)timeout_ms;
    fail_msg("the ingress does not relay the outbox");
    return HS_ERR_INTERNAL;
}

int hs_kafka_producer_ping(struct hs_kafka_producer *p, int timeout_ms)
{
    (void)p, (void)timeout_ms;
    return mock_type(int);
}

int hs_kafka_producer_failing(struct hs_kafka_producer *p)
{
    (void)p;
    return 0;
}

void hs_kafka_producer_free(struct hs_kafka_producer *p)
{
    (void)p;
}
