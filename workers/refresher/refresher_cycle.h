/*
 * refresher_cycle: hs-refresher's work, run from the worker loop's idle
 * hook (it consumes no topic).
 *
 * Refresh. Every HS_REFRESH_AHEAD seconds before a token expires (jittered,
 * hs_refresh_at in schemas/sql/004_refresh.sql), one refresher takes a
 * lease on it: an UPDATE of lease_until, on the row picked FOR UPDATE SKIP
 * LOCKED, committed before the provider is called; its RETURNING is the
 * re-read of the token under the lease. The lease outlives the provider
 * call (HS_HTTP_TIMEOUT_MS + 30 s), so while it holds nobody else refreshes
 * that token, and a crashed refresher's lease lapses. The outcome is stored
 * only if the row's generation is still the leased one (a reconnect or a
 * disconnect meanwhile wins), in one transaction with its event:
 *   ok       new access token, the rotated refresh token when the provider
 *            sent one (else the old one stays), next refresh_at, attempts
 *            reset; token.refreshed on hs.tokens (outbox);
 *   retry    a time-out, an unreachable provider, a 5xx or 429, a token
 *            response we cannot use, an error other than invalid_grant:
 *            attempts + 1 and refresh_at = now + refresher_backoff_s;
 *            the HS_REFRESH_ATTEMPTS-th failure in a row becomes reauth;
 *   reauth   invalid_grant (the grant is gone: revoked, expired, or its
 *            refresh token already used): status reauth_required, no
 *            further refresh; reauth.required on hs.tokens.
 *
 * Revoke. DELETE /api/providers/{p} moves the tokens to `revocations`;
 * a refresher leases each row the same way and revokes the refresh token,
 * then the access token, at the provider's revoke_url (RFC 7009), retried
 * with the same back-off, given up after HS_REFRESH_ATTEMPTS.
 *
 * Each outcome is logged (refresh.* and revoke.* lines, token fingerprints
 * only).
 */
#ifndef REFRESHER_CYCLE_H
#define REFRESHER_CYCLE_H

#include "exchange_token.h"
#include "hs_worker.h"

enum refresher_outcome { REFRESHER_OK, REFRESHER_RETRY, REFRESHER_REAUTH };

/* Judges one refresh call from the transport result, the HTTP status and
 * the parsed body (exchange_token_parse's result and token). *error gets a
 * machine word for the failures ("provider_timeout", "provider_error",
 * "invalid_grant", ...; the provider's own code for other errors). */
enum refresher_outcome refresher_judge(enum hs_err http_rc, long status,
                                       enum hs_err parse_rc,
                                       const struct exchange_token *tok,
                                       const char **error);

/* Seconds to wait before the next try after `failures` failures in a row
 * (>= 1): base * 2^(failures - 1), at most one hour, then scaled by
 * 0.5 + r / 2 (jitter; r in [0, 1)). At least 1. */
int refresher_backoff_s(int base_s, int failures, double r);

enum hs_err refresher_init(struct hs_worker *w, char *err, size_t errlen);
void refresher_idle(struct hs_worker *w);
void refresher_cleanup(struct hs_worker *w);

#endif
