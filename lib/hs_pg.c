/*
 * hs_pg: the PostgreSQL seam over libpq (contract in hs_pg.h).
 *
 * Statements are sent with PQsendQuery/PQsendQueryParams so that "was it
 * sent?" has a precise answer: a send that fails, or a connection found
 * closed while idle before sending, is repaired with one PQreset() and
 * the statement is sent again. A statement that was sent is never
 * repeated here (it may have run); its failure is classified and returned.
 *
 * What may be logged: SQLSTATE and PostgreSQL's primary message, except
 * for data exceptions (class 22), whose primary message quotes the
 * offending value ("invalid input syntax for type integer: \"...\"").
 * Never a DETAIL (it shows row values), never a parameter, never the
 * conninfo (it may hold a password).
 */
#include "hs_pg.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_log.h"
#include "hs_metrics.h"
#include "hs_pg_migrations.h"

/* The key of the advisory lock serialising hs_pg_migrate() ("hsmigr"). */
#define MIGRATE_LOCK_KEY "114984112777586"
/* pg_advisory_lock waits at most statement_timeout per attempt. */
#define MIGRATE_LOCK_ATTEMPTS 12

struct hs_pg {
    PGconn *conn;
    int doomed;   /* the server announced it is closing this session */
    int txn_lost; /* the session died inside a transaction: refuse to
                     reconnect until the caller rolls back, so no later
                     statement of that transaction runs outside it */
};

struct hs_pg_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled by put */
    int n;
    int nfree;
    struct hs_pg **all;  /* n connections */
    struct hs_pg **free; /* stack of nfree idle connections */
};

/* Writes the concatenation a b c (NULL = "") into err. */
static void set_err(char *err, size_t errlen, const char *a, const char *b,
                    const char *c)
{
    int n;

    if (!err || errlen == 0)
        return;
    n = snprintf(err, errlen, "%s%s%s", a ? a : "", b ? b : "", c ? c : "");
    if (n < 0 || (size_t)n >= errlen)
        err[errlen - 1] = '\0'; /* a cut message is still useful */
}

/* Routes server notices (NOTICE, WARNING) into hs_log at debug level, with
 * only their severity, SQLSTATE and primary message. A FATAL error that
 * arrives while no statement runs (pg_terminate_backend, shutdown) also
 * comes here: it marks the connection for a reset before the next send. */
static void notice_cb(void *arg, const PGresult *res)
{
    struct hs_pg *pg = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

    if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        pg->doomed = 1;
    hs_log(
        HS_LOG_DEBUG, "pg.notice",
        HS_KV_STR("severity",
                  PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED)),
        HS_KV_STR("sqlstate", PQresultErrorField(res, PG_DIAG_SQLSTATE)),
        HS_KV_STR("message", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)));
}

/* The program's name for application_name: the base name of argv[0],
 * read from /proc/self/cmdline (no GNU program_invocation_short_name under
 * _POSIX_C_SOURCE; /proc/self/comm is cut at 15 bytes). */
static void program_name(char *buf, size_t cap)
{
    char argv0[256];
    const char *base;
    FILE *f = fopen("/proc/self/cmdline", "r");
    size_t n = 0;

    if (f) {
        n = fread(argv0, 1, sizeof(argv0) - 1, f);
        fclose(f);
    }
    argv0[n] = '\0'; /* argv[0] ends at its NUL, or here */
    base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    n = strlen(base);
    if (n == 0 || n >= cap) {
        base = "handshake";
        n = strlen(base);
    }
    memcpy(buf, base, n + 1); /* fits: checked above */
}

enum hs_err hs_pg_new(const char *url, struct hs_pg **out, char *err,
                      size_t errlen)
{
    char app[64], opts[64];
    const char *keys[5], *vals[5];
    PQconninfoOption *parsed;
    char *perr = NULL;
    struct hs_pg *pg;

    /* Reject a malformed string before connecting: libpq's own message
     * would quote it, and it may hold a password. */
    parsed = PQconninfoParse(url, &perr);
    if (!parsed) {
        PQfreemem(perr);
        set_err(err, errlen, "HS_PG_URL: malformed connection string", NULL,
                NULL);
        return HS_ERR_CONFIG;
    }
    PQconninfoFree(parsed);

    pg = calloc(1, sizeof(*pg));
    if (!pg)
        return HS_ERR_NOMEM;
    program_name(app, sizeof(app));
    snprintf(opts, sizeof(opts), "-c statement_timeout=%d",
             HS_PG_STATEMENT_TIMEOUT_MS); /* fits: 64 > 33 */
    /* With expand_dbname, url (a URL or key=value string) is expanded in
     * place of dbname and later entries override its values: the connect
     * timeout, statement timeout and application_name are ours. */
    keys[0] = "dbname";
    vals[0] = url;
    keys[1] = "connect_timeout";
    vals[1] = "5";
    keys[2] = "options";
    vals[2] = opts;
    keys[3] = "application_name";
    vals[3] = app;
    keys[4] = NULL;
    vals[4] = NULL;
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        /* PQerrorMessage names host, port and user: not for logs. */
        set_err(err, errlen, "HS_PG_URL: cannot connect to PostgreSQL (",
                pg->conn && PQconnectionNeedsPassword(pg->conn)
                    ? "password required"
                    : "unreachable, refused or login rejected",
                ")");
        PQfinish(pg->conn);
        free(pg);
        return HS_ERR_TRANSIENT;
    }
    PQsetNoticeReceiver(pg->conn, notice_cb, pg);
    *out = pg;
    return HS_OK;
}

void hs_pg_free(struct hs_pg *pg)
{
    if (!pg)
        return;
    PQfinish(pg->conn);
    free(pg);
}

/* Maps a failed result to enum hs_err (see hs_pg.h) and logs it. */
static enum hs_err classify(struct hs_pg *pg, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = NULL;
    enum hs_err rc;
    char labels[64];

    hs_metrics_family("hs_pg_errors_total", HS_COUNTER,
                      "PostgreSQL statements that failed, by SQLSTATE "
                      "(none: the connection)");
    hs_metrics_add("hs_pg_errors_total",
                   hs_metrics_labels(labels, sizeof(labels), "sqlstate",
                                     state ? state : "none", NULL, NULL),
                   1);

    if (!state) /* client side: lost connection, out of memory, ... */
        rc = PQstatus(pg->conn) == CONNECTION_BAD ? HS_ERR_TRANSIENT
                                                  : HS_ERR_INTERNAL;
    else if (strcmp(state, "23505") == 0)
        rc = HS_ERR_CONFLICT;
    else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        rc = HS_ERR_TRANSIENT;
    else if (strcmp(state, "57014") == 0)
        rc = HS_ERR_TIMEOUT;
    else if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
             strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
             PQstatus(pg->conn) == CONNECTION_BAD)
        rc = HS_ERR_TRANSIENT; /* connection class, server shutting down */
    else
        rc = HS_ERR_INTERNAL;

    if (res && !(state && strncmp(state, "22", 2) == 0))
        msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    hs_log(rc == HS_ERR_INTERNAL ? HS_LOG_WARN : HS_LOG_DEBUG,
           "pg.query_failed", HS_KV_STR("sqlstate", state),
           HS_KV_STR("message", msg), HS_KV_STR("reason", hs_strerror(rc)));
    return rc;
}

/* Makes sure the connection is usable before a statement is sent. An idle
 * connection whose server went away (pg_terminate_backend, restart) is
 * noticed here by reading what is pending, and reset. Returns 0 when the
 * connection is still bad after one reset. */
static int ready_to_send(struct hs_pg *pg)
{
    if (pg->txn_lost)
        return 0;
    if (PQstatus(pg->conn) == CONNECTION_OK &&
        PQtransactionStatus(pg->conn) == PQTRANS_IDLE) {
        /* A terminated backend sends a FATAL message, then closes. Read
         * and parse it (PQisBusy: libpq hands it to notice_cb, which sets
         * doomed); read again in case the EOF is there too. libpq
         * sockets are non-blocking: none of this waits. */
        if (PQconsumeInput(pg->conn)) {
            (void)PQisBusy(pg->conn);
            (void)PQconsumeInput(pg->conn);
        }
    }
    if (PQstatus(pg->conn) == CONNECTION_OK && !pg->doomed)
        return 1;
    hs_log(HS_LOG_INFO, "pg.reconnect");
    pg->doomed = 0;
    PQreset(pg->conn);
    return PQstatus(pg->conn) == CONNECTION_OK;
}

/* Sends sql (simple protocol when simple != 0: several statements, no
 * parameters) and collects its result. */
static enum hs_err exec(struct hs_pg *pg, const char *sql, int n,
                        const char *const *params, const int *lens,
                        const int *fmts, int simple, PGresult **out)
{
    PGresult *res, *keep = NULL;
    enum hs_err rc = HS_OK;
    PGTransactionStatusType was = PQTRANS_UNKNOWN;
    int sent = 0;

    for (int attempt = 0; attempt < 2 && !sent; attempt++) {
        if (!ready_to_send(pg))
            return HS_ERR_TRANSIENT;
        was = PQtransactionStatus(pg->conn);
        if (simple)
            sent = PQsendQuery(pg->conn, sql);
        else
            sent = PQsendQueryParams(pg->conn, sql, n, NULL, params, lens, fmts,
                                     0);
        if (!sent && PQstatus(pg->conn) != CONNECTION_BAD) {
            hs_log(HS_LOG_WARN, "pg.send_failed"); /* e.g. a bad n */
            return HS_ERR_INTERNAL;
        }
    }
    if (!sent) {
        if (was != PQTRANS_IDLE)
            pg->txn_lost = 1;
        return HS_ERR_TRANSIENT;
    }

    /* Keep the first failed result, else the last one. Draining until NULL
     * leaves the connection ready for the next statement. */
    while ((res = PQgetResult(pg->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        int failed = st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
                     st != PGRES_EMPTY_QUERY;

        if (keep && (rc != HS_OK || !failed)) {
            PQclear(res);
            continue;
        }
        PQclear(keep);
        keep = res;
        if (failed)
            rc = HS_ERR_INTERNAL; /* classified below */
    }
    if (PQstatus(pg->conn) == CONNECTION_BAD && was != PQTRANS_IDLE)
        pg->txn_lost = 1;
    if (!keep) /* connection lost before any result */
        return classify(pg, NULL);
    if (rc != HS_OK) {
        rc = classify(pg, keep);
        PQclear(keep);
        return rc;
    }
    if (out)
        *out = keep;
    else
        PQclear(keep);
    return HS_OK;
}

enum hs_err hs_pg_query(struct hs_pg *pg, const char *sql, int n,
                        const char *const *params, PGresult **out)
{
    return exec(pg, sql, n, params, NULL, NULL, 0, out);
}

enum hs_err hs_pg_query_bin(struct hs_pg *pg, const char *sql, int n,
                            const char *const *params, const int *lens,
                            const int *fmts, PGresult **out)
{
    return exec(pg, sql, n, params, lens, fmts, 0, out);
}

enum hs_err hs_pg_begin(struct hs_pg *pg)
{
    return exec(pg, "BEGIN", 0, NULL, NULL, NULL, 0, NULL);
}

enum hs_err hs_pg_commit(struct hs_pg *pg)
{
    return exec(pg, "COMMIT", 0, NULL, NULL, NULL, 0, NULL);
}

void hs_pg_rollback(struct hs_pg *pg)
{
    /* On a lost connection there is nothing to roll back: the server
     * aborted the transaction; the next statement reconnects. */
    pg->txn_lost = 0;
    if (PQstatus(pg->conn) != CONNECTION_OK || pg->doomed)
        return;
    if (exec(pg, "ROLLBACK", 0, NULL, NULL, NULL, 0, NULL) != HS_OK)
        hs_log(HS_LOG_WARN, "pg.rollback_failed");
}

enum hs_err hs_pg_listen(struct hs_pg *pg, const char *channel)
{
    char sql[96];
    char *ident;
    int n;

    if (!ready_to_send(pg))
        return HS_ERR_TRANSIENT;
    ident = PQescapeIdentifier(pg->conn, channel, strlen(channel));
    if (!ident)
        return HS_ERR_INVALID;
    n = snprintf(sql, sizeof(sql), "LISTEN %s", ident);
    PQfreemem(ident);
    if (n < 0 || (size_t)n >= sizeof(sql))
        return HS_ERR_TOOBIG;
    return exec(pg, sql, 0, NULL, NULL, NULL, 1, NULL);
}

int hs_pg_socket(const struct hs_pg *pg)
{
    return PQstatus(pg->conn) == CONNECTION_OK ? PQsocket(pg->conn) : -1;
}

enum hs_err hs_pg_notifies(struct hs_pg *pg,
                           void (*fn)(void *arg, const char *payload),
                           void *arg)
{
    PGnotify *nf;

    if (PQstatus(pg->conn) != CONNECTION_OK || pg->doomed ||
        !PQconsumeInput(pg->conn))
        return HS_ERR_TRANSIENT;
    while ((nf = PQnotifies(pg->conn)) != NULL) {
        fn(arg, nf->extra);
        PQfreemem(nf);
    }
    return PQstatus(pg->conn) == CONNECTION_OK ? HS_OK : HS_ERR_TRANSIENT;
}

int hs_pg_ping(struct hs_pg *pg)
{
    return exec(pg, "SELECT 1", 0, NULL, NULL, NULL, 0, NULL) == HS_OK;
}

/* ---- migrations -------------------------------------------------------- */

static enum hs_err migrate_one(struct hs_pg *pg, const struct hs__migration *mg,
                               char *err, size_t errlen)
{
    const char *params[1] = {mg->name};
    PGresult *res = NULL;
    enum hs_err rc;
    int applied;

    rc = hs_pg_query(pg, "SELECT 1 FROM schema_migrations WHERE name = $1", 1,
                     params, &res);
    if (rc != HS_OK) {
        set_err(err, errlen, "migration ", mg->name,
                ": cannot read schema_migrations");
        return rc;
    }
    applied = PQntuples(res) > 0;
    PQclear(res);
    if (applied)
        return HS_OK;

    rc = hs_pg_begin(pg);
    /* A migration may take longer than the per-statement default. */
    if (rc == HS_OK)
        rc = exec(pg, "SET LOCAL statement_timeout = '300s'", 0, NULL, NULL,
                  NULL, 0, NULL);
    if (rc == HS_OK)
        rc = exec(pg, mg->sql, 0, NULL, NULL, NULL, 1, NULL);
    if (rc == HS_OK)
        rc = hs_pg_query(pg, "INSERT INTO schema_migrations (name) VALUES ($1)",
                         1, params, NULL);
    if (rc == HS_OK)
        rc = hs_pg_commit(pg);
    if (rc != HS_OK) {
        hs_pg_rollback(pg);
        set_err(err, errlen, mg->name, " failed: ", hs_strerror(rc));
        return rc;
    }
    hs_log(HS_LOG_INFO, "pg.migration_applied", HS_KV_STR("name", mg->name));
    return HS_OK;
}

enum hs_err hs_pg_migrate(struct hs_pg *pg, char *err, size_t errlen)
{
    const char *key[1] = {MIGRATE_LOCK_KEY};
    enum hs_err rc = HS_ERR_TIMEOUT;

    /* Session-level lock: released by unlock below, or by the server if
     * this connection dies. Each attempt waits at most statement_timeout. */
    for (int i = 0; i < MIGRATE_LOCK_ATTEMPTS && rc == HS_ERR_TIMEOUT; i++)
        rc = hs_pg_query(pg, "SELECT pg_advisory_lock($1::bigint)", 1, key,
                         NULL);
    if (rc != HS_OK) {
        set_err(err, errlen,
                "migrations: cannot take the lock: ", hs_strerror(rc), NULL);
        return rc;
    }
    /* Under the lock: concurrent CREATE TABLE IF NOT EXISTS can fail. */
    rc = hs_pg_query(pg,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "name text PRIMARY KEY, "
                     "applied_at timestamptz NOT NULL DEFAULT now())",
                     0, NULL, NULL);
    if (rc != HS_OK)
        set_err(err, errlen, "migrations: cannot create schema_migrations: ",
                hs_strerror(rc), NULL);
    for (size_t i = 0; rc == HS_OK && i < hs__migrations_count; i++)
        rc = migrate_one(pg, &hs__migrations[i], err, errlen);
    if (hs_pg_query(pg, "SELECT pg_advisory_unlock($1::bigint)", 1, key,
                    NULL) != HS_OK)
        hs_log(HS_LOG_WARN, "pg.migrate_unlock_failed");
    return rc;
}

/* ---- bytea ------------------------------------------------------------- */

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

enum hs_err hs_pg_bytea(const PGresult *res, int row, int col,
                        unsigned char **out, size_t *len)
{
    const char *text;
    size_t tlen, n = 0;
    unsigned char *raw, *copy;

    if (row < 0 || col < 0 || row >= PQntuples(res) || col >= PQnfields(res))
        return HS_ERR_INVALID;
    if (PQgetisnull(res, row, col))
        return HS_ERR_NOTFOUND;
    /* PQunescapeBytea skips bad digits silently: check the hex format
     * (bytea_output = hex, the default since 9.0) first. */
    text = PQgetvalue(res, row, col);
    tlen = strlen(text);
    if (tlen < 2 || text[0] != '\\' || text[1] != 'x' || tlen % 2 != 0)
        return HS_ERR_DECODE;
    for (size_t i = 2; i < tlen; i++)
        if (!is_hex(text[i]))
            return HS_ERR_DECODE;
    raw = PQunescapeBytea((const unsigned char *)text, &n);
    if (!raw)
        return HS_ERR_NOMEM;
    /* Copy into malloc memory: the contract says free(), not PQfreemem. */
    copy = malloc(n ? n : 1);
    if (!copy) {
        PQfreemem(raw);
        return HS_ERR_NOMEM;
    }
    memcpy(copy, raw, n);
    PQfreemem(raw);
    *out = copy;
    *len = n;
    return HS_OK;
}

/* ---- pool -------------------------------------------------------------- */

enum hs_err hs_pg_pool_new(const char *url, int n, struct hs_pg_pool **out,
                           char *err, size_t errlen)
{
    struct hs_pg_pool *pool;
    pthread_condattr_t ca;
    enum hs_err rc = HS_OK;

    if (n < 1)
        return HS_ERR_INVALID;
    pool = calloc(1, sizeof(*pool));
    if (!pool)
        return HS_ERR_NOMEM;
    pool->all = calloc((size_t)n, sizeof(*pool->all));
    pool->free = calloc((size_t)n, sizeof(*pool->free));
    if (!pool->all || !pool->free) {
        rc = HS_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        rc = hs_pg_new(url, &pool->all[i], err, errlen);
        if (rc != HS_OK)
            goto out;
        pool->free[i] = pool->all[i];
        pool->n = i + 1;
    }
    pool->nfree = n;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = pool;
    return HS_OK;

out:
    for (int i = 0; i < pool->n; i++)
        hs_pg_free(pool->all[i]);
    free(pool->all);
    free(pool->free);
    free(pool);
    return rc;
}

enum hs_err hs_pg_pool_get(struct hs_pg_pool *pool, int timeout_ms,
                           struct hs_pg **out)
{
    struct timespec deadline;
    int e = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool->lock);
    while (pool->nfree == 0 && e != ETIMEDOUT)
        e = pthread_cond_timedwait(&pool->cond, &pool->lock, &deadline);
    if (pool->nfree == 0) {
        pthread_mutex_unlock(&pool->lock);
        return HS_ERR_TIMEOUT;
    }
    *out = pool->free[--pool->nfree];
    pthread_mutex_unlock(&pool->lock);
    return HS_OK;
}

void hs_pg_pool_put(struct hs_pg_pool *pool, struct hs_pg *pg)
{
    if (!pg)
        return;
    /* A connection left inside a transaction (a caller's bug or a failed
     * COMMIT path) must not leak its state into the next user. */
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
        hs_pg_rollback(pg);
    pthread_mutex_lock(&pool->lock);
    pool->free[pool->nfree++] = pg;
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

void hs_pg_pool_free(struct hs_pg_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->n; i++)
        hs_pg_free(pool->all[i]);
    pthread_cond_destroy(&pool->cond);
    pthread_mutex_destroy(&pool->lock);
    free(pool->all);
    free(pool->free);
    free(pool);
}
