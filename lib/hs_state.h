/*
 * hs_state: the OAuth state parameter, sealed.
 *
 * The state is "<env>.<base64url(AEAD blob)>": the environment is readable
 * so a router can forward a callback without keys, and it is also the AEAD
 * associated data, so it cannot be changed. The blob (HS_KEY_STATE) holds
 * everything the callback needs and nothing the browser may read: the
 * handshake id, provider, flow, subject, PKCE verifier, OIDC nonce, the
 * SHA-256 of the browser-binding cookie and the time it was issued.
 * Tampering, truncation, another key or another env fail with
 * HS_ERR_INVALID; an old state fails with HS_ERR_EXPIRED.
 *
 * Single use is not decided here: the worker's claim on the handshake row
 * (hs-exchange) makes a replayed state exchange nothing.
 */
#ifndef HS_STATE_H
#define HS_STATE_H

#include <stdint.h>

#include "hs_crypto.h"
#include "hs_err.h"

#define HS_STATE_MAX 512 /* longest state string, NUL included */

enum hs_flow {
    HS_FLOW_CONNECT = 1,
    HS_FLOW_SIGNUP = 2,
    HS_FLOW_SESSION = 3,
    HS_FLOW_LOOPBACK = 4
};

/* "connect", "signup", "session", "loopback"; "unknown" otherwise. */
const char *hs_flow_name(enum hs_flow flow);
/* Parses a flow name; HS_ERR_INVALID if unknown (out untouched). */
enum hs_err hs_flow_parse(const char *name, enum hs_flow *out);

struct hs_state {
    char env[32];
    char handshake_id[HS_ID_LEN + 1];
    char provider[32];
    enum hs_flow flow;
    char subject[64];              /* user id (connect), poll-key hash
                                      (signup, session), requester
                                      (loopback) */
    char verifier[44];             /* PKCE verifier, 43 chars */
    char nonce[HS_ID_LEN + 1];     /* OIDC nonce */
    unsigned char binding[32];     /* SHA-256 of the binding cookie value */
    int64_t issued_ms;
};

/* Seals st into out (cap >= HS_STATE_MAX). HS_ERR_INVALID when a field is
 * empty, too long, or env does not match [a-z0-9-]+. */
enum hs_err hs_state_mint(const struct hs_keyring *kr, const struct hs_state *st,
                          char *out, size_t cap) HS_MUST_CHECK;

/* Opens and checks state. HS_OK fills *out; on failure *out is untouched:
 * HS_ERR_INVALID (malformed, bad MAC, another key), HS_ERR_EXPIRED
 * (now_ms - issued_ms > ttl_ms, or issued in the future by > 60 s). */
enum hs_err hs_state_verify(const struct hs_keyring *kr, const char *state,
                            int64_t now_ms, int64_t ttl_ms,
                            struct hs_state *out) HS_MUST_CHECK;

/* Copies the readable environment prefix of state into env (no keys
 * needed). HS_ERR_INVALID if state has no well-formed prefix. */
enum hs_err hs_state_env(const char *state, char *env, size_t cap);

#endif
