/*
 * hs_http: the outbound HTTP seam (provider calls), over libcurl.
 *
 * Every request has a connect timeout and a total timeout, follows no
 * redirect, verifies TLS, allows only https (http only when
 * req->allow_http, for development and tests), and caps the response body
 * (HS_ERR_TOOBIG past req->max_body). Nothing here logs a URL, a header or
 * a body; CURLOPT_VERBOSE is never set.
 *
 * hs_http_global_init() once in main() before threads (curl_global_init).
 */
#ifndef HS_HTTP_H
#define HS_HTTP_H

#include <stddef.h>

#include "hs_err.h"

struct hs_http_request {
    const char *method;          /* "GET" or "POST" */
    const char *url;
    const char *body;            /* POST body or NULL */
    size_t body_len;
    const char *content_type;    /* e.g. application/x-www-form-urlencoded */
    const char *bearer;          /* Authorization: Bearer, or NULL */
    const char *basic_user;      /* HTTP Basic (already form-encoded per
                                    RFC 6749 §2.3.1), or NULL */
    const char *basic_pass;
    const char *accept;          /* Accept header or NULL */
    const char *const *headers;  /* more "Name: value" lines, NULL-ended,
                                    or NULL (hs-relay) */
    long connect_timeout_ms;     /* 0 = 5000 */
    long timeout_ms;             /* 0 = 10000 */
    size_t max_body;             /* 0 = 1 MiB */
    int allow_http;
};

struct hs_http_response {
    long status;
    char *body;                  /* NUL-terminated, malloc'd */
    size_t len;
    char content_type[128];
};

enum hs_err hs_http_global_init(void);

/* Performs req. HS_OK for any HTTP status (check res->status); on failure
 * res is zeroed: HS_ERR_TIMEOUT, HS_ERR_TRANSIENT (connect/reset),
 * HS_ERR_TOOBIG, HS_ERR_INVALID (scheme not allowed, bad URL),
 * HS_ERR_CRYPTO (TLS verification). Call hs_http_response_cleanup after. */
enum hs_err hs_http_do(const struct hs_http_request *req,
                       struct hs_http_response *res) HS_MUST_CHECK;

/* Wipes and frees the body; safe on a zeroed response. */
void hs_http_response_cleanup(struct hs_http_response *res);

/* Appends "name=value" (both www-form-urlencoded, '&' between pairs) to
 * buf. HS_ERR_TOOBIG if it does not fit (buf unchanged then). */
enum hs_err hs_http_form_add(char *buf, size_t cap, const char *name,
                             const char *value) HS_MUST_CHECK;

/* application/x-www-form-urlencoded encoding of s into out: RFC 3986
 * unreserved characters kept, space as '+', every other byte %XX. Used for
 * form bodies, query strings and HTTP Basic credentials (RFC 6749 §2.3.1). */
enum hs_err hs_http_urlencode(const char *s, char *out,
                              size_t cap) HS_MUST_CHECK;

#endif
