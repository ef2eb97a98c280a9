/* exchange_batch: claims and results of several handshakes in one
 * statement each (contract in exchange_batch.h). */
#include "exchange_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "exchange_store.h"
#include "exchange_token.h"

/* ---- PostgreSQL array literals ------------------------------------------
 * '{"a","b",NULL}': every element quoted, '"' and '\' escaped, so any text
 * (a provider's token_type or scopes) goes through. */
struct arr {
    char *buf;
    size_t len, cap;
    int n;
    int oom;
};

static void arr_put(struct arr *a, const char *s, size_t len)
{
    if (a->oom)
        return;
    if (a->len + len + 3 > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        char *p;

        while (a->len + len + 3 > cap)
            cap *= 2;
        p = realloc(a->buf, cap);
        if (!p) {
            a->oom = 1;
            return;
        }
        a->buf = p;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, s, len);
    a->len += len;
    a->buf[a->len] = '\0';
}

/* Starts the next element: '{' before the first, ',' before the others. */
static void arr_next(struct arr *a)
{
    arr_put(a, a->n++ ? "," : "{", 1);
}

static void arr_add(struct arr *a, const char *s)
{
    arr_next(a);
    arr_put(a, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            arr_put(a, "\\", 1);
        arr_put(a, s, 1);
    }
    arr_put(a, "\"", 1);
}

/* bytes as hex text (decode(x, 'hex') in SQL); len 0 is NULL. */
static void arr_add_hex(struct arr *a, const unsigned char *p, size_t len)
{
    char hex[257];

    arr_next(a);
    if (!len) {
        arr_put(a, "NULL", 4);
        return;
    }
    while (len) {
        size_t k = len < 128 ? len : 128;

        sodium_bin2hex(hex, sizeof(hex), p, k);
        arr_put(a, hex, 2 * k);
        p += k;
        len -= k;
    }
}

/* The literal, or NULL when memory ran out. An empty array is "{}". */
static const char *arr_end(struct arr *a)
{
    if (!a->n)
        arr_put(a, "{", 1);
    arr_put(a, "}", 1);
    return a->oom ? NULL : a->buf;
}

static void arr_free(struct arr *a)
{
    if (a->buf)
        hs_wipe(a->buf, a->cap);
    free(a->buf);
}

/* ---- claims ------------------------------------------------------------ */
enum hs_err exchange_batch_claim(struct hs_worker *w,
                                 const struct hs_event *const *cbs, size_t n,
                                 struct exchange_claim *cls, int *claimed)
{
    struct arr ids = {0}, provs = {0};
    const char *p[2];
    PGresult *res = NULL;
    enum hs_err rc = HS_ERR_NOMEM;

    memset(claimed, 0, n * sizeof(*claimed));
    for (size_t i = 0; i < n; i++) {
        arr_add(&ids, cbs[i]->handshake_id);
        arr_add(&provs, cbs[i]->provider);
    }
    p[0] = arr_end(&ids);
    p[1] = arr_end(&provs);
    if (!p[0] || !p[1])
        goto out;
    rc = hs_pg_query(w->pg,
                     "UPDATE handshakes h SET status = 'exchanging', "
                     "claimed_at = now() FROM unnest($1::text[], $2::text[]) "
                     "AS c(id, provider) WHERE h.id = c.id AND h.provider = "
                     "c.provider AND h.status = 'started' AND h.expires_at > "
                     "now() RETURNING h.id, coalesce(h.user_id, ''), h.flow, "
                     "coalesce(h.subject, '')",
                     2, p, &res);
    if (rc != HS_OK)
        goto out;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);

        for (size_t i = 0; i < n; i++) {
            struct exchange_claim *cl = &cls[i];

            if (claimed[i] || strcmp(cbs[i]->handshake_id, id) != 0)
                continue;
            snprintf(cl->user_id, sizeof(cl->user_id), "%s",
                     PQgetvalue(res, r, 1));
            snprintf(cl->flow, sizeof(cl->flow), "%s", PQgetvalue(res, r, 2));
            snprintf(cl->subject, sizeof(cl->subject), "%s",
                     PQgetvalue(res, r, 3));
            claimed[i] = 1;
            break;
        }
    }
out:
    PQclear(res);
    arr_free(&ids);
    arr_free(&provs);
    return rc;
}

enum hs_err exchange_batch_release(struct hs_worker *w,
                                   const struct hs_event *const *cbs,
                                   size_t n)
{
    struct arr ids = {0};
    const char *p[1];
    enum hs_err rc = HS_ERR_NOMEM;

    for (size_t i = 0; i < n; i++)
        arr_add(&ids, cbs[i]->handshake_id);
    if ((p[0] = arr_end(&ids)) != NULL)
        rc = hs_pg_query(w->pg,
                         "UPDATE handshakes SET status = 'started', "
                         "claimed_at = NULL WHERE id = ANY($1::text[]) AND "
                         "status = 'exchanging'",
                         1, p, NULL);
    arr_free(&ids);
    return rc;
}

/* ---- results ----------------------------------------------------------- */

/* One row per result: the handshake completed first (a sign-in flow
 * learns its user here: the loopback flow's "Authorize" page needs it),
 * and only the rows it completed store a token and an event, so a
 * handshake failed as interrupted meanwhile keeps nothing. A new consent
 * replaces the connection; a provider that sends no refresh token this
 * time (Google without prompt=consent) keeps the one it gave before. The
 * next refresh is scheduled (hs_refresh_at) and any refresher's lease is
 * voided by the new generation. Token rows are taken in key order, so two
 * workers' batches lock shared rows in the same order (no deadlock);
 * outbox rows in the order of the results (one key's events stay in
 * order). */
static const char store_sql[] =
    "WITH i AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
    "$4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], "
    "$9::text[]) WITH ORDINALITY AS i(id, user_id, provider, access, "
    "refresh, token_type, scopes, expires_ms, payload, n)), "
    "done AS (UPDATE handshakes h SET status = 'complete', finished_at = "
    "now(), user_id = coalesce(h.user_id, i.user_id) FROM i WHERE h.id = "
    "i.id AND h.status = 'exchanging' RETURNING h.id), "
    "kept AS (SELECT i.* FROM i JOIN done USING (id)), "
    "tokens AS (INSERT INTO provider_tokens AS t (user_id, provider, "
    "access_enc, refresh_enc, token_type, scopes, expires_at, status, "
    "updated_at, refresh_at) SELECT user_id, provider, decode(access, "
    "'hex'), decode(refresh, 'hex'), token_type, scopes, CASE WHEN "
    "expires_ms = 0 THEN NULL ELSE to_timestamp(expires_ms / 1000.0) END, "
    "'active', now(), CASE WHEN refresh IS NOT NULL AND expires_ms <> 0 "
    "THEN hs_refresh_at(to_timestamp(expires_ms / 1000.0), $10::int) END "
    "FROM kept ORDER BY user_id, provider "
    "ON CONFLICT (user_id, provider) DO UPDATE SET access_enc = "
    "EXCLUDED.access_enc, refresh_enc = coalesce(EXCLUDED.refresh_enc, "
    "t.refresh_enc), token_type = EXCLUDED.token_type, scopes = "
    "EXCLUDED.scopes, expires_at = EXCLUDED.expires_at, status = 'active', "
    "updated_at = now(), refresh_at = CASE WHEN coalesce(EXCLUDED."
    "refresh_enc, t.refresh_enc) IS NOT NULL AND EXCLUDED.expires_at IS NOT "
    "NULL THEN hs_refresh_at(EXCLUDED.expires_at, $10::int) END, "
    "lease_until = NULL, attempts = 0, last_error = NULL, generation = "
    "t.generation + 1), "
    "events AS (INSERT INTO outbox (topic, key, payload) SELECT $11, "
    "convert_to(user_id, 'UTF8'), decode(payload, 'hex') FROM kept ORDER "
    "BY n) "
    "SELECT id FROM kept";

/* The parameters of rs[i] appended to the arrays a[0..8]. */
static enum hs_err store_row(struct hs_worker *w,
                             const struct exchange_result *s,
                             struct exchange_stored *st, struct arr *a)
{
    const char *provider = s->cb->provider;
    msgpack_sbuffer sb;
    enum hs_err rc;

    rc = exchange_store_seal(w, s->user_id, provider, s->tok, s->expires_at,
                             st);
    if (rc != HS_OK)
        return rc;
    msgpack_sbuffer_init(&sb);
    rc = exchange_store_event(w, HS_EV_TOKEN_ISSUED, s->user_id, provider,
                              s->cb->handshake_id, s->tok, s->scopes,
                              s->expires_at, &sb);
    if (rc == HS_OK) {
        arr_add(&a[0], s->cb->handshake_id);
        arr_add(&a[1], s->user_id);
        arr_add(&a[2], provider);
        arr_add_hex(&a[3], st->access, st->alen);
        arr_add_hex(&a[4], st->refresh, st->rlen);
        arr_add(&a[5], s->tok->token_type);
        arr_add(&a[6], s->scopes);
        arr_add(&a[7], st->expires_at);
        arr_add_hex(&a[8], (const unsigned char *)sb.data, sb.size);
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

enum hs_err exchange_batch_store(struct hs_worker *w,
                                 const struct exchange_result *const *rs,
                                 size_t n, int *stored)
{
    struct exchange_stored *st = malloc(sizeof(*st));
    struct arr a[9] = {{0}};
    const char *p[11];
    char ahead[16];
    PGresult *res = NULL;
    enum hs_err rc = st ? HS_OK : HS_ERR_NOMEM;

    memset(stored, 0, n * sizeof(*stored));
    for (size_t i = 0; i < n && rc == HS_OK; i++) {
        rc = store_row(w, rs[i], st, a);
        exchange_store_wipe(st);
    }
    if (rc != HS_OK)
        goto out;
    for (int k = 0; k < 9; k++)
        if (!(p[k] = arr_end(&a[k])))
            rc = HS_ERR_NOMEM;
    if (rc != HS_OK)
        goto out;
    snprintf(ahead, sizeof(ahead), "%d", w->cfg->refresh_ahead_s);
    p[9] = ahead;
    p[10] = HS_TOPIC_TOKENS;
    rc = hs_pg_query(w->pg, store_sql, 11, p, &res);
    if (rc != HS_OK)
        goto out;
    for (int r = 0; r < PQntuples(res); r++)
        for (size_t i = 0; i < n; i++)
            if (!stored[i] &&
                strcmp(rs[i]->cb->handshake_id, PQgetvalue(res, r, 0)) == 0)
                stored[i] = 1;
out:
    PQclear(res);
    for (int k = 0; k < 9; k++)
        arr_free(&a[k]);
    free(st);
    return rc;
}

/* ---- exchange_store_all ------------------------------------------------- */
struct batch {
    const struct exchange_result **rs;
    size_t n;
    int *stored;
};

/* hs_worker_txn function: exchange_batch_store, then the records of what
 * it stored, held together before the commit. */
static enum hs_err batch_txn(struct hs_worker *w, void *arg)
{
    struct batch *b = arg;
    struct hs_audit_step *a = calloc(b->n, sizeof(*a));
    enum hs_err *held = calloc(b->n, sizeof(*held));
    enum hs_err rc = HS_ERR_NOMEM;
    size_t k = 0;

    if (a && held)
        rc = exchange_batch_store(w, b->rs, b->n, b->stored);
    for (size_t i = 0; rc == HS_OK && i < b->n; i++) {
        struct hs_audit_step two[2];

        if (!b->stored[i])
            continue;
        exchange_success_steps(b->rs[i], two);
        a[k++] = two[0]; /* a connect flow: no signup.completed */
    }
    /* Held: the tokens are kept and announced only once recorded; one
     * acknowledgement wait for all of them. */
    if (rc == HS_OK && k && w->audit) {
        hs_audit_hold_all(w->audit, a, k, held);
        for (size_t i = 0; i < k && rc == HS_OK; i++)
            rc = held[i];
    }
    free(a);
    free(held);
    return rc;
}

/* 1 when rs[i] can be stored with the batch: a connect flow (a sign-in
 * creates its user and finishes a poll: on its own), and no earlier
 * result that would have to be stored before it (same user and provider,
 * or a sign-in with that provider, whose user is not known yet). */
static int batchable(struct exchange_result *const *rs, size_t i)
{
    if (rs[i]->id || strcmp(rs[i]->cl->flow, "connect") != 0)
        return 0;
    for (size_t j = 0; j < i; j++)
        if (strcmp(rs[j]->cb->provider, rs[i]->cb->provider) == 0 &&
            (rs[j]->id || strcmp(rs[j]->user_id, rs[i]->user_id) == 0))
            return 0;
    return 1;
}

void exchange_store_all(struct hs_worker *w, struct exchange_result *const *rs,
                        size_t n, enum hs_err *rcs)
{
    const struct exchange_result **in = calloc(n ? n : 1, sizeof(*in));
    int *stored = calloc(n ? n : 1, sizeof(*stored));
    int *alone = calloc(n ? n : 1, sizeof(*alone));
    size_t *which = calloc(n ? n : 1, sizeof(*which));
    struct batch b = {in, 0, stored};
    enum hs_err rc;

    for (size_t i = 0; i < n; i++) {
        if (!in || !stored || !alone || !which)
            rcs[i] = hs_worker_txn(w, exchange_success_txn, rs[i]);
        else if (batchable(rs, i))
            in[b.n] = rs[i], which[b.n++] = i;
        else
            alone[i] = 1;
    }
    if (b.n) {
        rc = hs_worker_txn(w, batch_txn, &b);
        for (size_t j = 0; j < b.n; j++) {
            if (rc == HS_OK)
                rcs[which[j]] = stored[j] ? HS_OK : HS_ERR_CONFLICT;
            else if (hs_err_is_retriable(rc)) /* stopping */
                rcs[which[j]] = rc;
            else /* each on its own, as if there were no batch */
                alone[which[j]] = 1;
        }
    }
    for (size_t i = 0; alone && i < n; i++)
        if (alone[i])
            rcs[i] = hs_worker_txn(w, exchange_success_txn, rs[i]);
    free(in);
    free(stored);
    free(alone);
    free(which);
}
