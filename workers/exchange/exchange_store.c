/* exchange_store: stored and announced tokens (contract in
 * exchange_store.h). */
#include "exchange_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_outbox.h"

int64_t exchange_store_expiry(const struct exchange_token *tok,
                              int64_t now_ms)
{
    return tok->expires_in > 0 ? now_ms + tok->expires_in * 1000 : 0;
}

enum hs_err exchange_store_seal(const struct hs_worker *w,
                                const char *user_id, const char *provider,
                                const struct exchange_token *tok,
                                int64_t expires_at,
                                struct exchange_stored *out)
{
    enum hs_err rc;

    out->alen = out->rlen = 0;
    snprintf(out->expires_at, sizeof(out->expires_at), "%lld",
             (long long)expires_at);
    snprintf(out->ahead, sizeof(out->ahead), "%d", w->cfg->refresh_ahead_s);
    rc = hs_token_seal(w->kr, user_id, provider, "access", tok->access_token,
                       out->access, sizeof(out->access), &out->alen);
    if (rc == HS_OK && tok->refresh_token[0])
        rc = hs_token_seal(w->kr, user_id, provider, "refresh",
                           tok->refresh_token, out->refresh,
                           sizeof(out->refresh), &out->rlen);
    return rc;
}

void exchange_store_wipe(struct exchange_stored *s)
{
    hs_wipe(s, sizeof(*s));
}

enum hs_err exchange_store_event(const struct hs_worker *w,
                                 enum hs_event_type type, const char *user_id,
                                 const char *provider,
                                 const char *handshake_id,
                                 const struct exchange_token *tok,
                                 const char *scopes, int64_t expires_at,
                                 msgpack_sbuffer *out)
{
    struct hs_event *ev = calloc(1, sizeof(*ev));
    size_t sealed_len = 0;
    enum hs_err rc;

    if (!ev)
        return HS_ERR_NOMEM;
    hs_event_init(ev, type, w->cfg->env, hs_now_ms());
    snprintf(ev->user_id, sizeof(ev->user_id), "%s", user_id);
    snprintf(ev->provider, sizeof(ev->provider), "%s", provider);
    snprintf(ev->handshake_id, sizeof(ev->handshake_id), "%s", handshake_id);
    snprintf(ev->scopes, sizeof(ev->scopes), "%s", scopes);
    snprintf(ev->token_type, sizeof(ev->token_type), "%s", tok->token_type);
    ev->expires_at = expires_at;
    snprintf(ev->kid, sizeof(ev->kid), "%s", hs_keyring_active_kid(w->kr));
    rc = hs_token_seal(w->kr, user_id, provider, NULL, tok->access_token,
                       ev->sealed, sizeof(ev->sealed), &sealed_len);
    ev->sealed_len = sealed_len;
    if (rc == HS_OK)
        rc = hs_event_encode(ev, out);
    hs_event_wipe(ev);
    free(ev);
    return rc;
}

enum hs_err exchange_store_announce(struct hs_worker *w,
                                    enum hs_event_type type,
                                    const char *user_id, const char *provider,
                                    const char *handshake_id,
                                    const struct exchange_token *tok,
                                    const char *scopes, int64_t expires_at)
{
    msgpack_sbuffer sb;
    enum hs_err rc;

    msgpack_sbuffer_init(&sb);
    rc = exchange_store_event(w, type, user_id, provider, handshake_id, tok,
                              scopes, expires_at, &sb);
    if (rc == HS_OK)
        rc = hs_outbox_add(w->pg, HS_TOPIC_TOKENS, user_id, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}
