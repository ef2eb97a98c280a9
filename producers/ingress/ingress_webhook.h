/*
 * ingress_webhook: POST /no-auth/webhooks/{p}[?env=E] (issue 7).
 *
 * A provider's server-to-server call (Slack interactive components, a
 * bot's events) for an environment the internet cannot reach: the ingress
 * checks the signature the provider's catalog entry names ("webhook"),
 * refuses a signature seen in the last 10 minutes, and publishes the
 * request, sealed, to hs.webhooks keyed and tagged by environment (`env`,
 * this one's by default, else one of HS_ENV_ROUTES). hs-relay inside that
 * environment delivers it to a local server. The provider gets 200 with no
 * body once Kafka acknowledged (the local answer cannot be waited for);
 * 401 unsigned / bad_signature / stale / replayed, 400 unknown_env, 404 for
 * a provider without webhooks, 413 over HS_WEBHOOK_BODY_MAX, 503 when
 * Kafka, PostgreSQL or the audit trail is unavailable (nothing published).
 */
#ifndef INGRESS_WEBHOOK_H
#define INGRESS_WEBHOOK_H

#include <stdint.h>

#include "hs_provider.h"
#include "ingress_http.h"

#define INGRESS_WEBHOOK_PREFIX "/no-auth/webhooks/"
#define INGRESS_WEBHOOK_WINDOW_S 300 /* Slack's replay window */

/* Checks the signature of a request for prov (hook != HS_HOOK_NONE) at
 * now_s. sig: the signature header (Slack: X-Slack-Signature; hmac: the
 * catalog's header), ts: X-Slack-Request-Timestamp (Slack only); either
 * may be NULL. HS_OK, or HS_ERR_DENIED with *why "unsigned",
 * "bad_signature" or "stale". Constant time in the signature. */
enum hs_err ingress_webhook_verify(const struct hs_provider *prov,
                                   const char *sig, const char *ts,
                                   const void *body, size_t len,
                                   int64_t now_s,
                                   const char **why) HS_MUST_CHECK;

/* The route; provider: the path segment, lowercase. */
enum MHD_Result ingress_webhook(const struct ingress *in,
                                struct MHD_Connection *conn,
                                struct ingress_req *r, const char *provider);

#endif
