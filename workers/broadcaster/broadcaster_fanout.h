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

enum hs_err broadcaster_handle(struct hs_worker *w,
                               const struct hs_kafka_msg *m, char *reason,
                               size_t reasonlen);

#endif
