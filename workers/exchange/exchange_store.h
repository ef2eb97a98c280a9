/*
 * exchange_store: a provider token as it is stored and announced, shared
 * by hs-exchange (a new consent) and hs-refresher (a refresh).
 *
 * exchange_store_seal() seals the access and refresh tokens for
 * PostgreSQL (hs_token_seal, kinds "access" and "refresh") and renders
 * the expiry and the refresh lead as SQL text parameters;
 * exchange_store_announce() adds the token.issued / token.refreshed event
 * to the outbox in the caller's transaction, the access token sealed for
 * hs.tokens (exchange_store_event() encodes that event, for a caller that
 * inserts several at once). Nothing leaves these in clear.
 */
#ifndef EXCHANGE_STORE_H
#define EXCHANGE_STORE_H

#include <msgpack.h>
#include <stdint.h>

#include "exchange_token.h"
#include "hs_event.h"
#include "hs_worker.h"

struct exchange_stored {
    unsigned char access[EXCHANGE_TOKEN_MAX + HS_AEAD_OVERHEAD];
    unsigned char refresh[EXCHANGE_TOKEN_MAX + HS_AEAD_OVERHEAD];
    size_t alen, rlen;     /* rlen 0: no refresh token this time */
    char expires_at[24];   /* ms since the epoch, "0" = no expiry */
    char ahead[16];        /* HS_REFRESH_AHEAD, for hs_refresh_at() */
};

/* When tok expires: now_ms + expires_in, or 0 when it did not say. */
int64_t exchange_store_expiry(const struct exchange_token *tok,
                              int64_t now_ms);

enum hs_err exchange_store_seal(const struct hs_worker *w,
                                const char *user_id, const char *provider,
                                const struct exchange_token *tok,
                                int64_t expires_at,
                                struct exchange_stored *out) HS_MUST_CHECK;
void exchange_store_wipe(struct exchange_stored *s);

/* type: HS_EV_TOKEN_ISSUED or HS_EV_TOKEN_REFRESHED; handshake_id may be
 * "". exchange_store_event appends the encoded event to out (caller owns
 * out); exchange_store_announce inserts it into the outbox (key: user_id)
 * in the caller's transaction. */
enum hs_err exchange_store_event(const struct hs_worker *w,
                                 enum hs_event_type type, const char *user_id,
                                 const char *provider,
                                 const char *handshake_id,
                                 const struct exchange_token *tok,
                                 const char *scopes, int64_t expires_at,
                                 msgpack_sbuffer *out) HS_MUST_CHECK;
enum hs_err exchange_store_announce(struct hs_worker *w,
                                    enum hs_event_type type,
                                    const char *user_id, const char *provider,
                                    const char *handshake_id,
                                    const struct exchange_token *tok,
                                    const char *scopes,
                                    int64_t expires_at) HS_MUST_CHECK;

#endif
