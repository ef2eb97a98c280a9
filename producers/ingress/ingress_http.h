/*
 * ingress_http: libmicrohttpd glue of hs-ingress: the shared context, the
 * request context, routing, response helpers and the headers every
 * response carries.
 *
 * hs-ingress is thin: it holds no handshake state in memory. struct
 * ingress is built once by main() and read-only afterwards (its handles are
 * thread-safe). Each request has a struct ingress_req that lives from
 * libmicrohttpd's first call for the request to its completion callback,
 * where it is logged and freed (STYLE §4).
 *
 * Route handlers queue exactly one response with the ingress_respond_*
 * helpers and return their result.
 */
#ifndef INGRESS_HTTP_H
#define INGRESS_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hs_audit.h"
#include "hs_config.h"
#include "hs_crypto.h"
#include "hs_kafka.h"
#include "hs_pg.h"
#include "hs_provider.h"
#include "hs_requesters.h"
#include "ingress_pages.h"
#include "ingress_params.h"
#include "ingress_wait.h"

#define INGRESS_BODY_MAX (16 * 1024) /* larger request bodies: 413 */
#define INGRESS_POOL_WAIT_MS 2000    /* longest wait for a PG connection */
#define INGRESS_POOL_PER_THREAD 4    /* PG connections per HTTP thread: a
                                        request suspended until its audit
                                        record is acknowledged keeps its
                                        transaction (ingress_txn_answer)
                                        while the thread serves others */
/* libmicrohttpd's memory per connection (request line, headers, the read
 * buffer). Pools up to 32 KiB come from malloc and are packed, so a parked
 * long poll costs this much resident memory; a request whose line does not
 * fit is answered 414, one whose headers do not, 431, by libmicrohttpd. */
#define INGRESS_CONN_MEMORY (4 * 1024)
/* Hostile clients (README "Limits"). A connection silent this long is
 * closed (a suspended long poll is not counted: it is not waiting for the
 * client). */
#define INGRESS_CONN_TIMEOUT_S 30
#define INGRESS_CONN_LIMIT 20000 /* connections at once; more wait in the
                                    listen backlog */
/* A body whose length is not announced (chunked) is read and dropped this
 * far past its cap, so a client that stops soon still reads its 413; any
 * more and the connection is closed. */
#define INGRESS_BODY_SLACK (1024 * 1024)
/* A body still arriving this long after its request's headers: the
 * connection is closed (a trickle never trips the inactivity time-out). */
#define INGRESS_BODY_TIME_MAX_MS 30000
#define INGRESS_COOKIE_MAX 256       /* longest Set-Cookie value we send */

struct ingress {
    const struct hs_config *cfg;
    const struct hs_keyring *kr;
    const struct hs_catalog *cat;
    const struct hs_requesters *requesters; /* HS_REQUESTERS */
    struct hs_kafka_producer *producer;
    struct hs_pg_pool *pool;
    struct ingress_waits *waits; /* long polls */
    struct hs_auditor *audit;    /* hs.audit; NULL: none (unit tests) */
    int https; /* HS_PUBLIC_URL is https: __Host- cookies, Secure */
    struct MHD_Daemon *daemon;
};

struct callback_job;
struct ingress_later;

struct ingress_req {
    char request_id[24];
    char method[8];                 /* for the access log; "OTHER" */
    int64_t start_ms;
    int answered;                   /* a response was queued */
    const char *route;              /* route template for the access log */
    char *body;                     /* raw body (JSON routes), owned */
    size_t body_len;
    size_t upload_total;            /* bytes received, all kinds */
    size_t body_max;                /* more: 413 (INGRESS_BODY_MAX, or
                                       HS_WEBHOOK_BODY_MAX for webhooks) */
    int body_too_big;
    struct MHD_PostProcessor *pp;   /* form bodies */
    char csrf[64];                  /* the one form field we read */
    int csrf_bad;                   /* repeated or over-long csrf field */
    struct ingress_param *params;   /* INGRESS_PARAMS_MAX, allocated for
                                       each handler call only, so a parked
                                       long poll does not hold them */
    size_t nparams;
    int too_many_params;
    char *set_cookie[2];            /* extra Set-Cookie values, owned */
    struct callback_job *callback;  /* callback: suspended until its
                                       acknowledgements (ingress_callback) */
    struct ingress_later *later;    /* a transaction suspended until its
                                       record is acknowledged */
    int64_t wait_until_ms;          /* long poll: 0 until it starts */
    struct ingress_waiter waiter;   /* long poll: parked under its key */
};

/* Checks the Content-Length a request announces (the header's value, NULL
 * when there is none) against max, so an oversized body is refused from
 * its headers, before any of it is read. HS_OK when absent or at most
 * max; HS_ERR_TOOBIG when larger (any number of digits); HS_ERR_INVALID
 * when not a plain decimal number (libmicrohttpd answers those 400 itself
 * before the handler runs). */
enum hs_err ingress_body_length_verify(const char *content_length,
                                       size_t max) HS_MUST_CHECK;

/* What to do with a request body that has reached total bytes elapsed_ms
 * after its headers, for a cap of max bytes. */
enum ingress_body_verdict {
    INGRESS_BODY_KEEP,  /* within the cap: keep it */
    INGRESS_BODY_DROP,  /* past the cap: drop it, answer 413 at its end */
    INGRESS_BODY_CLOSE  /* past the cap by INGRESS_BODY_SLACK, or slower
                           than INGRESS_BODY_TIME_MAX_MS: close */
};
enum ingress_body_verdict ingress_body_verify(size_t total, size_t max,
                                              int64_t elapsed_ms);

/* Prints "METHOD /template" for every route served (hs-ingress
 * --routes; the OpenAPI test compares them). */
void ingress_http_print_routes(FILE *out);

/* Starts the daemon on cfg->listen (thread pool of cfg->threads). HS_OK
 * writes the bound port to *port; HS_ERR_CONFIG with err filled when the
 * address is malformed or taken. */
enum hs_err ingress_http_start(struct ingress *in, uint16_t *port, char *err,
                               size_t errlen) HS_MUST_CHECK;
/* Stops accepting (MHD_quiesce_daemon), lets in-flight requests finish,
 * stops the daemon. Safe when not started. */
void ingress_http_stop(struct ingress *in);

/* ---- responses (each queues exactly one response) ------------------ */
/* body is stolen (json_decref'd here, also on failure). */
enum MHD_Result ingress_respond_json(struct MHD_Connection *conn,
                                     struct ingress_req *r, unsigned status,
                                     json_t *body);
/* The same with one extra header (Retry-After, …). */
enum MHD_Result ingress_respond_json_header(struct MHD_Connection *conn,
                                            struct ingress_req *r,
                                            unsigned status, json_t *body,
                                            const char *name,
                                            const char *value);
/* 200 with text (malloc'd, taken) as Prometheus text exposition. */
enum MHD_Result ingress_respond_metrics(struct MHD_Connection *conn,
                                        struct ingress_req *r, char *text);
/* status (204, or 200 for a webhook) with no body. */
enum MHD_Result ingress_respond_empty(struct MHD_Connection *conn,
                                      struct ingress_req *r, unsigned status);
/* {"error":code,"message":message}; 401 adds WWW-Authenticate: Bearer. */
enum MHD_Result ingress_respond_error(struct MHD_Connection *conn,
                                      struct ingress_req *r, unsigned status,
                                      const char *code, const char *message);
enum MHD_Result ingress_respond_page(struct MHD_Connection *conn,
                                     struct ingress_req *r,
                                     const struct ingress_page *pg);
/* A page of one plain-text paragraph (escaped). */
enum MHD_Result ingress_respond_text(struct MHD_Connection *conn,
                                     struct ingress_req *r, unsigned status,
                                     const char *title, const char *text);
/* 302 to location (a path of ours or the provider's authorize URL). */
enum MHD_Result ingress_respond_redirect(struct MHD_Connection *conn,
                                         struct ingress_req *r,
                                         const char *location);

/* Adds a Set-Cookie to the response this request will send (at most two;
 * a value that does not fit is dropped and HS_ERR_TOOBIG returned). */
enum hs_err ingress_req_set_cookie(struct ingress_req *r, const char *value);

/* The JSON body as an object (duplicate keys refused), or NULL with a 400
 * queued in *ret. An empty body is an empty object when empty_ok. */
json_t *ingress_body_object(struct MHD_Connection *conn,
                            struct ingress_req *r, int empty_ok,
                            enum MHD_Result *ret);

/* The raw Cookie header of the request, or NULL. */
const char *ingress_req_cookies(struct MHD_Connection *conn);

/* One statement on a pooled connection (waiting at most
 * INGRESS_POOL_WAIT_MS for one). HS_OK with *out (caller PQclear()s);
 * HS_ERR_TRANSIENT for any failure: to the caller the database is
 * unavailable. Transactions take a connection of their own. */
enum hs_err ingress_pg_query(const struct ingress *in, const char *sql, int n,
                             const char *const *params,
                             PGresult **out) HS_MUST_CHECK;

/* The redirect_uri of provider for a request on route (its template):
 * the callback route that pairs with it, so a flow started at
 * /integration/{p}/login comes back to /integration/{p}/callback (Zebbra
 * naming) and every other one to /no-auth/provider-token/{p}, on
 * HS_AUTH_ORIGIN for a provider marked use_auth_origin, else on
 * HS_PUBLIC_URL. The token request repeats the callback's own, as RFC 6749
 * §4.1.3 requires. */
enum hs_err ingress_redirect_uri(const struct ingress *in, const char *route,
                                 const char *provider, char *out,
                                 size_t cap) HS_MUST_CHECK;

/* Records one step on hs.audit (hs_audit.h) with the request's client IP
 * and User-Agent; a no-op without an auditor. A failure is logged
 * (audit.write_failed), the event kept and sent later; the step stands. */
void ingress_audit(const struct ingress *in, struct MHD_Connection *conn,
                   struct hs_audit_step *s);

/* The same for a security-relevant step (hs_audit_hold), which is not
 * done unless recorded: HS_OK once acknowledged, HS_ERR_UNRECORDED when
 * not (the caller undoes the step and answers ingress_respond_failed). */
enum hs_err ingress_audit_hold(const struct ingress *in,
                               struct MHD_Connection *conn,
                               struct hs_audit_step *s) HS_MUST_CHECK;

/* ingress_audit_hold() without waiting (hs_audit_hold_then): done(arg, rc)
 * is called exactly once, maybe before this returns. s is read only
 * before this returns. */
void ingress_audit_hold_then(const struct ingress *in,
                             struct MHD_Connection *conn,
                             struct hs_audit_step *s, hs_kafka_done_fn done,
                             void *arg);

/* Ends the open transaction on pg: holds s (NULL: nothing to record) and
 * commits, or rolls back when the record was not acknowledged
 * (HS_ERR_UNRECORDED). HS_ERR_TRANSIENT when the commit fails. */
enum hs_err ingress_txn_finish(const struct ingress *in,
                               struct MHD_Connection *conn, struct hs_pg *pg,
                               struct hs_audit_step *s) HS_MUST_CHECK;

/* Answers a request whose transaction ended (ingress_txn_answer): rc is
 * what ingress_txn_finish returned. */
typedef enum MHD_Result (*ingress_later_fn)(const struct ingress *in,
                                            struct MHD_Connection *conn,
                                            struct ingress_req *r,
                                            enum hs_err rc, void *ctx);

/* ingress_txn_finish() on the open transaction on pg (from in->pool), then
 * answer(..., rc, ctx), without holding the thread while s is recorded:
 * conn is suspended and the record held (ingress_audit_hold_then); once it
 * is reported the connection is resumed and the request handler, called
 * again, commits (or rolls back when the record was not acknowledged),
 * gives pg back and answers instead of routing the request again. When as
 * many transactions wait already as the pool can spare, or memory runs
 * out, all this is done on this thread instead (metric
 * hs_held_transactions_total says which). pg and ctx are owned from here
 * on: ctx is freed with free_ctx after answer, or when the request ends
 * first (the transaction is then rolled back). s is read only before this
 * returns. */
enum MHD_Result ingress_txn_answer(const struct ingress *in,
                                   struct MHD_Connection *conn,
                                   struct ingress_req *r, struct hs_pg *pg,
                                   struct hs_audit_step *s,
                                   ingress_later_fn answer, void *ctx,
                                   void (*free_ctx)(void *));

/* Counts requests suspended until a report (callbacks, held
 * transactions); ingress_http_stop waits for them to end. */
void ingress_suspended_add(long delta);

/* 503 {"error":"unavailable"}: the JSON routes' answer when the database
 * cannot be reached. */
enum MHD_Result ingress_respond_unavailable(struct MHD_Connection *conn,
                                            struct ingress_req *r);

/* 503 for rc: {"error":"audit_unavailable"} for HS_ERR_UNRECORDED (an
 * unrecorded step, undone), else ingress_respond_unavailable. */
enum MHD_Result ingress_respond_failed(struct MHD_Connection *conn,
                                       struct ingress_req *r, enum hs_err rc);

/* Authenticates "Authorization: Bearer <token>" against api_tokens (by
 * hash). HS_OK writes the user id to user_id (cap >= 32); HS_ERR_DENIED
 * when missing or unknown; HS_ERR_TRANSIENT when the database fails. */
enum hs_err ingress_bearer_user(const struct ingress *in,
                                struct MHD_Connection *conn, char *user_id,
                                size_t cap) HS_MUST_CHECK;

#endif
