/*
 * hs_outbox: the transactional outbox.
 *
 * An event that announces a database change is inserted into the outbox
 * table in the same transaction as the change (hs_outbox_add), so neither
 * exists without the other. The relay (hs_outbox_relay) takes up to 100
 * rows with FOR UPDATE SKIP LOCKED, produces them (acks=all) and deletes
 * them only when every one was acknowledged; any worker can relay rows a
 * crashed worker left. Delivery is at least once: consumers absorb
 * duplicates.
 */
#ifndef HS_OUTBOX_H
#define HS_OUTBOX_H

#include <stddef.h>

#include "hs_config.h"
#include "hs_event.h"
#include "hs_kafka.h"
#include "hs_pg.h"

/* Inserts one event (inside the caller's transaction). topic is the base
 * name ("hs.tokens"); the prefix is applied when relayed. */
enum hs_err hs_outbox_add(struct hs_pg *pg, const char *topic,
                          const char *key, const void *payload,
                          size_t len) HS_MUST_CHECK;

/* Encodes ev (hs_event) and adds it like hs_outbox_add. */
enum hs_err hs_outbox_add_event(struct hs_pg *pg, const char *topic,
                                const char *key,
                                const struct hs_event *ev) HS_MUST_CHECK;

/* Relays pending rows; *sent (may be NULL) gets how many were sent. */
enum hs_err hs_outbox_relay(struct hs_pg *pg, struct hs_kafka_producer *p,
                            const struct hs_config *cfg, int *sent);

#endif
