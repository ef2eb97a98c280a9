/*
 * ingress: the shared context of hs-ingress and the request it serves.
 *
 * hs-ingress is thin: it holds no handshake state in memory. The context
 * is built once by main() and read-only afterwards; each request has a
 * struct ingress_req that lives from libmicrohttpd's first call for the
 * request to its completion callback, where it is freed (STYLE §4).
 *
 * Handlers (ingress_connect.c, ingress_api.c) return after queueing
 * exactly one response with the ingress_respond_* helpers.
 */
#ifndef INGRESS_H
#define INGRESS_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_config.h"
#include "hs_crypto.h"
#include "hs_kafka.h"
#include "hs_pg.h"
#include "hs_provider.h"

#define INGRESS_BODY_MAX (16 * 1024)
#define INGRESS_PARAM_MAX 4096

struct ingress {
    const struct hs_config *cfg;
    const struct hs_keyring *kr;
    const struct hs_catalog *cat;
    struct hs_kafka_producer *producer;
    struct hs_pg_pool *pool;
    int https; /* HS_PUBLIC_URL is https: __Host- cookies, Secure */
    struct MHD_Daemon *daemon;
};

struct ingress_req {
    char request_id[24];
    int64_t start_ms;
    int first_call_done;
    const char *route;              /* route template for the access log */
    char *body;                     /* raw body (JSON routes) */
    size_t body_len;
    int body_too_big;
    struct MHD_PostProcessor *pp;   /* form bodies */
    char csrf[64];                  /* the one form field we read */
    const char *set_cookie[2];      /* extra Set-Cookie values (owned) */
    char cookie_buf[2][256];
};

/* Starts the daemon on cfg->listen; returns the bound port via *port. */
enum hs_err ingress_http_start(struct ingress *in, uint16_t *port, char *err,
                               size_t errlen);
/* Stops accepting, lets in-flight requests finish, stops the daemon. */
void ingress_http_stop(struct ingress *in);

/* ---- responses (each queues exactly one response) ------------------ */
enum MHD_Result ingress_respond_json(struct MHD_Connection *conn,
                                     struct ingress_req *r, unsigned status,
                                     json_t *body /* stolen */);
enum MHD_Result ingress_respond_error(struct MHD_Connection *conn,
                                      struct ingress_req *r, unsigned status,
                                      const char *code, const char *message);
/* A plain HTML page: title and paragraphs (already escaped HTML). */
enum MHD_Result ingress_respond_page(struct MHD_Connection *conn,
                                     struct ingress_req *r, unsigned status,
                                     const char *title, const char *html,
                                     int refresh_s);
enum MHD_Result ingress_respond_redirect(struct MHD_Connection *conn,
                                         struct ingress_req *r,
                                         const char *location);
enum MHD_Result ingress_respond_empty(struct MHD_Connection *conn,
                                      struct ingress_req *r, unsigned status);

/* Adds a Set-Cookie to the response this request will send. */
void ingress_req_set_cookie(struct ingress_req *r, const char *value);

/* ---- helpers --------------------------------------------------------- */
/* HTML-escapes s into out (always NUL-terminated; truncates on a UTF-8
 * boundary is not guaranteed, so callers size out generously). */
void ingress_html_escape(const char *s, char *out, size_t cap);

/* Checks the query: every argument at most once, each at most
 * INGRESS_PARAM_MAX bytes, no control characters. 0 = fine. */
int ingress_query_valid(struct MHD_Connection *conn);

/* The name of a cookie, "__Host-" prefixed under https. */
const char *ingress_cookie_name(const struct ingress *in, const char *base,
                                char *buf, size_t cap);

/* Authenticates "Authorization: Bearer". HS_OK fills user_id (cap >= 32);
 * HS_ERR_DENIED when missing or unknown; HS_ERR_TRANSIENT on db trouble. */
enum hs_err ingress_bearer_user(struct ingress *in,
                                struct MHD_Connection *conn, char *user_id,
                                size_t cap);

/* ---- routes ---------------------------------------------------------- */
enum MHD_Result ingress_connect_start(struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r,
                                      const char *provider, int is_post);
enum MHD_Result ingress_callback(struct ingress *in,
                                 struct MHD_Connection *conn,
                                 struct ingress_req *r, const char *provider);
enum MHD_Result ingress_status_page(struct ingress *in,
                                    struct MHD_Connection *conn,
                                    struct ingress_req *r, const char *id);
enum MHD_Result ingress_api(struct ingress *in, struct MHD_Connection *conn,
                            struct ingress_req *r, const char *method,
                            const char *url);

#endif
