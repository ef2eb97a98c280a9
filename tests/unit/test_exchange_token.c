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
    assert_string_equal(tok.id_token, "x.y.z");
    assert_int_equal(parse("{\"access_token\":\"at\",\"token_type\":"
                           "\"Bearer\"}"), HS_OK);
    assert_string_equal(tok.id_token, "");
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
    const char *json = "{\"code\":\"c 1\",\"verifier\":\"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\",\"nonce\":\"n\","
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
    assert_non_null(strstr(req.body, "code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
    assert_non_null(strstr(req.body, "redirect_uri=https%3A%2F%2F"));
    assert_null(strstr(req.body, "client_secret"));
    p.token_auth = HS_AUTH_POST;
    assert_int_equal(exchange_request_build(&p, &sec, &req), HS_OK);
    assert_false(req.basic);
    assert_non_null(strstr(req.body, "client_secret=s%26cret"));
    assert_non_null(strstr(req.body, "client_id=id%3Ax"));
    exchange_request_wipe(&req);
    /* The sealed part of an error callback has no code. */
    {
        const char *nocode = "{\"verifier\":\"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\"}";
        const char *nover = "{\"code\":\"c\",\"redirect_uri\":\"https://x/cb\"}";
        const char *shortver = "{\"code\":\"c\",\"verifier\":\"v\","
                               "\"redirect_uri\":\"https://x/cb\"}";

        assert_int_equal(exchange_secret_parse(nocode, strlen(nocode), 1,
                                               &sec), HS_ERR_DECODE);
        assert_int_equal(exchange_secret_parse(nocode, strlen(nocode), 0,
                                               &sec), HS_OK);
        /* PKCE on every flow: no verifier, or one under 43 characters. */
        assert_int_equal(exchange_secret_parse(nover, strlen(nover), 1, &sec),
                         HS_ERR_DECODE);
        assert_int_equal(exchange_secret_parse(shortver, strlen(shortver), 1,
                                               &sec), HS_ERR_DECODE);
    }
    assert_int_equal(exchange_secret_parse("[1]", 3, 0, &sec), HS_ERR_DECODE);
    exchange_secret_wipe(&sec);
}

/* Refresh (RFC 6749 §6) and revocation (RFC 7009 §2.1) requests carry
 * the token, its grant or hint, and the same client authentication. */
static void test_refresh_and_revoke_requests(void **st)
{
    struct hs_provider p;
    struct exchange_request req;
    (void)st;

    memset(&p, 0, sizeof(p));
    snprintf(p.client_id, sizeof(p.client_id), "%s", "id");
    snprintf(p.client_secret, sizeof(p.client_secret), "%s", "s&cret");
    p.token_auth = HS_AUTH_POST;
    assert_int_equal(exchange_refresh_build(&p, "rt/1+", &req), HS_OK);
    assert_string_equal(req.body, "grant_type=refresh_token&refresh_token="
                                  "rt%2F1%2B&client_id=id&client_secret="
                                  "s%26cret");
    p.token_auth = HS_AUTH_BASIC;
    assert_int_equal(exchange_revoke_build(&p, "at", "access_token", &req),
                     HS_OK);
    assert_string_equal(req.body, "token=at&token_type_hint=access_token");
    assert_true(req.basic);
    assert_string_equal(req.basic_pass, "s%26cret");
    exchange_request_wipe(&req);
    assert_int_equal(exchange_refresh_build(&p, "", &req), HS_ERR_INVALID);
    assert_int_equal(exchange_revoke_build(&p, "", "access_token", &req),
                     HS_ERR_INVALID);
}

#define GOOD_TAIL "\"token_type\":\"bearer\""

/* Every refusal with its exact code; *out is left as it was. */
static void test_refusals_have_exact_codes_and_leave_out_alone(void **st)
{
    static const struct {
        const char *body;
        enum hs_err rc;
    } t[] = {
        {"", HS_ERR_DECODE},
        {"not json", HS_ERR_DECODE},
        {"[{\"access_token\":\"at\"," GOOD_TAIL "}]", HS_ERR_DECODE},
        {"null", HS_ERR_DECODE},
        {"42", HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL "} x", HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL "}{}", HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL, HS_ERR_DECODE}, /* cut */
        {"{" GOOD_TAIL "}", HS_ERR_DECODE},
        {"{\"access_token\":null," GOOD_TAIL "}", HS_ERR_DECODE},
        {"{\"access_token\":1," GOOD_TAIL "}", HS_ERR_DECODE},
        {"{\"access_token\":[\"at\"]," GOOD_TAIL "}", HS_ERR_DECODE},
        {"{\"access_token\":\"\"," GOOD_TAIL "}", HS_ERR_DECODE},
        {"{\"access_token\":\"a t\"," GOOD_TAIL "}", HS_ERR_DECODE},
        {"{\"access_token\":\"a\\nt\"," GOOD_TAIL "}", HS_ERR_DECODE},
        {"{\"access_token\":\"\xc3\xa9\"," GOOD_TAIL "}", HS_ERR_DECODE},
        {"{\"access_token\":\"at\"}", HS_ERR_DECODE},
        {"{\"access_token\":\"at\",\"token_type\":null}", HS_ERR_DECODE},
        {"{\"access_token\":\"at\",\"token_type\":\"\"}", HS_ERR_DECODE},
        {"{\"access_token\":\"at\",\"token_type\":\"bearerx\"}", HS_ERR_DECODE},
        {"{\"access_token\":\"at\",\"token_type\":\"bear\"}", HS_ERR_DECODE},
        {"{\"access_token\":\"at\",\"token_type\":\"DPoP\"}", HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"expires_in\":-1}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"expires_in\":0}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"expires_in\":\"60\"}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"expires_in\":1.5}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"expires_in\":null}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"refresh_token\":5}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"refresh_token\":{}}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"refresh_token\":\"r t\"}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"scope\":[\"a\"]}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"id_token\":1}",
         HS_ERR_DECODE},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"token_type\":\"bearer\"}",
         HS_ERR_DECODE}, /* duplicate key */
        /* An "error" member that is not a usable code. */
        {"{\"error\":null}", HS_ERR_DECODE},
        {"{\"error\":\"\"}", HS_ERR_DECODE},
        {"{\"error\":\"two words\"}", HS_ERR_DECODE},
        {"{\"error\":\"q\\\"uote\"}", HS_ERR_DECODE},
        {"{\"error\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaa\"}", HS_ERR_DECODE}, /* 64 bytes */
        {"{\"error\":\"invalid_grant\",\"error_description\":5}",
         HS_ERR_DECODE},
    };
    (void)st;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        enum hs_err rc;

        memset(&tok, 0x5a, sizeof(tok));
        rc = parse(t[i].body);
        if (rc != t[i].rc)
            fail_msg("%s: %d, want %d", t[i].body, rc, t[i].rc);
        for (size_t b = 0; b < sizeof(tok); b++)
            if (((unsigned char *)&tok)[b] != 0x5a)
                fail_msg("%s: out touched at byte %zu", t[i].body, b);
    }
}

static void test_good_bodies_table(void **st)
{
    static const struct {
        const char *body, *access, *refresh, *scope;
        int64_t expires_in;
    } t[] = {
        {"{\"access_token\":\"at\",\"token_type\":\"BEARER\"}", "at", "", "",
         0},
        {"{\"access_token\":\"at\",\"token_type\":\"bEaReR\"}", "at", "", "",
         0},
        {" {\"token_type\":\"Bearer\",\"access_token\":\"a.b-c_d~e+f/g=\"}\n",
         "a.b-c_d~e+f/g=", "", "", 0},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"expires_in\":1,"
         "\"x_unknown\":{\"nested\":[1,2]},\"id_token\":\"h.p.s\"}",
         "at", "", "", 1},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"scope\":\"\","
         "\"refresh_token\":\"rt\"}", "at", "rt", "", 0},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"scope\":\"a b  c\"}",
         "at", "", "a b  c", 0},
        {"{\"access_token\":\"at\"," GOOD_TAIL ",\"expires_in\":2147483647}",
         "at", "", "", 2147483647},
    };
    (void)st;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        memset(&tok, 0x5a, sizeof(tok));
        if (parse(t[i].body) != HS_OK)
            fail_msg("refused: %s", t[i].body);
        assert_string_equal(tok.access_token, t[i].access);
        assert_string_equal(tok.token_type, "Bearer");
        assert_string_equal(tok.refresh_token, t[i].refresh);
        assert_string_equal(tok.scope, t[i].scope);
        assert_int_equal(tok.expires_in, t[i].expires_in);
        assert_string_equal(tok.error, "");
        assert_string_equal(tok.error_description, "");
    }
    exchange_token_wipe(&tok);
    for (size_t b = 0; b < sizeof(tok); b++)
        assert_int_equal(((unsigned char *)&tok)[b], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_responses),
        cmocka_unit_test(test_error_inside_a_200_is_a_provider_error),
        cmocka_unit_test(test_bad_bodies_are_refused),
        cmocka_unit_test(test_oversized_token_is_refused),
        cmocka_unit_test(test_request_carries_pkce_and_client_auth),
        cmocka_unit_test(test_refresh_and_revoke_requests),
        cmocka_unit_test(test_refusals_have_exact_codes_and_leave_out_alone),
        cmocka_unit_test(test_good_bodies_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
