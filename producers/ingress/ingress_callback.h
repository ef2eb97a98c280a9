/*
 * ingress_callback: the provider's answer in the browser (README "The
 * connect flow", step 4; SPEC §3 GET /no-auth/provider-token/{p}).
 *
 * The query is checked strictly, the state verified (AEAD, ttl, provider,
 * binding cookie, environment), then callback.received is produced with
 * acks=all and only an acknowledged event earns the 302 to the status
 * page (SECURITY 12). Nothing is written to PostgreSQL here: a replay
 * emits a duplicate event that the exchange worker's claim absorbs.
 */
#ifndef INGRESS_CALLBACK_H
#define INGRESS_CALLBACK_H

#include <stddef.h>
#include <stdint.h>

#include "ingress_http.h"

/* What to answer. reason is a static word for the log ("forged_state",
 * "emit_failed", ...) or NULL on success; handshake_id is set once the
 * state was verified. location is set for 302, page otherwise. */
struct ingress_callback_result {
    unsigned status;
    const char *reason;
    char handshake_id[HS_ID_LEN + 1];
    char location[4096]; /* the status page, or the routed callback */
    struct ingress_page page;
};

/* Decides the callback for provider (path segment, lowercase) that came
 * in on route (its template, which gives the redirect_uri the token
 * request repeats: ingress_redirect_uri) with query p[0..n-1] and the raw
 * Cookie header (may be NULL), at now_ms. Returns out->status: 302 after
 * callback.received was recorded (ingress_audit_hold on conn, which only
 * an auditor reads) and hs_kafka_produce_then() on in->producer said
 * HS_OK; 400 for a malformed query, a missing, forged, expired,
 * wrong-provider, unbound or foreign-environment state (nothing
 * produced); 404 for an unknown provider; 503 when Kafka did not
 * acknowledge (reason "emit_failed", or "audit_unavailable" when the
 * record was not). Always fills *out. Thread-safe. */
unsigned ingress_callback_accept(const struct ingress *in,
                                 struct MHD_Connection *conn,
                                 const char *provider, const char *route,
                                 const struct ingress_param *p, size_t n,
                                 const char *cookies, int64_t now_ms,
                                 struct ingress_callback_result *out);

/* The route: ingress_callback_accept() on the request, logged, answered;
 * but without holding a thread: an accepted callback's connection is
 * suspended while its record and event are acknowledged (r->callback),
 * and answered when libmicrohttpd calls this again once resumed. */
enum MHD_Result ingress_callback(const struct ingress *in,
                                 struct MHD_Connection *conn,
                                 struct ingress_req *r, const char *provider);

#endif
