/* refresher_cycle: refresh and revoke (contract in refresher_cycle.h). */
#include "refresher_cycle.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchange_request.h"
#include "exchange_store.h"
#include "hs_discovery.h"
#include "hs_event.h"
#include "hs_log.h"
#include "hs_metrics.h"
#include "hs_outbox.h"
#include "hs_provider.h"

#define BACKOFF_MAX_S 3600
#define TICK_MS 500

struct refresher {
    struct hs_catalog cat;
    int64_t last_tick;
};

enum refresher_outcome refresher_judge(enum hs_err http_rc, long status,
                                       enum hs_err parse_rc,
                                       const struct exchange_token *tok,
                                       const char **error)
{
    if (http_rc == HS_ERR_TIMEOUT) {
        *error = "provider_timeout";
        return REFRESHER_RETRY;
    }
    if (http_rc != HS_OK) {
        *error = "provider_unreachable";
        return REFRESHER_RETRY;
    }
    if (status >= 500 || status == 429) {
        *error = status == 429 ? "provider_rate_limited" : "provider_error";
        return REFRESHER_RETRY;
    }
    if (parse_rc == HS_ERR_PROVIDER) {
        *error = tok->error;
        return strcmp(tok->error, "invalid_grant") == 0 ? REFRESHER_REAUTH
                                                        : REFRESHER_RETRY;
    }
    if (parse_rc == HS_OK && status == 200)
        return REFRESHER_OK;
    *error = "invalid_token_response";
    return REFRESHER_RETRY;
}

int refresher_backoff_s(int base_s, int failures, double r)
{
    double s = base_s;

    for (int i = 1; i < failures && s < BACKOFF_MAX_S; i++)
        s *= 2;
    if (s > BACKOFF_MAX_S)
        s = BACKOFF_MAX_S;
    s *= 0.5 + r / 2;
    return s < 1 ? 1 : (int)s;
}

/* r in [0, 1) from libsodium's generator. */
static double jitter(void)
{
    return randombytes_uniform(1000000) / 1e6;
}

enum hs_err refresher_init(struct hs_worker *w, char *err, size_t errlen)
{
    struct refresher *r = calloc(1, sizeof(*r));

    if (!r)
        return HS_ERR_NOMEM;
    if (hs_catalog_load(w->cfg->providers, w->cfg->insecure_http, &r->cat,
                        err, errlen) != HS_OK ||
        hs_catalog_discover(&r->cat, w->cfg->insecure_http,
                            w->cfg->http_timeout_ms, err, errlen) != HS_OK) {
        hs_catalog_cleanup(&r->cat);
        free(r);
        return HS_ERR_CONFIG;
    }
    w->arg = r;
    return HS_OK;
}

void refresher_cleanup(struct hs_worker *w)
{
    struct refresher *r = w->arg;

    if (!r)
        return;
    hs_catalog_cleanup(&r->cat);
    free(r);
    w->arg = NULL;
}

/* Seconds a lease lasts: past the provider call's time-out. */
static void lease_secs(const struct hs_worker *w, char out[16])
{
    snprintf(out, 16, "%d", w->cfg->http_timeout_ms / 1000 + 30);
}

/* ---- refresh ------------------------------------------------------- */

struct lease {
    char user_id[32];
    char provider[32];
    char generation[24];
    char scopes[512];
    int attempts;
    char refresh_token[EXCHANGE_TOKEN_MAX + 1]; /* secret */
};

/* What one refresh stores. */
struct outcome {
    const struct lease *l;
    enum refresher_outcome kind;
    const char *error;
    const struct exchange_token *tok; /* kind OK */
    int backoff_s;                    /* kind RETRY */
    int stored;                       /* out: the generation still held */
};

static enum hs_err store_ok(struct hs_worker *w, struct outcome *o)
{
    const struct exchange_token *tok = o->tok;
    int64_t expires_at = exchange_store_expiry(tok, hs_now_ms());
    const char *scopes = tok->scope[0] ? tok->scope : o->l->scopes;
    struct exchange_stored *st = malloc(sizeof(*st));
    PGresult *res = NULL;
    enum hs_err rc;

    if (!st)
        return HS_ERR_NOMEM;
    rc = exchange_store_seal(w, o->l->user_id, o->l->provider, tok,
                             expires_at, st);
    if (rc == HS_OK) {
        const char *p[9] = {o->l->user_id, o->l->provider,
                            o->l->generation, (const char *)st->access,
                            st->rlen ? (const char *)st->refresh : NULL,
                            tok->token_type, scopes, st->expires_at,
                            st->ahead};
        const int lens[9] = {0, 0, 0, (int)st->alen, (int)st->rlen, 0, 0, 0,
                             0};
        const int fmts[9] = {0, 0, 0, 1, 1, 0, 0, 0, 0};

        rc = hs_pg_query_bin(
            w->pg,
            "UPDATE provider_tokens SET access_enc = $4, refresh_enc = "
            "coalesce($5, refresh_enc), token_type = $6, scopes = $7, "
            "expires_at = CASE WHEN $8::bigint = 0 THEN NULL ELSE "
            "to_timestamp($8::bigint / 1000.0) END, refresh_at = CASE WHEN "
            "$8::bigint = 0 THEN NULL ELSE hs_refresh_at(to_timestamp("
            "$8::bigint / 1000.0), $9::int) END, lease_until = NULL, "
            "attempts = 0, last_error = NULL, generation = generation + 1, "
            "updated_at = now() WHERE user_id = $1 AND provider = $2 AND "
            "generation = $3::bigint AND status = 'active' RETURNING 1",
            9, p, lens, fmts, &res);
    }
    o->stored = rc == HS_OK && PQntuples(res) == 1;
    PQclear(res);
    if (rc == HS_OK && o->stored)
        rc = exchange_store_announce(w, HS_EV_TOKEN_REFRESHED, o->l->user_id,
                                     o->l->provider, "", tok, scopes,
                                     expires_at);
    if (rc == HS_OK && o->stored) {
        /* Held: the new token is kept and announced only once recorded. */
        struct hs_audit_step a = {
            .action = "token.refreshed", .outcome = "ok",
            .user_id = o->l->user_id, .provider = o->l->provider,
            .token = tok->access_token};

        rc = hs_worker_audit_hold(w, &a);
    }
    exchange_store_wipe(st);
    free(st);
    return rc;
}

static enum hs_err store_failure(struct hs_worker *w, struct outcome *o)
{
    char backoff[16];
    const char *p[5] = {o->l->user_id, o->l->provider, o->l->generation,
                        o->error, backoff};
    PGresult *res = NULL;
    struct hs_event ev;
    enum hs_err rc;

    snprintf(backoff, sizeof(backoff), "%d", o->backoff_s);
    if (o->kind == REFRESHER_RETRY) {
        rc = hs_pg_query(
            w->pg,
            "UPDATE provider_tokens SET attempts = attempts + 1, last_error "
            "= $4, refresh_at = now() + make_interval(secs => $5::int), "
            "lease_until = NULL WHERE user_id = $1 AND provider = $2 AND "
            "generation = $3::bigint AND status = 'active' RETURNING 1",
            5, p, &res);
        o->stored = rc == HS_OK && PQntuples(res) == 1;
        PQclear(res);
        return rc;
    }
    rc = hs_pg_query(w->pg,
                     "UPDATE provider_tokens SET status = 'reauth_required', "
                     "attempts = attempts + 1, last_error = $4, refresh_at = "
                     "NULL, lease_until = NULL, updated_at = now() WHERE "
                     "user_id = $1 AND provider = $2 AND generation = "
                     "$3::bigint AND status = 'active' RETURNING 1",
                     4, p, &res);
    o->stored = rc == HS_OK && PQntuples(res) == 1;
    PQclear(res);
    if (rc != HS_OK || !o->stored)
        return rc;
    hs_event_init(&ev, HS_EV_REAUTH_REQUIRED, w->cfg->env, hs_now_ms());
    snprintf(ev.user_id, sizeof(ev.user_id), "%s", o->l->user_id);
    snprintf(ev.provider, sizeof(ev.provider), "%s", o->l->provider);
    return hs_outbox_add_event(w->pg, HS_TOPIC_TOKENS, o->l->user_id, &ev);
}

static enum hs_err store_txn(struct hs_worker *w, void *arg)
{
    struct outcome *o = arg;

    return o->kind == REFRESHER_OK ? store_ok(w, o) : store_failure(w, o);
}

/* Takes the lease on the most overdue token. 1: *l filled; 0: none due;
 * -1: a database or key failure (logged). */
static int take_lease(struct hs_worker *w, struct lease *l)
{
    char secs[16];
    const char *p[1] = {secs};
    PGresult *res = NULL;
    unsigned char *blob = NULL;
    size_t blen = 0;
    enum hs_err rc;

    lease_secs(w, secs);
    rc = hs_pg_query(
        w->pg,
        "UPDATE provider_tokens t SET lease_until = now() + make_interval("
        "secs => $1::int) FROM (SELECT user_id, provider FROM "
        "provider_tokens WHERE refresh_at <= now() AND status = 'active' "
        "AND (lease_until IS NULL OR lease_until < now()) ORDER BY "
        "refresh_at LIMIT 1 FOR UPDATE SKIP LOCKED) c WHERE t.user_id = "
        "c.user_id AND t.provider = c.provider RETURNING t.user_id, "
        "t.provider, t.generation, t.scopes, t.attempts, t.refresh_enc",
        1, p, &res);
    if (rc != HS_OK || PQntuples(res) != 1) {
        PQclear(res);
        return rc == HS_OK ? 0 : -1;
    }
    snprintf(l->user_id, sizeof(l->user_id), "%s", PQgetvalue(res, 0, 0));
    snprintf(l->provider, sizeof(l->provider), "%s", PQgetvalue(res, 0, 1));
    snprintf(l->generation, sizeof(l->generation), "%s",
             PQgetvalue(res, 0, 2));
    snprintf(l->scopes, sizeof(l->scopes), "%s", PQgetvalue(res, 0, 3));
    l->attempts = (int)strtol(PQgetvalue(res, 0, 4), NULL, 10);
    l->refresh_token[0] = '\0';
    rc = hs_pg_bytea(res, 0, 5, &blob, &blen);
    if (rc == HS_OK)
        rc = hs_token_open(w->kr, l->user_id, l->provider, "refresh", blob,
                           blen, l->refresh_token, sizeof(l->refresh_token));
    free(blob);
    PQclear(res);
    /* No refresh token, or one no key of ours opens: only a new consent
     * helps; the caller turns "" into reauth. */
    if (rc != HS_OK)
        l->refresh_token[0] = '\0';
    return 1;
}

/* Calls the provider's token endpoint with l's refresh token. */
static enum refresher_outcome call_refresh(struct hs_worker *w,
                                           const struct hs_provider *prov,
                                           const struct lease *l,
                                           struct exchange_token *tok,
                                           const char **error)
{
    struct exchange_request *req = calloc(1, sizeof(*req));
    struct hs_http_response res;
    enum refresher_outcome out;
    enum hs_err rc;

    if (!req || exchange_refresh_build(prov, l->refresh_token, req) != HS_OK) {
        free(req);
        *error = "internal_error";
        return REFRESHER_RETRY;
    }
    memset(&res, 0, sizeof(res));
    rc = exchange_post(w->cfg, prov->token_url, req, &res);
    out = refresher_judge(rc, res.status,
                          rc == HS_OK ? exchange_token_parse(res.body,
                                                             res.len, tok)
                                      : HS_ERR_TRANSIENT,
                          tok, error);
    if (rc == HS_OK)
        hs_http_response_cleanup(&res);
    exchange_request_wipe(req);
    free(req);
    return out;
}

static void log_outcome(struct hs_worker *w, const struct outcome *o,
                        const struct exchange_token *tok)
{
    static const char *const kinds[] = {"ok", "retry", "reauth"};
    char labels[64];

    hs_metrics_family("hs_refreshes_total", HS_COUNTER,
                      "Refreshes, by outcome (ok, retry, reauth, "
                      "superseded)");
    hs_metrics_add("hs_refreshes_total",
                   hs_metrics_labels(labels, sizeof(labels), "outcome",
                                     o->stored ? kinds[o->kind]
                                               : "superseded",
                                     NULL, NULL),
                   1);
    struct hs_audit_step s = {
        .action = o->kind == REFRESHER_RETRY ? "refresh.failed"
                                             : "reauth.required",
        .outcome = "failed", .reason = o->error, .user_id = o->l->user_id,
        .provider = o->l->provider};
    char fp[17] = "";

    if (o->stored && o->kind != REFRESHER_OK) /* a success: held in store_ok */
        hs_worker_audit(w, &s);
    if (!o->stored) {
        hs_log(HS_LOG_WARN, "refresh.superseded",
               HS_KV_STR("user_id", o->l->user_id),
               HS_KV_STR("provider", o->l->provider));
        return;
    }
    if (o->kind == REFRESHER_OK) {
        hs_crypto_fingerprint(tok->access_token, fp);
        hs_log(HS_LOG_INFO, "refresh.succeeded",
               HS_KV_STR("user_id", o->l->user_id),
               HS_KV_STR("provider", o->l->provider),
               HS_KV_STR("fingerprint", fp),
               HS_KV_INT("rotated", tok->refresh_token[0] != '\0'));
    } else if (o->kind == REFRESHER_RETRY) {
        hs_log(HS_LOG_WARN, "refresh.retry",
               HS_KV_STR("user_id", o->l->user_id),
               HS_KV_STR("provider", o->l->provider),
               HS_KV_STR("reason", o->error),
               HS_KV_INT("attempt", o->l->attempts + 1),
               HS_KV_INT("backoff_s", o->backoff_s));
    } else {
        hs_log(HS_LOG_WARN, "refresh.reauth_required",
               HS_KV_STR("user_id", o->l->user_id),
               HS_KV_STR("provider", o->l->provider),
               HS_KV_STR("reason", o->error),
               HS_KV_INT("attempts", o->l->attempts + 1));
    }
}

/* Refreshes one due token. 1: one was handled; 0: none due; -1: error. */
static int refresh_one(struct hs_worker *w)
{
    struct refresher *r = w->arg;
    struct lease *l = calloc(1, sizeof(*l));
    struct exchange_token *tok = calloc(1, sizeof(*tok));
    const struct hs_provider *prov;
    struct outcome o;
    int got = -1;

    if (!l || !tok)
        goto out;
    got = take_lease(w, l);
    if (got != 1)
        goto out;
    memset(&o, 0, sizeof(o));
    o.l = l;
    o.tok = tok;
    prov = hs_catalog_find(&r->cat, l->provider);
    if (!prov || !prov->refresh) {
        /* Left out of the catalog, or marked not refreshable: only a new
         * consent can renew it once it expires. */
        o.kind = REFRESHER_REAUTH;
        o.error = prov ? "refresh_not_supported" : "unknown_provider";
    } else if (!l->refresh_token[0]) {
        o.kind = REFRESHER_REAUTH;
        o.error = "unreadable_refresh_token";
    } else {
        o.kind = call_refresh(w, prov, l, tok, &o.error);
    }
    if (o.kind == REFRESHER_RETRY &&
        l->attempts + 1 >= w->cfg->refresh_attempts)
        o.kind = REFRESHER_REAUTH; /* nothing is retried forever */
    o.backoff_s = refresher_backoff_s(w->cfg->refresh_retry_s,
                                      l->attempts + 1, jitter());
    if (hs_worker_txn(w, store_txn, &o) != HS_OK) {
        /* The lease lapses; another try takes the token again. */
        hs_log(HS_LOG_ERROR, "refresh.store_failed",
               HS_KV_STR("user_id", l->user_id),
               HS_KV_STR("provider", l->provider));
        got = -1;
    } else {
        log_outcome(w, &o, tok);
    }
out:
    if (l)
        hs_wipe(l, sizeof(*l));
    if (tok)
        exchange_token_wipe(tok);
    free(l);
    free(tok);
    return got;
}

/* ---- revoke -------------------------------------------------------- */

/* Revokes one token at prov (RFC 7009 §2.2: 200 also for a token already
 * invalid; unsupported_token_type means there is nothing to revoke).
 * 1 done, 0 to retry (error set). */
static int revoke_token(struct hs_worker *w, const struct hs_provider *prov,
                        const char *token, const char *hint,
                        const char **error)
{
    struct exchange_request *req = calloc(1, sizeof(*req));
    struct exchange_token *tok = calloc(1, sizeof(*tok));
    struct hs_http_response res;
    enum hs_err rc = HS_ERR_NOMEM;
    int done = 0;

    *error = "internal_error";
    memset(&res, 0, sizeof(res));
    if (req && tok && exchange_revoke_build(prov, token, hint, req) == HS_OK)
        rc = exchange_post(w->cfg, prov->revoke_url, req, &res);
    if (rc == HS_OK) {
        if (res.status == 200) {
            done = 1;
        } else if (res.status == 400 &&
                   exchange_token_parse(res.body, res.len, tok) ==
                       HS_ERR_PROVIDER &&
                   strcmp(tok->error, "unsupported_token_type") == 0) {
            done = 1;
        } else {
            *error = res.status >= 500 ? "provider_error" : "revoke_refused";
        }
        hs_http_response_cleanup(&res);
    } else if (req && tok) {
        *error = rc == HS_ERR_TIMEOUT ? "provider_timeout"
                                      : "provider_unreachable";
    }
    if (req)
        exchange_request_wipe(req);
    if (tok)
        exchange_token_wipe(tok);
    free(req);
    free(tok);
    return done;
}

/* Revokes one leased row's tokens. 1: one was handled; 0: none; -1. */
static int revoke_one(struct hs_worker *w)
{
    static const char *const kinds[2] = {"refresh", "access"};
    struct refresher *r = w->arg;
    char secs[16], id[24], user_id[32], provider[32], backoff[16];
    char *token = malloc(EXCHANGE_TOKEN_MAX + 1);
    const char *p[3] = {secs, NULL, NULL};
    const char *error = NULL;
    const struct hs_provider *prov;
    PGresult *res = NULL;
    int attempts, done = 1, got = -1;
    enum hs_err rc;

    lease_secs(w, secs);
    rc = token ? hs_pg_query(
                     w->pg,
                     "UPDATE revocations v SET lease_until = now() + "
                     "make_interval(secs => $1::int) FROM (SELECT id FROM "
                     "revocations WHERE next_at <= now() AND (lease_until IS"
                     " NULL OR lease_until < now()) ORDER BY next_at LIMIT 1"
                     " FOR UPDATE SKIP LOCKED) c WHERE v.id = c.id RETURNING"
                     " v.id, v.user_id, v.provider, v.attempts, "
                     "v.refresh_enc, v.access_enc",
                     1, p, &res)
               : HS_ERR_NOMEM;
    if (rc != HS_OK || PQntuples(res) != 1) {
        got = rc == HS_OK ? 0 : -1;
        goto out;
    }
    got = 1;
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    snprintf(user_id, sizeof(user_id), "%s", PQgetvalue(res, 0, 1));
    snprintf(provider, sizeof(provider), "%s", PQgetvalue(res, 0, 2));
    attempts = (int)strtol(PQgetvalue(res, 0, 3), NULL, 10);
    prov = hs_catalog_find(&r->cat, provider);
    for (int k = 0; done && prov && prov->revoke_url[0] && k < 2; k++) {
        unsigned char *blob = NULL;
        size_t blen = 0;

        if (hs_pg_bytea(res, 0, 4 + k, &blob, &blen) != HS_OK)
            continue; /* none of this kind (or revoked on a former try) */
        if (hs_token_open(w->kr, user_id, provider, kinds[k], blob, blen,
                          token, EXCHANGE_TOKEN_MAX + 1) == HS_OK) {
            done = revoke_token(w, prov, token,
                                k == 0 ? "refresh_token" : "access_token",
                                &error);
            hs_wipe(token, EXCHANGE_TOKEN_MAX + 1);
        }
        free(blob);
        if (done && k == 0) { /* not again on a retry */
            const char *q[1] = {id};

            if (hs_pg_query(w->pg, "UPDATE revocations SET refresh_enc = "
                                   "NULL WHERE id = $1::bigint",
                            1, q, NULL) != HS_OK)
                done = 0; /* retried: revoking twice is harmless */
        }
    }
    p[0] = id;
    if (done || attempts + 1 >= w->cfg->refresh_attempts) {
        rc = hs_pg_query(w->pg, "DELETE FROM revocations WHERE id = "
                                "$1::bigint", 1, p, NULL);
        struct hs_audit_step s = {
            .action = done ? "token.revoked" : "revoke.failed",
            .outcome = done ? "ok" : "failed",
            .reason = done ? NULL : error, .user_id = user_id,
            .provider = provider};

        hs_worker_audit(w, &s);
        hs_log(done ? HS_LOG_INFO : HS_LOG_WARN,
               done ? (prov && prov->revoke_url[0] ? "revoke.succeeded"
                                                   : "revoke.unsupported")
                    : "revoke.gave_up",
               HS_KV_STR("user_id", user_id), HS_KV_STR("provider", provider),
               HS_KV_STR("reason", done ? NULL : error));
    } else {
        snprintf(backoff, sizeof(backoff), "%d",
                 refresher_backoff_s(w->cfg->refresh_retry_s, attempts + 1,
                                     jitter()));
        p[1] = backoff;
        rc = hs_pg_query(w->pg, "UPDATE revocations SET attempts = attempts"
                                " + 1, lease_until = NULL, next_at = now() + "
                                "make_interval(secs => $2::int) WHERE id = "
                                "$1::bigint", 2, p, NULL);
        hs_log(HS_LOG_WARN, "revoke.retry", HS_KV_STR("user_id", user_id),
               HS_KV_STR("provider", provider), HS_KV_STR("reason", error),
               HS_KV_INT("attempt", attempts + 1));
    }
    if (rc != HS_OK)
        got = -1;
out:
    PQclear(res);
    free(token);
    return got;
}

void refresher_idle(struct hs_worker *w)
{
    struct refresher *r = w->arg;
    int64_t now = hs_now_ms();

    if (now - r->last_tick < TICK_MS)
        return;
    r->last_tick = now;
    while (hs_worker_running() && refresh_one(w) == 1)
        (void)hs_outbox_relay(w->pg, w->producer, w->cfg, NULL);
    while (hs_worker_running() && revoke_one(w) == 1)
        ;
    (void)hs_outbox_relay(w->pg, w->producer, w->cfg, NULL);
}
