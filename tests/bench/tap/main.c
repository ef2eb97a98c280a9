/*
 * hs-bench-tap: the far end of the end-to-end benchmark (tests/bench/e2e.py).
 *
 *   hs-bench-tap [--topic BASE] [--from end|beginning|OFFSET] [--to-end]
 *   hs-bench-tap --probe N [--gap-ms G]
 *
 * Configured by the environment as the services are (HS_KAFKA_BROKERS,
 * HS_KAFKA_OPTS, HS_TOPIC_PREFIX, HS_KAFKA_TIMEOUT_MS). It needs no secret
 * key: it reads the clear fields of each event, never its box or sealed
 * part.
 *
 * Tap (default): reads every partition of hs.me (or of the topic BASE,
 * e.g. hs.callbacks; HS_TOPIC_PREFIX applies) with a consumer group of
 * its own (hs-bench-tap.<pid>, nothing committed), from the end as of its
 * start (the default; offsets read before "ready" is printed, so nothing
 * produced after that line is missed), from the beginning, or from
 * OFFSET in every partition (past a partition's end: from its end; the
 * mock cluster answers no offsets-by-time, so there is no --from time).
 * librdkafka's own warnings are dropped. Prints "# ready
 * <partitions>" once assigned, then one line per message as it arrives,
 * flushed:
 *
 *   <handshake_id> <receive ms since the epoch> <type> <event ts ms>
 *       <partition> <offset> <Kafka timestamp ms>
 *
 * (one line; the first two columns are the contract, the rest helps to
 * see where time went: the event's ts is when its producer built it, the
 * Kafka timestamp when it was handed to librdkafka). handshake_id is "-"
 * for an event without one; a record that is not an event prints
 * "? <ms> - 0 <partition> <offset> <Kafka ts>". Runs until SIGTERM or
 * SIGINT (exit 0), or with --to-end until every partition is read to its
 * end (then "# end").
 *
 * Probe (--probe N): the ceiling of one Kafka hop in the same run. A
 * thread produces N small records to hs.me, G ms apart (default 20), each
 * as the broadcaster does (hs_kafka_produce, then hs_kafka_flush: the same
 * producer settings, idempotent, acks=all); the main thread reads them back
 * as the tap does. Prints "probe <i> <ms from the produce call to the
 * read>" per record as it is read, then "call <i> <ms the produce and
 * flush calls took>" for each (the producer's wait for the ack), then
 * "# probe <received> of <N>"; exit 1 when one was lost. The records are keyed
 * "hs-bench-probe-<i>" and are not events (an agent reading hs.me skips them as
 * undecodable).
 */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hs_config.h"
#include "hs_event.h"
#include "hs_kafka.h"
#include "hs_log.h"

#define PROBE_MAX 100000
#define PROBE_KEY "hs-bench-probe-"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* A whole decimal number, or -1 (then the range checks refuse it). */
static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return end == s || *end ? -1 : v;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hs-bench-tap [--topic BASE] [--from end|beginning|OFFSET] "
            "[--to-end]\n"
            "       hs-bench-tap --probe N [--gap-ms G]\n"
            "Prints one line per hs.me message as it arrives:\n"
            "  <handshake_id> <receive ms> <type> <event ts> <partition> "
            "<offset> <Kafka ts>\n"
            "--probe: N records produced to hs.me as the broadcaster does, "
            "G ms apart,\nread back: \"probe <i> <ms>\" each.\n"
            "Environment: HS_KAFKA_BROKERS, HS_KAFKA_OPTS, HS_TOPIC_PREFIX.\n");
}

/* librdkafka's log: errors only (HS_KAFKA_OPTS holds producer properties
 * too, which a consumer warns about). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    (void)rk;
    if (level <= 3)
        fprintf(stderr, "hs-bench-tap: kafka %s: %s\n", fac, buf);
}

/* A consumer of every partition of topic at the chosen start. */
static rd_kafka_t *open_tap(const struct hs_config *cfg, const char *topic,
                            const char *from, int to_end, int *nparts)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts;
    char group[64], errstr[256], err[256] = "";
    int32_t cnt = 0;
    int64_t at = -1; /* --from OFFSET */

    snprintf(group, sizeof(group), "hs-bench-tap.%ld", (long)getpid());
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr,
                          sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "5", errstr,
                          sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.partition.eof",
                          to_end ? "true" : "false", errstr, sizeof(errstr)) ||
        hs_kafka_conf_opts(conf, cfg->kafka_opts, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-bench-tap: %s\n", *err ? err : errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "hs-bench-tap: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        cnt = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (cnt <= 0) {
        fprintf(stderr, "hs-bench-tap: no topic %s at %s\n", topic,
                cfg->brokers);
        rd_kafka_destroy(rk);
        return NULL;
    }
    if (strcmp(from, "end") != 0 && strcmp(from, "beginning") != 0) {
        char *end;

        at = strtoll(from, &end, 10);
        if (*end || end == from || at < 0) {
            fprintf(stderr,
                    "hs-bench-tap: --from: end, beginning or an offset, "
                    "got \"%s\"\n",
                    from);
            rd_kafka_destroy(rk);
            return NULL;
        }
    }
    parts = rd_kafka_topic_partition_list_new(cnt);
    for (int32_t p = 0; p < cnt; p++) {
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_add(parts, topic, p);
        int64_t lo, hi;

        if (at >= 0) {
            tp->offset = at;
        } else if (strcmp(from, "beginning") == 0) {
            tp->offset = RD_KAFKA_OFFSET_BEGINNING;
        } else if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
                                                    10000) ==
                   RD_KAFKA_RESP_ERR_NO_ERROR) {
            tp->offset = hi; /* the end now, not when the fetch starts */
        } else {
            fprintf(stderr,
                    "hs-bench-tap: cannot read the offsets of "
                    "%s[%d]\n",
                    topic, (int)p);
            rd_kafka_topic_partition_list_destroy(parts);
            rd_kafka_destroy(rk);
            return NULL;
        }
    }
    if (rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "hs-bench-tap: cannot assign %s\n", topic);
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_destroy(rk);
        return NULL;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    *nparts = cnt;
    return rk;
}

static void close_tap(rd_kafka_t *rk)
{
    rd_kafka_assign(rk, NULL);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* ---- tap --------------------------------------------------------------- */

static int tap(rd_kafka_t *rk, int nparts, int to_end)
{
    struct hs_event *ev = malloc(sizeof(*ev));
    char *eof = calloc((size_t)nparts, 1);
    int neof = 0;

    if (!ev || !eof) {
        free(ev);
        free(eof);
        return 1;
    }
    while (!stopping && !(to_end && neof == nparts)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        double t;
        int ok;
        long long kts;

        if (!m)
            continue;
        t = now_ms();
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "hs-bench-tap: %s\n",
                        rd_kafka_message_errstr(m));
            else if (m->partition >= 0 && m->partition < nparts &&
                     !eof[m->partition]) {
                eof[m->partition] = 1;
                neof++;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        kts = (long long)rd_kafka_message_timestamp(m, NULL);
        ok = hs_event_decode(m->payload, m->len, ev) == HS_OK;
        if (ok)
            printf("%s %.3f %s %lld %d %lld %lld\n",
                   ev->handshake_id[0] ? ev->handshake_id : "-", t,
                   hs_event_type_name(ev->type) ? hs_event_type_name(ev->type)
                                                : "?",
                   (long long)ev->ts, (int)m->partition, (long long)m->offset,
                   kts);
        else
            printf("? %.3f - 0 %d %lld %lld\n", t, (int)m->partition,
                   (long long)m->offset, kts);
        if (ok)
            hs_event_wipe(ev);
        rd_kafka_message_destroy(m);
        if (fflush(stdout) != 0)
            break; /* the reader is gone */
    }
    if (to_end && neof == nparts) {
        printf("# end\n");
        fflush(stdout);
    }
    free(ev);
    free(eof);
    return 0;
}

/* ---- probe ------------------------------------------------------------- */

struct probe {
    const struct hs_config *cfg;
    const char *topic;
    int n, gap_ms;
    int64_t *sent; /* microseconds since the epoch, 0 until produced */
    double *call;  /* ms in hs_kafka_produce + hs_kafka_flush */
    int failed;
};

static void *probe_main(void *arg)
{
    struct probe *pr = arg;
    struct hs_kafka_producer *p = NULL;
    char err[256] = "", key[48];

    if (hs_kafka_producer_new(pr->cfg, &p, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-bench-tap: %s\n", err);
        __atomic_store_n(&pr->failed, pr->n, __ATOMIC_RELAXED);
        return NULL;
    }
    for (int i = 0; i < pr->n && !stopping; i++) {
        static const char val[] = "hs-bench-probe: not an event";
        int klen = snprintf(key, sizeof(key), PROBE_KEY "%d", i);
        double t0 = now_ms();

        __atomic_store_n(&pr->sent[i], (int64_t)(t0 * 1000.0),
                         __ATOMIC_RELEASE);
        if (hs_kafka_produce(p, pr->topic, key, (size_t)klen, val,
                             sizeof(val) - 1) != HS_OK ||
            hs_kafka_flush(p, pr->cfg->kafka_timeout_ms) != HS_OK)
            __atomic_add_fetch(&pr->failed, 1, __ATOMIC_RELAXED);
        pr->call[i] = now_ms() - t0; /* read after the join */
        while (!stopping && now_ms() < t0 + pr->gap_ms) {
            struct timespec half = {0, 500000};

            nanosleep(&half, NULL);
        }
    }
    hs_kafka_producer_free(p);
    return NULL;
}

static int probe(const struct hs_config *cfg, rd_kafka_t *rk, const char *topic,
                 int n, int gap_ms)
{
    struct probe pr = {cfg,
                       topic,
                       n,
                       gap_ms,
                       calloc((size_t)n, sizeof(int64_t)),
                       calloc((size_t)n, sizeof(double)),
                       0};
    char *seen = calloc((size_t)n, 1);
    pthread_t th;
    int got = 0;
    double quiet_until = 0;

    if (!pr.sent || !pr.call || !seen ||
        pthread_create(&th, NULL, probe_main, &pr)) {
        free(pr.sent);
        free(pr.call);
        free(seen);
        return 1;
    }
    while (!stopping && got < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        double t = now_ms();
        int i;

        if (!m) {
            /* every record sent (or failed): wait 10 s more at most */
            if (__atomic_load_n(&pr.sent[n - 1], __ATOMIC_ACQUIRE) > 0 ||
                __atomic_load_n(&pr.failed, __ATOMIC_RELAXED) >= n) {
                if (quiet_until == 0)
                    quiet_until = t + 10000;
                else if (t > quiet_until)
                    break;
            }
            continue;
        }
        if (!m->err && m->key_len > strlen(PROBE_KEY) && m->key_len < 32 &&
            memcmp(m->key, PROBE_KEY, strlen(PROBE_KEY)) == 0) {
            char k[32];

            memcpy(k, m->key, m->key_len);
            k[m->key_len] = 0;
            i = (int)num(k + strlen(PROBE_KEY));
            if (i >= 0 && i < n && !seen[i]) {
                double s =
                    (double)__atomic_load_n(&pr.sent[i], __ATOMIC_ACQUIRE) /
                    1000.0;

                seen[i] = 1;
                got++;
                printf("probe %d %.3f\n", i, t - s);
                fflush(stdout);
            }
        }
        rd_kafka_message_destroy(m);
    }
    stopping = 1;
    pthread_join(th, NULL);
    for (int i = 0; i < n; i++)
        if (pr.sent[i])
            printf("call %d %.3f\n", i, pr.call[i]);
    printf("# probe %d of %d\n", got, n);
    fflush(stdout);
    free(pr.sent);
    free(pr.call);
    free(seen);
    return got == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct hs_config cfg;
    const char *from = "end", *base = HS_TOPIC_ME;
    int to_end = 0;
    char err[512], topic[128];
    int n = 0, gap_ms = 20, nparts = 0, rc;
    rd_kafka_t *rk;
    struct sigaction sa;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            base = argv[++i];
        } else if (strcmp(argv[i], "--to-end") == 0) {
            to_end = 1;
        } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            from = argv[++i];
        } else if (strcmp(argv[i], "--probe") == 0 && i + 1 < argc) {
            n = (int)num(argv[++i]);
            if (n < 1 || n > PROBE_MAX) {
                fprintf(stderr, "hs-bench-tap: --probe 1 to %d\n", PROBE_MAX);
                return 2;
            }
        } else if (strcmp(argv[i], "--gap-ms") == 0 && i + 1 < argc) {
            gap_ms = (int)num(argv[++i]);
            if (gap_ms < 0 || gap_ms > 10000) {
                fprintf(stderr, "hs-bench-tap: --gap-ms 0 to 10000\n");
                return 2;
            }
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (hs_config_load(&cfg, HS_NEED_KAFKA, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    hs_log_init("hs-bench-tap", HS_LOG_WARN);
    if (!hs_config_topic(&cfg, n ? HS_TOPIC_ME : base, topic, sizeof(topic)))
        return 2;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rk = open_tap(&cfg, topic, n ? "end" : from, n ? 0 : to_end, &nparts);
    if (!rk)
        return 1;
    printf("# ready %d\n", nparts);
    fflush(stdout);
    rc = n ? probe(&cfg, rk, topic, n, gap_ms) : tap(rk, nparts, to_end);
    close_tap(rk);
    return rc;
}
