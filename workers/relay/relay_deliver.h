/*
 * relay_deliver: hs-relay's handling of one hs.webhooks message.
 *
 * A webhook.received for this environment (HS_ENV) is opened, posted to
 * HS_RELAY_URL + its path (and query) with its headers (less the ones
 * that belong to a connection: Host, Content-Length, Connection,
 * Transfer-Encoding, Expect, Keep-Alive, TE, Trailer, Upgrade) and body,
 * and answered by a webhook.relayed with the local status (0 and an error
 * when the server could not be reached in 3 tries, 0.5 s and 1 s apart).
 * The offset is committed once that answer is acknowledged: delivery is
 * at least once. Other environments' requests and relayed events are
 * skipped; an undecodable or unopenable message goes to hs.dlq.
 */
#ifndef RELAY_DELIVER_H
#define RELAY_DELIVER_H

#include "hs_worker.h"

/* The sealed request (JSON of hs_webhook.h) as an HTTP request to base:
 * url (malloc'd), body (malloc'd, *blen bytes) and headers (malloc'd,
 * NULL-ended "Name: value" lines). HS_ERR_DECODE when it is not one. */
struct relay_request {
    char *url;
    unsigned char *body;
    size_t blen;
    char **headers;
};
enum hs_err relay_request_parse(const char *json, size_t len,
                                const char *base,
                                struct relay_request *out) HS_MUST_CHECK;
void relay_request_free(struct relay_request *rq);

enum hs_err relay_handle(struct hs_worker *w, const struct hs_kafka_msg *m,
                         char *reason, size_t reasonlen);

#endif
