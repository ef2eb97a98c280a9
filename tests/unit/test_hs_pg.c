/*
 * test_hs_pg: lib/hs_pg.c against a real, throwaway PostgreSQL.
 *
 * HS_TEST_PG_URL names it (key=value conninfo); ctest starts one with
 * tests/support/pgtmp as a fixture (tests/unit/seams.cmake). Migration
 * tests each get a fresh database, created through the admin connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hs_log.h"
#include "hs_pg.h"
#include "hs_pg_migrations.h"

static const char *base_url;
static enum hs_log_level log_level = HS_LOG_WARN; /* HS_TEST_DEBUG: debug */
static struct hs_pg *admin; /* the fixture's database, for setup queries */

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct hs_pg *connect_to(const char *url)
{
    struct hs_pg *pg = NULL;
    char err[256] = "";

    assert_int_equal(hs_pg_new(url, &pg, err, sizeof(err)), HS_OK);
    return pg;
}

static void run(struct hs_pg *pg, const char *sql)
{
    assert_int_equal(hs_pg_query(pg, sql, 0, NULL, NULL), HS_OK);
}

static long query_long(struct hs_pg *pg, const char *sql, int n,
                       const char *const *params)
{
    PGresult *res = NULL;
    long v;

    assert_int_equal(hs_pg_query(pg, sql, n, params, &res), HS_OK);
    assert_int_equal(PQntuples(res), 1);
    v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* Creates database `name` (dropped first) and writes a conninfo for it:
 * the fixture's with dbname overridden (the last keyword wins). */
static void fresh_db(const char *name, char *url, size_t cap)
{
    char sql[128];
    int n;

    n = snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
    assert_true(n > 0 && (size_t)n < sizeof(sql));
    run(admin, sql);
    n = snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    assert_true(n > 0 && (size_t)n < sizeof(sql));
    run(admin, sql);
    n = snprintf(url, cap, "%s dbname=%s", base_url, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static int group_setup(void **st)
{
    (void)st;
    if (getenv("HS_TEST_DEBUG"))
        log_level = HS_LOG_DEBUG;
    hs_log_init("test_hs_pg", log_level);
    base_url = getenv("HS_TEST_PG_URL");
    if (!base_url || !base_url[0]) {
        fprintf(stderr, "test_hs_pg: HS_TEST_PG_URL is not set (ctest sets "
                        "it with the pgtmp fixture)\n");
        return -1;
    }
    if (hs_pg_new(base_url, &admin, NULL, 0) != HS_OK) {
        fprintf(stderr, "test_hs_pg: cannot connect to HS_TEST_PG_URL\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **st)
{
    (void)st;
    hs_pg_free(admin);
    return 0;
}

/* ---- connection ------------------------------------------------------ */

static void test_connect_sets_timeouts_and_application_name(void **st)
{
    PGresult *res = NULL;

    (void)st;
    assert_int_equal(hs_pg_query(admin,
                                 "SELECT current_setting('statement_timeout'),"
                                 " current_setting('application_name')",
                                 0, NULL, &res),
                     HS_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "5s");
    assert_string_equal(PQgetvalue(res, 0, 1), "test_hs_pg");
    PQclear(res);
    assert_int_equal(hs_pg_ping(admin), 1);
}

static void test_unreachable_is_transient_without_conninfo(void **st)
{
    static const char *const urls[] = {
        "host=127.0.0.1 port=1 dbname=sekritdb user=sekrituser "
        "password=hunter2",
        "postgresql://sekrituser:hunter2@127.0.0.1:1/sekritdb",
        "host=/nonexistent/dir port=5432 user=sekrituser password=hunter2",
    };
    struct hs_pg *pg;
    char err[256];

    (void)st;
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        pg = (struct hs_pg *)&err; /* must stay untouched */
        err[0] = '\0';
        assert_int_equal(hs_pg_new(urls[i], &pg, err, sizeof(err)),
                         HS_ERR_TRANSIENT);
        assert_ptr_equal(pg, (struct hs_pg *)&err);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "hunter2"));
        assert_null(strstr(err, "sekrit"));
        assert_null(strstr(err, "127.0.0.1"));
        assert_null(strstr(err, "nonexistent"));
    }
}

static void test_malformed_url_is_config_without_echo(void **st)
{
    static const char *const urls[] = {
        "host=x password=hunter2 nosuchkeyword=1",
        "postgresql://u:hunter2@[::1",
        "host='unterminated password=hunter2",
    };
    struct hs_pg *pg = NULL;
    char err[256];

    (void)st;
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        err[0] = '\0';
        assert_int_equal(hs_pg_new(urls[i], &pg, err, sizeof(err)),
                         HS_ERR_CONFIG);
        assert_null(pg);
        assert_null(strstr(err, "hunter2"));
        assert_non_null(strstr(err, "HS_PG_URL"));
    }
}

/* ---- errors ------------------------------------------------------------ */

static void test_sqlstates_map_to_error_classes(void **st)
{
    static const struct {
        const char *sqlstate;
        enum hs_err want;
    } table[] = {
        {"23505", HS_ERR_CONFLICT},  {"40001", HS_ERR_TRANSIENT},
        {"40P01", HS_ERR_TRANSIENT}, {"57014", HS_ERR_TIMEOUT},
        {"08006", HS_ERR_TRANSIENT}, {"08001", HS_ERR_TRANSIENT},
        {"23503", HS_ERR_INTERNAL},  {"42601", HS_ERR_INTERNAL},
        {"22P02", HS_ERR_INTERNAL},  {"P0001", HS_ERR_INTERNAL},
    };
    char sql[160];

    (void)st;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        int n = snprintf(sql, sizeof(sql),
                         "DO $$ BEGIN RAISE EXCEPTION 'raised' USING "
                         "ERRCODE = '%s'; END $$",
                         table[i].sqlstate);
        assert_true(n > 0 && (size_t)n < sizeof(sql));
        assert_int_equal(hs_pg_query(admin, sql, 0, NULL, NULL), table[i].want);
        /* The connection stays usable after each failure. */
        assert_int_equal(hs_pg_ping(admin), 1);
    }
}

static void test_unique_violation_is_conflict(void **st)
{
    const char *params[1] = {"k1"};
    PGresult *res = (PGresult *)&params; /* must stay untouched */

    (void)st;
    run(admin, "CREATE TEMP TABLE uniq (k text PRIMARY KEY)");
    assert_int_equal(
        hs_pg_query(admin, "INSERT INTO uniq VALUES ($1)", 1, params, NULL),
        HS_OK);
    assert_int_equal(
        hs_pg_query(admin, "INSERT INTO uniq VALUES ($1)", 1, params, &res),
        HS_ERR_CONFLICT);
    assert_ptr_equal(res, (PGresult *)&params);
    run(admin, "DROP TABLE uniq");
}

static void test_statement_timeout_is_timeout(void **st)
{
    int64_t t0;

    (void)st;
    assert_int_equal(hs_pg_begin(admin), HS_OK);
    run(admin, "SET LOCAL statement_timeout = 50");
    t0 = mono_ms();
    assert_int_equal(hs_pg_query(admin, "SELECT pg_sleep(5)", 0, NULL, NULL),
                     HS_ERR_TIMEOUT);
    assert_true(mono_ms() - t0 < 4000);
    /* The transaction is aborted: COMMIT reports it, rollback recovers. */
    hs_pg_rollback(admin);
    assert_int_equal(hs_pg_ping(admin), 1);
}

static void test_error_logs_carry_no_parameters(void **st)
{
    const char *params[1] = {"hunter2-secret-value"};
    char buf[4096];
    FILE *tmp;
    int saved;
    size_t n;

    (void)st;
    /* Capture stderr (hs_log's output) around a failing statement whose
     * server message would quote the parameter. */
    hs_log_init("test_hs_pg", HS_LOG_DEBUG);
    tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    assert_int_equal(hs_pg_query(admin, "SELECT $1::int", 1, params, NULL),
                     HS_ERR_INTERNAL);
    assert_int_equal(hs_pg_query(admin,
                                 "SELECT nosuchcolumn_x FROM pg_class "
                                 "WHERE relname = $1",
                                 1, params, NULL),
                     HS_ERR_INTERNAL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    hs_log_init("test_hs_pg", log_level);
    rewind(tmp);
    n = fread(buf, 1, sizeof(buf) - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    assert_non_null(strstr(buf, "pg.query_failed")); /* it did log */
    assert_non_null(strstr(buf, "22P02"));
    assert_non_null(strstr(buf, "nosuchcolumn_x")); /* primary message */
    assert_null(strstr(buf, "hunter2"));
}

/* ---- reconnect --------------------------------------------------------- */

static void terminate_backend_of(struct hs_pg *pg, char *pid, size_t cap)
{
    PGresult *res = NULL;
    const char *params[1];
    int64_t end;

    assert_int_equal(hs_pg_query(pg, "SELECT pg_backend_pid()", 0, NULL, &res),
                     HS_OK);
    snprintf(pid, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    params[0] = pid;
    assert_int_equal(query_long(admin,
                                "SELECT pg_terminate_backend($1::int)::int", 1,
                                params),
                     1);
    /* Wait (bounded) until the backend is gone. */
    end = mono_ms() + 10000;
    while (query_long(admin,
                      "SELECT count(*) FROM pg_stat_activity WHERE pid = "
                      "$1::int",
                      1, params) != 0) {
        assert_true(mono_ms() < end);
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
}

static void test_reconnects_after_terminate_backend(void **st)
{
    struct hs_pg *pg = connect_to(base_url);
    PGresult *res = NULL;
    char pid[32];

    (void)st;
    terminate_backend_of(pg, pid, sizeof(pid));
    assert_int_equal(hs_pg_query(pg, "SELECT pg_backend_pid()", 0, NULL, &res),
                     HS_OK);
    assert_string_not_equal(PQgetvalue(res, 0, 0), pid);
    PQclear(res);
    /* The session options survive the reset. */
    assert_int_equal(query_long(pg,
                                "SELECT (current_setting('statement_timeout')"
                                " = '5s')::int",
                                0, NULL),
                     1);
    hs_pg_free(pg);
}

static void test_terminated_inside_transaction_is_transient(void **st)
{
    struct hs_pg *pg = connect_to(base_url);
    char pid[32];

    (void)st;
    assert_int_equal(hs_pg_begin(pg), HS_OK);
    terminate_backend_of(pg, pid, sizeof(pid));
    /* Not retried: the transaction is gone, the caller must know. */
    assert_int_equal(hs_pg_query(pg, "SELECT 1", 0, NULL, NULL),
                     HS_ERR_TRANSIENT);
    /* Nor does a later statement of that transaction run outside it. */
    assert_int_equal(hs_pg_query(pg, "SELECT 2", 0, NULL, NULL),
                     HS_ERR_TRANSIENT);
    assert_int_equal(hs_pg_commit(pg), HS_ERR_TRANSIENT);
    hs_pg_rollback(pg);
    assert_int_equal(hs_pg_ping(pg), 1); /* reconnected */
    hs_pg_free(pg);
}

/* ---- bytea ------------------------------------------------------------- */

static void test_bytea_round_trip(void **st)
{
    unsigned char in[256], *out = NULL;
    const char *params[1] = {(const char *)in};
    int lens[1] = {sizeof(in)}, fmts[1] = {1};
    PGresult *res = NULL;
    size_t len = 0;

    (void)st;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(255 - i); /* includes 0x00 */
    assert_int_equal(hs_pg_query_bin(admin, "SELECT $1::bytea, ''::bytea", 1,
                                     params, lens, fmts, &res),
                     HS_OK);
    assert_int_equal(hs_pg_bytea(res, 0, 0, &out, &len), HS_OK);
    assert_int_equal(len, sizeof(in));
    assert_memory_equal(out, in, sizeof(in));
    free(out);
    out = NULL;
    assert_int_equal(hs_pg_bytea(res, 0, 1, &out, &len), HS_OK);
    assert_int_equal(len, 0);
    free(out);
    PQclear(res);
}

static void test_bytea_rejects_bad_values(void **st)
{
    static const struct {
        const char *sql;
        enum hs_err want;
    } table[] = {
        {"SELECT 'plain'::text", HS_ERR_DECODE},
        {"SELECT '\\x0'::text", HS_ERR_DECODE},
        {"SELECT '\\xzz'::text", HS_ERR_DECODE},
        {"SELECT '\\x0g'::text", HS_ERR_DECODE},
        {"SELECT 'x00'::text", HS_ERR_DECODE},
        {"SELECT ''::text", HS_ERR_DECODE},
        {"SELECT '\\\\x00'::text", HS_ERR_DECODE},
        {"SELECT NULL::bytea", HS_ERR_NOTFOUND},
    };
    unsigned char *out = (unsigned char *)&table; /* must stay untouched */
    size_t len = 7;
    PGresult *res = NULL;

    (void)st;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        assert_int_equal(hs_pg_query(admin, table[i].sql, 0, NULL, &res),
                         HS_OK);
        assert_int_equal(hs_pg_bytea(res, 0, 0, &out, &len), table[i].want);
        assert_ptr_equal(out, (unsigned char *)&table);
        assert_int_equal(len, 7);
        PQclear(res);
    }
    assert_int_equal(hs_pg_query(admin, "SELECT '\\x00'::bytea", 0, NULL, &res),
                     HS_OK);
    assert_int_equal(hs_pg_bytea(res, 1, 0, &out, &len), HS_ERR_INVALID);
    assert_int_equal(hs_pg_bytea(res, 0, 1, &out, &len), HS_ERR_INVALID);
    assert_int_equal(hs_pg_bytea(res, -1, 0, &out, &len), HS_ERR_INVALID);
    PQclear(res);
}

/* ---- migrations -------------------------------------------------------- */

static void assert_each_applied_once(struct hs_pg *pg)
{
    char n[16];
    const char *params[1];

    snprintf(n, sizeof(n), "%zu", hs__migrations_count);
    params[0] = n;
    assert_int_equal(query_long(pg,
                                "SELECT (count(*) = $1::int AND "
                                "count(DISTINCT name) = $1::int)::int "
                                "FROM schema_migrations",
                                1, params),
                     1);
    for (size_t i = 0; i < hs__migrations_count; i++) {
        params[0] = hs__migrations[i].name;
        assert_int_equal(query_long(pg,
                                    "SELECT count(*) FROM schema_migrations "
                                    "WHERE name = $1",
                                    1, params),
                         1);
    }
}

static void test_migrate_twice_applies_once(void **st)
{
    char url[512], err[256] = "";
    struct hs_pg *pg;

    (void)st;
    fresh_db("hs_mig_twice", url, sizeof(url));
    pg = connect_to(url);
    assert_int_equal(hs_pg_migrate(pg, err, sizeof(err)), HS_OK);
    assert_int_equal(hs_pg_migrate(pg, err, sizeof(err)), HS_OK);
    assert_each_applied_once(pg);
    /* The schema is really there. */
    assert_int_equal(query_long(pg, "SELECT count(*) FROM handshakes", 0, NULL),
                     0);
    hs_pg_free(pg);
}

struct migrator {
    const char *url;
    enum hs_err rc;
    pthread_barrier_t *go;
};

static void *migrator_main(void *arg)
{
    struct migrator *m = arg;
    struct hs_pg *pg = NULL;
    char err[256];

    m->rc = hs_pg_new(m->url, &pg, err, sizeof(err));
    pthread_barrier_wait(m->go); /* all connected: start together */
    if (m->rc == HS_OK)
        m->rc = hs_pg_migrate(pg, err, sizeof(err));
    hs_pg_free(pg);
    return NULL;
}

static void test_concurrent_migrations_apply_each_once(void **st)
{
    enum { N = 4 };
    char url[512];
    struct migrator m[N];
    pthread_t th[N];
    pthread_barrier_t go;
    struct hs_pg *pg;

    (void)st;
    fresh_db("hs_mig_conc", url, sizeof(url));
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        m[i] = (struct migrator){url, HS_ERR_INTERNAL, &go};
        assert_int_equal(pthread_create(&th[i], NULL, migrator_main, &m[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(m[i].rc, HS_OK);
    }
    pthread_barrier_destroy(&go);
    pg = connect_to(url);
    assert_each_applied_once(pg);
    hs_pg_free(pg);
}

static void test_migrate_failure_rolls_back(void **st)
{
    char url[512], err[256] = "";
    struct hs_pg *pg, *other;

    (void)st;
    /* A database where the first migration cannot apply (a table it
     * creates exists): migrate fails, records nothing, leaves the lock
     * free (a second connection can take it). */
    fresh_db("hs_mig_fail", url, sizeof(url));
    pg = connect_to(url);
    run(pg, "CREATE TABLE outbox (x int)");
    assert_int_not_equal(hs_pg_migrate(pg, err, sizeof(err)), HS_OK);
    assert_non_null(strstr(err, hs__migrations[0].name));
    assert_int_equal(
        query_long(pg, "SELECT count(*) FROM schema_migrations", 0, NULL), 0);
    assert_int_equal(query_long(pg,
                                "SELECT count(*) FROM pg_tables WHERE "
                                "tablename = 'users'",
                                0, NULL),
                     0);
    /* Advisory locks belong to a database: ask from this one, not from
     * the fixture's, where test_hs_outbox may be migrating meanwhile. */
    other = connect_to(url);
    assert_int_equal(query_long(other,
                                "SELECT pg_try_advisory_lock(114984112777586)"
                                "::int",
                                0, NULL),
                     1);
    hs_pg_free(other);
    hs_pg_free(pg);
}

/* ---- pool -------------------------------------------------------------- */

struct getter {
    struct hs_pg_pool *pool;
    enum hs_err rc;
    struct hs_pg *got;
};

static void *getter_main(void *arg)
{
    struct getter *g = arg;

    g->rc = hs_pg_pool_get(g->pool, 10000, &g->got);
    return NULL;
}

static void test_pool_get_put_and_timeout(void **st)
{
    struct hs_pg_pool *pool = NULL;
    struct hs_pg *a = NULL, *b = NULL, *c = NULL;
    struct getter g;
    pthread_t th;
    char err[256] = "";
    int64_t t0, took;

    (void)st;
    assert_int_equal(hs_pg_pool_new(base_url, 2, &pool, err, sizeof(err)),
                     HS_OK);
    assert_int_equal(hs_pg_pool_get(pool, 100, &a), HS_OK);
    assert_int_equal(hs_pg_pool_get(pool, 100, &b), HS_OK);
    assert_ptr_not_equal(a, b);
    assert_int_equal(hs_pg_ping(a), 1);

    /* Exhausted: waits about timeout_ms, then HS_ERR_TIMEOUT. */
    t0 = mono_ms();
    assert_int_equal(hs_pg_pool_get(pool, 150, &c), HS_ERR_TIMEOUT);
    took = mono_ms() - t0;
    assert_null(c);
    assert_true(took >= 140 && took < 2000);

    /* A waiter is woken by put. */
    g = (struct getter){pool, HS_ERR_INTERNAL, NULL};
    assert_int_equal(pthread_create(&th, NULL, getter_main, &g), 0);
    hs_pg_pool_put(pool, a);
    pthread_join(th, NULL);
    assert_int_equal(g.rc, HS_OK);
    assert_ptr_equal(g.got, a);

    /* A connection returned mid-transaction is rolled back. */
    assert_int_equal(hs_pg_begin(b), HS_OK);
    run(b, "SET LOCAL application_name = 'inside'");
    hs_pg_pool_put(pool, b);
    assert_int_equal(hs_pg_pool_get(pool, 100, &c), HS_OK);
    assert_ptr_equal(c, b);
    assert_int_equal(query_long(c,
                                "SELECT (current_setting('application_name')"
                                " = 'test_hs_pg')::int",
                                0, NULL),
                     1);
    hs_pg_pool_put(pool, c);
    hs_pg_pool_put(pool, g.got);
    hs_pg_pool_free(pool);

    pool = NULL;
    assert_int_equal(hs_pg_pool_new("host=127.0.0.1 port=1 password=hunter2", 2,
                                    &pool, err, sizeof(err)),
                     HS_ERR_TRANSIENT);
    assert_null(pool);
    assert_null(strstr(err, "hunter2"));
    hs_pg_pool_free(NULL);
    hs_pg_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_sets_timeouts_and_application_name),
        cmocka_unit_test(test_unreachable_is_transient_without_conninfo),
        cmocka_unit_test(test_malformed_url_is_config_without_echo),
        cmocka_unit_test(test_sqlstates_map_to_error_classes),
        cmocka_unit_test(test_unique_violation_is_conflict),
        cmocka_unit_test(test_statement_timeout_is_timeout),
        cmocka_unit_test(test_error_logs_carry_no_parameters),
        cmocka_unit_test(test_reconnects_after_terminate_backend),
        cmocka_unit_test(test_terminated_inside_transaction_is_transient),
        cmocka_unit_test(test_bytea_round_trip),
        cmocka_unit_test(test_bytea_rejects_bad_values),
        cmocka_unit_test(test_migrate_twice_applies_once),
        cmocka_unit_test(test_concurrent_migrations_apply_each_once),
        cmocka_unit_test(test_migrate_failure_rolls_back),
        cmocka_unit_test(test_pool_get_put_and_timeout),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
