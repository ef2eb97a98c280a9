/*
 * hs-bench-store: the storage path of hs-exchange under load
 * (tests/bench/store.py, issue 10 "persistence").
 *
 *   hs-bench-store --count N [--threads T] [--seconds S] [--batch B]
 *                  [--relay 0|1]
 *
 * Environment: HS_PG_URL, HS_SECRET_KEYS, with --relay 1 HS_KAFKA_BROKERS
 * (as hs-exchange; HS_ENV, HS_REFRESH_AHEAD, HS_EXCHANGE_STALE are read
 * too).
 *
 * 1. Inserts N users and N connect handshakes, as the start route does
 *    (producers/ingress/ingress_connect.c handshake_insert: flow
 *    'connect', provider 'demo', a binding hash, expires_at now() + 600 s;
 *    random 22-character ids), in chunks, untimed.
 * 2. Runs T threads, each with its own PostgreSQL connection and its own
 *    struct hs_worker, for S seconds or until the N handshakes are used.
 *    A thread takes B handshakes at a time (a consumer batch of B
 *    callbacks; B = 1 is a message handled alone) and does with them what
 *    exchange_handle_batch does for connect callbacks that succeed, minus
 *    the provider: exchange_claim_all() (the claims, one statement,
 *    committed before the provider calls), then a canned token response
 *    parsed by exchange_token_parse() for each (zero latency), then
 *    exchange_store_all() (tokens sealed and stored, handshakes complete,
 *    token.issued in the outbox, in one transaction), then with --relay
 *    the outbox relay hs-exchange runs once per batch (hs_outbox_relay to
 *    HS_KAFKA_BROKERS, acks=all, one producer per thread). Not included:
 *    the callback events' decode and open (CPU, no storage) and the audit
 *    hold (no auditor: HS_OK).
 * 3. Prints one JSON line: handshakes, seconds, rate, and what one
 *    handshake cost in statements sent and commits (counted by wrapping
 *    libpq's PQsendQueryParams/PQsendQuery at link time), plus any error.
 *
 * Exit 0 when it ran (errors are counted in the JSON), 1 when it could
 * not, 2 on bad arguments.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "exchange_batch.h"
#include "exchange_flow.h"
#include "exchange_store.h"
#include "exchange_token.h"
#include "hs_config.h"
#include "hs_crypto.h"
#include "hs_event.h"
#include "hs_kafka.h"
#include "hs_log.h"
#include "hs_outbox.h"
#include "hs_pg.h"
#include "hs_worker.h"

#define CHUNK 5000
#define MAX_THREADS 64

/* ---- statement and commit counting (-Wl,--wrap) ------------------------ */
static _Atomic long n_statements, n_commits;

int __real_PQsendQueryParams(PGconn *conn, const char *command, int nParams,
                             const Oid *paramTypes,
                             const char *const *paramValues,
                             const int *paramLengths, const int *paramFormats,
                             int resultFormat);
int __real_PQsendQuery(PGconn *conn, const char *query);
int __wrap_PQsendQueryParams(PGconn *conn, const char *command, int nParams,
                             const Oid *paramTypes,
                             const char *const *paramValues,
                             const int *paramLengths, const int *paramFormats,
                             int resultFormat);
int __wrap_PQsendQuery(PGconn *conn, const char *query);

static void count(PGconn *conn, const char *sql)
{
    n_statements++;
    /* A statement outside a transaction block commits by itself. */
    if (strcmp(sql, "COMMIT") == 0 ||
        (PQtransactionStatus(conn) == PQTRANS_IDLE &&
         strcmp(sql, "BEGIN") != 0))
        n_commits++;
}

int __wrap_PQsendQueryParams(PGconn *conn, const char *command, int nParams,
                             const Oid *paramTypes,
                             const char *const *paramValues,
                             const int *paramLengths, const int *paramFormats,
                             int resultFormat)
{
    count(conn, command);
    return __real_PQsendQueryParams(conn, command, nParams, paramTypes,
                                    paramValues, paramLengths, paramFormats,
                                    resultFormat);
}

int __wrap_PQsendQuery(PGconn *conn, const char *query)
{
    count(conn, query);
    return __real_PQsendQuery(conn, query);
}

/* ---- the run ----------------------------------------------------------- */
struct shared {
    const struct hs_config *cfg;
    struct hs_keyring *kr;
    char (*ids)[HS_ID_LEN + 1];
    long count;
    int batch;
    int relay;            /* 1: hs_outbox_relay after each batch */
    _Atomic long next;    /* next handshake index to take */
    _Atomic long done;    /* handshakes stored */
    _Atomic long errors;  /* claims or stores that failed */
    _Atomic int stop;
    char first_error[128];
    pthread_mutex_t lock;
};

static void note_error(struct shared *sh, const char *what, enum hs_err rc)
{
    if (sh->errors++ == 0) {
        pthread_mutex_lock(&sh->lock);
        snprintf(sh->first_error, sizeof(sh->first_error), "%s: %s", what,
                 hs_strerror(rc));
        pthread_mutex_unlock(&sh->lock);
    }
}

/* The canned provider answer: the demo provider's shape (51-character
 * tokens), one per thread. */
static enum hs_err canned_token(struct exchange_token *tok)
{
    char at[64], rt[64], body[512];
    int n;

    memcpy(at, "demo_at_", 8);
    memcpy(rt, "demo_rt_", 8);
    if (hs_random_token(32, at + 8, sizeof(at) - 8) != HS_OK ||
        hs_random_token(32, rt + 8, sizeof(rt) - 8) != HS_OK)
        return HS_ERR_INTERNAL;
    n = snprintf(body, sizeof(body),
                 "{\"access_token\":\"%s\",\"token_type\":\"Bearer\","
                 "\"expires_in\":3600,\"refresh_token\":\"%s\","
                 "\"scope\":\"openid profile email\"}",
                 at, rt);
    return exchange_token_parse(body, (size_t)n, tok);
}

static void *runner(void *arg)
{
    struct shared *sh = arg;
    struct hs_worker w = {0};
    struct exchange_token *tok = calloc(1, sizeof(*tok));
    struct hs_event *cb = calloc((size_t)sh->batch, sizeof(*cb));
    const struct hs_event *cbs[HS_WORKER_BATCH];
    struct exchange_claim cl[HS_WORKER_BATCH];
    struct exchange_result r[HS_WORKER_BATCH];
    struct exchange_result *rs[HS_WORKER_BATCH];
    enum hs_err rcs[HS_WORKER_BATCH];
    const char *scopes;
    char err[256];
    enum hs_err rc;

    w.cfg = sh->cfg;
    w.kr = sh->kr;
    if (!tok || !cb || canned_token(tok) != HS_OK) {
        note_error(sh, "setup", HS_ERR_NOMEM);
        goto out;
    }
    rc = hs_pg_new(sh->cfg->pg_url, &w.pg, err, sizeof(err));
    if (rc == HS_OK && sh->relay)
        rc = hs_kafka_producer_new(sh->cfg, &w.producer, err, sizeof(err));
    if (rc != HS_OK) {
        note_error(sh, "connect", rc);
        goto out;
    }
    scopes = tok->scope; /* exchange_handle_batch: else the catalog's */
    while (!sh->stop) {
        long first = atomic_fetch_add(&sh->next, sh->batch);
        int n = 0, m = 0;

        if (first >= sh->count)
            break;
        for (; n < sh->batch && first + n < sh->count; n++) {
            memset(&cb[n], 0, sizeof(cb[n]));
            snprintf(cb[n].handshake_id, sizeof(cb[n].handshake_id), "%s",
                     sh->ids[first + n]);
            snprintf(cb[n].provider, sizeof(cb[n].provider), "demo");
            cbs[n] = &cb[n];
        }
        exchange_claim_all(&w, cbs, (size_t)n, cl, rcs);
        /* The provider calls are here; each answer is the canned tok. */
        for (int i = 0; i < n; i++) {
            if (rcs[i] != HS_OK) {
                note_error(sh, "claim", rcs[i]);
                continue;
            }
            r[m] = (struct exchange_result){
                &cb[i], &cl[i], NULL, "", tok, scopes,
                exchange_store_expiry(tok, hs_now_ms())};
            /* Same size (char[32]); snprintf here trips GCC's
             * -Wformat-truncation at -O2 (it loses the index's bound). */
            _Static_assert(sizeof(r[m].user_id) == sizeof(cl[i].user_id),
                           "user_id sizes");
            memcpy(r[m].user_id, cl[i].user_id, sizeof(r[m].user_id));
            rs[m] = &r[m];
            m++;
        }
        if (m == 0)
            continue;
        exchange_store_all(&w, rs, (size_t)m, rcs);
        for (int i = 0; i < m; i++) {
            if (rcs[i] != HS_OK)
                note_error(sh, "store", rcs[i]);
            else
                sh->done++;
        }
        if (sh->relay) {
            rc = hs_outbox_relay(w.pg, w.producer, sh->cfg, NULL);
            if (rc != HS_OK)
                note_error(sh, "relay", rc);
        }
    }
out:
    hs_kafka_producer_free(w.producer);
    hs_pg_free(w.pg);
    if (tok)
        exchange_token_wipe(tok);
    free(tok);
    free(cb);
    return NULL;
}

/* ---- the handshake rows, as the start route inserts them ---------------- */
static enum hs_err prepare(struct shared *sh)
{
    struct hs_pg *pg = NULL;
    char err[256];
    enum hs_err rc = hs_pg_new(sh->cfg->pg_url, &pg, err, sizeof(err));
    /* One chunk: {id,...} text arrays of handshake ids, user ids and
     * binding hashes. */
    size_t cap = (size_t)CHUNK * 48 + 16;
    char *hs = malloc(cap), *us = malloc(cap), *bs = malloc(cap);

    if (rc != HS_OK) {
        fprintf(stderr, "hs-bench-store: %s\n", err);
        goto out;
    }
    rc = HS_ERR_NOMEM;
    if (!hs || !us || !bs)
        goto out;
    for (long i = 0; i < sh->count; i++)
        if (hs_random_token(16, sh->ids[i], HS_ID_LEN + 1) != HS_OK)
            goto out;
    for (long base = 0; base < sh->count; base += CHUNK) {
        size_t ph = 0, pu = 0, pb = 0;
        const char *p[3] = {hs, us, bs};

        hs[ph++] = us[pu++] = bs[pb++] = '{';
        for (long i = base; i < base + CHUNK && i < sh->count; i++) {
            char uid[HS_ID_LEN + 1], bind[44];

            if (hs_random_token(16, uid, sizeof(uid)) != HS_OK ||
                hs_random_token(32, bind, sizeof(bind)) != HS_OK)
                goto out;
            ph += (size_t)snprintf(hs + ph, cap - ph, "%s\"%s\"",
                                   i > base ? "," : "", sh->ids[i]);
            pu += (size_t)snprintf(us + pu, cap - pu, "%s\"%s\"",
                                   i > base ? "," : "", uid);
            pb += (size_t)snprintf(bs + pb, cap - pb, "%s\"%s\"",
                                   i > base ? "," : "", bind);
        }
        snprintf(hs + ph, cap - ph, "}");
        snprintf(us + pu, cap - pu, "}");
        snprintf(bs + pb, cap - pb, "}");
        rc = hs_pg_begin(pg);
        if (rc == HS_OK)
            rc = hs_pg_query(pg,
                             "INSERT INTO users (id) SELECT unnest($1::text[])",
                             1, p + 1, NULL);
        if (rc == HS_OK)
            rc = hs_pg_query(
                pg,
                "INSERT INTO handshakes (id, flow, provider, user_id, "
                "agent_id, binding_hash, expires_at) SELECT h, 'connect', "
                "'demo', u, NULL, b, now() + make_interval(secs => 600) "
                "FROM unnest($1::text[], $2::text[], $3::text[]) AS x(h, u, "
                "b)",
                3, p, NULL);
        if (rc == HS_OK)
            rc = hs_pg_commit(pg);
        else
            hs_pg_rollback(pg);
        if (rc != HS_OK) {
            fprintf(stderr, "hs-bench-store: inserting handshakes: %s\n",
                    hs_strerror(rc));
            goto out;
        }
    }
    rc = HS_OK;
out:
    hs_pg_free(pg);
    free(hs);
    free(us);
    free(bs);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A whole decimal number, or -1 (then the range checks refuse it). */
static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return end == s || *end ? -1 : v;
}

static int usage(void)
{
    fprintf(stderr, "usage: hs-bench-store --count N [--threads T] "
                    "[--seconds S] [--batch B] [--relay 0|1]\n"
                    "(HS_PG_URL, HS_SECRET_KEYS, HS_KAFKA_BROKERS in the environment)\n");
    return 2;
}

int main(int argc, char **argv)
{
    static struct hs_config cfg;
    static struct shared sh;
    pthread_t th[MAX_THREADS];
    int threads = 1;
    double seconds = 10, t0, t1;
    long st0, cm0;
    char err[256];

    sh.batch = 1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!v)
            return usage();
        if (strcmp(argv[i], "--count") == 0)
            sh.count = num(v);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = (int)num(v);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(v);
        else if (strcmp(argv[i], "--batch") == 0)
            sh.batch = (int)num(v);
        else if (strcmp(argv[i], "--relay") == 0)
            sh.relay = (int)num(v);
        else
            return usage();
        i++;
    }
    if (sh.count < 1 || threads < 1 || threads > MAX_THREADS ||
        seconds <= 0 || sh.batch < 1 || sh.batch > HS_WORKER_BATCH || sh.relay < 0 ||
        sh.relay > 1)
        return usage();
    if (hs_crypto_init() != 0)
        return 1;
    if (hs_config_load(&cfg,
                       HS_NEED_PG | HS_NEED_KEYS |
                           (sh.relay ? HS_NEED_KAFKA : 0u),
                       err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-bench-store: %s\n", err);
        return 2;
    }
    hs_log_init("hs-bench-store", cfg.log_level);
    if (hs_keyring_new(cfg.secret_keys, &sh.kr, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-bench-store: %s\n", err);
        return 2;
    }
    sh.cfg = &cfg;
    pthread_mutex_init(&sh.lock, NULL);
    sh.ids = calloc((size_t)sh.count, sizeof(*sh.ids));
    if (!sh.ids || prepare(&sh) != HS_OK)
        return 1;

    st0 = n_statements;
    cm0 = n_commits;
    t0 = now_s();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, runner, &sh) != 0)
            return 1;
    /* Until the time is up or every handshake is taken. */
    while (now_s() - t0 < seconds && sh.next < sh.count)
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    sh.stop = 1;
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    t1 = now_s();
    printf("{\"threads\": %d, \"batch\": %d, \"relay\": %d, "
           "\"handshakes\": %ld, "
           "\"seconds\": %.3f, \"rate\": %.1f, \"statements_per\": %.3f, "
           "\"commits_per\": %.3f, \"errors\": %ld, \"first_error\": \"%s\"}\n",
           threads, sh.batch, sh.relay, (long)sh.done, t1 - t0,
           (double)sh.done / (t1 - t0),
           sh.done ? (double)(n_statements - st0) / (double)sh.done : 0.0,
           sh.done ? (double)(n_commits - cm0) / (double)sh.done : 0.0,
           (long)sh.errors, sh.first_error);
    hs_keyring_free(sh.kr);
    free(sh.ids);
    return sh.done > 0 ? 0 : 1;
}
