/*
 * exchange_idtoken: the claims of an OpenID Connect ID token and of a
 * userinfo response (OpenID Connect Core §3.1.3.7, §5.3.2; SECURITY 6, 16).
 *
 * The ID token comes straight from the token endpoint over a verified TLS
 * connection, so, as §3.1.3.7 item 6 allows, TLS server validation stands
 * in for the signature check: libsodium, our only cryptography, has no
 * RSA or ECDSA. Every claim is still checked:
 *   iss    the catalog's issuer, exactly;
 *   aud    the client id, or an array holding it; an array of more than
 *          one member needs azp;
 *   azp    when present, the client id;
 *   exp    a number, after now - EXCHANGE_IDTOKEN_SKEW_S;
 *   iat    a number, not after now + skew, not older than
 *          EXCHANGE_IDTOKEN_MAX_AGE_S;
 *   nonce  the flow's nonce (constant time);
 *   sub    a non-empty string of at most 255 bytes, no control characters.
 * The header must be a JSON object whose alg is a string other than
 * "none". email and name are kept when present, printable and short
 * enough; otherwise dropped (they are for display only).
 *
 * Pure: no I/O, no clock. Errors leave *out untouched and write a short
 * reason to why, never a claim value: HS_ERR_DECODE (malformed),
 * HS_ERR_TOOBIG (over 16 KiB), HS_ERR_DENIED (wrong_iss, wrong_aud,
 * wrong_azp, wrong_nonce, wrong_sub), HS_ERR_EXPIRED (expired, bad_iat).
 */
#ifndef EXCHANGE_IDTOKEN_H
#define EXCHANGE_IDTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "hs_err.h"

#define EXCHANGE_IDTOKEN_SKEW_S 60
#define EXCHANGE_IDTOKEN_MAX_AGE_S 600
#define EXCHANGE_IDTOKEN_MAX (16 * 1024)

struct exchange_identity {
    char issuer[256];
    char subject[256];
    char email[320]; /* "" if none */
    char name[256];  /* "" if none */
};

enum hs_err exchange_idtoken_check(const char *jwt, const char *issuer,
                                   const char *client_id, const char *nonce,
                                   int64_t now_s,
                                   struct exchange_identity *out, char *why,
                                   size_t whylen) HS_MUST_CHECK;

/* A userinfo response (a JSON object). The subject is "sub" (string) or,
 * for plain OAuth providers such as GitHub, "id" (string or integer);
 * name falls back to "login". expect_sub, when not NULL, must equal the
 * subject (wrong_sub). issuer is copied into out->issuer. */
enum hs_err exchange_userinfo_parse(const char *body, size_t len,
                                    const char *issuer, const char *expect_sub,
                                    struct exchange_identity *out, char *why,
                                    size_t whylen) HS_MUST_CHECK;

#endif
