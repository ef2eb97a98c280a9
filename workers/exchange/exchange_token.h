/*
 * exchange_token: strict validation of a token endpoint response
 * (RFC 6749 §5.1 / §5.2), SECURITY.md item 15.
 *
 * The body must be one JSON object (no trailing bytes, no duplicate keys,
 * at most EXCHANGE_TOKEN_MAX_BODY bytes). An "error" member makes it an
 * error response, even inside an HTTP 200. Otherwise access_token is a
 * non-empty string of visible ASCII of at most 4096 bytes, token_type is
 * "bearer" in any case (stored as "Bearer"), expires_in, when present, is
 * a positive JSON integer, refresh_token and scope, when present, are
 * strings of visible ASCII (scope may hold spaces). id_token, when
 * present, is a string of visible ASCII of at most EXCHANGE_ID_TOKEN_MAX
 * bytes, kept for the OIDC checks (exchange_idtoken.h). Unknown members
 * are ignored, as RFC 6749 §5.1 requires.
 *
 * Pure: no I/O, no clock. The caller decides what the HTTP status means.
 */
#ifndef EXCHANGE_TOKEN_H
#define EXCHANGE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "hs_err.h"

#define EXCHANGE_TOKEN_MAX_BODY (64 * 1024)
#define EXCHANGE_TOKEN_MAX 4096 /* access and refresh token bytes */
#define EXCHANGE_ID_TOKEN_MAX 8192

struct exchange_token {
    char access_token[EXCHANGE_TOKEN_MAX + 1];  /* secret */
    char refresh_token[EXCHANGE_TOKEN_MAX + 1]; /* secret; "" if none */
    char token_type[8];                         /* "Bearer" */
    int64_t expires_in;                         /* seconds; 0 = absent */
    char scope[512];                            /* "" = absent */
    char id_token[EXCHANGE_ID_TOKEN_MAX + 1];   /* "" = absent */
    char error[64];                             /* error responses only */
    char error_description[256];
};

/* Parses body[0..len-1].
 *   HS_OK            a valid token response; *out filled (error = "").
 *   HS_ERR_PROVIDER  an error response: *out is zeroed except error (the
 *                    provider's code, RFC 6749 charset, ≤ 63 bytes) and
 *                    error_description (control characters replaced by
 *                    '?', truncated to 255 bytes).
 *   HS_ERR_TOOBIG    len > EXCHANGE_TOKEN_MAX_BODY, a token over 4096, an
 *                    ID token over EXCHANGE_ID_TOKEN_MAX.
 *   HS_ERR_DECODE    not one JSON object, a missing or mistyped member,
 *                    a bad token_type, a non-positive expires_in, an
 *                    unusable error code.
 * *out is untouched on HS_ERR_TOOBIG and HS_ERR_DECODE. The caller wipes
 * *out with exchange_token_wipe when done. */
enum hs_err exchange_token_parse(const char *body, size_t len,
                                 struct exchange_token *out) HS_MUST_CHECK;

/* Wipes every byte of tok. */
void exchange_token_wipe(struct exchange_token *tok);

#endif
