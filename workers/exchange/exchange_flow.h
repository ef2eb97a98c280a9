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
 *
 * exchange_handle_batch takes the events of a consumer batch through the
 * same steps, batched where it pays (exchange_batch.h), in rounds: the
 * claims of a round in one statement, committed before its first provider
 * call; the provider calls one after the other; the results of the
 * connect flows in one transaction (one statement, their audit records
 * held together) after the round's last call; the outbox relayed once per
 * batch. A round claims what recent calls say fits in EXCHANGE_ROUND_MS,
 * and gives back (untried, "started" again) the claims it has not called
 * when it runs past that or the worker is stopping: a worker that dies
 * holds few claims, and each claim is called as early as alone. Each
 * event keeps the guarantees above: a callback repeated in the batch is
 * handled after the first (a duplicate); a result the batch cannot store
 * together is stored on its own.
 */
#ifndef EXCHANGE_FLOW_H
#define EXCHANGE_FLOW_H

#include <stdint.h>

#include "hs_provider.h"
#include "hs_worker.h"

/* A round of a batch claims at most the calls that fit in this long: it
 * bounds what a round adds to the latency of its first handshake (its
 * result waits for the round's last call) and the claims a dead worker
 * leaves to fail as interrupted. */
#define EXCHANGE_ROUND_MS 50

struct exchange_ctx {
    struct hs_catalog cat;
    double call_ms; /* recent time of one exchange (moving average) */
};

struct exchange_identity;
struct exchange_token;
struct hs_event;

/* The two storage steps of exchange_handle_batch, around the provider call,
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

/* exchange_claim for cbs[0..n-1] (distinct handshake ids), as
 * exchange_handle_batch takes them: rcs[i] is exchange_claim's result
 * for cbs[i], cls[i] filled when HS_OK; the claimable ones are claimed in
 * one statement (exchange_batch_claim), the others looked at one by one.
 * exchange_store_all (exchange_batch.h) is the store. */
void exchange_claim_all(struct hs_worker *w, const struct hs_event *const *cbs,
                        size_t n, struct exchange_claim *cls,
                        enum hs_err *rcs);

/* The records exchange_success_txn holds for s: a[0] exchange.succeeded;
 * a[1] signup.completed, for a sign-in flow (it established its user). */
void exchange_success_steps(const struct exchange_result *s,
                            struct hs_audit_step a[2]);

enum hs_err exchange_init(struct hs_worker *w, char *err, size_t errlen);
void exchange_handle_batch(struct hs_worker *w, struct hs_kafka_msg *const *m,
                           size_t n, enum hs_err *rcs,
                           char (*reasons)[HS_WORKER_REASON]);
void exchange_idle(struct hs_worker *w);
void exchange_cleanup(struct hs_worker *w);

#endif
