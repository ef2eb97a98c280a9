/* hs_worker: the shared consume loop (contract in hs_worker.h). */
#include "hs_worker.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hs_http.h"
#include "hs_log.h"
#include "hs_metrics.h"

#define BACKOFF_MAX_MS 5000

static volatile sig_atomic_t running = 1;

static void on_signal(int sig)
{
    (void)sig;
    running = 0;
}

int hs_worker_running(void)
{
    return running;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

enum hs_err hs_worker_txn(struct hs_worker *w, hs_worker_txn_fn fn,
                          void *arg)
{
    long backoff = 100;

    for (;;) {
        enum hs_err rc = hs_pg_begin(w->pg);

        if (rc == HS_OK)
            rc = fn(w, arg);
        if (rc == HS_OK)
            rc = hs_pg_commit(w->pg);
        else
            hs_pg_rollback(w->pg);
        if (rc == HS_OK || !hs_err_is_retriable(rc) || !running)
            return rc;
        sleep_ms(backoff);
        backoff = backoff < 3200 ? backoff * 2 : backoff;
    }
}

void hs_worker_audit(struct hs_worker *w, const struct hs_audit_step *s)
{
    if (w->audit && hs_audit_emit(w->audit, s) != HS_OK)
        return; /* logged by hs_audit_emit */
}

enum hs_err hs_worker_audit_hold(struct hs_worker *w,
                                 const struct hs_audit_step *s)
{
    return w->audit ? hs_audit_hold(w->audit, s) : HS_OK;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

enum hs_err hs_worker_dlq_encode(const struct hs_kafka_msg *m,
                                 const char *svc, const char *reason,
                                 int64_t now_ms, msgpack_sbuffer *out)
{
    msgpack_packer pk;

    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    pack_str(&pk, "topic");
    pack_str(&pk, m->topic);
    pack_str(&pk, "partition");
    msgpack_pack_int32(&pk, m->partition);
    pack_str(&pk, "offset");
    msgpack_pack_int64(&pk, m->offset);
    pack_str(&pk, "key");
    msgpack_pack_bin(&pk, m->keylen);
    msgpack_pack_bin_body(&pk, m->key, m->keylen);
    pack_str(&pk, "payload");
    msgpack_pack_bin(&pk, m->vallen);
    msgpack_pack_bin_body(&pk, m->val, m->vallen);
    pack_str(&pk, "reason");
    pack_str(&pk, reason);
    pack_str(&pk, "svc");
    pack_str(&pk, svc);
    pack_str(&pk, "ts");
    msgpack_pack_int64(&pk, now_ms);
    return HS_OK;
}

static enum hs_err send_dlq(struct hs_worker *w, const struct hs_worker_def *d,
                            const struct hs_kafka_msg *m, const char *reason)
{
    msgpack_sbuffer sb;
    char topic[128];
    enum hs_err rc;

    msgpack_sbuffer_init(&sb);
    rc = hs_worker_dlq_encode(m, d->svc, reason, hs_now_ms(), &sb);
    if (rc == HS_OK)
        rc = hs_kafka_produce_acked(
            w->producer, hs_config_topic(w->cfg, HS_TOPIC_DLQ, topic,
                                         sizeof(topic)),
            m->key, m->keylen, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Counts one message's outcome (ok, dead_letter, retry) and the lag of
 * its partition. */
static void count(struct hs_kafka_consumer *c, const struct hs_kafka_msg *m,
                  const char *outcome)
{
    char labels[160], part[16];

    hs_metrics_add("hs_worker_messages_total",
                   hs_metrics_labels(labels, sizeof(labels), "topic",
                                     m->topic, "outcome", outcome),
                   1);
    if (strcmp(outcome, "retry") != 0) {
        long long lag = hs_kafka_msg_lag(c, m);

        snprintf(part, sizeof(part), "%d", (int)m->partition);
        if (lag >= 0)
            hs_metrics_set("hs_consumer_lag",
                           hs_metrics_labels(labels, sizeof(labels), "topic",
                                             m->topic, "partition", part),
                           (double)lag);
    }
}

/* handle, one message at a time, as a batch handler. */
static void handle_each(struct hs_worker *w, const struct hs_worker_def *d,
                        struct hs_kafka_msg *const *m, size_t n,
                        enum hs_err *rcs, char (*reasons)[HS_WORKER_REASON])
{
    for (size_t i = 0; i < n; i++)
        rcs[i] = d->handle(w, m[i], reasons[i], HS_WORKER_REASON);
}

/* Hands ms[0..n-1] to the handler until each is done (its effects
 * durable, or dead-lettered) or the program stops, then stores the
 * offsets in order, none past a message left undone in its partition
 * (that one and the rest of its partition are redelivered). */
static void process(struct hs_worker *w, const struct hs_worker_def *d,
                    struct hs_kafka_consumer *c, struct hs_kafka_msg *ms,
                    size_t n)
{
    struct hs_kafka_msg *again[HS_WORKER_BATCH];
    enum hs_err rcs[HS_WORKER_BATCH];
    char reasons[HS_WORKER_BATCH][HS_WORKER_REASON];
    int done[HS_WORKER_BATCH] = {0};
    size_t left = n;
    long backoff = 100;

    while (left) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
            if (done[i])
                continue;
            again[k] = &ms[i];
            rcs[k] = HS_ERR_INTERNAL;
            reasons[k++][0] = '\0';
        }
        if (d->handle_batch)
            d->handle_batch(w, again, k, rcs, reasons);
        else
            handle_each(w, d, again, k, rcs, reasons);
        for (size_t i = 0, j = 0; i < n; i++) {
            enum hs_err rc;
            char *reason;

            if (done[i])
                continue;
            rc = rcs[j];
            reason = reasons[j++];
            if (rc == HS_OK) {
                count(c, &ms[i], "ok");
            } else if (!hs_err_is_retriable(rc)) {
                if (!reason[0])
                    snprintf(reason, HS_WORKER_REASON, "%s",
                             hs_strerror(rc));
                if (send_dlq(w, d, &ms[i], reason) != HS_OK)
                    continue; /* the DLQ itself is down: retry */
                hs_log(HS_LOG_WARN, "worker.dead_letter",
                       HS_KV_STR("topic", ms[i].topic),
                       HS_KV_INT("partition", ms[i].partition),
                       HS_KV_INT("offset", ms[i].offset),
                       HS_KV_STR("reason", reason));
                count(c, &ms[i], "dead_letter");
            } else {
                if (running) {
                    count(c, &ms[i], "retry");
                    hs_log(HS_LOG_WARN, "worker.retry",
                           HS_KV_STR("topic", ms[i].topic),
                           HS_KV_INT("offset", ms[i].offset),
                           HS_KV_STR("reason", hs_strerror(rc)),
                           HS_KV_INT("backoff_ms", backoff));
                }
                continue;
            }
            done[i] = 1;
            left--;
        }
        if (!left || !running)
            break;
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    for (size_t i = 0; i < n; i++) {
        int durable = done[i];

        for (size_t j = 0; j < i && durable; j++)
            durable = done[j] || ms[j].partition != ms[i].partition ||
                      strcmp(ms[j].topic, ms[i].topic) != 0;
        hs_kafka_msg_done(c, &ms[i], durable);
    }
}

static void usage(FILE *out, const struct hs_worker_def *d)
{
    fprintf(out, "usage: %s [--help] [--check-config]\n", d->svc);
    if (d->topic)
        fprintf(out, "Consumes %s in consumer group %s; configured by the "
                     "environment.\n\n", d->topic, d->group);
    else
        fprintf(out, "%s; configured by the environment.\n\n", d->group);
    hs_config_print_help(out);
}

int hs_worker_main(int argc, char **argv, const struct hs_worker_def *d)
{
    static struct hs_config cfg;
    struct hs_worker w;
    struct hs_kafka_consumer *c = NULL;
    struct hs_metrics_server *ms = NULL;
    char err[512], topic[128], group[128];
    const char *topics[1];
    int check_only = 0, rc = 1;
    struct sigaction sa;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout, d);
            return 0;
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = 1;
        } else {
            fprintf(stderr, "%s: unknown argument %s\n", d->svc, argv[i]);
            return 2;
        }
    }
    if (hs_crypto_init() != 0 || hs_http_global_init() != HS_OK)
        return 1;
    if (hs_config_load(&cfg, HS_NEED_KAFKA | (d->no_db ? 0 : HS_NEED_PG) |
                                 HS_NEED_KEYS | d->need,
                       err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "%s: %s\n", d->svc, err);
        return 2;
    }
    hs_log_init(d->svc, cfg.log_level);
    memset(&w, 0, sizeof(w));
    w.cfg = &cfg;
    if (hs_keyring_new(cfg.secret_keys, &w.kr, err, sizeof(err)) != HS_OK ||
        (d->init && d->init(&w, err, sizeof(err)) != HS_OK)) {
        fprintf(stderr, "%s: %s\n", d->svc, err);
        rc = 2;
        goto out;
    }
    if (check_only) {
        printf("configuration ok\n");
        rc = 0;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    topic[0] = '\0';
    topics[0] = d->topic ? hs_config_topic(&cfg, d->topic, topic,
                                           sizeof(topic))
                         : topic;
    snprintf(group, sizeof(group), "%s%s%s", d->group,
             d->group_per_env ? "." : "", d->group_per_env ? cfg.env : "");
    hs_metrics_family("hs_worker_messages_total", HS_COUNTER,
                      "Messages handled, by topic and outcome (ok, "
                      "dead_letter, retry: one per failed try)");
    hs_metrics_family("hs_consumer_lag", HS_GAUGE,
                      "Messages after the last one handled, by partition");
    if (hs_metrics_serve(cfg.metrics_listen, &ms) != 0) {
        hs_log(HS_LOG_ERROR, "worker.start_failed",
               HS_KV_STR("reason", "cannot listen on HS_METRICS_LISTEN"));
        goto out;
    }
    /* The consumer last: nothing fails after it joins its group (a member
     * freed before its first assignment waits for it: hs_kafka.h). */
    if ((!d->no_db && (hs_pg_new(cfg.pg_url, &w.pg, err, sizeof(err)) !=
                           HS_OK ||
                       hs_pg_migrate(w.pg, err, sizeof(err)) != HS_OK)) ||
        hs_kafka_producer_new(&cfg, &w.producer, err, sizeof(err)) != HS_OK ||
        hs_auditor_new(&cfg, w.kr, d->svc, w.producer, &w.audit) != HS_OK ||
        (d->topic && hs_kafka_consumer_new(&cfg, group, topics, 1, &c, err,
                                           sizeof(err)) != HS_OK)) {
        hs_log(HS_LOG_ERROR, "worker.start_failed", HS_KV_STR("reason", err));
        goto out;
    }
    hs_log(HS_LOG_INFO, "worker.started", HS_KV_STR("group", group),
           HS_KV_STR("topic", topic));
    while (running) {
        struct hs_kafka_msg batch[HS_WORKER_BATCH];
        size_t n = 0, max = d->handle_batch ? HS_WORKER_BATCH : 1;

        if (!c)
            sleep_ms(100);
        else if (hs_kafka_consumer_poll(c, 100, &batch[0]) == HS_OK)
            n = 1;
        /* What has arrived already joins the batch; nothing waits. */
        while (n && n < max &&
               hs_kafka_consumer_poll(c, 0, &batch[n]) == HS_OK)
            n++;
        if (n)
            process(&w, d, c, batch, n);
        if (d->idle)
            d->idle(&w);
        hs_audit_flush(w.audit);
    }
    hs_log(HS_LOG_INFO, "worker.stopping");
    rc = 0;
out:
    hs_metrics_server_stop(ms);
    hs_kafka_consumer_free(c);
    if (d->cleanup)
        d->cleanup(&w);
    hs_auditor_free(w.audit);
    hs_kafka_producer_free(w.producer);
    hs_pg_free(w.pg);
    hs_keyring_free(w.kr);
    return rc;
}
