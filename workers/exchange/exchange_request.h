/*
 * exchange_request: the pieces of a code exchange that need no I/O.
 *
 * exchange_secret_parse() reads the sealed part of callback.received once
 * hs_aead_open has authenticated it: JSON {"code","verifier","nonce",
 * "redirect_uri"} ("code" absent on an error callback).
 * exchange_request_build() makes the token request body and client
 * authentication (RFC 6749 §4.1.3, §2.3.1; RFC 7636 §4.5): the form body is
 * application/x-www-form-urlencoded (Appendix B), and with
 * client_secret_basic the client id and secret are form-encoded before
 * they go into HTTP Basic. exchange_refresh_build() and
 * exchange_revoke_build() make the refresh (§6) and revocation (RFC 7009)
 * requests with the same client authentication; hs-refresher uses them.
 *
 * Every struct here holds secrets: wipe it with its _wipe function.
 */
#ifndef EXCHANGE_REQUEST_H
#define EXCHANGE_REQUEST_H

#include <stddef.h>

#include "hs_config.h"
#include "hs_err.h"
#include "hs_http.h"
#include "hs_provider.h"

struct exchange_secret {
    char code[2048];        /* "" on an error callback */
    char verifier[129];     /* PKCE verifier (RFC 7636: 43..128 chars) */
    char nonce[64];
    char redirect_uri[1024];
};

/* Parses json[0..len-1]. need_code: 1 when "code" must be present and
 * non-empty. HS_OK fills *out; HS_ERR_DECODE on anything else (not an
 * object, wrong types, missing redirect_uri/verifier, over-long values,
 * control characters); *out untouched then. */
enum hs_err exchange_secret_parse(const void *json, size_t len, int need_code,
                                  struct exchange_secret *out) HS_MUST_CHECK;

void exchange_secret_wipe(struct exchange_secret *s);

struct exchange_request {
    char body[8192];          /* form body */
    int basic;                /* 1: use basic_user / basic_pass */
    char basic_user[1024];    /* form-encoded client_id */
    char basic_pass[2048];    /* form-encoded client_secret */
};

/* Builds the token request for provider p from s. HS_ERR_TOOBIG when a
 * value does not fit; HS_ERR_INVALID when s has no code. *out untouched on
 * failure. code_verifier is sent when s->verifier is not empty. */
enum hs_err exchange_request_build(const struct hs_provider *p,
                                   const struct exchange_secret *s,
                                   struct exchange_request *out) HS_MUST_CHECK;

/* The refresh request (RFC 6749 §6): grant_type=refresh_token. */
enum hs_err exchange_refresh_build(const struct hs_provider *p,
                                   const char *refresh_token,
                                   struct exchange_request *out) HS_MUST_CHECK;

/* The revocation request (RFC 7009 §2.1); hint is "refresh_token" or
 * "access_token". */
enum hs_err exchange_revoke_build(const struct hs_provider *p,
                                  const char *token, const char *hint,
                                  struct exchange_request *out) HS_MUST_CHECK;

void exchange_request_wipe(struct exchange_request *r);

/* POSTs req to url under the configured time-out (HS_HTTP_TIMEOUT_MS),
 * https only unless HS_INSECURE_HTTP, body capped at
 * EXCHANGE_TOKEN_MAX_BODY. HS_OK fills *res (hs_http_response_cleanup);
 * otherwise HS_ERR_TIMEOUT or another hs_http_do error. */
enum hs_err exchange_post(const struct hs_config *cfg, const char *url,
                          const struct exchange_request *req,
                          struct hs_http_response *res) HS_MUST_CHECK;

#endif
