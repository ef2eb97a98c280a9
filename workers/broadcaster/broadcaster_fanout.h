/*
 * broadcaster_fanout: what hs-broadcaster does with one hs.tokens event:
 * token.issued / token.refreshed (the sealed token is opened with
 * HS_KEY_PIPELINE, ad "user_id|provider"), connect.failed,
 * provider.disconnected and reauth.required become one hs.me message per
 * registered agent of the user, keyed by user id, `box` sealed to the
 * agent's X25519 key. Undecodable events go to the DLQ; PostgreSQL or
 * Kafka trouble is retried.
 */
#ifndef BROADCASTER_FANOUT_H
#define BROADCASTER_FANOUT_H

#include "hs_worker.h"

/* A batch (hs_worker_def.handle_batch): each event's record is held and
 * its messages queued, then one flush acknowledges them all. */
void broadcaster_handle_batch(struct hs_worker *w,
                              struct hs_kafka_msg *const *m, size_t n,
                              enum hs_err *rcs,
                              char (*reasons)[HS_WORKER_REASON]);

#endif
