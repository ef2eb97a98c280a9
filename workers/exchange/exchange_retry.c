/* exchange_retry: the retry policy of the code exchange (contract in
 * exchange_retry.h). */
#include "exchange_retry.h"

#include <string.h>

enum exchange_verdict exchange_judge(enum hs_err http_rc, long status,
                                     enum hs_err parse_rc,
                                     const struct exchange_token *tok,
                                     const char *prior, const char **error)
{
    if (http_rc == HS_ERR_TIMEOUT) {
        *error = "provider_timeout";
        return EXCHANGE_RETRY;
    }
    if (http_rc == HS_ERR_TRANSIENT) { /* refused, reset, nothing back */
        *error = "provider_unreachable";
        return EXCHANGE_RETRY;
    }
    if (http_rc == HS_ERR_TOOBIG) { /* the same bytes again next time */
        *error = "invalid_token_response";
        return EXCHANGE_FAIL;
    }
    if (http_rc != HS_OK) { /* TLS, a refused scheme: configuration */
        *error = "provider_unreachable";
        return EXCHANGE_FAIL;
    }
    /* A 5xx or 429 says nothing about the code, whatever its body says:
     * temporarily_unavailable is RFC 6749's word for it (§4.1.2.1), and
     * the status page knows it. */
    if (status >= 500 || status == 429) {
        *error = "temporarily_unavailable";
        return EXCHANGE_RETRY;
    }
    if (parse_rc == HS_ERR_PROVIDER) {
        /* After a time-out or a dropped answer the provider may have used
         * the code already: its invalid_grant is our failure's echo. */
        if (prior && strcmp(tok->error, "invalid_grant") == 0) {
            *error = prior;
            return EXCHANGE_SPENT;
        }
        *error = tok->error;
        return EXCHANGE_FAIL;
    }
    if (parse_rc == HS_OK && status == 200)
        return EXCHANGE_OK;
    *error = "invalid_token_response";
    /* Only a 200 that is not JSON of a token response is tried again: a
     * proxy's page or a cut body, which the provider may not have
     * answered at all. A 4xx without an OAuth error, or an oversized
     * token, comes back the same. */
    return status == 200 && parse_rc == HS_ERR_DECODE ? EXCHANGE_RETRY
                                                      : EXCHANGE_FAIL;
}

void exchange_retry_init(struct exchange_retry *p, int attempts,
                         int http_timeout_ms, int64_t stale_ms)
{
    p->attempts = attempts;
    p->attempt_ms = http_timeout_ms;
    p->budget_ms = stale_ms - http_timeout_ms - EXCHANGE_STORE_RESERVE_MS;
}

int64_t exchange_backoff_ms(int failures, long retry_after_ms, double r)
{
    int64_t ms = EXCHANGE_BACKOFF_BASE_MS;

    for (int i = 1; i < failures && ms < EXCHANGE_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > EXCHANGE_BACKOFF_MAX_MS)
        ms = EXCHANGE_BACKOFF_MAX_MS;
    if (r < 0 || r >= 1)
        r = 0.5;
    ms = (int64_t)((double)ms * (0.5 + r / 2));
    if (retry_after_ms > ms)
        ms = retry_after_ms > EXCHANGE_RETRY_AFTER_MAX_MS
                 ? EXCHANGE_RETRY_AFTER_MAX_MS
                 : retry_after_ms;
    return ms;
}

int exchange_retry_allowed(const struct exchange_retry *p, int made,
                           int64_t elapsed_ms, int64_t wait_ms)
{
    return made < p->attempts &&
           elapsed_ms + wait_ms + p->attempt_ms <= p->budget_ms;
}
