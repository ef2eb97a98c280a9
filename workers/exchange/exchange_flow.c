/* exchange_flow: one callback.received event (contract in exchange_flow.h). */
#include "exchange_flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "exchange_request.h"
#include "exchange_retry.h"
#include "exchange_signin.h"
#include "exchange_store.h"
#include "exchange_token.h"
#include "hs_discovery.h"
#include "hs_event.h"
#include "hs_http.h"
#include "hs_log.h"
#include "hs_metrics.h"
#include "hs_outbox.h"
#include "hs_state.h"

enum hs_err exchange_init(struct hs_worker *w, char *err, size_t errlen)
{
    struct exchange_ctx *x = calloc(1, sizeof(*x));

    if (!x)
        return HS_ERR_NOMEM;
    if (hs_catalog_load(w->cfg->providers, w->cfg->insecure_http, &x->cat,
                        err, errlen) != HS_OK) {
        free(x);
        return HS_ERR_CONFIG;
    }
    if (hs_catalog_discover(&x->cat, w->cfg->insecure_http,
                            w->cfg->http_timeout_ms, err, errlen) != HS_OK) {
        hs_catalog_cleanup(&x->cat);
        free(x);
        return HS_ERR_CONFIG;
    }
    w->arg = x;
    return HS_OK;
}

void exchange_cleanup(struct hs_worker *w)
{
    struct exchange_ctx *x = w->arg;

    if (!x)
        return;
    hs_catalog_cleanup(&x->cat);
    free(x);
    w->arg = NULL;
}

void exchange_idle(struct hs_worker *w)
{
    static int64_t last;
    int64_t now = hs_now_ms();

    /* After each message, and once a second when idle. */
    if (now - last < 1000)
        return;
    last = now;
    (void)hs_outbox_relay(w->pg, w->producer, w->cfg, NULL);
}

/* Adds ev to the outbox (inside the caller's transaction). */
static enum hs_err outbox_event(struct hs_worker *w, const struct hs_event *ev,
                                const char *key)
{
    return hs_outbox_add_event(w->pg, HS_TOPIC_TOKENS, key, ev);
}

struct failure {
    const char *handshake_id;
    const char *provider;
    const char *user_id;
    const char *error;
    const char *description;
    const char *only_status; /* status the row must still have */
    const char *flow;        /* the row's flow */
    const char *subject;     /* signup, session: the poll's key hash */
};

/* A poll-based flow: its result goes to polls, not to agents. */
static int polled(const char *flow)
{
    return strcmp(flow, "signup") == 0 || strcmp(flow, "session") == 0;
}

/* A flow that starts without a user: the provider identity finds or
 * creates one (signup, session, loopback). */
static int signin(const char *flow)
{
    return polled(flow) || strcmp(flow, "loopback") == 0;
}

/* In the caller's transaction: finishes the poll (and wakes its long
 * polls at commit, on every ingress). */
static enum hs_err poll_finish(struct hs_worker *w, const char *key,
                               const char *user_id, const char *provider,
                               const char *error)
{
    const char *p[4] = {key, user_id, provider, error};

    return hs_pg_query(w->pg, "SELECT hs_poll_finish($1, $2, $3, $4)", 4, p,
                       NULL);
}

static enum hs_err fail_txn(struct hs_worker *w, void *arg)
{
    struct failure *f = arg;
    const char *p[4] = {f->handshake_id, f->error,
                        f->description[0] ? f->description : NULL,
                        f->only_status};
    struct hs_event ev;
    PGresult *res = NULL;
    enum hs_err rc;

    rc = hs_pg_query(w->pg,
                     "UPDATE handshakes SET status = 'failed', error = $2, "
                     "error_description = $3, finished_at = now() WHERE id = "
                     "$1 AND status = $4 RETURNING 1",
                     4, p, &res);
    if (rc != HS_OK)
        return rc;
    if (PQntuples(res) != 1) { /* someone else finished it */
        PQclear(res);
        return HS_OK;
    }
    PQclear(res);
    if (polled(f->flow) && f->subject[0])
        return poll_finish(w, f->subject, NULL, f->provider, f->error);
    /* connect.failed tells the user's agents; the event needs a user_id. */
    if (strcmp(f->flow, "connect") != 0 || !f->user_id[0])
        return HS_OK;
    hs_event_init(&ev, HS_EV_CONNECT_FAILED, w->cfg->env, hs_now_ms());
    snprintf(ev.user_id, sizeof(ev.user_id), "%s", f->user_id);
    snprintf(ev.provider, sizeof(ev.provider), "%s", f->provider);
    snprintf(ev.handshake_id, sizeof(ev.handshake_id), "%s", f->handshake_id);
    snprintf(ev.error, sizeof(ev.error), "%s", f->error);
    snprintf(ev.error_description, sizeof(ev.error_description), "%s",
             f->description);
    return outbox_event(w, &ev, f->user_id);
}

/* hs_exchanges_total{provider,outcome}. */
static void exchange_count(const char *provider, const char *outcome)
{
    char labels[128];

    hs_metrics_family("hs_exchanges_total", HS_COUNTER,
                      "Finished exchanges, by provider and outcome (ok, "
                      "denied, failed)");
    hs_metrics_add("hs_exchanges_total",
                   hs_metrics_labels(labels, sizeof(labels), "provider",
                                     provider, "outcome", outcome),
                   1);
}

static enum hs_err fail_flow(struct hs_worker *w, const struct hs_event *cb,
                             const struct exchange_claim *cl, const char *error,
                             const char *description)
{
    struct failure f = {cb->handshake_id, cb->provider, cl->user_id, error,
                        description ? description : "", "exchanging",
                        cl->flow, cl->subject};
    /* In place until done: the claim is taken, so giving up would leave
     * the flow hanging. */
    enum hs_err rc = hs_worker_txn(w, fail_txn, &f);

    hs_log(HS_LOG_WARN, "exchange.failed",
           HS_KV_STR("handshake_id", cb->handshake_id),
           HS_KV_STR("provider", cb->provider), HS_KV_STR("reason", error));
    /* denied or failed: the error itself may be any word a provider (or
     * whoever holds a state) chose, too many for a label. */
    exchange_count(cb->provider,
                   strcmp(error, "access_denied") == 0 ? "denied" : "failed");
    if (rc == HS_OK) {
        struct hs_audit_step s = {
            .action = "exchange.failed", .outcome = "failed", .reason = error,
            .handshake_id = cb->handshake_id, .user_id = cl->user_id,
            .provider = cb->provider};

        hs_worker_audit(w, &s);
    }
    return rc;
}

enum hs_err exchange_success_txn(struct hs_worker *w, void *arg)
{
    struct exchange_result *s = arg;
    const struct hs_event *cb = s->cb;
    struct exchange_stored *st = malloc(sizeof(*st));
    enum hs_err rc;

    if (!st)
        return HS_ERR_NOMEM;
    rc = s->id ? exchange_user_upsert(w->pg, s->id, s->user_id) : HS_OK;
    if (rc == HS_OK)
        rc = exchange_store_seal(w, s->user_id, cb->provider, s->tok,
                                 s->expires_at, st);
    if (rc == HS_OK) {
        const char *p[8] = {s->user_id, cb->provider,
                            (const char *)st->access,
                            st->rlen ? (const char *)st->refresh : NULL,
                            s->tok->token_type, s->scopes, st->expires_at,
                            st->ahead};
        const int lens[8] = {0, 0, (int)st->alen, (int)st->rlen, 0, 0, 0, 0};
        const int fmts[8] = {0, 0, 1, 1, 0, 0, 0, 0};

        /* A new consent replaces the connection; a provider that sends
         * no refresh token this time (Google without prompt=consent)
         * keeps the one it gave before. The next refresh is scheduled
         * (hs_refresh_at) and any refresher's lease is voided by the new
         * generation. */
        rc = hs_pg_query_bin(
            w->pg,
            "INSERT INTO provider_tokens AS t (user_id, provider, access_enc,"
            " refresh_enc, token_type, scopes, expires_at, status, "
            "updated_at, refresh_at) VALUES ($1, $2, $3, $4, $5, $6, CASE "
            "WHEN $7::bigint = 0 THEN NULL ELSE to_timestamp($7::bigint / "
            "1000.0) END, 'active', now(), CASE WHEN $4::bytea IS NOT NULL "
            "AND $7::bigint <> 0 THEN hs_refresh_at(to_timestamp($7::bigint "
            "/ 1000.0), $8::int) END)"
            " ON CONFLICT (user_id, provider) DO UPDATE SET access_enc = "
            "EXCLUDED.access_enc, refresh_enc = coalesce(EXCLUDED."
            "refresh_enc, t.refresh_enc), token_type = EXCLUDED.token_type, "
            "scopes = EXCLUDED.scopes, expires_at = EXCLUDED.expires_at, "
            "status = 'active', updated_at = now(), refresh_at = CASE WHEN "
            "coalesce(EXCLUDED.refresh_enc, t.refresh_enc) IS NOT NULL AND "
            "$7::bigint <> 0 THEN hs_refresh_at(EXCLUDED.expires_at, "
            "$8::int) END, lease_until = NULL, attempts = 0, last_error = "
            "NULL, generation = t.generation + 1",
            8, p, lens, fmts, NULL);
    }
    if (rc == HS_OK) {
        const char *p[2] = {cb->handshake_id, s->user_id};
        PGresult *res = NULL;

        /* A sign-in flow learns its user here (the loopback flow's
         * "Authorize" page needs it). */
        rc = hs_pg_query(w->pg,
                         "UPDATE handshakes SET status = 'complete', "
                         "finished_at = now(), user_id = coalesce(user_id, "
                         "$2) WHERE id = $1 AND status = 'exchanging' "
                         "RETURNING 1",
                         2, p, &res);
        /* No row: it was failed as interrupted meanwhile; that is its
         * final state, so nothing of this token may be kept. */
        if (rc == HS_OK && PQntuples(res) != 1)
            rc = HS_ERR_CONFLICT;
        PQclear(res);
    }
    if (rc == HS_OK && polled(s->cl->flow))
        rc = poll_finish(w, s->cl->subject, s->user_id, cb->provider, NULL);
    if (rc == HS_OK)
        rc = exchange_store_announce(w, HS_EV_TOKEN_ISSUED, s->user_id,
                                     cb->provider, cb->handshake_id, s->tok,
                                     s->scopes, s->expires_at);
    if (rc == HS_OK) {
        /* Held: the token is kept and announced only once recorded. */
        struct hs_audit_step a = {
            .action = "exchange.succeeded", .outcome = "ok",
            .reason = s->cl->flow, .handshake_id = cb->handshake_id,
            .user_id = s->user_id, .provider = cb->provider,
            .token = s->tok->access_token};

        rc = hs_worker_audit_hold(w, &a);
        if (rc == HS_OK && s->id) {
            /* A sign-in flow established its user. */
            a.action = "signup.completed";
            a.token = NULL;
            rc = hs_worker_audit_hold(w, &a);
        }
    }
    exchange_store_wipe(st);
    free(st);
    return rc;
}

/* Claims the handshake. HS_OK fills *cl; HS_ERR_CONFLICT when it is not
 * ours to exchange (duplicate, finished, or failed here as expired or
 * stale); HS_ERR_TIMEOUT (retriable) while another claim younger than
 * HS_EXCHANGE_STALE is open: that may be a worker that died after claiming
 * (the redelivery comes within seconds), so the event waits in place until
 * the row is finished or stale instead of being dropped as a duplicate,
 * which would leave the flow hanging. */
enum hs_err exchange_claim(struct hs_worker *w, const struct hs_event *cb,
                           struct exchange_claim *cl)
{
    const char *p[3] = {cb->handshake_id, cb->provider, NULL};
    PGresult *res = NULL;
    enum hs_err rc;
    char stale[16];

    rc = hs_pg_query(w->pg,
                     "UPDATE handshakes SET status = 'exchanging', "
                     "claimed_at = now() WHERE id = $1 AND provider = $2 AND "
                     "status = 'started' AND expires_at > now() RETURNING "
                     "coalesce(user_id, ''), flow, coalesce(subject, '')",
                     2, p, &res);
    if (rc != HS_OK)
        return rc;
    if (PQntuples(res) == 1) {
        snprintf(cl->user_id, sizeof(cl->user_id), "%s", PQgetvalue(res, 0, 0));
        snprintf(cl->flow, sizeof(cl->flow), "%s", PQgetvalue(res, 0, 1));
        snprintf(cl->subject, sizeof(cl->subject), "%s",
                 PQgetvalue(res, 0, 2));
        PQclear(res);
        return HS_OK;
    }
    PQclear(res);
    /* Not claimable: an expired start or a claim a crashed worker left
     * behind gets its one final state; anything else is a duplicate. */
    snprintf(stale, sizeof(stale), "%d", w->cfg->exchange_stale_s);
    p[2] = stale;
    rc = hs_pg_query(w->pg,
                     "SELECT coalesce(user_id, ''), CASE WHEN status = "
                     "'started' THEN 'expired' WHEN claimed_at < now() - "
                     "make_interval(secs => $3::int) THEN 'interrupted' "
                     "ELSE '' END, status, flow, coalesce(subject, '') "
                     "FROM handshakes WHERE id = $1"
                     " AND provider = $2 AND ((status = 'started' AND "
                     "expires_at <= now()) OR status = 'exchanging')",
                     3, p, &res);
    if (rc != HS_OK)
        return rc;
    if (PQntuples(res) == 1 && !PQgetvalue(res, 0, 1)[0]) {
        hs_log(HS_LOG_INFO, "exchange.in_progress",
               HS_KV_STR("handshake_id", cb->handshake_id));
        PQclear(res);
        return HS_ERR_TIMEOUT;
    }
    if (PQntuples(res) == 1) {
        struct failure f = {cb->handshake_id, cb->provider,
                            PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), "",
                            PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
                            PQgetvalue(res, 0, 4)};

        rc = hs_worker_txn(w, fail_txn, &f);
        PQclear(res);
        return rc == HS_OK ? HS_ERR_CONFLICT : rc;
    }
    PQclear(res);
    return HS_ERR_CONFLICT;
}

/* hs_exchange_retries_total{provider,reason}: calls tried again. reason
 * is one of exchange_judge's few transient words. */
static void retry_count(const char *provider, const char *reason)
{
    char labels[128];

    hs_metrics_family("hs_exchange_retries_total", HS_COUNTER,
                      "Token calls tried again after a transient failure, "
                      "by provider and reason");
    hs_metrics_add("hs_exchange_retries_total",
                   hs_metrics_labels(labels, sizeof(labels), "provider",
                                     provider, "reason", reason),
                   1);
}

/* Sleeps ms in short steps; 0 as soon as the worker is asked to stop. */
static int pause_ms(int64_t ms)
{
    while (ms > 0 && hs_worker_running()) {
        int64_t step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};

        nanosleep(&ts, NULL);
        ms -= step;
    }
    return hs_worker_running();
}

/* One token call, judged (exchange_retry.h). tok is wiped first, so it
 * holds only this call's answer. */
static enum exchange_verdict attempt(struct hs_worker *w,
                                     const struct hs_provider *prov,
                                     const struct exchange_request *req,
                                     const char *prior,
                                     struct exchange_token *tok,
                                     long *status, const char **error)
{
    struct hs_http_response res;
    enum hs_err parse_rc = HS_ERR_DECODE;
    enum hs_err rc;
    enum exchange_verdict v;

    exchange_token_wipe(tok);
    rc = exchange_post(w->cfg, prov->token_url, req, &res);
    if (rc == HS_OK)
        parse_rc = exchange_token_parse(res.body, res.len, tok);
    *status = res.status; /* 0 when nothing came back */
    v = exchange_judge(rc, res.status, parse_rc, tok, prior, error);
    hs_http_response_cleanup(&res);
    return v;
}

/* The provider call, tried again after a transient failure while the
 * policy allows (HS_EXCHANGE_ATTEMPTS, inside the claim's staleness
 * window counted from claimed_ms) and the worker runs. Fills tok on
 * EXCHANGE_OK; otherwise *error says why: EXCHANGE_FAIL, EXCHANGE_SPENT,
 * or EXCHANGE_RETRY when the attempts ran out (or the worker is
 * stopping). */
static enum exchange_verdict call_provider(struct hs_worker *w,
                                           const struct hs_event *cb,
                                           const struct hs_provider *prov,
                                           const struct exchange_secret *sec,
                                           int64_t claimed_ms,
                                           struct exchange_token *tok,
                                           const char **error)
{
    struct exchange_request *req = calloc(1, sizeof(*req));
    struct exchange_retry pol;
    enum exchange_verdict v = EXCHANGE_FAIL;
    const char *prior = NULL;

    *error = "internal_error";
    if (!req)
        return EXCHANGE_FAIL;
    if (exchange_request_build(prov, sec, req) != HS_OK)
        goto out;
    exchange_retry_init(&pol, w->cfg->exchange_attempts,
                        w->cfg->http_timeout_ms,
                        w->cfg->exchange_stale_s * 1000LL);
    for (int made = 1;; made++) {
        long status = 0;
        int64_t wait;

        v = attempt(w, prov, req, prior, tok, &status, error);
        if (v != EXCHANGE_RETRY)
            break;
        prior = *error; /* a static word (exchange_judge) */
        /* hs_http_response carries no headers yet, so a Retry-After is
         * not seen; the back-off alone paces the calls. */
        wait = exchange_backoff_ms(made, EXCHANGE_RETRY_AFTER_NONE,
                                   randombytes_uniform(1000000) / 1e6);
        if (!hs_worker_running() ||
            !exchange_retry_allowed(&pol, made, hs_now_ms() - claimed_ms,
                                    wait))
            break;
        hs_log(HS_LOG_WARN, "exchange.retry",
               HS_KV_STR("handshake_id", cb->handshake_id),
               HS_KV_STR("provider", cb->provider), HS_KV_INT("attempt", made),
               HS_KV_STR("reason", *error), HS_KV_INT("status", status),
               HS_KV_INT("backoff_ms", wait));
        retry_count(cb->provider, *error);
        if (!pause_ms(wait))
            break; /* stopping: v is still EXCHANGE_RETRY */
    }
out:
    exchange_request_wipe(req);
    free(req);
    return v;
}

enum hs_err exchange_handle(struct hs_worker *w, const struct hs_kafka_msg *m,
                            char *reason, size_t reasonlen)
{
    struct exchange_ctx *x = w->arg;
    struct hs_event *cb = calloc(1, sizeof(*cb));
    struct exchange_secret *sec = calloc(1, sizeof(*sec));
    struct exchange_token *tok = calloc(1, sizeof(*tok));
    struct exchange_identity *id = calloc(1, sizeof(*id));
    unsigned char pt[HS_BLOB_MAX];
    size_t ptlen = 0;
    const struct hs_provider *prov;
    const char *error = NULL;
    struct exchange_claim cl;
    enum exchange_verdict v;
    int64_t claimed_ms;
    enum hs_err rc = HS_ERR_NOMEM;

    if (!cb || !sec || !tok || !id)
        goto out;
    rc = hs_event_decode(m->val, m->vallen, cb);
    if (rc != HS_OK || cb->type != HS_EV_CALLBACK_RECEIVED) {
        snprintf(reason, reasonlen, "undecodable_event");
        rc = HS_ERR_DECODE;
        goto out;
    }
    rc = exchange_claim(w, cb, &cl);
    if (rc == HS_ERR_CONFLICT) {
        hs_log(HS_LOG_INFO, "exchange.duplicate",
               HS_KV_STR("handshake_id", cb->handshake_id));
        rc = HS_OK;
        goto out;
    }
    if (rc != HS_OK)
        goto out; /* transient: retried in place */
    claimed_ms = hs_now_ms(); /* the staleness window runs from here */
    hs_log(HS_LOG_INFO, "exchange.claimed",
           HS_KV_STR("handshake_id", cb->handshake_id),
           HS_KV_STR("provider", cb->provider));
    if (hs_aead_open(w->kr, HS_KEY_PIPELINE, cb->sealed, cb->sealed_len,
                     cb->handshake_id, strlen(cb->handshake_id), pt,
                     sizeof(pt), &ptlen) != HS_OK ||
        exchange_secret_parse(pt, ptlen, cb->error[0] == '\0', sec) != HS_OK) {
        /* Visible failure for the user; the bytes go to the DLQ. */
        rc = fail_flow(w, cb, &cl, "unreadable_callback", NULL);
        snprintf(reason, reasonlen, "unreadable_sealed_part");
        rc = rc == HS_OK ? HS_ERR_CRYPTO : rc;
        goto out;
    }
    prov = hs_catalog_find(&x->cat, cb->provider);
    if (strcmp(cl.flow, "connect") != 0 && !signin(cl.flow))
        rc = fail_flow(w, cb, &cl, "unsupported_flow", NULL);
    else if (cb->error[0])
        rc = fail_flow(w, cb, &cl, cb->error, cb->error_description);
    else if (!prov)
        rc = fail_flow(w, cb, &cl, "unknown_provider", NULL);
    else if (signin(cl.flow) && !prov->signin)
        rc = fail_flow(w, cb, &cl, "not_signin_provider", NULL);
    else if ((v = call_provider(w, cb, prov, sec, claimed_ms, tok,
                                &error)) == EXCHANGE_FAIL)
        rc = fail_flow(w, cb, &cl, error, tok->error_description);
    else if (v != EXCHANGE_OK) {
        /* The provider stayed unavailable: a visible failure for the
         * user, and the event to hs.dlq, where it can be looked at. */
        rc = fail_flow(w, cb, &cl, error, NULL);
        snprintf(reason, reasonlen, "provider_unavailable: %s", error);
        rc = rc == HS_OK ? HS_ERR_PROVIDER : rc;
    }
    else if (signin(cl.flow) &&
             exchange_identify(w, prov, tok, sec->nonce, id, &error) != HS_OK)
        rc = fail_flow(w, cb, &cl, error, NULL);
    else {
        struct exchange_result s = {
            cb, &cl, signin(cl.flow) ? id : NULL, "", tok,
            tok->scope[0] ? tok->scope : prov->scopes,
            exchange_store_expiry(tok, hs_now_ms())};
        char fp[17];

        snprintf(s.user_id, sizeof(s.user_id), "%s", cl.user_id);
        rc = hs_worker_txn(w, exchange_success_txn, &s);
        hs_crypto_fingerprint(tok->access_token, fp);
        hs_log(rc == HS_OK ? HS_LOG_INFO : HS_LOG_ERROR,
               rc == HS_OK ? "exchange.succeeded" : "exchange.store_failed",
               HS_KV_STR("handshake_id", cb->handshake_id),
               HS_KV_STR("provider", cb->provider),
               HS_KV_STR("fingerprint", fp),
               HS_KV_STR("reason", rc == HS_OK ? NULL : hs_strerror(rc)));
        if (rc == HS_OK)
            exchange_count(cb->provider, "ok");
        if (rc == HS_ERR_CONFLICT)
            rc = HS_OK; /* already failed as interrupted: final */
        else if (rc != HS_OK && !hs_err_is_retriable(rc))
            /* Never leave the claim open: the code is spent either way. */
            rc = fail_flow(w, cb, &cl, "server_error",
                           "the token could not be stored");
    }
    if (rc == HS_OK) /* deliver now rather than at the next idle tick */
        (void)hs_outbox_relay(w->pg, w->producer, w->cfg, NULL);
out:
    hs_wipe(pt, sizeof(pt));
    if (sec)
        exchange_secret_wipe(sec);
    if (tok)
        exchange_token_wipe(tok);
    if (cb)
        hs_event_wipe(cb);
    free(cb);
    free(sec);
    free(tok);
    free(id);
    return rc;
}
