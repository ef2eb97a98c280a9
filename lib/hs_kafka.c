/*
 * hs_kafka: the Kafka seam over librdkafka (contract in hs_kafka.h).
 *
 * Producer delivery reports are served by one background thread per
 * producer that calls rd_kafka_poll(). hs_kafka_produce_acked() gives each
 * message its own waiter (the message opaque); the report callback fills
 * it and broadcasts the producer's condition variable, so every waiter
 * wakes and checks only its own flag: a report always reaches the thread
 * that produced the message. A waiter that gives up (its deadline passed)
 * marks itself abandoned and the report callback frees it later, so the
 * callback never touches freed memory.
 *
 * hs_kafka_produce_then() gives its waiter a function instead, which the
 * report callback calls (outside the lock) and then frees the waiter.
 *
 * Messages queued with hs_kafka_produce() have no waiter (NULL opaque);
 * their failures are counted until the next hs_kafka_flush().
 */
#include "hs_kafka.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_log.h"
#include "hs_metrics.h"

/* Extra time a waiter gives librdkafka beyond message.timeout.ms: the
 * message timeout scan runs about once a second, so the failure report of
 * a timed-out message can come up to ~1 s late. */
#define ACK_MARGIN_MS 1500

struct waiter {
    int done;      /* set by the report callback, under p->lock */
    int abandoned; /* set by the waiter when it gives up, under p->lock */
    rd_kafka_resp_err_t err;
    hs_kafka_done_fn then; /* hs_kafka_produce_then(): nobody waits */
    void *arg;
};

struct hs_kafka_producer {
    rd_kafka_t *rk;
    int timeout_ms;
    pthread_t poller;
    int poller_started;
    pthread_mutex_t lock; /* guards running, failed, every waiter */
    pthread_cond_t cond;  /* CLOCK_MONOTONIC; broadcast on each report */
    int running;
    long pending; /* hs_kafka_produce() messages not yet reported */
    long failed;  /* hs_kafka_produce() failures since the last flush */
    int failing;  /* the last delivery report was a failure */
};

struct hs_kafka_consumer {
    rd_kafka_t *rk;
    int assigned; /* rebalance_cb has seen an assignment (even empty) */
};

/* ---- shared helpers ---------------------------------------------------- */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    enum hs_log_level lv;

    (void)rk;
    /* syslog levels: 0..3 error, 4 warning, 5..6 notice/info, 7 debug. */
    if (level <= 3)
        lv = HS_LOG_ERROR;
    else if (level == 4)
        lv = HS_LOG_WARN;
    else if (level <= 6)
        lv = HS_LOG_INFO;
    else
        lv = HS_LOG_DEBUG;
    /* librdkafka log lines carry no payloads, and it redacts sensitive
     * properties (sasl.password, ...) in its own dumps. */
    hs_log(lv, "kafka.log", HS_KV_STR("fac", fac), HS_KV_STR("message", buf));
}

static void set_err(char *err, size_t errlen, const char *msg, const char *name)
{
    int n;

    if (!err || errlen == 0)
        return;
    if (name)
        n = snprintf(err, errlen, "%s \"%s\"", msg, name);
    else
        n = snprintf(err, errlen, "%s", msg);
    if (n < 0 || (size_t)n >= errlen)
        err[errlen - 1] = '\0'; /* truncated text is still useful */
}

/* Sets one property. The value is never echoed (it may be a secret such
 * as sasl.password): only the name and what was wrong. */
static enum hs_err conf_set(rd_kafka_conf_t *conf, const char *var,
                            const char *name, const char *value, char *err,
                            size_t errlen)
{
    char rkerr[256];
    char msg[128];
    rd_kafka_conf_res_t res;
    int n;

    res = rd_kafka_conf_set(conf, name, value, rkerr, sizeof(rkerr));
    if (res == RD_KAFKA_CONF_OK)
        return HS_OK;
    n = snprintf(msg, sizeof(msg), "%s: librdkafka refused %s property", var,
                 res == RD_KAFKA_CONF_UNKNOWN ? "unknown" : "the value of");
    if (n < 0 || (size_t)n >= sizeof(msg))
        msg[0] = '\0';
    set_err(err, errlen, msg, name);
    return HS_ERR_CONFIG;
}

enum hs_err hs_kafka_conf_opts(rd_kafka_conf_t *conf, const char *opts,
                               char *err, size_t errlen)
{
    char buf[sizeof(((struct hs_config *)0)->kafka_opts)];
    char *item, *next, *eq;
    size_t len = strlen(opts);
    enum hs_err rc;

    if (len == 0)
        return HS_OK;
    if (len >= sizeof(buf)) {
        set_err(err, errlen, "HS_KAFKA_OPTS: too long", NULL);
        return HS_ERR_CONFIG;
    }
    memcpy(buf, opts, len + 1);
    for (item = buf; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        eq = strchr(item, '=');
        if (!eq || eq == item || eq[1] == '\0') {
            set_err(err, errlen, "HS_KAFKA_OPTS: expected k=v,k=v", NULL);
            return HS_ERR_CONFIG;
        }
        *eq = '\0';
        rc = conf_set(conf, "HS_KAFKA_OPTS", item, eq + 1, err, errlen);
        if (rc != HS_OK)
            return rc;
    }
    return HS_OK;
}

/* Sets name=value for each pair of a NULL-terminated list. */
static enum hs_err conf_set_all(rd_kafka_conf_t *conf, const char *const *kv,
                                char *err, size_t errlen)
{
    for (; kv[0]; kv += 2) {
        enum hs_err rc = conf_set(conf, "kafka", kv[0], kv[1], err, errlen);
        if (rc != HS_OK)
            return rc;
    }
    return HS_OK;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* ---- producer ---------------------------------------------------------- */

static enum hs_err verdict(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return HS_OK;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
        return HS_ERR_TIMEOUT;
    default:
        return HS_ERR_TRANSIENT;
    }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct hs_kafka_producer *p = opaque;
    struct waiter *w = m->_private;
    struct waiter *then = NULL;

    (void)rk;
    pthread_mutex_lock(&p->lock);
    p->failing = m->err != RD_KAFKA_RESP_ERR_NO_ERROR;
    if (w && w->then) {
        then = w;
    } else if (!w) {
        if (m->err)
            p->failed++;
        if (--p->pending == 0)
            pthread_cond_broadcast(&p->cond);
    } else if (w->abandoned) {
        free(w); /* its producer gave up waiting; nobody else holds it */
    } else {
        w->err = m->err;
        w->done = 1;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    if (then) {
        then->then(then->arg, verdict(m->err));
        free(then);
    }
    if (m->err) {
        char labels[96];

        hs_metrics_family("hs_kafka_delivery_errors_total", HS_COUNTER,
                          "Messages Kafka did not acknowledge, by topic");
        hs_metrics_add("hs_kafka_delivery_errors_total",
                       hs_metrics_labels(labels, sizeof(labels), "topic",
                                         rd_kafka_topic_name(m->rkt), NULL,
                                         NULL),
                       1);
    }
    if (m->err)
        hs_log(HS_LOG_WARN, "kafka.delivery_failed",
               HS_KV_STR("topic", rd_kafka_topic_name(m->rkt)),
               HS_KV_STR("reason", rd_kafka_err2name(m->err)));
}

int hs_kafka_producer_failing(struct hs_kafka_producer *p)
{
    int failing;

    pthread_mutex_lock(&p->lock);
    failing = p->failing;
    pthread_mutex_unlock(&p->lock);
    return failing;
}

static void *poller_main(void *arg)
{
    struct hs_kafka_producer *p = arg;
    int running = 1;

    while (running) {
        rd_kafka_poll(p->rk, 100);
        pthread_mutex_lock(&p->lock);
        running = p->running;
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

enum hs_err hs_kafka_producer_new(const struct hs_config *cfg,
                                  struct hs_kafka_producer **out, char *err,
                                  size_t errlen)
{
    /* name, value pairs */
    /* clang-format off */
    static const char *const fixed[] = {
        "enable.idempotence", "true",
        "acks", "all",
        "partitioner", "murmur2_random",
        /* Most produces here are waited for (a held record, a callback):
         * linger is latency on each; under load 1 ms still batches. */
        "linger.ms", "1",
        NULL};
    /* clang-format on */
    struct hs_kafka_producer *p;
    rd_kafka_conf_t *conf = NULL;
    pthread_condattr_t ca;
    char tmo[16], rkerr[256];
    enum hs_err rc;

    p = calloc(1, sizeof(*p));
    if (!p)
        return HS_ERR_NOMEM;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    p->timeout_ms = cfg->kafka_timeout_ms > 0 ? cfg->kafka_timeout_ms : 5000;
    p->running = 1;

    conf = rd_kafka_conf_new();
    snprintf(tmo, sizeof(tmo), "%d", p->timeout_ms); /* fits: int */
    rc = conf_set_all(conf, fixed, err, errlen);
    if (rc == HS_OK)
        rc = conf_set(conf, "kafka", "message.timeout.ms", tmo, err, errlen);
    if (rc == HS_OK && cfg->brokers[0])
        rc = conf_set(conf, "HS_KAFKA_BROKERS", "bootstrap.servers",
                      cfg->brokers, err, errlen);
    if (rc == HS_OK)
        rc = hs_kafka_conf_opts(conf, cfg->kafka_opts, err, errlen);
    if (rc != HS_OK)
        goto out;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, p);

    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
    if (!p->rk) {
        /* Cross-property checks (e.g. idempotence vs. acks) land here; the
         * message names properties, not values. */
        set_err(err, errlen, rkerr, NULL);
        rc = HS_ERR_CONFIG;
        goto out;
    }
    conf = NULL; /* owned by rk now */
    if (pthread_create(&p->poller, NULL, poller_main, p) != 0) {
        set_err(err, errlen, "kafka: cannot start the poll thread", NULL);
        rc = HS_ERR_INTERNAL;
        goto out;
    }
    p->poller_started = 1;
    *out = p;
    return HS_OK;

out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return rc;
}

static enum hs_err produce(struct hs_kafka_producer *p, const char *topic,
                           const void *key, size_t keylen, const void *val,
                           size_t vallen, struct waiter *w)
{
    rd_kafka_resp_err_t e;

    e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY((void *)key, keylen),
                          RD_KAFKA_V_VALUE((void *)val, vallen),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return HS_OK;
    hs_log(HS_LOG_WARN, "kafka.produce_failed", HS_KV_STR("topic", topic),
           HS_KV_STR("reason", rd_kafka_err2name(e)));
    if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        return HS_ERR_TOOBIG;
    return HS_ERR_TRANSIENT; /* queue full, fatal producer state, ... */
}

enum hs_err hs_kafka_produce_acked(struct hs_kafka_producer *p,
                                   const char *topic, const void *key,
                                   size_t keylen, const void *val,
                                   size_t vallen)
{
    struct waiter *w;
    struct timespec deadline;
    enum hs_err rc;

    w = calloc(1, sizeof(*w));
    if (!w)
        return HS_ERR_NOMEM;
    rc = produce(p, topic, key, keylen, val, vallen, w);
    if (rc != HS_OK) {
        free(w); /* not queued: no report will come */
        return rc;
    }
    deadline_after(&deadline, p->timeout_ms + ACK_MARGIN_MS);
    pthread_mutex_lock(&p->lock);
    while (!w->done) {
        if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) != 0 &&
            !w->done)
            break;
    }
    if (!w->done) {
        w->abandoned = 1; /* dr_msg_cb frees it */
        pthread_mutex_unlock(&p->lock);
        return HS_ERR_TIMEOUT;
    }
    pthread_mutex_unlock(&p->lock);
    rc = verdict(w->err);
    free(w);
    return rc;
}

enum hs_err hs_kafka_produce_then(struct hs_kafka_producer *p,
                                  const char *topic, const void *key,
                                  size_t keylen, const void *val,
                                  size_t vallen, hs_kafka_done_fn done,
                                  void *arg)
{
    struct waiter *w = calloc(1, sizeof(*w));
    enum hs_err rc;

    if (!w)
        return HS_ERR_NOMEM;
    w->then = done;
    w->arg = arg;
    rc = produce(p, topic, key, keylen, val, vallen, w);
    if (rc != HS_OK)
        free(w); /* not queued: no report will come */
    return rc;
}

enum hs_err hs_kafka_produce(struct hs_kafka_producer *p, const char *topic,
                             const void *key, size_t keylen, const void *val,
                             size_t vallen)
{
    enum hs_err rc;

    pthread_mutex_lock(&p->lock);
    p->pending++; /* before producev: the report may come at once */
    pthread_mutex_unlock(&p->lock);
    rc = produce(p, topic, key, keylen, val, vallen, NULL);
    if (rc != HS_OK) {
        pthread_mutex_lock(&p->lock);
        p->pending--;
        pthread_mutex_unlock(&p->lock);
    }
    return rc;
}

enum hs_err hs_kafka_flush(struct hs_kafka_producer *p, int timeout_ms)
{
    struct timespec end, slice;
    long failed;
    int left = timeout_ms + ACK_MARGIN_MS;

    /* Waits on our own count of unreported messages, which the poller
     * thread's report callback brings down. rd_kafka_flush() alone would
     * wait in 10 ms steps for reports it finds already served by that
     * thread (measured: 10.2 ms a flush); with 0 it only sends what
     * lingers at once (librdkafka's "flushing" flag is set while it runs),
     * so it is called again each millisecond until all are reported. */
    deadline_after(&end, left);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0 && left > 0) {
        pthread_mutex_unlock(&p->lock);
        (void)rd_kafka_flush(p->rk, 0);
        deadline_after(&slice, 1);
        pthread_mutex_lock(&p->lock);
        if (p->pending > 0)
            (void)pthread_cond_timedwait(&p->cond, &p->lock, &slice);
        {
            struct timespec now;

            clock_gettime(CLOCK_MONOTONIC, &now);
            left = (int)((end.tv_sec - now.tv_sec) * 1000 +
                         (end.tv_nsec - now.tv_nsec) / 1000000);
        }
    }
    if (p->pending > 0) {
        pthread_mutex_unlock(&p->lock);
        return HS_ERR_TIMEOUT;
    }
    failed = p->failed;
    p->failed = 0;
    pthread_mutex_unlock(&p->lock);
    return failed ? HS_ERR_TRANSIENT : HS_OK;
}

int hs_kafka_producer_ping(struct hs_kafka_producer *p, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;

    if (rd_kafka_metadata(p->rk, 0, NULL, &md, timeout_ms) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    rd_kafka_metadata_destroy(md);
    return 1;
}

void hs_kafka_producer_free(struct hs_kafka_producer *p)
{
    if (!p)
        return;
    if (rd_kafka_flush(p->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        hs_log(HS_LOG_WARN, "kafka.flush_incomplete",
               HS_KV_INT("messages", rd_kafka_outq_len(p->rk)));
        /* Fail what is left so abandoned waiters get their report (and
         * are freed) before the handle goes. */
        rd_kafka_purge(p->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 1000);
    }
    pthread_mutex_lock(&p->lock);
    p->running = 0;
    pthread_mutex_unlock(&p->lock);
    if (p->poller_started)
        pthread_join(p->poller, NULL);
    rd_kafka_poll(p->rk, 0);
    rd_kafka_destroy(p->rk);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- consumer ---------------------------------------------------------- */

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    struct hs_kafka_consumer *c = opaque;
    rd_kafka_resp_err_t ce;
    rd_kafka_error_t *error = NULL;

    hs_log(HS_LOG_INFO, "kafka.rebalance",
           HS_KV_STR("change", e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
                                   ? "assign"
                                   : "revoke"),
           HS_KV_INT("partitions", parts->cnt));
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        c->assigned = 1;
        if (coop)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
    } else {
        /* Only offsets of messages whose effects are durable were stored:
         * commit them now, while the partitions are still ours. */
        ce = rd_kafka_commit(rk, NULL, 0);
        if (ce != RD_KAFKA_RESP_ERR_NO_ERROR &&
            ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
            hs_log(HS_LOG_WARN, "kafka.commit_failed",
                   HS_KV_STR("reason", rd_kafka_err2name(ce)));
        if (coop)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
    }
    if (error) {
        hs_log(HS_LOG_WARN, "kafka.assign_failed",
               HS_KV_STR("reason", rd_kafka_error_string(error)));
        rd_kafka_error_destroy(error);
    }
}

/* Assigns every partition of topic from its start; *ends gets each one's
 * high watermark (malloc'd). */
static enum hs_err assign_all(rd_kafka_t *rk, const char *topic, int timeout,
                              int64_t **ends, int *n)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_topic_partition_list_t *parts;
    enum hs_err rc = HS_ERR_NOTFOUND;

    if (!rkt)
        return HS_ERR_NOMEM;
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_destroy(rkt);
        return HS_ERR_TRANSIENT;
    }
    if (md->topic_cnt == 1 && !md->topics[0].err &&
        md->topics[0].partition_cnt > 0) {
        *n = md->topics[0].partition_cnt;
        *ends = calloc((size_t)*n, sizeof(**ends));
        parts = rd_kafka_topic_partition_list_new(*n);
        rc = *ends ? HS_OK : HS_ERR_NOMEM;
        for (int i = 0; rc == HS_OK && i < *n; i++) {
            int64_t lo, hi;

            if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi,
                                                 timeout) !=
                RD_KAFKA_RESP_ERR_NO_ERROR)
                rc = HS_ERR_TRANSIENT;
            (*ends)[i] = hi;
            rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        }
        if (rc == HS_OK && rd_kafka_assign(rk, parts))
            rc = HS_ERR_TRANSIENT;
        rd_kafka_topic_partition_list_destroy(parts);
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

enum hs_err hs_kafka_read_topic(const struct hs_config *cfg,
                                const char *topic, hs_kafka_read_fn fn,
                                void *arg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    int64_t *ends = NULL, left = 0;
    int n = 0, stop = 0;
    int64_t idle_since = hs_now_ms();
    char rkerr[256];
    enum hs_err rc;

    rc = conf_set(conf, "kafka", "group.id", "hs-read", err, errlen);
    if (rc == HS_OK)
        rc = conf_set(conf, "kafka", "enable.auto.commit", "false", err,
                      errlen);
    if (rc == HS_OK && cfg->brokers[0])
        rc = conf_set(conf, "HS_KAFKA_BROKERS", "bootstrap.servers",
                      cfg->brokers, err, errlen);
    if (rc == HS_OK)
        rc = hs_kafka_conf_opts(conf, cfg->kafka_opts, err, errlen);
    if (rc != HS_OK) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof(rkerr));
    if (!rk) {
        set_err(err, errlen, rkerr, NULL);
        rd_kafka_conf_destroy(conf);
        return HS_ERR_CONFIG;
    }
    rc = assign_all(rk, topic, cfg->kafka_timeout_ms, &ends, &n);
    for (int i = 0; rc == HS_OK && i < n; i++)
        left += ends[i] > 0;
    while (rc == HS_OK && left > 0 && !stop) {
        rd_kafka_message_t *rm = rd_kafka_consumer_poll(rk, 100);

        if (!rm) {
            if (hs_now_ms() - idle_since > cfg->kafka_timeout_ms)
                rc = HS_ERR_TIMEOUT;
            continue;
        }
        idle_since = hs_now_ms();
        if (!rm->err && rm->partition < n && rm->offset < ends[rm->partition]) {
            struct hs_kafka_msg m = {topic, rm->partition, rm->offset,
                                     rm->key, rm->key_len, rm->payload,
                                     rm->len, rm};

            stop = fn(arg, &m);
            if (rm->offset + 1 == ends[rm->partition])
                left--;
        }
        rd_kafka_message_destroy(rm);
    }
    if (rc != HS_OK)
        set_err(err, errlen, "kafka: cannot read the topic:",
                hs_strerror(rc));
    free(ends);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

enum hs_err hs_kafka_consumer_new(const struct hs_config *cfg,
                                  const char *group, const char *const *topics,
                                  size_t ntopics,
                                  struct hs_kafka_consumer **out, char *err,
                                  size_t errlen)
{
    /* name, value pairs */
    /* clang-format off */
    static const char *const fixed[] = {
        "enable.auto.offset.store", "false",
        "enable.auto.commit", "true",
        /* Stored offsets go out often: what a rebalance finds uncommitted
         * is redelivered (harmless, the claims catch it, but work). */
        "auto.commit.interval.ms", "200",
        /* A member joining or leaving moves only the partitions that must
         * move: the others keep working through the rebalance. */
        "partition.assignment.strategy", "cooperative-sticky",
        /* A backlog is prefetched up to this (librdkafka's default is
         * 64 MiB): a worker's memory stays flat however far behind. */
        "queued.max.messages.kbytes", "4096",
        "auto.offset.reset", "earliest",
        "session.timeout.ms", "10000",
        "heartbeat.interval.ms", "1000",
        NULL};
    /* clang-format on */
    struct hs_kafka_consumer *c;
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_resp_err_t e;
    char rkerr[256];
    enum hs_err rc;

    c = calloc(1, sizeof(*c));
    if (!c)
        return HS_ERR_NOMEM;
    conf = rd_kafka_conf_new();
    rc = conf_set_all(conf, fixed, err, errlen);
    if (rc == HS_OK)
        rc = conf_set(conf, "kafka", "group.id", group, err, errlen);
    if (rc == HS_OK && cfg->brokers[0])
        rc = conf_set(conf, "HS_KAFKA_BROKERS", "bootstrap.servers",
                      cfg->brokers, err, errlen);
    if (rc == HS_OK)
        rc = hs_kafka_conf_opts(conf, cfg->kafka_opts, err, errlen);
    if (rc != HS_OK)
        goto out;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);

    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof(rkerr));
    if (!c->rk) {
        set_err(err, errlen, rkerr, NULL);
        rc = HS_ERR_CONFIG;
        goto out;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(c->rk);
    subs = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i],
                                          RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(c->rk, subs);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        set_err(err, errlen, "kafka: subscribe failed:", rd_kafka_err2name(e));
        rc = HS_ERR_CONFIG;
        goto out;
    }
    rd_kafka_topic_partition_list_destroy(subs);
    *out = c;
    return HS_OK;

out:
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c->rk)
        rd_kafka_destroy(c->rk);
    free(c);
    return rc;
}

enum hs_err hs_kafka_consumer_poll(struct hs_kafka_consumer *c, int timeout_ms,
                                   struct hs_kafka_msg *m)
{
    rd_kafka_message_t *rm;

    rm = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!rm)
        return HS_ERR_TIMEOUT;
    if (rm->err) {
        if (rm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            hs_log(HS_LOG_WARN, "kafka.consume_error",
                   HS_KV_STR("topic",
                             rm->rkt ? rd_kafka_topic_name(rm->rkt) : NULL),
                   HS_KV_STR("reason", rd_kafka_message_errstr(rm)));
        rd_kafka_message_destroy(rm);
        return HS_ERR_TIMEOUT;
    }
    m->topic = rd_kafka_topic_name(rm->rkt);
    m->partition = rm->partition;
    m->offset = rm->offset;
    m->key = rm->key;
    m->keylen = rm->key_len;
    m->val = rm->payload;
    m->vallen = rm->len;
    m->priv = rm;
    return HS_OK;
}

long long hs_kafka_msg_lag(struct hs_kafka_consumer *c,
                           const struct hs_kafka_msg *m)
{
    int64_t lo, hi;

    if (rd_kafka_get_watermark_offsets(c->rk, m->topic, m->partition, &lo,
                                       &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
        return -1;
    return hi - m->offset - 1 > 0 ? (long long)(hi - m->offset - 1) : 0;
}

void hs_kafka_msg_done(struct hs_kafka_consumer *c, struct hs_kafka_msg *m,
                       int durable)
{
    rd_kafka_message_t *rm = m->priv;
    rd_kafka_topic_partition_list_t *offs;
    rd_kafka_resp_err_t e;

    if (!rm)
        return;
    if (durable) {
        offs = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(offs, rd_kafka_topic_name(rm->rkt),
                                          rm->partition)
            ->offset = rm->offset + 1; /* the next message to read */
        e = rd_kafka_offsets_store(c->rk, offs);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            e = offs->elems[0].err;
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            /* Typically the partition was revoked meanwhile: the message
             * will be redelivered to its new owner, which is safe. */
            hs_log(HS_LOG_WARN, "kafka.offset_store_failed",
                   HS_KV_STR("topic", rd_kafka_topic_name(rm->rkt)),
                   HS_KV_INT("partition", rm->partition),
                   HS_KV_INT("offset", rm->offset),
                   HS_KV_STR("reason", rd_kafka_err2name(e)));
        rd_kafka_topic_partition_list_destroy(offs);
    }
    rd_kafka_message_destroy(rm);
    memset(m, 0, sizeof(*m));
}

/* Whether the group answered our JoinGroup (a member id is set). */
static int joined(rd_kafka_t *rk)
{
    char *id = rd_kafka_memberid(rk);
    int yes = id && id[0];

    rd_kafka_mem_free(rk, id);
    return yes;
}

void hs_kafka_consumer_free(struct hs_kafka_consumer *c)
{
    int64_t until = hs_now_ms() + HS_KAFKA_FIRST_ASSIGN_WAIT_MS;
    rd_kafka_resp_err_t e;

    if (!c)
        return;
    while (!c->assigned && joined(c->rk) && hs_now_ms() < until) {
        rd_kafka_message_t *rm = rd_kafka_consumer_poll(c->rk, 100);

        if (rm)
            rd_kafka_message_destroy(rm); /* not done: redelivered */
    }
    /* Close revokes the assignment (rebalance_cb commits stored offsets)
     * and leaves the group. */
    e = rd_kafka_consumer_close(c->rk);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        hs_log(HS_LOG_WARN, "kafka.close_failed",
               HS_KV_STR("reason", rd_kafka_err2name(e)));
    rd_kafka_destroy(c->rk);
    free(c);
}
