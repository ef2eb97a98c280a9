/*
 * hs-replay: reads, filters and verifies the audit topic (SPEC §5).
 *
 *   hs-replay --brokers B [--from T|beginning] [--until T] [--user U]
 *             [--provider P] [--action A] [--format jsonl|table] [--verify]
 *   hs-replay --print-keys
 *
 * Reads every partition of HS_TOPIC_PREFIX + "hs.audit" with its own
 * assignment (no consumer group, nothing committed), from --from
 * (offsets_for_times) or the beginning, up to each partition's high
 * watermark as of the start, so it ends. Filters choose what is printed
 * (standard output); --verify checks every event whatever the filters:
 * each must decode, be an audit event, name a known key (HS_AUDIT_KEYS, or
 * the public halves of HS_SECRET_KEYS) and carry a good signature, and
 * every producer's seq must run from 1 without a gap or a repeat
 * (replay_seq.h). A repeat with the same event id and bytes is a
 * redelivery (counted, not a problem), recognised through a direct-mapped
 * cache of 2^16 recent events. Each problem is one line on standard
 * error naming the partition and offset; exit 1 when there was any.
 * Memory is bounded by the producers and gaps, not the events. On a
 * terminal a progress line is redrawn every 500 ms.
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hs_audit.h"
#include "hs_event.h"
#include "hs_log.h"
#include "replay_seq.h"
#include "replay_time.h"

#define CACHE_BITS 16
#define IDLE_END_MS 15000 /* no message for this long: stop */

struct opts {
    const char *brokers, *user, *provider, *action;
    int64_t from_ms, until_ms; /* -1: none */
    int table, verify, print_keys;
};

struct seen {
    uint64_t key;  /* hash of svc and seq; 0 = empty */
    uint64_t body; /* hash of the bytes */
};

struct run {
    const struct opts *o;
    struct hs_audit_keys keys;
    struct replay_seqs *seqs;
    struct seen *cache;
    char topic[128];
    long events, problems, redeliveries, printed;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hs-replay --brokers B [--from T|beginning] [--until T] "
            "[--user U]\n"
            "                 [--provider P] [--action A] [--format "
            "jsonl|table] [--verify]\n"
            "       hs-replay --print-keys\n\n"
            "Prints the audit events of HS_TOPIC_PREFIX + hs.audit; T is "
            "ms since the epoch\nor UTC like 2026-12-04T10:00:00Z. --verify "
            "checks every signature (keys:\nHS_AUDIT_KEYS, else "
            "HS_SECRET_KEYS) and every producer's seq for gaps and\nrepeats; "
            "exit 1 names each problem. --print-keys prints HS_AUDIT_KEYS "
            "for\nHS_SECRET_KEYS. HS_KAFKA_OPTS applies.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->from_ms = o->until_ms = -1;
    o->brokers = getenv("HS_KAFKA_BROKERS");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--verify") == 0) {
            o->verify = 1;
            continue;
        } else if (strcmp(a, "--print-keys") == 0) {
            o->print_keys = 1;
            continue;
        } else if (!v) {
            fprintf(stderr, "hs-replay: %s needs a value (see --help)\n", a);
            return 2;
        } else if (strcmp(a, "--brokers") == 0) {
            o->brokers = v;
        } else if (strcmp(a, "--user") == 0) {
            o->user = v;
        } else if (strcmp(a, "--provider") == 0) {
            o->provider = v;
        } else if (strcmp(a, "--action") == 0) {
            o->action = v;
        } else if (strcmp(a, "--format") == 0) {
            if (strcmp(v, "jsonl") != 0 && strcmp(v, "table") != 0) {
                fprintf(stderr, "hs-replay: --format: jsonl or table\n");
                return 2;
            }
            o->table = strcmp(v, "table") == 0;
        } else if (strcmp(a, "--from") == 0 || strcmp(a, "--until") == 0) {
            int64_t t = strcmp(v, "beginning") == 0 && a[2] == 'f'
                            ? -1
                            : replay_parse_time(v);

            if (t < 0 && strcmp(v, "beginning") != 0) {
                fprintf(stderr, "hs-replay: %s: expected ms since the epoch "
                                "or 2026-12-04T10:00:00Z, got \"%s\"\n",
                        a, v);
                return 2;
            }
            *(a[2] == 'f' ? &o->from_ms : &o->until_ms) = t;
        } else {
            fprintf(stderr, "hs-replay: unknown argument %s (see --help)\n",
                    a);
            return 2;
        }
        i++;
    }
    if (!o->print_keys && (!o->brokers || !*o->brokers)) {
        fprintf(stderr, "hs-replay: --brokers (or HS_KAFKA_BROKERS) is "
                        "required\n");
        return 2;
    }
    return 0;
}

static int load_keys(struct hs_audit_keys *keys)
{
    const char *pub = getenv("HS_AUDIT_KEYS"), *sec = getenv("HS_SECRET_KEYS");
    struct hs_keyring *kr = NULL;
    char err[256];
    enum hs_err rc;

    if (pub && *pub) {
        if (hs_audit_keys_parse(pub, keys, err, sizeof(err)) == HS_OK)
            return 0;
        fprintf(stderr, "hs-replay: %s\n", err);
        return 2;
    }
    if (!sec || !*sec) {
        fprintf(stderr, "hs-replay: HS_AUDIT_KEYS or HS_SECRET_KEYS is "
                        "required to verify\n");
        return 2;
    }
    if (hs_keyring_new(sec, &kr, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-replay: %s\n", err);
        return 2;
    }
    rc = hs_audit_keys_from_ring(kr, keys);
    hs_keyring_free(kr);
    return rc == HS_OK ? 0 : 2;
}

/* The line of one event (jsonl), or NULL. Caller frees. */
static char *jsonl(const struct hs_event *ev, int32_t part, int64_t off)
{
    json_t *o = json_pack("{s:i,s:I,s:s,s:I,s:s,s:s,s:I,s:s,s:s}",
                          "partition", (int)part, "offset", (json_int_t)off,
                          "id", ev->id, "ts", (json_int_t)ev->ts, "env",
                          ev->env, "svc", ev->svc, "seq", (json_int_t)ev->seq,
                          "action", ev->action, "outcome", ev->outcome);
    const char *opt[][2] = {
        {"reason", ev->reason},         {"handshake_id", ev->handshake_id},
        {"user_id", ev->user_id},       {"provider", ev->provider},
        {"client_ip", ev->client_ip},   {"user_agent", ev->user_agent},
        {"fingerprint", ev->fingerprint}, {"kid", ev->kid},
    };
    char sig[100], *text;

    if (!o)
        return NULL;
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
        if (opt[i][1][0])
            json_object_set_new(o, opt[i][0], json_string(opt[i][1]));
    if (ev->sig_len && hs_b64url_encode(ev->sig, ev->sig_len, sig,
                                        sizeof(sig)) == HS_OK)
        json_object_set_new(o, "sig", json_string(sig));
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void print_table_row(const struct hs_event *ev)
{
    time_t t = (time_t)(ev->ts / 1000);
    struct tm tm;
    char when[32];

    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%-20s %-24s %6lld %-22s %-8s %-22s %-10s %-22s %s\n", when,
           ev->svc, (long long)ev->seq, ev->action, ev->outcome,
           ev->user_id[0] ? ev->user_id : "-",
           ev->provider[0] ? ev->provider : "-",
           ev->handshake_id[0] ? ev->handshake_id : "-",
           ev->reason[0] ? ev->reason : "");
}

static void problem(struct run *r, int32_t part, int64_t off,
                    const char *what, const struct hs_event *ev)
{
    r->problems++;
    fprintf(stderr, "%s: %s[%d]@%lld", what, r->topic, (int)part,
            (long long)off);
    if (ev)
        fprintf(stderr, " svc=%s seq=%lld", ev->svc, (long long)ev->seq);
    fputc('\n', stderr);
}

/* 1 when this (svc, seq) with these bytes was seen already: a
 * redelivery. Remembers it otherwise. */
static int redelivered(struct run *r, const struct hs_event *ev,
                       const void *buf, size_t len)
{
    uint64_t k, b;
    unsigned char h[8];
    char tag[64];
    struct seen *slot;

    snprintf(tag, sizeof(tag), "%s#%lld", ev->svc, (long long)ev->seq);
    crypto_shorthash_siphash24(h, (const unsigned char *)tag, strlen(tag),
                               (const unsigned char *)"hs-replay-cache!");
    memcpy(&k, h, 8);
    crypto_shorthash_siphash24(h, buf, len,
                               (const unsigned char *)"hs-replay-bytes!");
    memcpy(&b, h, 8);
    k |= 1; /* never 0 */
    slot = &r->cache[k & ((1u << CACHE_BITS) - 1)];
    if (slot->key == k && slot->body == b)
        return 1;
    slot->key = k;
    slot->body = b;
    return 0;
}

static void on_gap(void *arg, const char *svc, int64_t lo, int64_t hi)
{
    struct run *r = arg;

    r->problems++;
    if (lo == hi)
        fprintf(stderr, "gap: %s svc=%s seq %lld missing\n", r->topic, svc,
                (long long)lo);
    else
        fprintf(stderr, "gap: %s svc=%s seq %lld..%lld missing\n", r->topic,
                svc, (long long)lo, (long long)hi);
}

static int wanted(const struct opts *o, const struct hs_event *ev)
{
    return (!o->user || strcmp(o->user, ev->user_id) == 0) &&
           (!o->provider || strcmp(o->provider, ev->provider) == 0) &&
           (!o->action || strcmp(o->action, ev->action) == 0) &&
           (o->from_ms < 0 || ev->ts >= o->from_ms) &&
           (o->until_ms < 0 || ev->ts <= o->until_ms);
}

static void one(struct run *r, const rd_kafka_message_t *m,
                struct hs_event *ev)
{
    r->events++;
    if (hs_event_decode(m->payload, m->len, ev) != HS_OK) {
        problem(r, m->partition, m->offset, "undecodable", NULL);
        return;
    }
    if (ev->type != HS_EV_AUDIT) {
        problem(r, m->partition, m->offset, "not an audit event", NULL);
        return;
    }
    if (r->o->verify) {
        const unsigned char *pk = hs_audit_keys_find(&r->keys, ev->kid);

        if (!pk)
            problem(r, m->partition, m->offset, "unknown key", ev);
        else if (hs_audit_verify(ev, pk) != HS_OK)
            problem(r, m->partition, m->offset, "bad signature", ev);
        else {
            int fresh = replay_seqs_add(r->seqs, ev->svc, ev->seq);

            if (fresh < 0)
                problem(r, m->partition, m->offset, "bad seq", ev);
            else if (!redelivered(r, ev, m->payload, m->len) && !fresh)
                problem(r, m->partition, m->offset, "repeated seq", ev);
            else if (!fresh)
                r->redeliveries++;
        }
    }
    if (wanted(r->o, ev)) {
        r->printed++;
        if (r->o->table) {
            print_table_row(ev);
        } else {
            char *line = jsonl(ev, m->partition, m->offset);

            if (line)
                puts(line);
            free(line);
        }
    }
}

/* Assigns every partition of r->topic from its start; *ends gets each
 * partition's high watermark, *nparts their number. */
static int assign(rd_kafka_t *rk, struct run *r, int64_t **ends,
                  int *nparts)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, r->topic, NULL);
    rd_kafka_topic_partition_list_t *parts;
    int n = 0;

    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (n <= 0) {
        fprintf(stderr, "hs-replay: cannot read topic %s from %s\n",
                r->topic, r->o->brokers);
        return -1;
    }
    *ends = calloc((size_t)n, sizeof(**ends));
    parts = rd_kafka_topic_partition_list_new(n);
    if (!*ends || !parts)
        return -1;
    for (int i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;

        if (rd_kafka_query_watermark_offsets(rk, r->topic, i, &lo, &hi,
                                             10000)) {
            fprintf(stderr, "hs-replay: cannot read the offsets of %s\n",
                    r->topic);
            rd_kafka_topic_partition_list_destroy(parts);
            return -1;
        }
        (*ends)[i] = hi;
        rd_kafka_topic_partition_list_add(parts, r->topic, i)->offset =
            r->o->from_ms >= 0 ? r->o->from_ms : RD_KAFKA_OFFSET_BEGINNING;
    }
    if (r->o->from_ms >= 0 &&
        rd_kafka_offsets_for_times(rk, parts, 10000)) {
        fprintf(stderr, "hs-replay: cannot find offsets for --from\n");
        rd_kafka_topic_partition_list_destroy(parts);
        return -1;
    }
    for (int i = 0; i < n; i++) /* past the end: nothing to read there */
        if (parts->elems[i].offset < 0 && r->o->from_ms >= 0)
            parts->elems[i].offset = (*ends)[i];
    *nparts = n;
    n = rd_kafka_assign(rk, parts) ? -1 : 0;
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

static int64_t total_left(const int64_t *next, const int64_t *ends, int n)
{
    int64_t left = 0;

    for (int i = 0; i < n; i++)
        if (next[i] < ends[i])
            left += ends[i] - (next[i] < 0 ? 0 : next[i]);
    return left;
}

static int run_replay(struct run *r)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    int64_t *ends = NULL, *next = NULL, last_msg = hs_now_ms(), last_draw = 0;
    int nparts = 0, rc = 2, tty = isatty(2);
    struct hs_event *ev = malloc(sizeof(*ev));
    const char *opts = getenv("HS_KAFKA_OPTS");
    char errstr[256];

    if (!ev ||
        rd_kafka_conf_set(conf, "bootstrap.servers", r->o->brokers, errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", "hs-replay", NULL, 0) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0) ||
        /* librdkafka's prefetch is the bulk of our memory: bound it. */
        rd_kafka_conf_set(conf, "queued.max.messages.kbytes", "8192", NULL,
                          0) ||
        hs_kafka_conf_opts(conf, opts ? opts : "", errstr, sizeof(errstr)) !=
            HS_OK) {
        fprintf(stderr, "hs-replay: bad Kafka settings: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        free(ev);
        return 2;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "hs-replay: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        free(ev);
        return 2;
    }
    if (assign(rk, r, &ends, &nparts) != 0)
        goto out;
    next = calloc((size_t)nparts, sizeof(*next));
    if (!next)
        goto out;
    for (int i = 0; i < nparts; i++)
        next[i] = -1;
    while (total_left(next, ends, nparts) > 0 &&
           hs_now_ms() - last_msg < IDLE_END_MS) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        int64_t now = hs_now_ms();

        if (tty && now - last_draw >= 500) {
            fprintf(stderr, "\r%ld events, %lld to go ", r->events,
                    (long long)total_left(next, ends, nparts));
            last_draw = now;
        }
        if (!m)
            continue;
        last_msg = now;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < nparts)
                next[m->partition] = ends[m->partition];
        } else if (!m->err && m->partition >= 0 && m->partition < nparts &&
                   m->offset < ends[m->partition]) {
            next[m->partition] = m->offset + 1;
            one(r, m, ev);
        } else if (m->err) {
            fprintf(stderr, "hs-replay: %s\n", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    if (tty)
        fputs("\r\033[K", stderr);
    if (total_left(next, ends, nparts) > 0) {
        fprintf(stderr, "hs-replay: stopped after %d s without a message; "
                        "%lld events unread\n", IDLE_END_MS / 1000,
                (long long)total_left(next, ends, nparts));
        r->problems++;
    }
    rc = 0;
out:
    rd_kafka_assign(rk, NULL);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(ends);
    free(next);
    free(ev);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct run r;
    struct rusage ru;
    const char *prefix = getenv("HS_TOPIC_PREFIX");
    int rc = parse_args(argc, argv, &o);

    if (rc != 0)
        return rc;
    if (hs_crypto_init() != 0)
        return 2;
    hs_log_init("hs-replay", HS_LOG_WARN);
    memset(&r, 0, sizeof(r));
    r.o = &o;
    if ((o.verify || o.print_keys) && load_keys(&r.keys) != 0)
        return 2;
    if (o.print_keys) {
        printf("HS_AUDIT_KEYS=");
        for (size_t i = 0; i < r.keys.n; i++) {
            char pk[48];

            if (hs_b64url_encode(r.keys.pk[i], 32, pk, sizeof(pk)) != HS_OK)
                return 2;
            printf("%s%s:%s", i ? "," : "", r.keys.kid[i], pk);
        }
        printf("\n");
        return 0;
    }
    snprintf(r.topic, sizeof(r.topic), "%shs.audit", prefix ? prefix : "");
    r.seqs = replay_seqs_new();
    r.cache = calloc((size_t)1 << CACHE_BITS, sizeof(*r.cache));
    if (!r.seqs || !r.cache)
        return 2;
    rc = run_replay(&r);
    if (rc == 0 && o.verify)
        replay_seqs_gaps(r.seqs, on_gap, &r);
    getrusage(RUSAGE_SELF, &ru);
    if (rc == 0)
        fprintf(stderr, "%s %ld events from %zu producers: %ld problems, "
                        "%ld redeliveries, %ld printed, max_rss_kb %ld\n",
                o.verify ? "verified" : "read", r.events,
                replay_seqs_producers(r.seqs), r.problems, r.redeliveries,
                r.printed, ru.ru_maxrss);
    replay_seqs_free(r.seqs);
    free(r.cache);
    fflush(stdout);
    if (rc != 0)
        return rc;
    return o.verify && r.problems ? 1 : 0;
}
