/* Unit tests of workers/exchange/exchange_retry: which failed token calls
 * are tried again, how long the exchange backs off, that the attempts fit
 * inside the claim's staleness window, and which reason is kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "exchange_flow.h"
#include "exchange_retry.h"

static struct exchange_token tok;

/* Judges a call that came back with status and body (http HS_OK), or
 * failed with http. */
static enum exchange_verdict judge(enum hs_err http, long status,
                                   const char *body, const char *prior,
                                   const char **error)
{
    enum hs_err parse = HS_ERR_DECODE;

    memset(&tok, 0, sizeof(tok));
    if (http == HS_OK)
        parse = exchange_token_parse(body, strlen(body), &tok);
    *error = NULL;
    return exchange_judge(http, status, parse, &tok, prior, error);
}

static const char good[] = "{\"access_token\":\"a\",\"token_type\":\"Bearer\"}";

static void test_transient_failures_are_retried(void **st)
{
    static const struct {
        enum hs_err http;
        long status;
        const char *body, *error;
    } cases[] = {
        {HS_ERR_TIMEOUT, 0, "", "provider_timeout"},
        {HS_ERR_TRANSIENT, 0, "", "provider_unreachable"}, /* refused,
                                                              closed */
        {HS_OK, 500, "{\"error\":\"server_error\"}", "temporarily_unavailable"},
        {HS_OK, 502, "<html>bad gateway</html>", "temporarily_unavailable"},
        {HS_OK, 503, "{\"error\":\"temporarily_unavailable\"}",
         "temporarily_unavailable"},
        {HS_OK, 504, "", "temporarily_unavailable"},
        {HS_OK, 429, "{\"error\":\"slow_down\"}", "temporarily_unavailable"},
        /* A 5xx is transient even with a token or an OAuth error in it. */
        {HS_OK, 500, good, "temporarily_unavailable"},
        {HS_OK, 503, "{\"error\":\"invalid_grant\"}",
         "temporarily_unavailable"},
        /* A 200 that is no token response: a gateway's page, cut JSON. */
        {HS_OK, 200, "<html><body>Bad gateway</body></html>",
         "invalid_token_response"},
        {HS_OK, 200, "{\"access_token\":\"a\",\"tok", "invalid_token_response"},
        {HS_OK, 200, "", "invalid_token_response"},
    };
    const char *e;
    (void)st;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(
            judge(cases[i].http, cases[i].status, cases[i].body, NULL, &e),
            EXCHANGE_RETRY);
        assert_string_equal(e, cases[i].error);
    }
}

static void test_oauth_errors_and_permanent_faults_are_not_retried(void **st)
{
    static const struct {
        enum hs_err http;
        long status;
        const char *body, *error;
    } cases[] = {
        {HS_OK, 400, "{\"error\":\"invalid_grant\"}", "invalid_grant"},
        {HS_OK, 401, "{\"error\":\"invalid_client\"}", "invalid_client"},
        {HS_OK, 400, "{\"error\":\"invalid_request\"}", "invalid_request"},
        /* RFC 6749 errors inside a 200 are errors too. */
        {HS_OK, 200, "{\"error\":\"invalid_grant\"}", "invalid_grant"},
        /* Not an OAuth error, not a 5xx: the same next time. */
        {HS_OK, 404, "<html>not found</html>", "invalid_token_response"},
        {HS_OK, 403, "", "invalid_token_response"},
        {HS_OK, 201, good, "invalid_token_response"},
        {HS_ERR_TOOBIG, 0, "", "invalid_token_response"},
        {HS_ERR_CRYPTO, 0, "", "provider_unreachable"},  /* TLS */
        {HS_ERR_INVALID, 0, "", "provider_unreachable"}, /* scheme */
    };
    const char *e;
    (void)st;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(
            judge(cases[i].http, cases[i].status, cases[i].body, NULL, &e),
            EXCHANGE_FAIL);
        assert_string_equal(e, cases[i].error);
    }
    /* An oversized token in a 200 comes back the same: no retry. */
    {
        static char big[EXCHANGE_TOKEN_MAX + 100];

        memset(big, 'a', sizeof(big) - 1);
        memcpy(big, "{\"access_token\":\"", 17);
        memcpy(big + sizeof(big) - 30, "\",\"token_type\":\"Bearer\"}", 25);
        assert_int_equal(judge(HS_OK, 200, big, NULL, &e), EXCHANGE_FAIL);
        assert_string_equal(e, "invalid_token_response");
    }
    assert_int_equal(judge(HS_OK, 200, good, NULL, &e), EXCHANGE_OK);
    assert_null(e);
    assert_string_equal(tok.access_token, "a");
}

/* The code was probably used by the call that timed out: the reason is
 * the time-out, not the provider's invalid_grant. */
static void test_invalid_grant_after_a_transient_failure_keeps_it(void **st)
{
    const char *e;
    (void)st;

    assert_int_equal(judge(HS_OK, 400, "{\"error\":\"invalid_grant\"}",
                           "provider_timeout", &e),
                     EXCHANGE_SPENT);
    assert_string_equal(e, "provider_timeout");
    assert_int_equal(judge(HS_OK, 200, "{\"error\":\"invalid_grant\"}",
                           "invalid_token_response", &e),
                     EXCHANGE_SPENT);
    assert_string_equal(e, "invalid_token_response");
    /* Another OAuth error is the provider's own answer. */
    assert_int_equal(judge(HS_OK, 401, "{\"error\":\"invalid_client\"}",
                           "provider_timeout", &e),
                     EXCHANGE_FAIL);
    assert_string_equal(e, "invalid_client");
    /* A success after a failure is a success; a new transient failure is
     * the new reason. */
    assert_int_equal(judge(HS_OK, 200, good, "provider_timeout", &e),
                     EXCHANGE_OK);
    assert_int_equal(judge(HS_ERR_TRANSIENT, 0, "", "provider_timeout", &e),
                     EXCHANGE_RETRY);
    assert_string_equal(e, "provider_unreachable");
}

static void test_backoff_doubles_with_jitter_and_is_capped(void **st)
{
    (void)st;
    /* 250 ms, then 500, 1000, 2000, 4000 at most; times 0.5..1. */
    assert_int_equal(exchange_backoff_ms(1, EXCHANGE_RETRY_AFTER_NONE, 0), 125);
    assert_int_equal(
        exchange_backoff_ms(1, EXCHANGE_RETRY_AFTER_NONE, 0.999999), 249);
    assert_int_equal(exchange_backoff_ms(2, EXCHANGE_RETRY_AFTER_NONE, 0), 250);
    assert_int_equal(exchange_backoff_ms(3, EXCHANGE_RETRY_AFTER_NONE, 0.5),
                     750);
    for (int n = 1; n < 40; n++)
        for (double r = 0; r < 1; r += 0.125) {
            int64_t ms = exchange_backoff_ms(n, EXCHANGE_RETRY_AFTER_NONE, r);

            assert_true(ms >= EXCHANGE_BACKOFF_BASE_MS / 2);
            assert_true(ms <= EXCHANGE_BACKOFF_MAX_MS);
            assert_true(ms >= exchange_backoff_ms(n - (n > 1), -1, r));
        }
    assert_int_equal(exchange_backoff_ms(30, EXCHANGE_RETRY_AFTER_NONE, 0),
                     EXCHANGE_BACKOFF_MAX_MS / 2);
    /* A bad random number is not trusted. */
    assert_int_equal(exchange_backoff_ms(1, EXCHANGE_RETRY_AFTER_NONE, 7), 187);
    assert_int_equal(exchange_backoff_ms(1, EXCHANGE_RETRY_AFTER_NONE, -1),
                     187);
}

static void test_retry_after_is_honoured_up_to_a_cap(void **st)
{
    (void)st;
    assert_int_equal(exchange_backoff_ms(1, 1000, 0), 1000);
    assert_int_equal(exchange_backoff_ms(1, 0, 0), 125); /* never shorter */
    assert_int_equal(exchange_backoff_ms(1, 3600000, 0),
                     EXCHANGE_RETRY_AFTER_MAX_MS);
    assert_int_equal(exchange_backoff_ms(5, 100, 0.5), 3000);
}

static void test_attempts_are_bounded(void **st)
{
    struct exchange_retry p;
    (void)st;

    exchange_retry_init(&p, 3, 10000, 120 * 1000LL /* HS_EXCHANGE_STALE default */);
    assert_true(exchange_retry_allowed(&p, 1, 100, 250));
    assert_true(exchange_retry_allowed(&p, 2, 20000, 500));
    assert_false(exchange_retry_allowed(&p, 3, 200, 100)); /* 3 made */
    exchange_retry_init(&p, 1, 10000, 120 * 1000LL /* HS_EXCHANGE_STALE default */);
    assert_false(exchange_retry_allowed(&p, 1, 0, 0)); /* no retry at all */
}

/* Every call, at its longest, ends inside the claim's staleness window,
 * with room for the identity call and the store: another worker never
 * takes over a claim that is still being tried. */
static void test_attempts_fit_inside_the_claim(void **st)
{
    static const int timeouts[] = {100,   1000,  10000, 25000,
                                   30000, 40000, 50000, 60000};
    const int64_t stale = 120 * 1000LL /* HS_EXCHANGE_STALE default */;
    (void)st;

    for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
        struct exchange_retry p;
        int64_t t = timeouts[i]; /* every call takes as long as it can */
        int made = 1;

        exchange_retry_init(&p, 10, timeouts[i], stale);
        for (;;) {
            int64_t wait = exchange_backoff_ms(made, 3600000, 0.99);

            if (!exchange_retry_allowed(&p, made, t, wait))
                break;
            t += wait + timeouts[i];
            made++;
        }
        assert_true(made >= 1 && made <= 10);
        /* After the last call: one more call (the identity) and the
         * store still fit before the claim goes stale. */
        if (made > 1)
            assert_true(t + timeouts[i] + EXCHANGE_STORE_RESERVE_MS <= stale);
        if (timeouts[i] <= 10000)
            assert_true(made >= 3); /* the default policy is not starved */
        if (timeouts[i] == 30000)
            assert_int_equal(made, 2); /* README: above ~27 s, two */
        if (timeouts[i] >= 40000)
            assert_int_equal(made, 1); /* above ~36 s, no second call */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transient_failures_are_retried),
        cmocka_unit_test(
            test_oauth_errors_and_permanent_faults_are_not_retried),
        cmocka_unit_test(test_invalid_grant_after_a_transient_failure_keeps_it),
        cmocka_unit_test(test_backoff_doubles_with_jitter_and_is_capped),
        cmocka_unit_test(test_retry_after_is_honoured_up_to_a_cap),
        cmocka_unit_test(test_attempts_are_bounded),
        cmocka_unit_test(test_attempts_fit_inside_the_claim),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
