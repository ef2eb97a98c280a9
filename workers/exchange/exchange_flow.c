/* exchange_flow: one callback.received event (contract in exchange_flow.h). */
#include "exchange_flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "exchange_batch.h"
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

void exchange_success_steps(const struct exchange_result *s,
                            struct hs_audit_step a[2])
{
    a[0] = (struct hs_audit_step){
        .action = "exchange.succeeded", .outcome = "ok",
        .reason = s->cl->flow, .handshake_id = s->cb->handshake_id,
        .user_id = s->user_id, .provider = s->cb->provider,
        .token = s->tok->access_token};
    a[1] = a[0];
    a[1].action = "signup.completed";
    a[1].token = NULL;
}

enum hs_err exchange_success_txn(struct hs_worker *w, void *arg)
{
    struct exchange_result *s = arg;
    const struct exchange_result *one[1] = {s};
    int stored = 0;
    enum hs_err rc;

    rc = s->id ? exchange_user_upsert(w->pg, s->id, s->user_id) : HS_OK;
    /* The token stored, the handshake complete and token.issued in the
     * outbox: a batch of one. */
    if (rc == HS_OK)
        rc = exchange_batch_store(w, one, 1, &stored);
    /* Not stored: it was failed as interrupted meanwhile; that is its
     * final state, so nothing of this token may be kept. */
    if (rc == HS_OK && !stored)
        rc = HS_ERR_CONFLICT;
    if (rc == HS_OK && polled(s->cl->flow))
        rc = poll_finish(w, s->cl->subject, s->user_id, s->cb->provider,
                         NULL);
    if (rc == HS_OK) {
        /* Held: the token is kept and announced only once recorded. */
        struct hs_audit_step a[2];

        exchange_success_steps(s, a);
        rc = hs_worker_audit_hold(w, &a[0]);
        if (rc == HS_OK && s->id) /* a sign-in flow established its user */
            rc = hs_worker_audit_hold(w, &a[1]);
    }
    return rc;
}

/* The handshake of cb was not claimable (exchange_batch_claim): an
 * expired start or a claim a crashed worker left behind gets its one
 * final state (HS_ERR_CONFLICT); anything else is a duplicate
 * (HS_ERR_CONFLICT), except another claim younger than HS_EXCHANGE_STALE
 * (HS_ERR_TIMEOUT, retriable): that may be a worker that died after
 * claiming (the redelivery comes within seconds), so the event waits in
 * place until the row is finished or stale instead of being dropped as a
 * duplicate, which would leave the flow hanging. */
static enum hs_err claim_missed(struct hs_worker *w, const struct hs_event *cb)
{
    const char *p[3] = {cb->handshake_id, cb->provider, NULL};
    PGresult *res = NULL;
    enum hs_err rc;
    char stale[16];

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

void exchange_claim_all(struct hs_worker *w, const struct hs_event *const *cbs,
                        size_t n, struct exchange_claim *cls, enum hs_err *rcs)
{
    int *claimed = calloc(n ? n : 1, sizeof(*claimed));
    enum hs_err rc = claimed ? exchange_batch_claim(w, cbs, n, cls, claimed)
                             : HS_ERR_NOMEM;

    for (size_t i = 0; i < n; i++)
        rcs[i] = rc != HS_OK ? rc
                 : claimed[i] ? HS_OK
                              : claim_missed(w, cbs[i]);
    free(claimed);
}

enum hs_err exchange_claim(struct hs_worker *w, const struct hs_event *cb,
                           struct exchange_claim *cl)
{
    enum hs_err rc;

    exchange_claim_all(w, &cb, 1, cl, &rc);
    return rc;
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

/* The retry policy of this worker's exchanges (exchange_retry.h). */
static void policy(const struct hs_worker *w, struct exchange_retry *pol)
{
    exchange_retry_init(pol, w->cfg->exchange_attempts,
                        w->cfg->http_timeout_ms,
                        w->cfg->exchange_stale_s * 1000LL);
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
    policy(w, &pol);
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

/* ---- a batch of events ----------------------------------------------------
 * Each event takes the steps of exchange_flow.h, in rounds: a round claims
 * the next events in one statement, calls their providers, stores the
 * results in one transaction. A round claims as many as recent calls say
 * fit in EXCHANGE_ROUND_MS (all of them with a fast provider, one with a
 * slow one), and gives back the claims it has not called when it runs
 * past that, so that a worker that dies holds few claims (each fails as
 * interrupted) and every claim is called well inside its staleness
 * window. The outbox is relayed once. */
enum stage {
    ITEM_NEW,     /* decoded: to claim */
    ITEM_LATER,   /* its handshake came earlier in the batch: alone, after */
    ITEM_CLAIMED, /* ours to exchange */
    ITEM_UNUSED,  /* claimed, not called: to give back */
    ITEM_READY,   /* exchanged: res to store */
    ITEM_DONE     /* rc is its result */
};

struct item {
    const struct hs_kafka_msg *m;
    char *reason; /* the DLQ reason, reasonlen bytes */
    size_t reasonlen;
    enum stage stage;
    enum hs_err rc;
    int64_t claimed_ms; /* the staleness window runs from here */
    struct hs_event cb;
    struct exchange_secret sec;
    struct exchange_token tok;
    struct exchange_identity id;
    struct exchange_claim cl;
    struct exchange_result res;
};

static void done(struct item *it, enum hs_err rc)
{
    it->rc = rc;
    it->stage = ITEM_DONE;
}

static void decode(struct item *it, const struct item *before, size_t n)
{
    if (hs_event_decode(it->m->val, it->m->vallen, &it->cb) != HS_OK ||
        it->cb.type != HS_EV_CALLBACK_RECEIVED) {
        snprintf(it->reason, it->reasonlen, "undecodable_event");
        done(it, HS_ERR_DECODE);
        return;
    }
    it->stage = ITEM_NEW;
    /* A replayed callback: claimed after the first one is finished, as
     * it would be one at a time (a duplicate, exchanging nothing). */
    for (size_t j = 0; j < n; j++)
        if (before[j].stage != ITEM_DONE &&
            strcmp(before[j].cb.handshake_id, it->cb.handshake_id) == 0)
            it->stage = ITEM_LATER;
}

/* which[0..k-1]: the first (at most max) items at stage st, in order;
 * returns k. */
static size_t pick(const struct item *it, size_t n, enum stage st,
                   size_t max, size_t *which)
{
    size_t k = 0;

    for (size_t i = 0; i < n && k < max; i++)
        if (it[i].stage == st)
            which[k++] = i;
    return k;
}

/* Claims the first max new items. */
static void claim(struct hs_worker *w, struct item *it, size_t n, size_t max)
{
    const struct hs_event *cbs[HS_WORKER_BATCH];
    struct exchange_claim cls[HS_WORKER_BATCH];
    enum hs_err rcs[HS_WORKER_BATCH];
    size_t which[HS_WORKER_BATCH], k = pick(it, n, ITEM_NEW, max, which);
    int64_t now;

    if (!k)
        return;
    for (size_t j = 0; j < k; j++)
        cbs[j] = &it[which[j]].cb;
    exchange_claim_all(w, cbs, k, cls, rcs);
    now = hs_now_ms();
    for (size_t j = 0; j < k; j++) {
        struct item *x = &it[which[j]];

        if (rcs[j] == HS_OK) {
            x->cl = cls[j];
            x->claimed_ms = now;
            x->stage = ITEM_CLAIMED;
            hs_log(HS_LOG_INFO, "exchange.claimed",
                   HS_KV_STR("handshake_id", x->cb.handshake_id),
                   HS_KV_STR("provider", x->cb.provider));
        } else if (rcs[j] == HS_ERR_CONFLICT) {
            hs_log(HS_LOG_INFO, "exchange.duplicate",
                   HS_KV_STR("handshake_id", x->cb.handshake_id));
            done(x, HS_OK);
        } else {
            done(x, rcs[j]); /* transient: retried in place */
        }
    }
}

/* How many to claim in a round: as many calls as fit in EXCHANGE_ROUND_MS
 * at the recent pace (x->call_ms), at least one. */
static size_t round_size(const struct exchange_ctx *x)
{
    double k = x->call_ms > 0 ? EXCHANGE_ROUND_MS / x->call_ms
                              : HS_WORKER_BATCH;

    return k < 1 ? 1 : k > HS_WORKER_BATCH ? HS_WORKER_BATCH : (size_t)k;
}

/* Gives back the claims of the unused items (their codes were not
 * presented): new again, claimed afresh in a later round; when stopping,
 * left to be redelivered (retriable). If the statement fails the claims
 * stay, and those events, tried again, wait until the claims are stale
 * and fail them as interrupted: never exchanged twice. */
static void release(struct hs_worker *w, struct item *it, size_t n)
{
    const struct hs_event *cbs[HS_WORKER_BATCH];
    size_t which[HS_WORKER_BATCH],
        k = pick(it, n, ITEM_UNUSED, HS_WORKER_BATCH, which);
    enum hs_err rc;

    if (!k)
        return;
    for (size_t j = 0; j < k; j++)
        cbs[j] = &it[which[j]].cb;
    rc = exchange_batch_release(w, cbs, k);
    hs_log(rc == HS_OK ? HS_LOG_INFO : HS_LOG_WARN, "exchange.released",
           HS_KV_INT("handshakes", (long)k),
           HS_KV_STR("reason", rc == HS_OK ? NULL : hs_strerror(rc)));
    for (size_t j = 0; j < k; j++) {
        if (hs_worker_running())
            it[which[j]].stage = ITEM_NEW;
        else
            done(&it[which[j]], HS_ERR_TIMEOUT);
    }
}

/* Steps 3 and the checks before it for a claimed item: ITEM_READY with
 * res filled, or ITEM_DONE (the flow failed visibly). */
static void exchange(struct hs_worker *w, struct item *it)
{
    struct exchange_ctx *x = w->arg;
    struct hs_event *cb = &it->cb;
    struct exchange_claim *cl = &it->cl;
    unsigned char pt[HS_BLOB_MAX];
    size_t ptlen = 0;
    const struct hs_provider *prov;
    const char *error = NULL;
    enum exchange_verdict v;
    enum hs_err rc;

    if (hs_aead_open(w->kr, HS_KEY_PIPELINE, cb->sealed, cb->sealed_len,
                     cb->handshake_id, strlen(cb->handshake_id), pt,
                     sizeof(pt), &ptlen) != HS_OK ||
        exchange_secret_parse(pt, ptlen, cb->error[0] == '\0', &it->sec) !=
            HS_OK) {
        /* Visible failure for the user; the bytes go to the DLQ. */
        rc = fail_flow(w, cb, cl, "unreadable_callback", NULL);
        snprintf(it->reason, it->reasonlen, "unreadable_sealed_part");
        done(it, rc == HS_OK ? HS_ERR_CRYPTO : rc);
        goto out;
    }
    prov = hs_catalog_find(&x->cat, cb->provider);
    if (strcmp(cl->flow, "connect") != 0 && !signin(cl->flow))
        rc = fail_flow(w, cb, cl, "unsupported_flow", NULL);
    else if (cb->error[0])
        rc = fail_flow(w, cb, cl, cb->error, cb->error_description);
    else if (!prov)
        rc = fail_flow(w, cb, cl, "unknown_provider", NULL);
    else if (signin(cl->flow) && !prov->signin)
        rc = fail_flow(w, cb, cl, "not_signin_provider", NULL);
    else if ((v = call_provider(w, cb, prov, &it->sec, it->claimed_ms,
                                &it->tok, &error)) == EXCHANGE_FAIL)
        rc = fail_flow(w, cb, cl, error, it->tok.error_description);
    else if (v != EXCHANGE_OK) {
        /* The provider stayed unavailable: a visible failure for the
         * user, and the event to hs.dlq, where it can be looked at. */
        rc = fail_flow(w, cb, cl, error, NULL);
        snprintf(it->reason, it->reasonlen, "provider_unavailable: %s",
                 error);
        rc = rc == HS_OK ? HS_ERR_PROVIDER : rc;
    }
    else if (signin(cl->flow) &&
             exchange_identify(w, prov, &it->tok, it->sec.nonce, &it->id,
                               &error) != HS_OK)
        rc = fail_flow(w, cb, cl, error, NULL);
    else {
        it->res = (struct exchange_result){
            cb, cl, signin(cl->flow) ? &it->id : NULL, "", &it->tok,
            it->tok.scope[0] ? it->tok.scope : prov->scopes,
            exchange_store_expiry(&it->tok, hs_now_ms())};
        snprintf(it->res.user_id, sizeof(it->res.user_id), "%s", cl->user_id);
        it->stage = ITEM_READY;
        goto out;
    }
    done(it, rc);
out:
    hs_wipe(pt, sizeof(pt));
}

/* Step 4 for every ready item, then each one's outcome. */
static void store(struct hs_worker *w, struct item *it, size_t n)
{
    struct exchange_result *rs[HS_WORKER_BATCH];
    enum hs_err rcs[HS_WORKER_BATCH];
    size_t which[HS_WORKER_BATCH],
        k = pick(it, n, ITEM_READY, HS_WORKER_BATCH, which);

    if (!k)
        return;
    for (size_t j = 0; j < k; j++)
        rs[j] = &it[which[j]].res;
    exchange_store_all(w, rs, k, rcs);
    for (size_t j = 0; j < k; j++) {
        struct item *x = &it[which[j]];
        enum hs_err rc = rcs[j];
        char fp[17];

        hs_crypto_fingerprint(x->tok.access_token, fp);
        hs_log(rc == HS_OK ? HS_LOG_INFO : HS_LOG_ERROR,
               rc == HS_OK ? "exchange.succeeded" : "exchange.store_failed",
               HS_KV_STR("handshake_id", x->cb.handshake_id),
               HS_KV_STR("provider", x->cb.provider),
               HS_KV_STR("fingerprint", fp),
               HS_KV_STR("reason", rc == HS_OK ? NULL : hs_strerror(rc)));
        if (rc == HS_OK)
            exchange_count(x->cb.provider, "ok");
        if (rc == HS_ERR_CONFLICT)
            rc = HS_OK; /* already failed as interrupted: final */
        else if (rc != HS_OK && !hs_err_is_retriable(rc))
            /* Never leave the claim open: the code is spent either way. */
            rc = fail_flow(w, &x->cb, &x->cl, "server_error",
                           "the token could not be stored");
        done(x, rc);
    }
}

static void handle_items(struct hs_worker *w, struct item *it, size_t n)
{
    struct exchange_ctx *x = w->arg;
    size_t which[HS_WORKER_BATCH];
    int claimed = 0;

    for (size_t i = 0; i < n; i++)
        decode(&it[i], it, i);
    while (hs_worker_running() &&
           pick(it, n, ITEM_NEW, HS_WORKER_BATCH, which)) {
        size_t k = round_size(x), called = 0;
        int64_t t0;

        claim(w, it, n, k);
        t0 = hs_now_ms();
        for (size_t i = 0; i < n; i++) {
            int64_t t;

            if (it[i].stage != ITEM_CLAIMED)
                continue;
            claimed = 1;
            /* The first of a round is always called (as alone). */
            if (called && (!hs_worker_running() ||
                           hs_now_ms() - t0 > EXCHANGE_ROUND_MS)) {
                it[i].stage = ITEM_UNUSED;
                continue;
            }
            t = hs_now_ms();
            exchange(w, &it[i]);
            called++;
            t = hs_now_ms() - t;
            x->call_ms = x->call_ms > 0 ? 0.7 * x->call_ms + 0.3 * (double)t
                                        : (double)t;
        }
        if (n > 1)
            hs_log(HS_LOG_INFO, "exchange.batch",
                   HS_KV_INT("events", (long)n), HS_KV_INT("claimed", (long)k),
                   HS_KV_INT("called", (long)called));
        store(w, it, n);
        release(w, it, n);
    }
    /* Stopping: the ones never claimed are redelivered. */
    for (size_t i = 0; i < n; i++)
        if (it[i].stage == ITEM_NEW)
            done(&it[i], HS_ERR_TIMEOUT);
    if (claimed) /* deliver now rather than at the next idle tick */
        (void)hs_outbox_relay(w->pg, w->producer, w->cfg, NULL);
    for (size_t i = 0; i < n; i++)
        if (it[i].stage == ITEM_LATER)
            handle_items(w, &it[i], 1);
}

static void item_wipe(struct item *it)
{
    exchange_secret_wipe(&it->sec);
    exchange_token_wipe(&it->tok);
    hs_event_wipe(&it->cb);
    hs_wipe(&it->id, sizeof(it->id));
}

void exchange_handle_batch(struct hs_worker *w, struct hs_kafka_msg *const *m,
                           size_t n, enum hs_err *rcs,
                           char (*reasons)[HS_WORKER_REASON])
{
    struct item *it = calloc(n ? n : 1, sizeof(*it));

    for (size_t i = 0; i < n; i++) {
        rcs[i] = HS_ERR_NOMEM;
        if (!it)
            continue;
        it[i].m = m[i];
        it[i].reason = reasons[i];
        it[i].reasonlen = HS_WORKER_REASON;
    }
    if (!it)
        return;
    for (size_t i = 0; i < n; i += HS_WORKER_BATCH)
        handle_items(w, it + i,
                     n - i < HS_WORKER_BATCH ? n - i : HS_WORKER_BATCH);
    for (size_t i = 0; i < n; i++) {
        rcs[i] = it[i].rc;
        item_wipe(&it[i]);
    }
    free(it);
}
