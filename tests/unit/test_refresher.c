/* Unit tests of workers/refresher: how a refresh outcome is judged and
 * how long the refresher backs off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "refresher_cycle.h"

static enum refresher_outcome judge(enum hs_err http, long status,
                                    const char *body, const char **error)
{
    static struct exchange_token tok;
    enum hs_err parse = HS_ERR_TRANSIENT;

    memset(&tok, 0, sizeof(tok));
    if (http == HS_OK)
        parse = exchange_token_parse(body, strlen(body), &tok);
    *error = NULL;
    return refresher_judge(http, status, parse, &tok, error);
}

/* Every failure class of issue 5: down, slow, 5xx, invalid_grant. */
static void test_outcomes_are_classified(void **st)
{
    const char *e;
    (void)st;

    assert_int_equal(judge(HS_OK, 200, "{\"access_token\":\"a\","
                                        "\"token_type\":\"Bearer\"}", &e),
                     REFRESHER_OK);
    assert_int_equal(judge(HS_ERR_TIMEOUT, 0, "", &e), REFRESHER_RETRY);
    assert_string_equal(e, "provider_timeout");
    assert_int_equal(judge(HS_ERR_TRANSIENT, 0, "", &e), REFRESHER_RETRY);
    assert_string_equal(e, "provider_unreachable");
    assert_int_equal(judge(HS_OK, 500, "{\"error\":\"server_error\"}", &e),
                     REFRESHER_RETRY);
    assert_string_equal(e, "provider_error");
    assert_int_equal(judge(HS_OK, 503, "<html>", &e), REFRESHER_RETRY);
    assert_string_equal(e, "provider_error");
    assert_int_equal(judge(HS_OK, 429, "", &e), REFRESHER_RETRY);
    assert_string_equal(e, "provider_rate_limited");
    assert_int_equal(judge(HS_OK, 400, "{\"error\":\"invalid_grant\"}", &e),
                     REFRESHER_REAUTH);
    assert_string_equal(e, "invalid_grant");
    /* Another error (our client credentials, say) is retried, counted. */
    assert_int_equal(judge(HS_OK, 401, "{\"error\":\"invalid_client\"}", &e),
                     REFRESHER_RETRY);
    assert_string_equal(e, "invalid_client");
    /* An error inside a 200 is an error. */
    assert_int_equal(judge(HS_OK, 200, "{\"error\":\"invalid_grant\"}", &e),
                     REFRESHER_REAUTH);
    assert_int_equal(judge(HS_OK, 200, "not json", &e), REFRESHER_RETRY);
    assert_string_equal(e, "invalid_token_response");
    assert_int_equal(judge(HS_OK, 302, "{\"access_token\":\"a\","
                                        "\"token_type\":\"Bearer\"}", &e),
                     REFRESHER_RETRY);
}

static void test_backoff_doubles_with_jitter_and_a_cap(void **st)
{
    (void)st;
    assert_int_equal(refresher_backoff_s(10, 1, 0.999999), 9);
    assert_int_equal(refresher_backoff_s(10, 1, 0.0), 5);
    assert_int_equal(refresher_backoff_s(10, 2, 0.0), 10);
    assert_int_equal(refresher_backoff_s(10, 3, 0.0), 20);
    assert_int_equal(refresher_backoff_s(10, 4, 0.0), 40);
    /* Capped at an hour, however many failures. */
    assert_int_equal(refresher_backoff_s(10, 30, 0.0), 1800);
    assert_int_equal(refresher_backoff_s(10, 1000, 0.999999), 3599);
    assert_int_equal(refresher_backoff_s(3600, 2, 0.0), 1800);
    /* Never zero. */
    assert_int_equal(refresher_backoff_s(1, 1, 0.0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes_are_classified),
        cmocka_unit_test(test_backoff_doubles_with_jitter_and_a_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
