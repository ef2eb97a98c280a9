/*
 * hs_pg: the PostgreSQL seam, over libpq.
 *
 * A struct hs_pg is one connection with a connect timeout (5 s) and a
 * statement_timeout (HS_PG_STATEMENT_TIMEOUT_MS); it reconnects once when a
 * query finds the connection broken. A struct hs_pg_pool hands out
 * connections to threads (the ingress).
 *
 * Migrations are the files schemas/sql/NNN_name.sql, compiled into the
 * binary; hs_pg_migrate() applies the missing ones in order, each in its
 * own transaction, under a PostgreSQL advisory lock, so several processes
 * starting together apply each exactly once.
 *
 * Error classes: connection loss and serialization failures are
 * HS_ERR_TRANSIENT; unique violations HS_ERR_CONFLICT; statement timeout
 * HS_ERR_TIMEOUT; anything else HS_ERR_INTERNAL. Nothing here logs query
 * parameters or the conninfo. Secrets must be encrypted before they are
 * passed as parameters: PostgreSQL's statement log prints them.
 */
#ifndef HS_PG_H
#define HS_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "hs_err.h"

#define HS_PG_STATEMENT_TIMEOUT_MS 5000

struct hs_pg;
struct hs_pg_pool;

/* Connects to url. HS_ERR_CONFIG when url is malformed, HS_ERR_TRANSIENT
 * when the server cannot be reached (err filled, never with the conninfo).
 * Caller frees with hs_pg_free. */
enum hs_err hs_pg_new(const char *url, struct hs_pg **out, char *err,
                      size_t errlen) HS_MUST_CHECK;
void hs_pg_free(struct hs_pg *pg);

/* Applies missing migrations (see above). */
enum hs_err hs_pg_migrate(struct hs_pg *pg, char *err,
                          size_t errlen) HS_MUST_CHECK;

/* Runs sql with text parameters params[0..n-1] (NULL = SQL NULL). When out
 * is non-NULL and the call succeeds, *out is the result (caller PQclear()s
 * it). Reconnects and retries once if the connection was broken before the
 * statement was sent. */
enum hs_err hs_pg_query(struct hs_pg *pg, const char *sql, int n,
                        const char *const *params,
                        PGresult **out) HS_MUST_CHECK;

/* As hs_pg_query, with per-parameter lengths and formats (1 = binary, for
 * bytea). lens and fmts may be NULL for all-text. Results are text. */
enum hs_err hs_pg_query_bin(struct hs_pg *pg, const char *sql, int n,
                            const char *const *params, const int *lens,
                            const int *fmts, PGresult **out) HS_MUST_CHECK;

/* BEGIN / COMMIT / ROLLBACK. rollback never fails visibly. */
enum hs_err hs_pg_begin(struct hs_pg *pg) HS_MUST_CHECK;
enum hs_err hs_pg_commit(struct hs_pg *pg) HS_MUST_CHECK;
void hs_pg_rollback(struct hs_pg *pg);

/* ---- notifications (LISTEN/NOTIFY) ------------------------------------
 * For a connection of its own (not a pool's): hs_pg_listen subscribes,
 * hs_pg_socket gives the socket to wait on (poll/epoll, readable), and
 * hs_pg_notifies reads what arrived and calls fn(arg, payload) for each
 * notification. A lost connection is HS_ERR_TRANSIENT: notifications may
 * have been missed, so the caller makes a new connection, listens again
 * and treats every waiter as notified. */
enum hs_err hs_pg_listen(struct hs_pg *pg, const char *channel) HS_MUST_CHECK;
int hs_pg_socket(const struct hs_pg *pg); /* -1 when broken */
enum hs_err hs_pg_notifies(struct hs_pg *pg,
                           void (*fn)(void *arg, const char *payload),
                           void *arg) HS_MUST_CHECK;

/* 1 when "SELECT 1" succeeds. */
int hs_pg_ping(struct hs_pg *pg);

/* Decodes a bytea column value (text result, hex format) into a new
 * buffer the caller frees with free(); HS_ERR_DECODE if malformed,
 * HS_ERR_NOTFOUND for SQL NULL, HS_ERR_INVALID for a bad row/column. */
enum hs_err hs_pg_bytea(const PGresult *res, int row, int col,
                        unsigned char **out, size_t *len) HS_MUST_CHECK;

/* A fixed pool of n connections to url. */
enum hs_err hs_pg_pool_new(const char *url, int n, struct hs_pg_pool **out,
                           char *err, size_t errlen) HS_MUST_CHECK;
/* Takes a connection, waiting at most timeout_ms (HS_ERR_TIMEOUT). Give it
 * back with hs_pg_pool_put from the same thread. */
enum hs_err hs_pg_pool_get(struct hs_pg_pool *pool, int timeout_ms,
                           struct hs_pg **out) HS_MUST_CHECK;
void hs_pg_pool_put(struct hs_pg_pool *pool, struct hs_pg *pg);
void hs_pg_pool_free(struct hs_pg_pool *pool);

#endif
