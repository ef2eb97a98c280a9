/* ingress_poll: signup and session polls (contract in ingress_poll.h). */
#include "ingress_poll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_log.h"

enum outcome {
    O_PENDING,
    O_TOO_FAST,
    O_COMPLETE,
    O_CONSUMED,
    O_FAILED,
    O_EXPIRED,
    O_UNKNOWN
};

struct poll_result {
    enum outcome outcome;
    char user_id[32];
    char provider[32];
    char error[64];
    char email[320];
    char name[256];
    char api_token[44]; /* secret: the API token released now */
};

/* A base64url secret of 22..128 characters (≥ 128 bits). */
static int secret_ok(const char *s)
{
    unsigned char raw[96];
    size_t n = strlen(s), len;
    int ok = n >= 22 && n <= 128 &&
             hs_b64url_decode(s, raw, sizeof(raw), &len) == HS_OK;

    hs_wipe(raw, sizeof(raw));
    return ok;
}

/* ?wait=S: 0 when absent; -1 when malformed or over INGRESS_WAIT_MAX_S. */
static int wait_param(const struct ingress_req *r)
{
    const char *w = ingress_param_get(r->params, r->nparams, "wait");
    int v = 0;

    if (!w)
        return 0;
    if (!*w || strlen(w) > 2)
        return -1;
    for (; *w; w++) {
        if (*w < '0' || *w > '9')
            return -1;
        v = v * 10 + (*w - '0');
    }
    return v <= INGRESS_WAIT_MAX_S ? v : -1;
}

static const struct {
    const char *name;
    enum outcome o;
} outcomes[] = {
    {"pending", O_PENDING},   {"too_fast", O_TOO_FAST},
    {"complete", O_COMPLETE}, {"consumed", O_CONSUMED},
    {"failed", O_FAILED},     {"expired", O_EXPIRED},
    {"unknown", O_UNKNOWN},
};

typedef enum MHD_Result (*answer_fn)(struct MHD_Connection *conn,
                                     struct ingress_req *r,
                                     const struct poll_result *pr);

/* A released result waiting for its record (ingress_txn_answer). */
struct kept {
    struct poll_result pr;
    answer_fn fn;
};

static void kept_free(void *k)
{
    hs_wipe(k, sizeof(struct kept));
    free(k);
}

static enum MHD_Result kept_answer(const struct ingress *in,
                                   struct MHD_Connection *conn,
                                   struct ingress_req *r, enum hs_err rc,
                                   void *ctx)
{
    const struct kept *k = ctx;

    (void)in;
    return rc == HS_OK ? k->fn(conn, r, &k->pr)
                       : ingress_respond_failed(conn, r, rc);
}

/* One hs_poll_take. A fresh API token is drawn every time; its hash is
 * stored only when the result is released now, and only once that is
 * recorded (api_token.issued, held). A result to release is answered by
 * ingress_txn_answer (fn, or the failure when the record was not
 * acknowledged) and *answered set with *ret its result; otherwise pr is
 * the caller's to answer. */
static enum hs_err take(const struct ingress *in, struct MHD_Connection *conn,
                        struct ingress_req *r, const char *key,
                        const char *kind, int waiting, answer_fn fn,
                        struct poll_result *pr, int *answered,
                        enum MHD_Result *ret)
{
    char hash[44];
    const char *p[4] = {key, kind, waiting ? "t" : "f", hash};
    PGresult *res = NULL;
    struct hs_pg *pg;
    enum hs_err rc;
    const char *o;

    *answered = 0;
    memset(pr, 0, sizeof(*pr));
    if (hs_random_token(32, pr->api_token, sizeof(pr->api_token)) != HS_OK)
        return HS_ERR_INTERNAL;
    hs_sha256_b64url(pr->api_token, strlen(pr->api_token), hash);
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK)
        return HS_ERR_TRANSIENT;
    rc = hs_pg_begin(pg);
    if (rc == HS_OK)
        rc = hs_pg_query(pg,
                         "SELECT outcome, coalesce(user_id, ''), "
                         "coalesce(provider, ''), coalesce(error, ''), "
                         "coalesce(email, ''), coalesce(name, '') "
                         "FROM hs_poll_take($1, $2, $3::boolean, $4)",
                         4, p, &res);
    if (rc == HS_OK && PQntuples(res) != 1)
        rc = HS_ERR_INTERNAL;
    if (rc != HS_OK) {
        hs_pg_rollback(pg);
        hs_pg_pool_put(in->pool, pg);
        PQclear(res);
        return rc == HS_ERR_INTERNAL ? rc : HS_ERR_TRANSIENT;
    }
    o = PQgetvalue(res, 0, 0);
    pr->outcome = O_UNKNOWN;
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        if (strcmp(o, outcomes[i].name) == 0)
            pr->outcome = outcomes[i].o;
    snprintf(pr->user_id, sizeof(pr->user_id), "%s", PQgetvalue(res, 0, 1));
    snprintf(pr->provider, sizeof(pr->provider), "%s", PQgetvalue(res, 0, 2));
    snprintf(pr->error, sizeof(pr->error), "%s", PQgetvalue(res, 0, 3));
    snprintf(pr->email, sizeof(pr->email), "%s", PQgetvalue(res, 0, 4));
    snprintf(pr->name, sizeof(pr->name), "%s", PQgetvalue(res, 0, 5));
    PQclear(res);
    if (pr->outcome == O_COMPLETE) {
        struct kept *k = malloc(sizeof(*k));

        if (k) {
            struct hs_audit_step s = {
                .action = "api_token.issued", .outcome = "ok",
                .reason = kind, .user_id = k->pr.user_id,
                .provider = k->pr.provider, .token = k->pr.api_token};

            k->pr = *pr;
            k->fn = fn;
            hs_wipe(pr, sizeof(*pr));
            *answered = 1;
            *ret = ingress_txn_answer(in, conn, r, pg, &s, kept_answer, k,
                                      kept_free);
            return HS_OK;
        }
        hs_pg_rollback(pg);
        rc = HS_ERR_NOMEM;
    } else {
        rc = ingress_txn_finish(in, conn, pg, NULL);
    }
    hs_pg_pool_put(in->pool, pg);
    hs_wipe(pr->api_token, sizeof(pr->api_token));
    return rc;
}

/* Reads the poll and answers, parking the request while the result is
 * pending and the client asked to wait (ingress_wait.h protocol). */
static enum MHD_Result poll_route(const struct ingress *in,
                                  struct MHD_Connection *conn,
                                  struct ingress_req *r, const char *key,
                                  const char *kind, int wait_s, answer_fn fn)
{
    struct poll_result pr;
    enum MHD_Result ret;

    if (r->waiter.woke == INGRESS_WOKE_HANGUP) {
        hs_log(HS_LOG_INFO, "poll.client_left",
               HS_KV_STR("request_id", r->request_id));
        return MHD_NO; /* the slot is free already; close the connection */
    }
    if (wait_s > 0 && r->wait_until_ms == 0)
        r->wait_until_ms = hs_now_ms() + wait_s * 1000LL;
    for (;;) {
        int armed = 0, answered;
        enum hs_err rc;

        if (wait_s > 0 && r->waiter.woke != INGRESS_WOKE_DEADLINE &&
            r->waiter.woke != INGRESS_WOKE_SHUTDOWN &&
            hs_now_ms() < r->wait_until_ms)
            armed = ingress_wait_arm(in->waits, &r->waiter, key, conn,
                                     r->wait_until_ms) == HS_OK;
        rc = take(in, conn, r, key, kind, wait_s > 0, fn, &pr, &answered,
                  &ret);
        if (answered || rc != HS_OK || pr.outcome != O_PENDING || !armed) {
            if (armed)
                ingress_wait_disarm(in->waits, &r->waiter);
            if (answered)
                return ret;
            if (rc != HS_OK)
                return ingress_respond_failed(conn, r, rc);
            ret = fn(conn, r, &pr);
            hs_wipe(&pr, sizeof(pr));
            return ret;
        }
        if (ingress_wait_suspend(in->waits, &r->waiter))
            return MHD_YES; /* parked: called again once resumed */
    }
}

static json_t *status_error(const char *status, const char *error,
                            const char *message)
{
    return json_pack("{s:s,s:s,s:s}", "status", status, "error", error,
                     "message", message);
}

static enum MHD_Result too_fast(struct MHD_Connection *conn,
                                struct ingress_req *r)
{
    return ingress_respond_json_header(
        conn, r, MHD_HTTP_TOO_MANY_REQUESTS,
        status_error("pending", "slow_down",
                     "Poll at most once a second, or wait with ?wait=30."),
        "Retry-After", "1");
}

static enum MHD_Result pending(struct MHD_Connection *conn,
                               struct ingress_req *r)
{
    return ingress_respond_json(conn, r, MHD_HTTP_ACCEPTED,
                                json_pack("{s:s}", "status", "pending"));
}

/* ---- POST /no-auth/check-signup ---------------------------------------- */

static enum MHD_Result signup_answer(struct MHD_Connection *conn,
                                     struct ingress_req *r,
                                     const struct poll_result *pr)
{
    switch (pr->outcome) {
    case O_PENDING:
    case O_UNKNOWN: /* not reachable: a signup poll starts its row */
        return pending(conn, r);
    case O_TOO_FAST:
        return too_fast(conn, r);
    case O_COMPLETE:
        hs_log(HS_LOG_INFO, "poll.released", HS_KV_STR("kind", "signup"),
               HS_KV_STR("user_id", pr->user_id),
               HS_KV_STR("request_id", r->request_id));
        return ingress_respond_json(
            conn, r, MHD_HTTP_OK,
            json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:s}", "status",
                      "complete", "user", "id", pr->user_id, "email",
                      pr->email, "name", pr->name, "access_token",
                      pr->api_token, "token_type", "Bearer", "provider",
                      pr->provider));
    case O_FAILED:
        return ingress_respond_json(
            conn, r, MHD_HTTP_OK,
            json_pack("{s:s,s:s,s:s}", "status", "failed", "error",
                      pr->error[0] ? pr->error : "server_error", "message",
                      strcmp(pr->error, "access_denied") == 0
                          ? "The sign-in was denied at the provider."
                          : "The sign-in failed; start again."));
    case O_CONSUMED:
        return ingress_respond_json(
            conn, r, MHD_HTTP_GONE,
            status_error("consumed", "consumed",
                         "This sign-up was already completed and its token "
                         "handed out."));
    case O_EXPIRED:
        break;
    }
    return ingress_respond_json(
        conn, r, MHD_HTTP_GONE,
        status_error("expired", "expired",
                     "This sign-up expired; start again."));
}

enum MHD_Result ingress_poll_check_signup(const struct ingress *in,
                                          struct MHD_Connection *conn,
                                          struct ingress_req *r)
{
    enum MHD_Result ret = MHD_NO;
    json_t *body = ingress_body_object(conn, r, 0, &ret);
    const char *token;
    char key[44];
    int wait_s = wait_param(r);

    if (!body)
        return ret;
    token = json_string_value(json_object_get(body, "token"));
    if (!token || !secret_ok(token) || wait_s < 0) {
        json_decref(body);
        return ingress_respond_error(
            conn, r, MHD_HTTP_BAD_REQUEST, "invalid_request",
            wait_s < 0 ? "wait must be a whole number of seconds, 0 to 30."
                       : "token must be the signup token: 22 to 128 "
                         "base64url characters.");
    }
    hs_sha256_b64url(token, strlen(token), key);
    json_decref(body);
    return poll_route(in, conn, r, key, "signup", wait_s, signup_answer);
}

/* ---- /addons/sessions -------------------------------------------------- */

static enum MHD_Result session_answer(struct MHD_Connection *conn,
                                      struct ingress_req *r,
                                      const struct poll_result *pr)
{
    switch (pr->outcome) {
    case O_PENDING:
        return pending(conn, r);
    case O_TOO_FAST:
        return too_fast(conn, r);
    case O_COMPLETE:
        hs_log(HS_LOG_INFO, "poll.released", HS_KV_STR("kind", "session"),
               HS_KV_STR("user_id", pr->user_id),
               HS_KV_STR("request_id", r->request_id));
        return ingress_respond_json(
            conn, r, MHD_HTTP_OK,
            json_pack("{s:s,s:s,s:I}", "access_token", pr->api_token,
                      "token_type", "Bearer", "expires_in",
                      (json_int_t)INGRESS_SESSION_TOKEN_TTL_S));
    case O_FAILED:
        return ingress_respond_json(
            conn, r, MHD_HTTP_FORBIDDEN,
            status_error("failed",
                         pr->error[0] ? pr->error : "server_error",
                         strcmp(pr->error, "access_denied") == 0
                             ? "The sign-in was denied at the provider."
                             : "The sign-in failed; start a new session."));
    case O_UNKNOWN:
        return ingress_respond_json(
            conn, r, MHD_HTTP_NOT_FOUND,
            status_error("unknown", "not_found", "There is no such session."));
    case O_CONSUMED:
        return ingress_respond_json(
            conn, r, MHD_HTTP_GONE,
            status_error("consumed", "consumed",
                         "This session's token was already handed out."));
    case O_EXPIRED:
        break;
    }
    return ingress_respond_json(
        conn, r, MHD_HTTP_GONE,
        status_error("expired", "expired",
                     "This session expired; start a new one."));
}

enum MHD_Result ingress_poll_session_get(const struct ingress *in,
                                         struct MHD_Connection *conn,
                                         struct ingress_req *r,
                                         const char *session_id)
{
    char key[44];
    int wait_s = wait_param(r);

    if (wait_s < 0)
        return ingress_respond_error(
            conn, r, MHD_HTTP_BAD_REQUEST, "invalid_request",
            "wait must be a whole number of seconds, 0 to 30.");
    if (!secret_ok(session_id))
        return session_answer(conn, r,
                              &(struct poll_result){.outcome = O_UNKNOWN});
    hs_sha256_b64url(session_id, strlen(session_id), key);
    return poll_route(in, conn, r, key, "session", wait_s, session_answer);
}

enum MHD_Result ingress_poll_session_new(const struct ingress *in,
                                         struct MHD_Connection *conn,
                                         struct ingress_req *r)
{
    char sid[44], transit[44], key[44], thash[44], user_code[10];
    char url[400], ttl[16], tttl[16];
    const char *p[5] = {key, user_code, thash, ttl, tttl};
    enum hs_err rc;
    enum MHD_Result ret;
    int n;

    if (!in->cfg->signin_provider[0])
        return ingress_respond_error(
            conn, r, MHD_HTTP_SERVICE_UNAVAILABLE, "signin_unavailable",
            "This server has no sign-in provider (HS_SIGNIN_PROVIDER).");
    if (hs_random_token(32, sid, sizeof(sid)) != HS_OK ||
        hs_random_token(32, transit, sizeof(transit)) != HS_OK)
        return MHD_NO;
    hs_sha256_b64url(sid, strlen(sid), key);
    hs_sha256_b64url(transit, strlen(transit), thash);
    hs_user_code(transit, user_code);
    snprintf(ttl, sizeof(ttl), "%d", INGRESS_POLL_TTL_S);
    snprintf(tttl, sizeof(tttl), "%d", INGRESS_TRANSIT_TTL_S);
    n = snprintf(url, sizeof(url), "%s/addons/transit/?token=%s",
                 in->cfg->public_url, transit);
    if (n < 0 || (size_t)n >= sizeof(url))
        return MHD_NO;
    rc = ingress_pg_query(in,
                          "INSERT INTO polls (key_hash, kind, user_code, "
                          "transit_hash, transit_expires_at, expires_at) "
                          "VALUES ($1, 'session', $2, $3, now() + "
                          "make_interval(secs => $5::int), now() + "
                          "make_interval(secs => $4::int))",
                          5, p, NULL);
    if (rc != HS_OK) {
        hs_wipe(sid, sizeof(sid));
        hs_wipe(transit, sizeof(transit));
        return ingress_respond_unavailable(conn, r);
    }
    {
        /* Held: no session id is handed out unrecorded (the row, never
         * named to anyone, expires unused). */
        struct hs_audit_step s = {.action = "session.created",
                                  .outcome = "ok"};

        rc = ingress_audit_hold(in, conn, &s);
    }
    if (rc != HS_OK) {
        hs_wipe(sid, sizeof(sid));
        hs_wipe(transit, sizeof(transit));
        return ingress_respond_failed(conn, r, rc);
    }
    hs_log(HS_LOG_INFO, "session.created", HS_KV_STR("request_id",
                                                      r->request_id));
    ret = ingress_respond_json(
        conn, r, MHD_HTTP_CREATED,
        json_pack("{s:s,s:s,s:s,s:i}", "session_id", sid, "transit_url", url,
                  "user_code", user_code, "expires_in", INGRESS_POLL_TTL_S));
    hs_wipe(sid, sizeof(sid));
    hs_wipe(transit, sizeof(transit));
    hs_wipe(url, sizeof(url));
    return ret;
}
