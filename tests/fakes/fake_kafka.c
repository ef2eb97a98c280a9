/*
 * fake_kafka: a cmocka-scripted implementation of lib/hs_kafka.h for unit
 * tests (link hs_fake_kafka instead of hs_kafka).
 *
 * Constructors and destructors always succeed and need no script, so a
 * test's setup can create producers and consumers freely. Every call that
 * would do I/O is scripted, and an unscripted call fails the test:
 *
 *   hs_kafka_produce_acked, hs_kafka_produce
 *       check_expected(topic); returns will_return's value.
 *       expect_string(hs_kafka_produce_acked, topic, "hs.callbacks");
 *       will_return(hs_kafka_produce_acked, HS_OK);
 *   hs_kafka_flush        returns will_return's value.
 *   hs_kafka_producer_ping returns will_return's value (1 or 0).
 *   hs_kafka_consumer_poll returns will_return's value; when that is HS_OK
 *       a second will_return gives the message to hand out, a
 *       struct hs_kafka_msg * whose fields are copied (priv is ignored):
 *       will_return(hs_kafka_consumer_poll, HS_OK);
 *       will_return(hs_kafka_consumer_poll, &msg);
 *   hs_kafka_msg_done     check_expected(durable).
 *       expect_value(hs_kafka_msg_done, durable, 1);
 *
 * The key and value of the last successful produce (either kind) are kept
 * for inspection (fake_kafka_last_key/val; declare them in the test):
 *   const void *fake_kafka_last_val(size_t *len);
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hs_kafka.h"
#include "fake_kafka.h"

struct hs_kafka_producer {
    int unused;
};

struct hs_kafka_consumer {
    int unused;
};

/* Copies of the last produced key and value. */
static unsigned char last_key[4096], last_val[65536];
static size_t last_keylen, last_vallen;


const void *fake_kafka_last_key(size_t *len)
{
    *len = last_keylen;
    return last_key;
}

const void *fake_kafka_last_val(size_t *len)
{
    *len = last_vallen;
    return last_val;
}

/* Forgets the last produced message. */
void fake_kafka_reset(void)
{
    last_keylen = 0;
    last_vallen = 0;
}

static void remember(const void *key, size_t keylen, const void *val,
                     size_t vallen)
{
    assert_true(keylen <= sizeof(last_key));
    assert_true(vallen <= sizeof(last_val));
    if (keylen)
        memcpy(last_key, key, keylen);
    if (vallen)
        memcpy(last_val, val, vallen);
    last_keylen = keylen;
    last_vallen = vallen;
}

enum hs_err hs_kafka_producer_new(const struct hs_config *cfg,
                                  struct hs_kafka_producer **out, char *err,
                                  size_t errlen)
{
    struct hs_kafka_producer *p = calloc(1, sizeof(*p));

    (void)cfg;
    (void)err;
    (void)errlen;
    assert_non_null(p);
    *out = p;
    return HS_OK;
}

enum hs_err hs_kafka_produce_acked(struct hs_kafka_producer *p,
                                   const char *topic, const void *key,
                                   size_t keylen, const void *val,
                                   size_t vallen)
{
    enum hs_err rc;

    assert_non_null(p);
    check_expected(topic);
    rc = (enum hs_err)mock_type(int);
    if (rc == HS_OK)
        remember(key, keylen, val, vallen);
    return rc;
}

enum hs_err hs_kafka_produce(struct hs_kafka_producer *p, const char *topic,
                             const void *key, size_t keylen, const void *val,
                             size_t vallen)
{
    enum hs_err rc;

    assert_non_null(p);
    check_expected(topic);
    rc = (enum hs_err)mock_type(int);
    if (rc == HS_OK)
        remember(key, keylen, val, vallen);
    return rc;
}

enum hs_err hs_kafka_flush(struct hs_kafka_producer *p, int timeout_ms)
{
    assert_non_null(p);
    assert_true(timeout_ms >= 0);
    return (enum hs_err)mock_type(int);
}

int hs_kafka_producer_ping(struct hs_kafka_producer *p, int timeout_ms)
{
    assert_non_null(p);
    (void)timeout_ms;
    return mock_type(int);
}

void hs_kafka_producer_free(struct hs_kafka_producer *p)
{
    free(p);
}

enum hs_err hs_kafka_consumer_new(const struct hs_config *cfg,
                                  const char *group, const char *const *topics,
                                  size_t ntopics,
                                  struct hs_kafka_consumer **out, char *err,
                                  size_t errlen)
{
    struct hs_kafka_consumer *c = calloc(1, sizeof(*c));

    (void)cfg;
    (void)err;
    (void)errlen;
    assert_non_null(group);
    assert_true(ntopics == 0 || topics != NULL);
    assert_non_null(c);
    *out = c;
    return HS_OK;
}

enum hs_err hs_kafka_consumer_poll(struct hs_kafka_consumer *c, int timeout_ms,
                                   struct hs_kafka_msg *m)
{
    enum hs_err rc;
    const struct hs_kafka_msg *src;

    assert_non_null(c);
    (void)timeout_ms;
    rc = (enum hs_err)mock_type(int);
    if (rc != HS_OK)
        return rc;
    src = mock_ptr_type(const struct hs_kafka_msg *);
    assert_non_null(src);
    *m = *src;
    m->priv = c; /* non-NULL: "not yet done" */
    return HS_OK;
}

void hs_kafka_msg_done(struct hs_kafka_consumer *c, struct hs_kafka_msg *m,
                       int durable)
{
    assert_non_null(c);
    assert_non_null(m->priv); /* done twice, or never polled */
    check_expected(durable);
    memset(m, 0, sizeof(*m));
}

void hs_kafka_consumer_free(struct hs_kafka_consumer *c)
{
    free(c);
}
