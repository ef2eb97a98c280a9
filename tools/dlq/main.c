/*
 * hs-dlq: lists the dead letters of hs.dlq and re-drives chosen ones.
 *
 *   hs-dlq [--brokers B] list
 *   hs-dlq [--brokers B] redrive P:O [P:O ...]
 *
 * A dead letter (lib/hs_worker: the message's source topic, partition,
 * offset, key, payload, the reason, the worker, the time) is named by its
 * own place in hs.dlq, P:O. `list` prints one JSON object per line:
 * {"dlq","topic","partition","offset","reason","svc","ts","redriven"}.
 * `redrive` produces each named payload, with its key, to its source topic
 * (acks=all), then appends a marker {"redriven": "P:O", "ts"} to hs.dlq:
 * a letter with a marker is not sent again (say so, exit 0), so running
 * the same command twice re-drives once; the workers' own idempotence
 * (claims, unique ids) covers a crash between the two. Exit 1 when a P:O
 * is not a dead letter or a produce fails, 2 on bad arguments.
 * Configured by the environment (HS_KAFKA_BROKERS, HS_KAFKA_OPTS,
 * HS_TOPIC_PREFIX, HS_KAFKA_TIMEOUT_MS).
 */
#include <jansson.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_config.h"
#include "hs_crypto.h"
#include "hs_event.h"
#include "hs_kafka.h"
#include "hs_log.h"

#define LETTERS_MAX 100000

struct letter {
    char dlq[32];       /* "P:O" in hs.dlq */
    char topic[128];
    int partition;
    long long offset, ts;
    char reason[128], svc[64];
    void *key, *payload;
    size_t keylen, paylen;
};

struct dlq {
    struct letter *v;
    size_t n;
    char **redriven; /* "P:O" of each marker */
    size_t nredriven;
};

static int key_is(const msgpack_object *k, const char *s)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(s) &&
           memcmp(k->via.str.ptr, s, k->via.str.size) == 0;
}

static void copy_str(const msgpack_object *v, char *dst, size_t cap)
{
    if (v->type == MSGPACK_OBJECT_STR)
        snprintf(dst, cap, "%.*s", (int)v->via.str.size, v->via.str.ptr);
}

static void *copy_bin(const msgpack_object *v, size_t *len)
{
    void *p;

    if (v->type != MSGPACK_OBJECT_BIN)
        return NULL;
    p = malloc(v->via.bin.size + 1);
    if (p) {
        memcpy(p, v->via.bin.ptr, v->via.bin.size);
        *len = v->via.bin.size;
    }
    return p;
}

/* One hs.dlq record: a dead letter or a marker. */
static int take(void *arg, const struct hs_kafka_msg *m)
{
    struct dlq *d = arg;
    msgpack_unpacked u;
    size_t off = 0;
    struct letter l;

    memset(&l, 0, sizeof(l));
    snprintf(l.dlq, sizeof(l.dlq), "%d:%lld", (int)m->partition,
             (long long)m->offset);
    msgpack_unpacked_init(&u);
    /* Container sizes checked against the record first: msgpack-c
     * reserves what a header declares (a 5-byte one asks 128 GiB). */
    if (hs__msgpack_shape_ok(m->val, m->vallen) &&
        msgpack_unpack_next(&u, m->val, m->vallen, &off) ==
            MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object_map *map = &u.data.via.map;
        char marker[32] = "";

        for (uint32_t i = 0; i < map->size; i++) {
            const msgpack_object *k = &map->ptr[i].key, *v = &map->ptr[i].val;

            if (key_is(k, "redriven"))
                copy_str(v, marker, sizeof(marker));
            else if (key_is(k, "topic"))
                copy_str(v, l.topic, sizeof(l.topic));
            else if (key_is(k, "reason"))
                copy_str(v, l.reason, sizeof(l.reason));
            else if (key_is(k, "svc"))
                copy_str(v, l.svc, sizeof(l.svc));
            else if (key_is(k, "partition") &&
                     v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                l.partition = (int)v->via.u64;
            else if (key_is(k, "offset") &&
                     v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                l.offset = (long long)v->via.u64;
            else if (key_is(k, "ts") &&
                     v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                l.ts = (long long)v->via.u64;
            else if (key_is(k, "key") && !l.key)
                l.key = copy_bin(v, &l.keylen);
            else if (key_is(k, "payload") && !l.payload)
                l.payload = copy_bin(v, &l.paylen);
        }
        if (marker[0]) {
            char **nr = realloc(d->redriven,
                                (d->nredriven + 1) * sizeof(*nr));

            if (nr && (nr[d->nredriven] = strdup(marker)))
                d->redriven = nr, d->nredriven++;
            else if (nr)
                d->redriven = nr;
        } else if (l.topic[0] && l.payload && d->n < LETTERS_MAX) {
            struct letter *nv = realloc(d->v, (d->n + 1) * sizeof(*nv));

            if (nv) {
                d->v = nv;
                d->v[d->n++] = l;
                memset(&l, 0, sizeof(l));
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    free(l.key);
    free(l.payload);
    return 0;
}

static int redriven(const struct dlq *d, const char *pos)
{
    for (size_t i = 0; i < d->nredriven; i++)
        if (strcmp(d->redriven[i], pos) == 0)
            return 1;
    return 0;
}

static void dlq_free(struct dlq *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].key);
        free(d->v[i].payload);
    }
    for (size_t i = 0; i < d->nredriven; i++)
        free(d->redriven[i]);
    free(d->v);
    free(d->redriven);
}

static int list(const struct dlq *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct letter *l = &d->v[i];
        json_t *o = json_pack("{s:s,s:s,s:i,s:I,s:s,s:s,s:I,s:b}", "dlq",
                              l->dlq, "topic", l->topic, "partition",
                              l->partition, "offset", (json_int_t)l->offset,
                              "reason", l->reason, "svc", l->svc, "ts",
                              (json_int_t)l->ts, "redriven",
                              redriven(d, l->dlq));
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    }
    return 0;
}

static int redrive(const struct hs_config *cfg, const struct dlq *d,
                   char **pos, int npos)
{
    struct hs_kafka_producer *p = NULL;
    char err[256], dlq_topic[128];
    int rc = 0;

    if (hs_kafka_producer_new(cfg, &p, err, sizeof(err)) != HS_OK ||
        !hs_config_topic(cfg, HS_TOPIC_DLQ, dlq_topic, sizeof(dlq_topic))) {
        fprintf(stderr, "hs-dlq: %s\n", err);
        hs_kafka_producer_free(p);
        return 1;
    }
    for (int i = 0; i < npos; i++) {
        const struct letter *l = NULL;

        for (size_t j = 0; j < d->n && !l; j++)
            if (strcmp(d->v[j].dlq, pos[i]) == 0)
                l = &d->v[j];
        if (!l) {
            fprintf(stderr, "hs-dlq: %s is not a dead letter of %s\n",
                    pos[i], dlq_topic);
            rc = 1;
        } else if (redriven(d, l->dlq)) {
            printf("%s redriven already\n", l->dlq);
        } else {
            msgpack_sbuffer sb;
            msgpack_packer pk;
            enum hs_err e = hs_kafka_produce_acked(p, l->topic, l->key,
                                                   l->keylen, l->payload,
                                                   l->paylen);

            msgpack_sbuffer_init(&sb);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            msgpack_pack_map(&pk, 2);
            msgpack_pack_str(&pk, 8);
            msgpack_pack_str_body(&pk, "redriven", 8);
            msgpack_pack_str(&pk, strlen(l->dlq));
            msgpack_pack_str_body(&pk, l->dlq, strlen(l->dlq));
            msgpack_pack_str(&pk, 2);
            msgpack_pack_str_body(&pk, "ts", 2);
            msgpack_pack_int64(&pk, hs_now_ms());
            if (e == HS_OK)
                e = hs_kafka_produce_acked(p, dlq_topic, l->key, l->keylen,
                                           sb.data, sb.size);
            msgpack_sbuffer_destroy(&sb);
            if (e == HS_OK) {
                printf("%s redriven to %s\n", l->dlq, l->topic);
            } else {
                fprintf(stderr, "hs-dlq: %s: %s\n", l->dlq, hs_strerror(e));
                rc = 1;
            }
        }
    }
    hs_kafka_producer_free(p);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: hs-dlq [--brokers B] list\n"
                 "       hs-dlq [--brokers B] redrive P:O [P:O ...]\n"
                 "Lists the dead letters of hs.dlq (one JSON object per "
                 "line) or sends the\nnamed ones (their place in hs.dlq) "
                 "back to their topic, each at most once.\n\n");
    hs_config_print_help(out);
}

int main(int argc, char **argv)
{
    static struct hs_config cfg;
    struct dlq d = {0};
    char err[512], topic[128];
    int i = 1, rc;

    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "--brokers") == 0) {
        setenv("HS_KAFKA_BROKERS", argv[2], 1);
        i = 3;
    }
    if (i >= argc || (strcmp(argv[i], "list") != 0 &&
                      strcmp(argv[i], "redrive") != 0) ||
        (strcmp(argv[i], "list") == 0 && i + 1 != argc) ||
        (strcmp(argv[i], "redrive") == 0 && i + 1 == argc)) {
        usage(stderr);
        return 2;
    }
    if (hs_config_load(&cfg, HS_NEED_KAFKA, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-dlq: %s\n", err);
        return 2;
    }
    hs_log_init("hs-dlq", HS_LOG_WARN);
    if (hs_crypto_init() != 0 ||
        !hs_config_topic(&cfg, HS_TOPIC_DLQ, topic, sizeof(topic)))
        return 1;
    if (hs_kafka_read_topic(&cfg, topic, take, &d, err, sizeof(err)) !=
        HS_OK) {
        fprintf(stderr, "hs-dlq: %s\n", err);
        dlq_free(&d);
        return 1;
    }
    rc = strcmp(argv[i], "list") == 0
             ? list(&d)
             : redrive(&cfg, &d, argv + i + 1, argc - i - 1);
    dlq_free(&d);
    return rc;
}
