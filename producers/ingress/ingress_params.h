/*
 * ingress_params: pure checks of what a browser sends hs-ingress: query
 * arguments, cookies and path segments. No libmicrohttpd here, so every
 * rule is tested with tables (tests/unit/test_ingress_params.c).
 *
 * Invariant: a route reads its query only after ingress_query_verify()
 * accepted it, so a value it reads exists once, is at most
 * INGRESS_PARAM_MAX bytes and holds no control character (SECURITY 10).
 */
#ifndef INGRESS_PARAMS_H
#define INGRESS_PARAMS_H

#include <stddef.h>

#include "hs_err.h"

#define INGRESS_PARAM_MAX 4096 /* longest accepted query value, bytes */
#define INGRESS_PARAMS_MAX 16  /* most query arguments a request may carry */
#define INGRESS_KEY_MAX 64     /* longest accepted query key */
#define INGRESS_BIND_LEN 43    /* binding cookie: base64url of 32 bytes */

/* One query argument as the HTTP layer decoded it. value is NULL for a
 * bare "?key"; value_len is its decoded length, which differs from
 * strlen(value) when the value held an encoded NUL ("%00"). The pointers
 * are borrowed from the request and valid while it is served. */
struct ingress_param {
    const char *key;
    const char *value;
    size_t value_len;
};

/* Checks p[0..n-1] against the NULL-terminated list of allowed keys.
 * HS_OK when every key is allowed and appears once, and every value is
 * at most INGRESS_PARAM_MAX bytes without control characters (< 0x20,
 * 0x7f, or an embedded NUL). Otherwise HS_ERR_INVALID and, when reason is
 * non-NULL, *reason is a static word for the log: "too_many_params",
 * "unknown_param", "duplicate_param", "oversized_param" or
 * "control_character". */
enum hs_err ingress_query_verify(const struct ingress_param *p, size_t n,
                                 const char *const *allowed,
                                 const char **reason);

/* The value of key in p[0..n-1] (the first one), "" for a bare "?key",
 * NULL when absent. Borrowed like p. */
const char *ingress_param_get(const struct ingress_param *p, size_t n,
                              const char *key);

/* Finds cookie name in a Cookie request header ("a=1; b=2"). HS_OK copies
 * its value into out (NUL-terminated); HS_ERR_NOTFOUND when header is
 * NULL or has no such cookie; HS_ERR_INVALID when the name appears twice
 * (cookie tossing: we cannot tell which one we set); HS_ERR_TOOBIG when
 * the value does not fit in cap. out is written only on HS_OK. */
enum hs_err ingress_cookie_get(const char *header, const char *name,
                               char *out, size_t cap);

/* The name of one of our cookies: base, "__Host-" prefixed when https.
 * Returns out (cap >= strlen(base) + 8), or NULL when it does not fit. */
const char *ingress_cookie_name(int https, const char *base, char *out,
                                size_t cap);

/* Reads the browser-binding cookie (hs_bind, see README "Cookies") from a
 * Cookie header. HS_OK copies its 43-character value into out (cap >= 44);
 * HS_ERR_NOTFOUND when absent; HS_ERR_INVALID when repeated or not
 * base64url of 32 bytes. out is written only on HS_OK. */
enum hs_err ingress_binding_get(const char *header, int https, char *out,
                                size_t cap);

/* Checks a provider name from a path (s[0..n-1], not NUL-terminated):
 * [A-Za-z0-9]+, shorter than cap. HS_OK writes it lowercased and
 * NUL-terminated to out; HS_ERR_INVALID otherwise (out untouched). */
enum hs_err ingress_provider_parse(const char *s, size_t n, char *out,
                                   size_t cap);

#endif
