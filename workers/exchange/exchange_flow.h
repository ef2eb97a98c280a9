/*
 * exchange_flow: what hs-exchange does with one callback.received event.
 *
 * 1. decode and open the sealed part (HS_KEY_PIPELINE, ad = handshake id);
 * 2. claim the handshake: a conditional UPDATE (started -> exchanging),
 *    committed before the provider is called, so a duplicate event or a
 *    second worker exchanges nothing (a code is used at most once);
 * 3. exchange the code, or record the provider's error; a transient
 *    failure (time-out, dropped connection, 5xx, 429, a 200 that is no
 *    token response) is tried again with back-off, HS_EXCHANGE_ATTEMPTS
 *    calls at most, all inside HS_EXCHANGE_STALE (exchange_retry.h). When
 *    they run out the flow fails visibly (page, poll, connect.failed)
 *    and the event goes to hs.dlq ("provider_unavailable: <error>"). A
 *    retry can only present the code again: the provider, which may have
 *    used it, refuses it (invalid_grant), so it is still used at most
 *    once;
 * 4. in one transaction: the token (encrypted, HS_KEY_DB), the final
 *    status, and the token.issued / connect.failed event in the outbox.
 * A claim left "exchanging" by a crashed worker is failed ("interrupted")
 * when its event comes back after HS_EXCHANGE_STALE (120 s).
 */
#ifndef EXCHANGE_FLOW_H
#define EXCHANGE_FLOW_H

#include <stdint.h>

#include "hs_provider.h"
#include "hs_worker.h"

struct exchange_ctx {
    struct hs_catalog cat;
};

struct exchange_identity;
struct exchange_token;
struct hs_event;

/* The two storage steps of exchange_handle, around the provider call,
 * callable on their own (tests/bench/store runs them on its own rows).
 *
 * exchange_claim: step 2 for the event cb (handshake_id, provider). HS_OK
 * fills *cl; HS_ERR_CONFLICT when it is not ours to exchange (duplicate,
 * finished, or failed here as expired or stale); HS_ERR_TIMEOUT
 * (retriable) while a younger claim is open.
 *
 * exchange_success_txn: step 4 on success, an hs_worker_txn_fn (arg: a
 * struct exchange_result): the token sealed and stored, the handshake
 * complete, the token.issued event in the outbox, the audit step held;
 * HS_ERR_CONFLICT when the handshake is no longer "exchanging". */
struct exchange_claim {
    char user_id[32];
    char flow[16];
    char subject[64]; /* signup, session: the poll's key hash */
};

struct exchange_result {
    const struct hs_event *cb;
    const struct exchange_claim *cl;
    const struct exchange_identity *id; /* signin flows; else NULL */
    char user_id[32];
    const struct exchange_token *tok;
    const char *scopes;
    int64_t expires_at;
};

enum hs_err exchange_claim(struct hs_worker *w, const struct hs_event *cb,
                           struct exchange_claim *cl);
enum hs_err exchange_success_txn(struct hs_worker *w, void *arg);

enum hs_err exchange_init(struct hs_worker *w, char *err, size_t errlen);
enum hs_err exchange_handle(struct hs_worker *w, const struct hs_kafka_msg *m,
                            char *reason, size_t reasonlen);
void exchange_idle(struct hs_worker *w);
void exchange_cleanup(struct hs_worker *w);

#endif
