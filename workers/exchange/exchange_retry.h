/*
 * exchange_retry: when a failed code exchange is tried again, and when not
 * (README "Provider failures during the exchange").
 *
 * A provider call that failed for a reason that may pass is tried again,
 * up to HS_EXCHANGE_ATTEMPTS calls in all, with exponential back-off and
 * jitter: a time-out, a refused or dropped connection, a 5xx, a 429, and a
 * 200 whose body is not a token response (a gateway's error page, a cut
 * body: the provider may well not have used the code). An OAuth error
 * (400 invalid_grant and the like) and anything retrying cannot mend (TLS
 * verification, a body over the size cap, a 4xx that is no OAuth error)
 * end the exchange at once.
 *
 * The last attempt must end inside the claim's staleness window
 * (HS_EXCHANGE_STALE), leaving room for what follows it (the identity call
 * of a sign-in, the store), so another worker never fails as
 * "interrupted" a claim that is still being tried.
 *
 * A retried call may reach a provider that did use the code the first
 * time and now answers invalid_grant: the exchange then ends with the
 * earlier, transient error as its reason (EXCHANGE_SPENT), which is what
 * went wrong.
 *
 * Pure: no I/O, no clock, no randomness (callers pass elapsed time and a
 * random number).
 */
#ifndef EXCHANGE_RETRY_H
#define EXCHANGE_RETRY_H

#include <stdint.h>

#include "exchange_token.h"
#include "hs_err.h"

#define EXCHANGE_BACKOFF_BASE_MS 250     /* before the 2nd call: 125..250 */
#define EXCHANGE_BACKOFF_MAX_MS 4000     /* doubling stops here */
#define EXCHANGE_RETRY_AFTER_MAX_MS 5000 /* a longer Retry-After is cut */
#define EXCHANGE_RETRY_AFTER_NONE (-1L)
#define EXCHANGE_STORE_RESERVE_MS 10000 /* after the last call: the store */

enum exchange_verdict {
    EXCHANGE_OK,    /* a token response: go on */
    EXCHANGE_RETRY, /* transient: another call may succeed */
    EXCHANGE_FAIL,  /* final: the provider's answer or a permanent fault */
    EXCHANGE_SPENT  /* invalid_grant after a transient failure: final, the
                       reason is the earlier failure */
};

/* Judges one call. http_rc: exchange_post's result; status: the HTTP
 * status (when http_rc is HS_OK); parse_rc: exchange_token_parse's result
 * on the body (when http_rc is HS_OK) and tok what it filled; prior: the
 * error word of the last transient failure of this exchange, or NULL.
 * Sets *error for every verdict but EXCHANGE_OK: for EXCHANGE_RETRY a
 * static word (provider_timeout, provider_unreachable,
 * temporarily_unavailable for a 5xx or 429, invalid_token_response);
 * for EXCHANGE_SPENT prior; for EXCHANGE_FAIL the provider's error
 * (pointing into tok, valid while tok is) or a static word. */
enum exchange_verdict exchange_judge(enum hs_err http_rc, long status,
                                     enum hs_err parse_rc,
                                     const struct exchange_token *tok,
                                     const char *prior, const char **error);

struct exchange_retry {
    int attempts;       /* calls in all, HS_EXCHANGE_ATTEMPTS */
    int64_t attempt_ms; /* the longest one call takes (HS_HTTP_TIMEOUT_MS) */
    int64_t budget_ms;  /* every call ends this long after the claim */
};

/* Fills *p for attempts calls of at most http_timeout_ms each, inside a
 * claim that is taken over after stale_ms. The budget keeps back one more
 * call (the identity call of a sign-in) and EXCHANGE_STORE_RESERVE_MS. */
void exchange_retry_init(struct exchange_retry *p, int attempts,
                         int http_timeout_ms, int64_t stale_ms);

/* The pause after the failures-th failed call (1 = the first): base
 * EXCHANGE_BACKOFF_BASE_MS doubling up to EXCHANGE_BACKOFF_MAX_MS, times
 * 0.5 + r / 2 (jitter, r in [0, 1)). A Retry-After of the provider
 * (retry_after_ms >= 0; EXCHANGE_RETRY_AFTER_NONE when absent) lengthens
 * it up to EXCHANGE_RETRY_AFTER_MAX_MS, never beyond. */
int64_t exchange_backoff_ms(int failures, long retry_after_ms, double r);

/* 1 when another call may start after a pause of wait_ms: fewer than
 * p->attempts calls were made, and the call, at its longest, ends within
 * the budget (elapsed_ms: time since the claim). Else 0. */
int exchange_retry_allowed(const struct exchange_retry *p, int made,
                           int64_t elapsed_ms, int64_t wait_ms);

#endif
