/* Tests of lib/hs_outbox on a throwaway PostgreSQL (HS_TEST_PG_URL, ctest
 * fixture) and librdkafka's in-process mock cluster: a row and its event
 * never diverge (SECURITY 25). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_outbox.h"

static struct hs_pg *pg;
static rd_kafka_t *mrk; /* hosts the mock cluster */
static rd_kafka_t *qrk; /* a client of it, for watermarks */
static rd_kafka_mock_cluster_t *mc;
static struct hs_config cfg;

static int setup(void **st)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *url = getenv("HS_TEST_PG_URL");

    (void)st;
    if (!url || hs_pg_new(url, &pg, err, sizeof(err)) != HS_OK ||
        hs_pg_migrate(pg, err, sizeof(err)) != HS_OK)
        return -1;
    mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!mrk || !(mc = rd_kafka_mock_cluster_new(mrk, 1)) ||
        rd_kafka_mock_topic_create(mc, "ob.hs.tokens", 1, 1))
        return -1;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.brokers, sizeof(cfg.brokers), "%s",
             rd_kafka_mock_cluster_bootstraps(mc));
    snprintf(cfg.topic_prefix, sizeof(cfg.topic_prefix), "ob.");
    cfg.kafka_timeout_ms = 3000;
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg.brokers, err,
                          sizeof(err)) != RD_KAFKA_CONF_OK)
        return -1;
    qrk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    return qrk ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    hs_pg_free(pg);
    rd_kafka_destroy(qrk);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    return 0;
}

static int rows(void)
{
    PGresult *res = NULL;
    int n;

    assert_int_equal(hs_pg_query(pg, "SELECT count(*) FROM outbox", 0, NULL,
                                 &res), HS_OK);
    n = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

static int64_t high_watermark(void)
{
    int64_t lo = 0, hi = 0;

    assert_int_equal(rd_kafka_query_watermark_offsets(
                         qrk, "ob.hs.tokens", 0, &lo, &hi, 5000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    return hi;
}

static void test_rolled_back_events_never_exist(void **st)
{
    (void)st;
    assert_int_equal(hs_pg_query(pg, "DELETE FROM outbox", 0, NULL, NULL),
                     HS_OK);
    assert_int_equal(hs_pg_begin(pg), HS_OK);
    assert_int_equal(hs_outbox_add(pg, "hs.tokens", "u1", "\x00\x01", 2),
                     HS_OK);
    hs_pg_rollback(pg);
    assert_int_equal(rows(), 0);
}

static void test_relay_deletes_only_what_kafka_acknowledged(void **st)
{
    struct hs_kafka_producer *p = NULL;
    char err[256];
    int sent = -1;
    int64_t before;
    (void)st;

    assert_int_equal(hs_pg_begin(pg), HS_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(hs_outbox_add(pg, "hs.tokens", "u1", "\x00\xff", 2),
                         HS_OK);
    assert_int_equal(hs_pg_commit(pg), HS_OK);
    assert_int_equal(rows(), 3);

    /* Kafka unreachable: nothing is deleted. */
    {
        struct hs_config down = cfg;

        snprintf(down.brokers, sizeof(down.brokers), "127.0.0.1:1");
        down.kafka_timeout_ms = 500;
        assert_int_equal(hs_kafka_producer_new(&down, &p, err, sizeof(err)),
                         HS_OK);
        assert_int_not_equal(hs_outbox_relay(pg, p, &down, &sent), HS_OK);
        assert_int_equal(sent, 0);
        assert_int_equal(rows(), 3);
        hs_kafka_producer_free(p);
    }
    before = high_watermark();
    assert_int_equal(hs_kafka_producer_new(&cfg, &p, err, sizeof(err)),
                     HS_OK);
    assert_int_equal(hs_outbox_relay(pg, p, &cfg, &sent), HS_OK);
    assert_int_equal(sent, 3);
    assert_int_equal(rows(), 0);
    assert_int_equal(high_watermark(), before + 3);
    assert_int_equal(hs_outbox_relay(pg, p, &cfg, &sent), HS_OK);
    assert_int_equal(sent, 0); /* nothing left: nothing sent twice */
    hs_kafka_producer_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rolled_back_events_never_exist),
        cmocka_unit_test(test_relay_deletes_only_what_kafka_acknowledged),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
