/*
 * test_hs_kafka: lib/hs_kafka.c against librdkafka's in-process mock
 * cluster (3 brokers on 127.0.0.1, no external Kafka needed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_config.h"
#include "hs_kafka.h"
#include "hs_log.h"

struct cluster {
    rd_kafka_t *rk; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
};

static struct cluster shared; /* for the tests that do not break it */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cluster_start(struct cluster *cl)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];

    /* A quiet handle whose only job is to own the mock cluster. */
    assert_int_equal(
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    if (getenv("HS_TEST_MOCK_DEBUG")) {
        rd_kafka_conf_set(conf, "log_level", "7", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "debug", "mock", errstr, sizeof(errstr));
    }
    cl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(cl->rk);
    cl->mc = rd_kafka_mock_cluster_new(cl->rk, 3);
    assert_non_null(cl->mc);
}

static void cluster_stop(struct cluster *cl)
{
    rd_kafka_mock_cluster_destroy(cl->mc);
    rd_kafka_destroy(cl->rk);
}

static void topic_create(struct cluster *cl, const char *topic, int parts)
{
    assert_int_equal(rd_kafka_mock_topic_create(cl->mc, topic, parts, 3),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void cfg_for(struct hs_config *cfg, const struct cluster *cl,
                    int timeout_ms)
{
    memset(cfg, 0, sizeof(*cfg));
    if (cl)
        snprintf(cfg->brokers, sizeof(cfg->brokers), "%s",
                 rd_kafka_mock_cluster_bootstraps(cl->mc));
    snprintf(cfg->kafka_opts, sizeof(cfg->kafka_opts), "fetch.wait.max.ms=5");
    cfg->kafka_timeout_ms = timeout_ms;
}

static struct hs_kafka_producer *producer_for(const struct hs_config *cfg)
{
    struct hs_kafka_producer *p = NULL;
    char err[256] = "";

    assert_int_equal(hs_kafka_producer_new(cfg, &p, err, sizeof(err)), HS_OK);
    assert_non_null(p);
    return p;
}

static struct hs_kafka_consumer *
consumer_for(const struct hs_config *cfg, const char *group, const char *topic)
{
    struct hs_kafka_consumer *c = NULL;
    const char *topics[1] = {topic};
    char err[256] = "";
    struct hs_config ccfg = *cfg;
    int n;

    /* The mock coordinator (2.0.2) waits 3 s for members of a new group
     * and session.timeout.ms - 1 s after a member left, and drops a member
     * silent for session.timeout.ms, even one waiting for its join: 4 s
     * keeps re-opening fast yet above the 3 s. This also checks that
     * kafka_opts override hs_kafka's defaults. */
    n = snprintf(ccfg.kafka_opts, sizeof(ccfg.kafka_opts),
                 "%s,session.timeout.ms=4000,heartbeat.interval.ms=500",
                 cfg->kafka_opts);
    assert_true(n > 0 && (size_t)n < sizeof(ccfg.kafka_opts));
    cfg = &ccfg;

    assert_int_equal(
        hs_kafka_consumer_new(cfg, group, topics, 1, &c, err, sizeof(err)),
        HS_OK);
    assert_non_null(c);
    return c;
}

/* Polls until a message arrives (20 s at most: group join included). */
static void poll_one(struct hs_kafka_consumer *c, struct hs_kafka_msg *m)
{
    int64_t end = mono_ms() + 20000;
    enum hs_err rc = HS_ERR_TIMEOUT;

    while (rc == HS_ERR_TIMEOUT && mono_ms() < end)
        rc = hs_kafka_consumer_poll(c, 100, m);
    assert_int_equal(rc, HS_OK);
}

static int group_setup(void **st)
{
    (void)st;
    /* HS_TEST_DEBUG=1: our debug lines; HS_TEST_MOCK_DEBUG=1: the mock's. */
    hs_log_init("test_hs_kafka",
                getenv("HS_TEST_DEBUG") ? HS_LOG_DEBUG : HS_LOG_WARN);
    cluster_start(&shared);
    return 0;
}

static int group_teardown(void **st)
{
    (void)st;
    cluster_stop(&shared);
    return 0;
}

static void test_produce_acked_is_consumed_intact(void **st)
{
    static const char val[] = {'v', 0, 'a', 'l', '\xff'}; /* binary-safe */
    struct hs_config cfg;
    struct hs_kafka_producer *p;
    struct hs_kafka_consumer *c;
    struct hs_kafka_msg m;

    (void)st;
    topic_create(&shared, "t.intact", 3);
    cfg_for(&cfg, &shared, 5000);
    p = producer_for(&cfg);
    assert_int_equal(
        hs_kafka_produce_acked(p, "t.intact", "key-1", 5, val, sizeof(val)),
        HS_OK);
    hs_kafka_producer_free(p);

    c = consumer_for(&cfg, "g.intact", "t.intact");
    poll_one(c, &m);
    assert_string_equal(m.topic, "t.intact");
    assert_int_equal(m.keylen, 5);
    assert_memory_equal(m.key, "key-1", 5);
    assert_int_equal(m.vallen, sizeof(val));
    assert_memory_equal(m.val, val, sizeof(val));
    assert_int_equal(m.offset, 0);
    hs_kafka_msg_done(c, &m, 1);
    assert_null(m.priv);
    hs_kafka_consumer_free(c);
}

static void test_produce_acked_unreachable_fails_within_timeout(void **st)
{
    struct hs_config cfg;
    struct hs_kafka_producer *p;
    enum hs_err rc;
    int64_t t0, took;

    (void)st;
    cfg_for(&cfg, NULL, 1000);
    snprintf(cfg.brokers, sizeof(cfg.brokers), "127.0.0.1:1");
    p = producer_for(&cfg);
    t0 = mono_ms();
    rc = hs_kafka_produce_acked(p, "t.none", "k", 1, "v", 1);
    took = mono_ms() - t0;
    assert_true(rc == HS_ERR_TIMEOUT || rc == HS_ERR_TRANSIENT);
    /* message.timeout.ms (1000) + the waiter's margin + scheduling. */
    assert_true(took < 1000 + 1500 + 1000);
    assert_int_equal(hs_kafka_producer_ping(p, 300), 0);
    hs_kafka_producer_free(p);
}

struct reports {
    pthread_mutex_t lock;
    int n, ok, failed;
};

static void reported(void *arg, enum hs_err rc)
{
    struct reports *r = arg;

    pthread_mutex_lock(&r->lock);
    r->n++;
    if (rc == HS_OK)
        r->ok++;
    else
        r->failed++;
    pthread_mutex_unlock(&r->lock);
}

/* Waits (bounded) until want reports came; returns how many came. */
static int reports_wait(struct reports *r, int want, int64_t ms)
{
    int64_t end = mono_ms() + ms;
    int n;

    for (;;) {
        pthread_mutex_lock(&r->lock);
        n = r->n;
        pthread_mutex_unlock(&r->lock);
        if (n >= want || mono_ms() > end)
            return n;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void test_produce_then_reports_each_message_once(void **st)
{
    struct hs_config cfg;
    struct hs_kafka_producer *p;
    struct reports r = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};

    (void)st;
    topic_create(&shared, "t.then", 3);
    cfg_for(&cfg, &shared, 5000);
    p = producer_for(&cfg);
    for (int i = 0; i < 50; i++) {
        char key[8];

        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(hs_kafka_produce_then(p, "t.then", key, strlen(key),
                                               "v", 1, reported, &r),
                         HS_OK);
    }
    assert_int_equal(reports_wait(&r, 50, 10000), 50);
    assert_int_equal(r.ok, 50);
    /* No second report for any of them. */
    assert_int_equal(reports_wait(&r, 51, 300), 50);
    hs_kafka_producer_free(p);

    /* Unreachable: one failure report each, within the time-out. */
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.lock, NULL);
    cfg_for(&cfg, NULL, 1000);
    snprintf(cfg.brokers, sizeof(cfg.brokers), "127.0.0.1:1");
    p = producer_for(&cfg);
    for (int i = 0; i < 3; i++)
        assert_int_equal(hs_kafka_produce_then(p, "t.none", "k", 1, "v", 1,
                                               reported, &r),
                         HS_OK);
    assert_int_equal(reports_wait(&r, 3, 1000 + 1500 + 1000), 3);
    assert_int_equal(r.failed, 3);
    hs_kafka_producer_free(p);
    assert_int_equal(r.n, 3);
    pthread_mutex_destroy(&r.lock);
}

static void test_ping_answers_on_live_cluster(void **st)
{
    struct hs_config cfg;
    struct hs_kafka_producer *p;

    (void)st;
    cfg_for(&cfg, &shared, 5000);
    p = producer_for(&cfg);
    assert_int_equal(hs_kafka_producer_ping(p, 5000), 1);
    hs_kafka_producer_free(p);
}

static void test_message_not_done_is_redelivered_done_is_not(void **st)
{
    struct hs_config cfg;
    struct hs_kafka_producer *p;
    struct hs_kafka_consumer *c;
    struct hs_kafka_msg m;

    (void)st;
    topic_create(&shared, "t.redeliver", 1);
    cfg_for(&cfg, &shared, 5000);
    p = producer_for(&cfg);
    assert_int_equal(
        hs_kafka_produce_acked(p, "t.redeliver", "k", 1, "first", 5), HS_OK);

    /* Not durable: the next member of the group reads it again. */
    c = consumer_for(&cfg, "g.redeliver", "t.redeliver");
    poll_one(c, &m);
    assert_memory_equal(m.val, "first", 5);
    hs_kafka_msg_done(c, &m, 0);
    hs_kafka_consumer_free(c);

    c = consumer_for(&cfg, "g.redeliver", "t.redeliver");
    poll_one(c, &m);
    assert_int_equal(m.offset, 0);
    assert_memory_equal(m.val, "first", 5);
    hs_kafka_msg_done(c, &m, 1); /* durable: committed on close */
    hs_kafka_consumer_free(c);

    /* The next reader of the group starts after "first": its first
     * message is the one produced now. */
    assert_int_equal(
        hs_kafka_produce_acked(p, "t.redeliver", "k", 1, "second", 6), HS_OK);
    c = consumer_for(&cfg, "g.redeliver", "t.redeliver");
    poll_one(c, &m);
    assert_int_equal(m.vallen, 6);
    assert_memory_equal(m.val, "second", 6);
    assert_int_equal(m.offset, 1);
    hs_kafka_msg_done(c, &m, 1);
    hs_kafka_consumer_free(c);
    hs_kafka_producer_free(p);
}

static void test_bad_kafka_opts_are_config_errors(void **st)
{
    static const struct {
        const char *opts;
        const char *named; /* err must contain it */
    } bad[] = {
        {"no.such.property=1", "no.such.property"},
        {"fetch.wait.max.ms=5,bogus.prop=x", "bogus.prop"},
        {"linger.ms=hunter2", "linger.ms"},
        {"acks", "k=v"},
        {"=5", "k=v"},
        {"linger.ms=", "k=v"},
        {"linger.ms=5,,acks=all", "k=v"},
        {"linger.ms=5,", "k=v"},
    };
    struct hs_config cfg;
    struct hs_kafka_producer *p;
    struct hs_kafka_consumer *c;
    const char *topics[1] = {"t.x"};
    char err[256];

    (void)st;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg_for(&cfg, &shared, 5000);
        snprintf(cfg.kafka_opts, sizeof(cfg.kafka_opts), "%s", bad[i].opts);
        p = (struct hs_kafka_producer *)&cfg; /* must stay untouched */
        err[0] = '\0';
        assert_int_equal(hs_kafka_producer_new(&cfg, &p, err, sizeof(err)),
                         HS_ERR_CONFIG);
        assert_ptr_equal(p, (struct hs_kafka_producer *)&cfg);
        assert_non_null(strstr(err, bad[i].named));
        assert_null(strstr(err, "hunter2")); /* values are never echoed */

        c = NULL;
        err[0] = '\0';
        assert_int_equal(hs_kafka_consumer_new(&cfg, "g.bad", topics, 1, &c,
                                               err, sizeof(err)),
                         HS_ERR_CONFIG);
        assert_null(c);
        assert_non_null(strstr(err, bad[i].named));
    }
}

static void test_brokers_down_produce_acked_fails(void **st)
{
    struct cluster cl;
    struct hs_config cfg;
    struct hs_kafka_producer *p;

    (void)st;
    cluster_start(&cl);
    topic_create(&cl, "t.down", 3);
    /* 3 s: the idempotent producer's cold start on a fresh cluster can
     * take over a second when other tests run in parallel. */
    cfg_for(&cfg, &cl, 3000);
    p = producer_for(&cfg);
    assert_int_equal(hs_kafka_produce_acked(p, "t.down", "k", 1, "up", 2),
                     HS_OK);
    assert_int_equal(hs_kafka_producer_failing(p), 0);
    for (int32_t id = 1; id <= 3; id++)
        assert_int_equal(rd_kafka_mock_broker_set_down(cl.mc, id),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_not_equal(hs_kafka_produce_acked(p, "t.down", "k", 1, "down", 4),
                         HS_OK);
    /* Queued messages that fail surface in the next flush. */
    assert_int_equal(hs_kafka_produce(p, "t.down", "k", 1, "q", 1), HS_OK);
    /* While librdkafka re-establishes the idempotent producer's state the
     * queued message can outlive message.timeout.ms a little (TIMEOUT:
     * still in flight); then its failure is reported. */
    assert_int_equal(hs_kafka_flush(p, 20000), HS_ERR_TRANSIENT);
    assert_int_equal(hs_kafka_producer_failing(p), 1);
    for (int32_t id = 1; id <= 3; id++)
        rd_kafka_mock_broker_set_up(cl.mc, id);
    /* The first acknowledgement after the outage ends it. */
    for (int i = 0; i < 10 && hs_kafka_produce_acked(p, "t.down", "k", 1,
                                                     "back", 4) != HS_OK;
         i++)
        ;
    assert_int_equal(hs_kafka_producer_failing(p), 0);
    hs_kafka_producer_free(p);
    cluster_stop(&cl);
}

/* librdkafka 2.0 aborts when a cooperative-sticky member is destroyed
 * after its JoinGroup and before its first assignment (its assignor state
 * is still NULL: confluentinc/librdkafka#4312, fixed in 2.3). The mock
 * answers a new group's JoinGroup after 3 s; SyncGroup is held 4 s more,
 * and the consumer is freed inside that window: it must wait for its
 * assignment, then close. */
static void test_consumer_freed_before_its_first_assignment(void **st)
{
    struct cluster cl;
    struct hs_config cfg;
    struct hs_kafka_consumer *c;
    struct hs_kafka_msg m;
    int64_t t0;

    (void)st;
    cluster_start(&cl);
    topic_create(&cl, "t.early", 3);
    for (int32_t id = 1; id <= 3; id++)
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             cl.mc, id, 14 /* SyncGroup */, 1,
                             RD_KAFKA_RESP_ERR_NO_ERROR, 4000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    cfg_for(&cfg, &cl, 5000);
    c = consumer_for(&cfg, "g.early", "t.early");
    t0 = mono_ms();
    while (mono_ms() - t0 < 5000)
        (void)hs_kafka_consumer_poll(c, 100, &m); /* the topic is empty */
    t0 = mono_ms();
    hs_kafka_consumer_free(c);
    /* It waited (the assignment comes at about 7 s), and not in vain. */
    assert_true(mono_ms() - t0 > 300);
    assert_true(mono_ms() - t0 < HS_KAFKA_FIRST_ASSIGN_WAIT_MS);
    cluster_stop(&cl);
}

static void test_flush_reports_delivery(void **st)
{
    struct hs_config cfg;
    struct hs_kafka_producer *p;

    (void)st;
    topic_create(&shared, "t.flush", 3);
    cfg_for(&cfg, &shared, 5000);
    p = producer_for(&cfg);
    for (int i = 0; i < 20; i++)
        assert_int_equal(hs_kafka_produce(p, "t.flush", &i, sizeof(i), "v", 1),
                         HS_OK);
    assert_int_equal(hs_kafka_flush(p, 10000), HS_OK);
    assert_int_equal(hs_kafka_flush(p, 100), HS_OK); /* nothing pending */
    hs_kafka_producer_free(p);
}

static void test_flush_times_out_while_in_flight(void **st)
{
    struct hs_config cfg;
    struct hs_kafka_producer *p;

    (void)st;
    cfg_for(&cfg, NULL, 3000);
    snprintf(cfg.brokers, sizeof(cfg.brokers), "127.0.0.1:1");
    p = producer_for(&cfg);
    assert_int_equal(hs_kafka_produce(p, "t.none", "k", 1, "v", 1), HS_OK);
    assert_int_equal(hs_kafka_flush(p, 100), HS_ERR_TIMEOUT);
    /* Once message.timeout.ms has passed, the failure is reported. */
    assert_int_equal(hs_kafka_flush(p, 10000), HS_ERR_TRANSIENT);
    assert_int_equal(hs_kafka_flush(p, 100), HS_OK); /* count was reset */
    hs_kafka_producer_free(p);
}

#define NTHREADS 4
#define PER_THREAD 25

struct worker {
    struct hs_kafka_producer *p;
    int id;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char key[32];

    for (int i = 0; i < PER_THREAD; i++) {
        int n = snprintf(key, sizeof(key), "w%d-%d", w->id, i);
        if (hs_kafka_produce_acked(w->p, "t.conc", key, (size_t)n, key,
                                   (size_t)n) == HS_OK)
            w->ok++;
    }
    return NULL;
}

static void test_concurrent_produce_acked_all_succeed(void **st)
{
    struct hs_config cfg;
    struct hs_kafka_producer *p;
    struct hs_kafka_consumer *c;
    struct hs_kafka_msg m;
    struct worker w[NTHREADS];
    pthread_t th[NTHREADS];
    int seen = 0;

    (void)st;
    topic_create(&shared, "t.conc", 6);
    cfg_for(&cfg, &shared, 5000);
    p = producer_for(&cfg);
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){p, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, PER_THREAD);
    }
    hs_kafka_producer_free(p);

    /* And each acknowledged message is really there. */
    c = consumer_for(&cfg, "g.conc", "t.conc");
    while (seen < NTHREADS * PER_THREAD) {
        poll_one(c, &m);
        assert_int_equal(m.keylen, m.vallen);
        assert_memory_equal(m.key, m.val, m.keylen);
        hs_kafka_msg_done(c, &m, 1);
        seen++;
    }
    hs_kafka_consumer_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_produce_acked_is_consumed_intact),
        cmocka_unit_test(test_produce_acked_unreachable_fails_within_timeout),
        cmocka_unit_test(test_produce_then_reports_each_message_once),
        cmocka_unit_test(test_ping_answers_on_live_cluster),
        cmocka_unit_test(test_message_not_done_is_redelivered_done_is_not),
        cmocka_unit_test(test_consumer_freed_before_its_first_assignment),
        cmocka_unit_test(test_bad_kafka_opts_are_config_errors),
        cmocka_unit_test(test_brokers_down_produce_acked_fails),
        cmocka_unit_test(test_flush_reports_delivery),
        cmocka_unit_test(test_flush_times_out_while_in_flight),
        cmocka_unit_test(test_concurrent_produce_acked_all_succeed),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
