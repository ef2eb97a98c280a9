/*
 * ingress_http: libmicrohttpd glue for hs-ingress (see ingress_http.h).
 *
 * libmicrohttpd 0.9.75 closes keep-alive connections when a handler queues
 * its response on the first call for a request, so the first call only
 * allocates the request context; the response is queued on a later call,
 * once the whole body (if any) has arrived. The one exception is a body
 * announced larger than its cap: it is refused on the first call, so that
 * libmicrohttpd reads none of it and closes the connection after the 413
 * (which is what we want there).
 */
#include "ingress_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "hs_log.h"
#include "hs_metrics.h"
#include "hs_webhook.h"
#include "ingress_api.h"
#include "ingress_callback.h"
#include "ingress_connect.h"
#include "ingress_loopback.h"
#include "ingress_poll.h"
#include "ingress_signin.h"
#include "ingress_status.h"
#include "ingress_webhook.h"

/* The default policy; confirmation pages add their provider's origin to
 * form-action (add_page_headers). */
static const char csp[] =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

/* ---- responses -------------------------------------------------------- */

static void add_common(struct MHD_Response *resp, const struct ingress_req *r)
{
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    for (int i = 0; i < 2; i++)
        if (r->set_cookie[i])
            MHD_add_response_header(resp, "Set-Cookie", r->set_cookie[i]);
}

static void add_page_headers(struct MHD_Response *resp, const char *form_to)
{
    char policy[sizeof(csp) + 300];

    /* form-action 'self' plus, on a confirmation page, the provider's
     * origin: Chrome applies form-action to the 302 the form gets. */
    if (form_to && form_to[0] &&
        snprintf(policy, sizeof(policy),
                 "default-src 'none'; style-src 'unsafe-inline'; "
                 "form-action 'self' %s; frame-ancestors 'none'; base-uri "
                 "'none'",
                 form_to) < (int)sizeof(policy))
        MHD_add_response_header(resp, "Content-Security-Policy", policy);
    else
        MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

static enum MHD_Result queue(struct MHD_Connection *conn,
                             struct ingress_req *r, unsigned status,
                             struct MHD_Response *resp)
{
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES)
        r->answered = 1;
    return ret;
}

/* A response owning text (malloc'd), freed by libmicrohttpd. */
static struct MHD_Response *from_text(char *text)
{
    struct MHD_Response *resp;

    if (!text)
        return NULL;
    resp = MHD_create_response_from_buffer(strlen(text), text,
                                           MHD_RESPMEM_MUST_FREE);
    if (!resp)
        free(text);
    return resp;
}

/* Adds the request's client IP (into ip) and User-Agent to s. */
static void audit_client(struct MHD_Connection *conn, struct hs_audit_step *s,
                         char ip[INET6_ADDRSTRLEN])
{
    const union MHD_ConnectionInfo *ci;

    ip[0] = '\0';
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;

        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
                      ip, INET6_ADDRSTRLEN);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6,
                      &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
                      INET6_ADDRSTRLEN);
    }
    s->client_ip = ip;
    s->user_agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                "User-Agent");
}

/* Records s with the request's client IP and User-Agent. */
static enum hs_err audit(const struct ingress *in, struct MHD_Connection *conn,
                         struct hs_audit_step *s, int held)
{
    char ip[INET6_ADDRSTRLEN];

    if (!in->audit)
        return HS_OK;
    audit_client(conn, s, ip);
    /* Failures are logged by hs_audit_emit/hold, the event kept. */
    return held ? hs_audit_hold(in->audit, s) : hs_audit_emit(in->audit, s);
}

void ingress_audit_hold_then(const struct ingress *in,
                             struct MHD_Connection *conn,
                             struct hs_audit_step *s, hs_kafka_done_fn done,
                             void *arg)
{
    char ip[INET6_ADDRSTRLEN];

    if (!in->audit) {
        done(arg, HS_OK);
        return;
    }
    audit_client(conn, s, ip);
    hs_audit_hold_then(in->audit, s, done, arg);
}

void ingress_audit(const struct ingress *in, struct MHD_Connection *conn,
                   struct hs_audit_step *s)
{
    (void)audit(in, conn, s, 0);
}

enum hs_err ingress_audit_hold(const struct ingress *in,
                               struct MHD_Connection *conn,
                               struct hs_audit_step *s)
{
    return audit(in, conn, s, 1);
}

enum hs_err ingress_txn_finish(const struct ingress *in,
                               struct MHD_Connection *conn, struct hs_pg *pg,
                               struct hs_audit_step *s)
{
    enum hs_err rc = s ? ingress_audit_hold(in, conn, s) : HS_OK;

    if (rc == HS_OK)
        return hs_pg_commit(pg) == HS_OK ? HS_OK : HS_ERR_TRANSIENT;
    hs_pg_rollback(pg);
    return rc;
}

struct ingress_later {
    const struct ingress *in;
    struct MHD_Connection *conn;
    struct hs_pg *pg;
    enum hs_err rc; /* the record's report */
    ingress_later_fn answer;
    void *ctx;
    void (*free_ctx)(void *);
};

static atomic_long suspended;  /* waiting for a report, not resumed */
static atomic_long later_held; /* pool connections kept by suspended
                                  transactions (resumed or not) */

void ingress_suspended_add(long delta)
{
    atomic_fetch_add(&suspended, delta);
}

static void later_reported(void *arg, enum hs_err rc)
{
    struct ingress_later *l = arg;

    l->rc = rc;
    ingress_suspended_add(-1);
    MHD_resume_connection(l->conn); /* the handler may run at once */
}

static void held_count(const char *wait)
{
    char labels[32];

    hs_metrics_add("hs_held_transactions_total",
                   hs_metrics_labels(labels, sizeof(labels), "wait", wait,
                                     NULL, NULL),
                   1);
}

/* The suspended way of ingress_txn_answer; HS_ERR_TOOBIG past the bound,
 * HS_ERR_NOMEM: nothing was done. */
static enum hs_err txn_suspend(const struct ingress *in,
                               struct MHD_Connection *conn,
                               struct ingress_req *r, struct hs_pg *pg,
                               struct hs_audit_step *s,
                               ingress_later_fn answer, void *ctx,
                               void (*free_ctx)(void *))
{
    struct ingress_later *l;

    /* A thread waiting for a pool connection cannot resume the requests
     * it serves, so suspended transactions never keep more than the
     * connections beyond one per thread: the waiting one always gets
     * one from a thread that is not waiting. */
    if (atomic_fetch_add(&later_held, 1) >=
        (long)in->cfg->threads * (INGRESS_POOL_PER_THREAD - 1)) {
        atomic_fetch_sub(&later_held, 1);
        return HS_ERR_TOOBIG;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        atomic_fetch_sub(&later_held, 1);
        return HS_ERR_NOMEM;
    }
    *l = (struct ingress_later){in, conn, pg, HS_OK, answer, ctx, free_ctx};
    r->later = l;
    ingress_suspended_add(1);
    MHD_suspend_connection(conn);
    ingress_audit_hold_then(in, conn, s, later_reported, l);
    return HS_OK;
}

enum MHD_Result ingress_txn_answer(const struct ingress *in,
                                   struct MHD_Connection *conn,
                                   struct ingress_req *r, struct hs_pg *pg,
                                   struct hs_audit_step *s,
                                   ingress_later_fn answer, void *ctx,
                                   void (*free_ctx)(void *))
{
    enum hs_err rc;
    enum MHD_Result ret;

    if (txn_suspend(in, conn, r, pg, s, answer, ctx, free_ctx) == HS_OK) {
        held_count("suspended");
        return MHD_YES; /* answered by later_answer once resumed */
    }
    held_count("inline");
    rc = ingress_txn_finish(in, conn, pg, s);
    hs_pg_pool_put(in->pool, pg);
    ret = answer(in, conn, r, rc, ctx);
    if (free_ctx)
        free_ctx(ctx);
    return ret;
}

/* The resumed call of a request suspended by ingress_txn_answer. */
static enum MHD_Result later_answer(struct MHD_Connection *conn,
                                    struct ingress_req *r)
{
    struct ingress_later *l = r->later;
    enum hs_err rc = l->rc;
    enum MHD_Result ret;

    r->later = NULL;
    if (rc == HS_OK)
        rc = hs_pg_commit(l->pg) == HS_OK ? HS_OK : HS_ERR_TRANSIENT;
    else
        hs_pg_rollback(l->pg);
    hs_pg_pool_put(l->in->pool, l->pg);
    atomic_fetch_sub(&later_held, 1);
    ret = l->answer(l->in, conn, r, rc, l->ctx);
    if (l->free_ctx)
        l->free_ctx(l->ctx);
    free(l);
    return ret;
}

/* The request ended between the resume and its handler: undone. */
static void later_drop(struct ingress_later *l)
{
    if (!l)
        return;
    hs_pg_rollback(l->pg);
    hs_pg_pool_put(l->in->pool, l->pg);
    atomic_fetch_sub(&later_held, 1);
    if (l->free_ctx)
        l->free_ctx(l->ctx);
    free(l);
}

enum hs_err ingress_req_set_cookie(struct ingress_req *r, const char *value)
{
    /* Allocated only when set: a parked long poll stays small. */
    for (int i = 0; i < 2; i++) {
        if (!r->set_cookie[i]) {
            if (strlen(value) >= INGRESS_COOKIE_MAX)
                return HS_ERR_TOOBIG;
            r->set_cookie[i] = strdup(value);
            return r->set_cookie[i] ? HS_OK : HS_ERR_NOMEM;
        }
    }
    return HS_ERR_TOOBIG;
}

static enum MHD_Result respond_json(struct MHD_Connection *conn,
                                    struct ingress_req *r, unsigned status,
                                    json_t *body, const char *hname,
                                    const char *hvalue)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct MHD_Response *resp = from_text(text);

    json_decref(body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (hname)
        MHD_add_response_header(resp, hname, hvalue);
    add_common(resp, r);
    return queue(conn, r, status, resp);
}

enum MHD_Result ingress_respond_json(struct MHD_Connection *conn,
                                     struct ingress_req *r, unsigned status,
                                     json_t *body)
{
    return respond_json(conn, r, status, body, NULL, NULL);
}

enum MHD_Result ingress_respond_metrics(struct MHD_Connection *conn,
                                        struct ingress_req *r, char *text)
{
    struct MHD_Response *resp = from_text(text);

    if (!resp)
        return MHD_NO;
    add_common(resp, r);
    MHD_add_response_header(resp, "Content-Type",
                            "text/plain; version=0.0.4; charset=utf-8");
    return queue(conn, r, MHD_HTTP_OK, resp);
}

enum MHD_Result ingress_respond_empty(struct MHD_Connection *conn,
                                      struct ingress_req *r, unsigned status)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

    if (!resp)
        return MHD_NO;
    add_common(resp, r);
    return queue(conn, r, status, resp);
}

enum MHD_Result ingress_respond_json_header(struct MHD_Connection *conn,
                                            struct ingress_req *r,
                                            unsigned status, json_t *body,
                                            const char *name,
                                            const char *value)
{
    return respond_json(conn, r, status, body, name, value);
}

enum MHD_Result ingress_respond_error(struct MHD_Connection *conn,
                                      struct ingress_req *r, unsigned status,
                                      const char *code, const char *message)
{
    json_t *o = json_pack("{s:s,s:s}", "error", code, "message", message);

    return respond_json(conn, r, status, o,
                        status == MHD_HTTP_UNAUTHORIZED ? "WWW-Authenticate"
                                                        : NULL,
                        "Bearer");
}

enum MHD_Result ingress_respond_page(struct MHD_Connection *conn,
                                     struct ingress_req *r,
                                     const struct ingress_page *pg)
{
    struct MHD_Response *resp = from_text(ingress_page_render(pg));

    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    add_common(resp, r);
    add_page_headers(resp, pg->form_to);
    return queue(conn, r, pg->status, resp);
}

enum MHD_Result ingress_respond_text(struct MHD_Connection *conn,
                                     struct ingress_req *r, unsigned status,
                                     const char *title, const char *text)
{
    struct ingress_page pg;

    (void)ingress_page_plain(&pg, status, title, text);
    return ingress_respond_page(conn, r, &pg);
}

enum MHD_Result ingress_respond_redirect(struct MHD_Connection *conn,
                                         struct ingress_req *r,
                                         const char *location)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Location", location);
    add_common(resp, r);
    add_page_headers(resp, NULL);
    return queue(conn, r, MHD_HTTP_FOUND, resp);
}

/* ---- request helpers ---------------------------------------------------- */

/* The JSON body as an object, or NULL with a 400 queued in *ret. An empty
 * body is an empty object when empty_ok. */
json_t *ingress_body_object(struct MHD_Connection *conn,
                            struct ingress_req *r, int empty_ok,
                            enum MHD_Result *ret)
{
    json_t *o = NULL;

    if (r->body_len == 0 && empty_ok)
        return json_object();
    if (r->body)
        o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        *ret = ingress_respond_error(conn, r, MHD_HTTP_BAD_REQUEST,
                                     "invalid_json",
                                     "The body must be a JSON object.");
        return NULL;
    }
    return o;
}


const char *ingress_req_cookies(struct MHD_Connection *conn)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_COOKIE);
}

enum hs_err ingress_pg_query(const struct ingress *in, const char *sql, int n,
                             const char *const *params, PGresult **out)
{
    struct hs_pg *pg;
    enum hs_err rc;

    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK)
        return HS_ERR_TRANSIENT;
    rc = hs_pg_query(pg, sql, n, params, out);
    hs_pg_pool_put(in->pool, pg);
    return rc == HS_OK ? HS_OK : HS_ERR_TRANSIENT;
}

enum MHD_Result ingress_respond_unavailable(struct MHD_Connection *conn,
                                            struct ingress_req *r)
{
    return ingress_respond_error(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "unavailable",
                                 "The database is unavailable; try again.");
}

enum MHD_Result ingress_respond_failed(struct MHD_Connection *conn,
                                       struct ingress_req *r, enum hs_err rc)
{
    if (rc != HS_ERR_UNRECORDED)
        return ingress_respond_unavailable(conn, r);
    return ingress_respond_error(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "audit_unavailable",
                                 "The audit trail cannot be written just "
                                 "now, so nothing was done; try again.");
}

enum hs_err ingress_bearer_user(const struct ingress *in,
                                struct MHD_Connection *conn, char *user_id,
                                size_t cap)
{
    const char *auth = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char hash[44];
    const char *params[1] = {hash};
    PGresult *res = NULL;
    enum hs_err rc;
    size_t len;

    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return HS_ERR_DENIED;
    auth += 7;
    len = strlen(auth);
    if (len == 0 || len > 512)
        return HS_ERR_DENIED;
    hs_sha256_b64url(auth, len, hash);
    rc = ingress_pg_query(in,
                          "SELECT user_id FROM api_tokens WHERE token_hash = "
                          "$1 AND revoked_at IS NULL AND (expires_at IS NULL "
                          "OR expires_at > now())",
                          1, params, &res);
    if (rc != HS_OK)
        return rc;
    if (PQntuples(res) != 1 || strlen(PQgetvalue(res, 0, 0)) >= cap) {
        PQclear(res);
        return HS_ERR_DENIED;
    }
    memcpy(user_id, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)) + 1);
    PQclear(res);
    return HS_OK;
}

/* ---- routing ------------------------------------------------------------ */

#define INTEGRATION_PREFIX "/integration/"

enum hs_err ingress_redirect_uri(const struct ingress *in, const char *route,
                                 const char *provider, char *out, size_t cap)
{
    const struct hs_provider *prov = hs_catalog_find(in->cat, provider);
    /* A shared app that accepts one callback URL (ingress_callback routes
     * each answer on to the environment that started it). */
    const char *base = prov && prov->use_auth_origin && in->cfg->auth_origin[0]
                           ? in->cfg->auth_origin
                           : in->cfg->public_url;
    int n = strncmp(route, INTEGRATION_PREFIX,
                    strlen(INTEGRATION_PREFIX)) == 0
                ? snprintf(out, cap, "%s" INTEGRATION_PREFIX "%s/callback",
                           base, provider)
                : snprintf(out, cap, "%s/no-auth/provider-token/%s", base,
                           provider);

    return n < 0 || (size_t)n >= cap ? HS_ERR_TOOBIG : HS_OK;
}

enum route_id {
    R_PROVIDER_AUTH,
    R_CALLBACK,
    R_HANDSHAKE,
    R_LOOPBACK_TOKEN,
    R_AUTH_CODE,
    R_AGENTS,
    R_ME,
    R_PROVIDER_TOKEN,
    R_PROVIDER,
    R_API_TOKEN,
    R_WEBHOOK,
    R_CHECK_SIGNUP,
    R_SESSIONS,
    R_SESSION,
    R_TRANSIT,
    R_HEALTHZ,
    R_READYZ,
    R_METRICS
};

/* Methods a route takes. HEAD only where a GET has no effect (the
 * provider-auth GET may consume a code, the callback produces). */
#define M_GET 1u
#define M_POST 2u
#define M_HEAD 4u
#define M_DELETE 8u

struct route {
    enum route_id id;
    const char *prefix, *suffix; /* suffix NULL: exact path */
    const char *tmpl;            /* for the access log */
    unsigned methods;
    const char *allow;           /* Allow header of a 405 */
};

static const struct route routes[] = {
    {R_PROVIDER_AUTH, "/web/provider-auth/", "", "/web/provider-auth/{p}",
     M_GET | M_POST, "GET, POST"},
    {R_PROVIDER_AUTH, INTEGRATION_PREFIX, "/login", "/integration/{p}/login",
     M_GET | M_POST, "GET, POST"},
    {R_CALLBACK, "/no-auth/provider-token/", "", "/no-auth/provider-token/{p}",
     M_GET, "GET"},
    {R_CALLBACK, INTEGRATION_PREFIX, "/callback", "/integration/{p}/callback",
     M_GET, "GET"},
    {R_HANDSHAKE, "/web/handshake/", "", "/web/handshake/{id}",
     M_GET | M_HEAD | M_POST, "GET, HEAD, POST"},
    {R_LOOPBACK_TOKEN, "/no-auth/loopback-token", NULL,
     "/no-auth/loopback-token", M_POST, "POST"},
    {R_AUTH_CODE, "/api/provider-auth-code", NULL, "/api/provider-auth-code",
     M_POST, "POST"},
    {R_AGENTS, "/api/agents", NULL, "/api/agents", M_POST, "POST"},
    {R_ME, "/api/me", NULL, "/api/me", M_GET | M_HEAD, "GET, HEAD"},
    {R_PROVIDER_TOKEN, "/api/providers/", "/token",
     "/api/providers/{p}/token", M_GET, "GET"},
    {R_PROVIDER, "/api/providers/", "", "/api/providers/{p}", M_DELETE,
     "DELETE"},
    {R_API_TOKEN, "/api/token", NULL, "/api/token", M_DELETE, "DELETE"},
    {R_WEBHOOK, INGRESS_WEBHOOK_PREFIX, "", "/no-auth/webhooks/{p}", M_POST,
     "POST"},
    {R_CHECK_SIGNUP, "/no-auth/check-signup", NULL, "/no-auth/check-signup",
     M_POST, "POST"},
    {R_SESSIONS, "/addons/sessions", NULL, "/addons/sessions", M_POST,
     "POST"},
    {R_SESSION, "/addons/sessions/", "", "/addons/sessions/{id}", M_GET,
     "GET"},
    {R_TRANSIT, "/addons/transit/", NULL, "/addons/transit/", M_GET | M_POST,
     "GET, POST"},
    {R_TRANSIT, "/addons/transit", NULL, "/addons/transit/", M_GET | M_POST,
     "GET, POST"},
    {R_HEALTHZ, "/healthz", NULL, "/healthz", M_GET | M_HEAD, "GET, HEAD"},
    {R_READYZ, "/readyz", NULL, "/readyz", M_GET | M_HEAD, "GET, HEAD"},
    {R_METRICS, "/metrics", NULL, "/metrics", M_GET | M_HEAD, "GET, HEAD"},
};

/* Matches url to a route; the variable segment (between prefix and
 * suffix, no '/') goes to seg. 1 when matched. */
static int route_match(const struct route *rt, const char *url, char *seg,
                       size_t cap)
{
    size_t pl = strlen(rt->prefix), sl, n;
    const char *start;

    if (strncmp(url, rt->prefix, pl) != 0)
        return 0;
    if (!rt->suffix)
        return url[pl] == '\0';
    start = url + pl;
    n = strlen(start);
    sl = strlen(rt->suffix);
    if (n <= sl || strcmp(start + n - sl, rt->suffix) != 0)
        return 0;
    n -= sl;
    if (memchr(start, '/', n) || n >= cap)
        return 0;
    memcpy(seg, start, n);
    seg[n] = '\0';
    return 1;
}

void ingress_http_print_routes(FILE *out)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char allow[32], *save = NULL;

        snprintf(allow, sizeof(allow), "%s", routes[i].allow);
        for (char *m = strtok_r(allow, ", ", &save); m;
             m = strtok_r(NULL, ", ", &save))
            fprintf(out, "%s %s\n", m, routes[i].tmpl);
    }
}

static unsigned method_bit(const char *method)
{
    if (strcmp(method, "GET") == 0)
        return M_GET;
    if (strcmp(method, "POST") == 0)
        return M_POST;
    if (strcmp(method, "HEAD") == 0)
        return M_HEAD;
    if (strcmp(method, "DELETE") == 0)
        return M_DELETE;
    return 0;
}

static enum MHD_Result not_found(struct MHD_Connection *conn,
                                 struct ingress_req *r, int json)
{
    if (json)
        return ingress_respond_error(conn, r, MHD_HTTP_NOT_FOUND, "not_found",
                                     "There is no such route.");
    return ingress_respond_text(conn, r, MHD_HTTP_NOT_FOUND, "Not found",
                                "There is no such page.");
}

static enum MHD_Result unknown_provider(struct MHD_Connection *conn,
                                        struct ingress_req *r)
{
    return ingress_respond_text(conn, r, MHD_HTTP_NOT_FOUND,
                                "Unknown provider",
                                "This service does not know that provider. "
                                "Start again from your editor.");
}

static enum MHD_Result wrong_method(struct MHD_Connection *conn,
                                    struct ingress_req *r,
                                    const struct route *rt)
{
    json_t *o = json_pack("{s:s,s:s}", "error", "method_not_allowed",
                          "message", "This route does not take that method.");

    return respond_json(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, o, "Allow",
                        rt->allow);
}

/* The route url matches (its variable segment in seg), or NULL. */
static const struct route *route_find(const char *url, char *seg, size_t cap)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (route_match(&routes[i], url, seg, cap))
            return &routes[i];
    return NULL;
}

/* 413, as a page on the routes a browser sees (JSON elsewhere, and for an
 * unknown route as not_found decides). */
static enum MHD_Result too_large(struct MHD_Connection *conn,
                                 struct ingress_req *r,
                                 const struct route *rt, const char *url)
{
    int page = rt ? rt->id == R_PROVIDER_AUTH || rt->id == R_CALLBACK ||
                        rt->id == R_HANDSHAKE || rt->id == R_TRANSIT
                  : strncmp(url, "/api/", 5) != 0;

    if (page)
        return ingress_respond_text(conn, r, MHD_HTTP_CONTENT_TOO_LARGE,
                                    "Request too large",
                                    "The form sent was too large. Start "
                                    "again from your editor.");
    return ingress_respond_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE,
                                 "too_large",
                                 "The request body is too large.");
}

static enum MHD_Result dispatch(const struct ingress *in,
                                struct MHD_Connection *conn,
                                struct ingress_req *r, const char *method,
                                const char *url)
{
    char seg[128], provider[32];
    const struct route *rt = route_find(url, seg, sizeof(seg));
    unsigned m = method_bit(method);

    if (!rt)
        return not_found(conn, r, strncmp(url, "/api/", 5) == 0);
    r->route = rt->tmpl;
    if (!(rt->methods & m))
        return wrong_method(conn, r, rt);
    if (r->body_too_big)
        return too_large(conn, r, rt, url);
    switch (rt->id) {
    case R_PROVIDER_AUTH:
    case R_CALLBACK:
        if (ingress_provider_parse(seg, strlen(seg), provider,
                                   sizeof(provider)) != HS_OK ||
            !hs_catalog_find(in->cat, provider))
            return unknown_provider(conn, r);
        if (rt->id == R_CALLBACK)
            return ingress_callback(in, conn, r, provider);
        return ingress_connect_start(in, conn, r, provider, m == M_POST);
    case R_HANDSHAKE:
        return ingress_status_page(in, conn, r, seg, m == M_POST);
    case R_LOOPBACK_TOKEN:
        return ingress_loopback_redeem(in, conn, r);
    case R_AUTH_CODE:
        return ingress_api_auth_code(in, conn, r);
    case R_AGENTS:
        return ingress_api_agents(in, conn, r);
    case R_ME:
        return ingress_api_me(in, conn, r);
    case R_PROVIDER_TOKEN:
    case R_PROVIDER:
        if (ingress_provider_parse(seg, strlen(seg), provider,
                                   sizeof(provider)) != HS_OK)
            return ingress_respond_error(conn, r, MHD_HTTP_NOT_FOUND,
                                         "not_connected",
                                         "No such provider.");
        if (rt->id == R_PROVIDER)
            return ingress_api_disconnect(in, conn, r, provider);
        return ingress_api_provider_token(in, conn, r, provider);
    case R_API_TOKEN:
        return ingress_api_token_revoke(in, conn, r);
    case R_WEBHOOK:
        if (ingress_provider_parse(seg, strlen(seg), provider,
                                   sizeof(provider)) != HS_OK)
            return ingress_respond_error(conn, r, MHD_HTTP_NOT_FOUND,
                                         "unknown_webhook",
                                         "No such provider.");
        return ingress_webhook(in, conn, r, provider);
    case R_CHECK_SIGNUP:
        return ingress_poll_check_signup(in, conn, r);
    case R_SESSIONS:
        return ingress_poll_session_new(in, conn, r);
    case R_SESSION:
        return ingress_poll_session_get(in, conn, r, seg);
    case R_TRANSIT:
        return ingress_signin_transit(in, conn, r, m == M_POST);
    case R_HEALTHZ:
        return ingress_healthz(in, conn, r);
    case R_READYZ:
        return ingress_readyz(in, conn, r);
    case R_METRICS:
        hs_metrics_set("hs_longpolls_open", "",
                       (double)ingress_waits_count(in->waits));
        return ingress_respond_metrics(conn, r, hs_metrics_render());
    }
    return not_found(conn, r, 1);
}

/* ---- request lifecycle -------------------------------------------------- */

static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *filename,
                                  const char *content_type,
                                  const char *transfer_encoding,
                                  const char *data, uint64_t off, size_t size)
{
    struct ingress_req *r = cls;

    (void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
    if (strcmp(key, "csrf") != 0)
        return MHD_YES;
    /* A second csrf field starts again at offset 0 after data was seen. */
    if (off == 0 && r->csrf[0])
        r->csrf_bad = 1;
    if (off + size >= sizeof(r->csrf)) {
        r->csrf_bad = 1;
        return MHD_YES;
    }
    memcpy(r->csrf + off, data, size);
    r->csrf[off + size] = '\0';
    return MHD_YES;
}

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind,
                                     const char *key, size_t key_size,
                                     const char *value, size_t value_size)
{
    struct ingress_req *r = cls;

    (void)kind, (void)key_size;
    if (r->nparams == INGRESS_PARAMS_MAX) {
        r->too_many_params = 1;
        return MHD_NO;
    }
    r->params[r->nparams].key = key;
    r->params[r->nparams].value = value;
    r->params[r->nparams].value_len = value ? value_size : 0;
    r->nparams++;
    return MHD_YES;
}

static struct ingress_req *req_new(struct MHD_Connection *conn,
                                   const char *url, const char *method)
{
    int webhook = strncmp(url, INGRESS_WEBHOOK_PREFIX,
                          strlen(INGRESS_WEBHOOK_PREFIX)) == 0;
    struct ingress_req *r = calloc(1, sizeof(*r));
    const char *ctype;

    if (!r)
        return NULL;
    r->start_ms = hs_now_ms();
    r->route = "unknown";
    snprintf(r->method, sizeof(r->method), "%s",
             method_bit(method) ? method : "OTHER");
    if (hs_random_token(12, r->request_id, sizeof(r->request_id)) != HS_OK) {
        free(r);
        return NULL;
    }
    ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_CONTENT_TYPE);
    /* A webhook's body is kept whole and raw: its signature covers it. */
    r->body_max = webhook ? HS_WEBHOOK_BODY_MAX : INGRESS_BODY_MAX;
    if (!webhook && strcmp(method, "POST") == 0 && ctype &&
        strncasecmp(ctype, MHD_HTTP_POST_ENCODING_FORM_URLENCODED,
                    strlen(MHD_HTTP_POST_ENCODING_FORM_URLENCODED)) == 0)
        r->pp = MHD_create_post_processor(conn, 1024, post_field, r);
    return r;
}

enum hs_err ingress_body_length_verify(const char *content_length,
                                       size_t max)
{
    const char *p = content_length;
    uint64_t n = 0;

    if (!p)
        return HS_OK;
    if (!*p)
        return HS_ERR_INVALID;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return HS_ERR_INVALID;
        /* Past max already: more digits cannot bring it back. */
        if (n <= max)
            n = n * 10 + (uint64_t)(*p - '0');
    }
    return n > max ? HS_ERR_TOOBIG : HS_OK;
}

enum ingress_body_verdict ingress_body_verify(size_t total, size_t max,
                                              int64_t elapsed_ms)
{
    if (elapsed_ms > INGRESS_BODY_TIME_MAX_MS ||
        (total > max && total - max > INGRESS_BODY_SLACK))
        return INGRESS_BODY_CLOSE;
    return total > max ? INGRESS_BODY_DROP : INGRESS_BODY_KEEP;
}

/* Takes one chunk of the body: form fields go through the post processor,
 * anything else is kept raw for the JSON routes and webhooks. Past
 * r->body_max the rest is dropped and the request answered 413 at its end
 * (libmicrohttpd 0.9.75 takes no response in the middle of a body); past
 * INGRESS_BODY_SLACK more, or INGRESS_BODY_TIME_MAX_MS after the headers,
 * -1: the connection is closed. -1 too when out of memory. */
static int req_body(struct ingress_req *r, const char *data, size_t n)
{
    char *nb;
    enum ingress_body_verdict v;

    r->upload_total = n > SIZE_MAX - r->upload_total ? SIZE_MAX
                                                     : r->upload_total + n;
    v = ingress_body_verify(r->upload_total, r->body_max,
                            hs_now_ms() - r->start_ms);
    if (v == INGRESS_BODY_CLOSE) {
        hs_log(HS_LOG_INFO, "http.body_cut",
               HS_KV_STR("request_id", r->request_id),
               HS_KV_STR("reason", r->upload_total > r->body_max
                                       ? "too_large" : "too_slow"));
        return -1;
    }
    if (r->body_too_big || v == INGRESS_BODY_DROP) {
        r->body_too_big = 1;
        return 0;
    }
    if (r->pp) {
        if (MHD_post_process(r->pp, data, n) != MHD_YES)
            r->csrf_bad = 1; /* malformed form: no CSRF token to trust */
        return 0;
    }
    nb = realloc(r->body, r->body_len + n + 1);
    if (!nb)
        return -1;
    r->body = nb;
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    const struct ingress *in = cls;
    struct ingress_req *r = *con_cls;
    enum MHD_Result ret;

    (void)version;
    if (!r) {
        r = req_new(conn, url, method);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        if (ingress_body_length_verify(
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                            MHD_HTTP_HEADER_CONTENT_LENGTH),
                r->body_max) == HS_ERR_TOOBIG) {
            char seg[128];
            const struct route *rt = route_find(url, seg, sizeof(seg));

            /* On the first call: none of the body is read, and the
             * connection is closed after the answer (see top). */
            if (rt)
                r->route = rt->tmpl;
            return too_large(conn, r, rt, url);
        }
        return MHD_YES; /* respond on a later call (keep-alive, see top) */
    }
    if (*upload_size) {
        if (req_body(r, upload, *upload_size) != 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    if (strlen(url) > 1024)
        return ingress_respond_error(conn, r, MHD_HTTP_URI_TOO_LONG,
                                     "uri_too_long", "The path is too long.");
    if (r->later)
        return later_answer(conn, r);
    r->nparams = 0; /* a resumed long poll comes here again */
    r->too_many_params = 0;
    r->params = calloc(INGRESS_PARAMS_MAX, sizeof(*r->params));
    if (!r->params)
        return MHD_NO;
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_param,
                                r);
    ret = dispatch(in, conn, r, method, url);
    free(r->params); /* pointers into libmicrohttpd's memory: no secrets */
    r->params = NULL;
    r->nparams = 0;
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct ingress_req *r = *con_cls;
    const union MHD_ConnectionInfo *ci;
    unsigned status = 0;

    (void)cls;
    if (!r)
        return;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
    if (ci)
        status = ci->http_status;
    /* The route template, never the URL: queries carry codes and states. */
    {
        char labels[160], code[8];

        snprintf(code, sizeof(code), "%u", status);
        hs_metrics_add("hs_http_requests_total",
                       hs_metrics_labels(labels, sizeof(labels), "route",
                                         r->route, "status", code),
                       1);
        hs_metrics_observe("hs_http_request_duration_seconds",
                           hs_metrics_labels(labels, sizeof(labels), "route",
                                             r->route, NULL, NULL),
                           (double)(hs_now_ms() - r->start_ms) / 1000.0);
    }
    hs_log(HS_LOG_INFO, "http.request", HS_KV_STR("method", r->method),
           HS_KV_STR("route", r->route), HS_KV_INT("status", status),
           HS_KV_INT("ms", hs_now_ms() - r->start_ms),
           HS_KV_STR("request_id", r->request_id),
           HS_KV_INT("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
    free(r->callback); /* only if never resumed into its handler */
    later_drop(r->later); /* the same */
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    if (r->body) {
        hs_wipe(r->body, r->body_len);
        free(r->body);
    }
    for (int i = 0; i < 2; i++) {
        if (r->set_cookie[i]) {
            hs_wipe(r->set_cookie[i], strlen(r->set_cookie[i]));
            free(r->set_cookie[i]);
        }
    }
    hs_wipe(r, sizeof(*r));
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[256];

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\r\n")] = '\0';
    hs_log(HS_LOG_WARN, "http.daemon", HS_KV_STR("message", buf));
}

/* Parses "ip:port" / "[ipv6]:port" / "localhost:port" into ss. */
static enum hs_err parse_listen(const char *listen,
                                struct sockaddr_storage *ss, int *v6,
                                char *err, size_t errlen)
{
    const char *colon = strrchr(listen, ':');
    char host[64], *end;
    size_t hl;
    long port;

    memset(ss, 0, sizeof(*ss));
    if (!colon || colon[1] == '\0') {
        snprintf(err, errlen, "HS_LISTEN: expected host:port");
        return HS_ERR_CONFIG;
    }
    port = strtol(colon + 1, &end, 10);
    hl = (size_t)(colon - listen);
    if (*end || port < 0 || port > 65535 || hl == 0 || hl >= sizeof(host)) {
        snprintf(err, errlen, "HS_LISTEN: expected host:port");
        return HS_ERR_CONFIG;
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)ss;

        host[hl - 1] = '\0';
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &sa6->sin6_addr) != 1) {
            snprintf(err, errlen, "HS_LISTEN: not an IPv6 address");
            return HS_ERR_CONFIG;
        }
        *v6 = 1;
    } else {
        struct sockaddr_in *sa4 = (struct sockaddr_in *)ss;

        sa4->sin_family = AF_INET;
        sa4->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof(host), "127.0.0.1");
        if (inet_pton(AF_INET, host, &sa4->sin_addr) != 1) {
            snprintf(err, errlen, "HS_LISTEN: host must be an IP address");
            return HS_ERR_CONFIG;
        }
        *v6 = 0;
    }
    return HS_OK;
}

enum hs_err ingress_http_start(struct ingress *in, uint16_t *port, char *err,
                               size_t errlen)
{
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *di;
    int v6 = 0;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    enum hs_err rc = parse_listen(in->cfg->listen, &ss, &v6, err, errlen);

    if (rc != HS_OK)
        return rc;
    hs_metrics_family("hs_http_requests_total", HS_COUNTER,
                      "HTTP requests answered, by route template and status");
    hs_metrics_family("hs_http_request_duration_seconds", HS_HISTOGRAM,
                      "Time from the request to its answer, by route "
                      "(a long poll's wait included)");
    hs_metrics_family("hs_longpolls_open", HS_GAUGE,
                      "Long polls parked now");
    hs_metrics_family("hs_callbacks_emitted_total", HS_COUNTER,
                      "callback.received events Kafka acknowledged, by "
                      "provider");
    hs_metrics_family("hs_held_transactions_total", HS_COUNTER,
                      "Transactions ended once their audit record was "
                      "acknowledged, by how the request waited: suspended "
                      "(the thread served others) or inline (the pool had "
                      "no connection to spare: the thread waited)");
    hs_metrics_family("hs_webhooks_total", HS_COUNTER,
                      "Webhooks, by provider and outcome (queued, or why "
                      "refused)");
    if (v6)
        flags |= MHD_USE_IPv6;
    in->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, in,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)in->cfg->threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)INGRESS_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)INGRESS_CONN_MEMORY,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)INGRESS_CONN_LIMIT,
        MHD_OPTION_END);
    if (!in->daemon) {
        snprintf(err, errlen, "HS_LISTEN: cannot listen on %s",
                 in->cfg->listen);
        return HS_ERR_CONFIG;
    }
    di = MHD_get_daemon_info(in->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : 0;
    return HS_OK;
}

void ingress_http_stop(struct ingress *in)
{
    if (!in->daemon)
        return;
    MHD_quiesce_daemon(in->daemon); /* closes the listening socket */
    ingress_waits_stop(in->waits);  /* long polls answer "pending" */
    {
        /* libmicrohttpd must not stop with suspended connections; each
         * one is resumed within the Kafka time-out. */
        int64_t until = hs_now_ms() + in->cfg->kafka_timeout_ms + 5000;

        while (atomic_load(&suspended) > 0 && hs_now_ms() < until) {
            struct timespec ts = {0, 10 * 1000000L};

            nanosleep(&ts, NULL);
        }
    }
    MHD_stop_daemon(in->daemon);    /* waits for the worker threads */
    in->daemon = NULL;
}
