/*
 * exchange_batch: the SQL of several handshakes at once, one statement for
 * their claims and one for their results (README "Batches of handshakes").
 *
 * A handshake costs PostgreSQL statements more than commits: claiming and
 * storing the handshakes of a consumer batch with arrays (unnest) makes
 * both a fixed cost per batch. The statements are those of one handshake
 * (exchange_flow.h) over arrays: each row keeps its own conditions, so a
 * row that is no longer claimable or no longer "exchanging" is left out
 * and its neighbours go on.
 *
 * Parameters are text arrays; the tokens and the outbox payload are
 * sealed (exchange_store_seal, exchange_store_event) before they are
 * rendered as hex, so nothing reaches libpq in clear.
 */
#ifndef EXCHANGE_BATCH_H
#define EXCHANGE_BATCH_H

#include <stddef.h>

#include "exchange_flow.h"

/* Claims, in one autocommitted UPDATE, every handshake of cbs[0..n-1]
 * that is "started", of the event's provider and not expired. claimed[i]
 * is 1 and cls[i] filled for those, 0 (cls[i] untouched) for the others.
 * The handshake ids must be distinct. On an error nothing is claimed and
 * claimed[] is all 0. */
enum hs_err exchange_batch_claim(struct hs_worker *w,
                                 const struct hs_event *const *cbs, size_t n,
                                 struct exchange_claim *cls,
                                 int *claimed) HS_MUST_CHECK;

/* Gives back, in one autocommitted UPDATE, the claims of cbs[0..n-1]
 * whose codes were not presented: each handshake still "exchanging" is
 * "started" again, to be claimed afresh. */
enum hs_err exchange_batch_release(struct hs_worker *w,
                                   const struct hs_event *const *cbs,
                                   size_t n) HS_MUST_CHECK;

/* In the caller's transaction, one statement: for each rs[i] whose
 * handshake is still "exchanging", the handshake complete, the token
 * sealed and upserted, token.issued in the outbox (in the order of rs);
 * stored[i] is 1 for those. A handshake no longer "exchanging" keeps
 * nothing (stored[i] 0). No two rs may share (user_id, provider): one
 * upsert cannot change a row twice. The user rows must exist. */
enum hs_err exchange_batch_store(struct hs_worker *w,
                                 const struct exchange_result *const *rs,
                                 size_t n, int *stored) HS_MUST_CHECK;

/* hs_worker_txn(exchange_success_txn) for rs[0..n-1], as
 * exchange_handle_batch stores them: rcs[i] is its result for rs[i]. The
 * connect flows go in one transaction (exchange_batch_store, their
 * exchange.succeeded records held together before the commit), except a
 * result that must follow an earlier one of the same user and provider;
 * the rest one by one, in order, after it, and all of them so when that
 * transaction fails for good (not retriable). */
void exchange_store_all(struct hs_worker *w, struct exchange_result *const *rs,
                        size_t n, enum hs_err *rcs);

#endif
