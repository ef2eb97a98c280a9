/* Unit tests of workers/exchange/exchange_token and exchange_request:
 * strict token responses (SECURITY 15) and the token request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "exchange_request.h"
#include "exchange_token.h"

static struct exchange_token tok;

static enum hs_err parse(const char *body)
{
    return exchange_token_parse(body, strlen(body), &tok);
}

static void test_good_responses(void **st)
{
    (void)st;
    assert_int_equal(parse("{\"access_token\":\"at\",\"token_type\":\"bearer\","
                           "\"expires_in\":3600,\"refresh_token\":\"rt\","
                           "\"scope\":\"repo user\",\"id_token\":\"x.y.z\"}"),
                     HS_OK);
    assert_string_equal(tok.access_token, "at");
    assert_string_equal(tok.token_type, "Bearer"); /* normalised */
    assert_int_equal(tok.expires_in, 3600);
    assert_string_equal(tok.refresh_token, "rt");
    assert_string_equal(tok.scope, "repo user");
    assert_int_equal(parse("{\"access_token\":\"at\",\"token_type\":"
                           "\"Bearer\"}"), HS_OK);
    assert_int_equal(tok.expires_in, 0);
    assert_string_equal(tok.refresh_token, "");
}

static void test_error_inside_a_200_is_a_provider_error(void **st)
{
    (void)st;
    assert_int_equal(parse("{\"error\":\"invalid_grant\",\"error_description\""
                           ":\"bad \\u0007 code\",\"access_token\":\"at\","
                           "\"token_type\":\"bearer\"}"),
                     HS_ERR_PROVIDER);
    assert_string_equal(tok.error, "invalid_grant");
    assert_null(strchr(tok.error_description, '\a'));
    assert_string_equal(tok.access_token, ""); /* nothing usable kept */
}

static void test_bad_bodies_are_refused(void **st)
{
    static const char *const bad[] = {
        "", "not json", "[]", "\"at\"", "{}",
        "{\"access_token\":\"at\"} trailing",
        "{\"token_type\":\"bearer\"}",
        "{\"access_token\":5,\"token_type\":\"bearer\"}",
        "{\"access_token\":\"\",\"token_type\":\"bearer\"}",
        "{\"access_token\":\"at\"}",
        "{\"access_token\":\"at\",\"token_type\":\"mac\"}",
        "{\"access_token\":\"at\",\"token_type\":7}",
        "{\"access_token\":\"at\",\"token_type\":\"bearer\",\"expires_in\":-1}",
        "{\"access_token\":\"at\",\"token_type\":\"bearer\",\"expires_in\":"
        "\"3600\"}",
        "{\"access_token\":\"at\",\"token_type\":\"bearer\",\"refresh_token\""
        ":[]}",
        "{\"access_token\":\"at\",\"token_type\":\"bearer\",\"scope\":1}",
        "{\"access_token\":\"a\\u0000t\",\"token_type\":\"bearer\"}",
        "{\"access_token\":\"at\",\"access_token\":\"bt\",\"token_type\":"
        "\"bearer\"}",
        "{\"error\":5}",
    };
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum hs_err rc = parse(bad[i]);

        if (rc == HS_OK)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_oversized_token_is_refused(void **st)
{
    size_t n = EXCHANGE_TOKEN_MAX + 100;
    char *body = malloc(n + 64);
    (void)st;

    size_t at = strlen("{\"access_token\":\"");

    memcpy(body, "{\"access_token\":\"", at);
    memset(body + at, 'a', n);
    snprintf(body + at + n, 64, "%s", "\",\"token_type\":\"bearer\"}");
    assert_int_not_equal(exchange_token_parse(body, strlen(body), &tok),
                         HS_OK);
    free(body);
}

static void test_request_carries_pkce_and_client_auth(void **st)
{
    struct hs_provider p;
    struct exchange_secret sec;
    struct exchange_request req;
    const char *json = "{\"code\":\"c 1\",\"verifier\":\"v\",\"nonce\":\"n\","
                       "\"redirect_uri\":\"https://hs.example.com/cb\"}";
    (void)st;

    memset(&p, 0, sizeof(p));
    snprintf(p.client_id, sizeof(p.client_id), "%s", "id:x");
    snprintf(p.client_secret, sizeof(p.client_secret), "%s", "s&cret");
    p.token_auth = HS_AUTH_BASIC;
    assert_int_equal(exchange_secret_parse(json, strlen(json), 1, &sec), HS_OK);
    assert_int_equal(exchange_request_build(&p, &sec, &req), HS_OK);
    assert_true(req.basic);
    assert_string_equal(req.basic_user, "id%3Ax"); /* RFC 6749 §2.3.1 */
    assert_string_equal(req.basic_pass, "s%26cret");
    assert_non_null(strstr(req.body, "grant_type=authorization_code"));
    assert_non_null(strstr(req.body, "code=c+1"));
    assert_non_null(strstr(req.body, "code_verifier=v"));
    assert_non_null(strstr(req.body, "redirect_uri=https%3A%2F%2F"));
    assert_null(strstr(req.body, "client_secret"));
    p.token_auth = HS_AUTH_POST;
    assert_int_equal(exchange_request_build(&p, &sec, &req), HS_OK);
    assert_false(req.basic);
    assert_non_null(strstr(req.body, "client_secret=s%26cret"));
    assert_non_null(strstr(req.body, "client_id=id%3Ax"));
    exchange_request_wipe(&req);
    /* The sealed part of an error callback has no code. */
    assert_int_equal(exchange_secret_parse("{\"verifier\":\"v\"}", 16, 1,
                                           &sec), HS_ERR_DECODE);
    assert_int_equal(exchange_secret_parse("{\"verifier\":\"v\"}", 16, 0,
                                           &sec), HS_OK);
    assert_int_equal(exchange_secret_parse("[1]", 3, 0, &sec), HS_ERR_DECODE);
    exchange_secret_wipe(&sec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_responses),
        cmocka_unit_test(test_error_inside_a_200_is_a_provider_error),
        cmocka_unit_test(test_bad_bodies_are_refused),
        cmocka_unit_test(test_oversized_token_is_refused),
        cmocka_unit_test(test_request_carries_pkce_and_client_auth),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
