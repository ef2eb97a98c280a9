/* Unit tests of producers/ingress/ingress_params.h: query validation,
 * cookie parsing, the binding cookie and provider names, with tables of
 * bad input (SECURITY 10); and of the request body limits of
 * ingress_http.h (issue 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ingress_http.h"
#include "ingress_params.h"

static const char *const cb_allowed[] = {"code", "state", "error",
                                         "error_description", NULL};

#define P(k, v) {(k), (v), sizeof(v) - 1} /* string literals */
#define PS(k, v) {(k), (v), strlen(v)}    /* arrays filled at run time */
#define PNULL(k) {(k), NULL, 0}           /* bare "?k" */

static char big[INGRESS_PARAM_MAX + 2];
static char edge[INGRESS_PARAM_MAX + 1];

static void fill(void)
{
    memset(big, 'a', INGRESS_PARAM_MAX + 1);
    big[INGRESS_PARAM_MAX + 1] = '\0';
    memset(edge, 'a', INGRESS_PARAM_MAX);
    edge[INGRESS_PARAM_MAX] = '\0';
}

static void test_query_accepts_expected_params(void **st)
{
    struct ingress_param ok1[] = {P("code", "abc"), P("state", "dev.x")};
    struct ingress_param ok2[] = {P("error", "access_denied"),
                                  P("error_description", "The user said no"),
                                  P("state", "dev.x")};
    struct ingress_param ok3[] = {PS("state", edge)};
    struct ingress_param ok4[] = {PNULL("code")};
    const char *why = "untouched";
    (void)st;

    assert_int_equal(ingress_query_verify(ok1, 2, cb_allowed, &why), HS_OK);
    assert_int_equal(ingress_query_verify(ok2, 3, cb_allowed, &why), HS_OK);
    assert_int_equal(ingress_query_verify(ok3, 1, cb_allowed, &why), HS_OK);
    assert_int_equal(ingress_query_verify(ok4, 1, cb_allowed, &why), HS_OK);
    assert_int_equal(ingress_query_verify(NULL, 0, cb_allowed, &why), HS_OK);
    assert_string_equal(why, "untouched");
}

struct bad_query {
    const char *name;
    struct ingress_param p[3];
    size_t n;
    const char *why;
};

static void test_query_refuses_bad_input_table(void **st)
{
    static const char nul_value[] = "ab\0cd"; /* a decoded "%00" */
    const struct bad_query bad[] = {
        {"duplicate", {P("code", "a"), P("code", "a")}, 2,
         "duplicate_param"},
        {"duplicate apart", {P("state", "s"), P("code", "a"),
                             P("state", "t")}, 3, "duplicate_param"},
        {"duplicate bare", {P("code", ""), PNULL("code")}, 2,
         "duplicate_param"},
        {"unknown", {P("code", "a"), P("next", "/x")}, 2, "unknown_param"},
        {"unknown case", {P("Code", "a")}, 1, "unknown_param"},
        {"empty key", {P("", "a")}, 1, "unknown_param"},
        {"oversized", {PS("code", big)}, 1, "oversized_param"},
        {"control 0x01", {P("code", "a\x01" "b")}, 1, "control_character"},
        {"newline", {P("error_description", "a\nb")}, 1,
         "control_character"},
        {"tab", {P("code", "a\tb")}, 1, "control_character"},
        {"DEL", {P("code", "a\x7f")}, 1, "control_character"},
        {"NUL", {{"code", nul_value, 5}}, 1, "control_character"},
    };
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;

        if (ingress_query_verify(bad[i].p, bad[i].n, cb_allowed, &why) !=
            HS_ERR_INVALID)
            fail_msg("accepted: %s", bad[i].name);
        if (!why || strcmp(why, bad[i].why) != 0)
            fail_msg("%s: reason %s, want %s", bad[i].name,
                     why ? why : "(null)", bad[i].why);
    }
}

static void test_query_refuses_too_many(void **st)
{
    struct ingress_param p[INGRESS_PARAMS_MAX + 1];
    const char *allowed[INGRESS_PARAMS_MAX + 2];
    char keys[INGRESS_PARAMS_MAX + 1][8];
    const char *why = NULL;
    (void)st;

    for (int i = 0; i <= INGRESS_PARAMS_MAX; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        allowed[i] = keys[i];
        p[i].key = keys[i];
        p[i].value = "v";
        p[i].value_len = 1;
    }
    allowed[INGRESS_PARAMS_MAX + 1] = NULL;
    assert_int_equal(ingress_query_verify(p, INGRESS_PARAMS_MAX, allowed,
                                          &why), HS_OK);
    assert_int_equal(ingress_query_verify(p, INGRESS_PARAMS_MAX + 1, allowed,
                                          &why), HS_ERR_INVALID);
    assert_string_equal(why, "too_many_params");
}

static void test_param_get(void **st)
{
    struct ingress_param p[] = {P("code", "abc"), PNULL("state")};
    (void)st;

    assert_string_equal(ingress_param_get(p, 2, "code"), "abc");
    assert_string_equal(ingress_param_get(p, 2, "state"), "");
    assert_null(ingress_param_get(p, 2, "error"));
    assert_null(ingress_param_get(NULL, 0, "code"));
}

struct cookie_case {
    const char *header;
    const char *name;
    enum hs_err rc;
    const char *value;
};

static void test_cookie_get_table(void **st)
{
    static const struct cookie_case cases[] = {
        {"hs_bind=abc", "hs_bind", HS_OK, "abc"},
        {"a=1; hs_bind=abc; b=2", "hs_bind", HS_OK, "abc"},
        {"a=1;hs_bind=abc;b=2", "hs_bind", HS_OK, "abc"},
        {"  hs_bind = abc  ; x=y", "hs_bind", HS_OK, "abc"},
        {"hs_bind=\"abc\"", "hs_bind", HS_OK, "abc"},
        {"hs_bind=", "hs_bind", HS_OK, ""},
        {"hs_bind=a=b", "hs_bind", HS_OK, "a=b"},
        {"x_hs_bind=abc", "hs_bind", HS_ERR_NOTFOUND, NULL},
        {"hs_bindx=abc", "hs_bind", HS_ERR_NOTFOUND, NULL},
        {"hs_bind", "hs_bind", HS_ERR_NOTFOUND, NULL},
        {"", "hs_bind", HS_ERR_NOTFOUND, NULL},
        {";;;", "hs_bind", HS_ERR_NOTFOUND, NULL},
        {NULL, "hs_bind", HS_ERR_NOTFOUND, NULL},
        {"a=1; a=2", "a", HS_ERR_INVALID, NULL}, /* tossed cookie */
        {"a=1; b=2; a=1", "a", HS_ERR_INVALID, NULL},
        {"a=0123456789abcdef", "a", HS_ERR_TOOBIG, NULL}, /* cap 16 */
        {"__Host-hs_bind=v; hs_bind=w", "__Host-hs_bind", HS_OK, "v"},
    };
    (void)st;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[16] = "untouched";
        enum hs_err rc = ingress_cookie_get(cases[i].header, cases[i].name,
                                            out, sizeof(out));

        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d", i,
                     cases[i].header ? cases[i].header : "NULL", rc,
                     cases[i].rc);
        if (rc == HS_OK)
            assert_string_equal(out, cases[i].value);
        else
            assert_string_equal(out, "untouched");
    }
}

static void test_cookie_name_takes_host_prefix_under_https(void **st)
{
    char buf[40], tiny[8];
    (void)st;

    assert_string_equal(ingress_cookie_name(0, "hs_bind", buf, sizeof(buf)),
                        "hs_bind");
    assert_string_equal(ingress_cookie_name(1, "hs_bind", buf, sizeof(buf)),
                        "__Host-hs_bind");
    assert_null(ingress_cookie_name(1, "hs_bind", tiny, sizeof(tiny)));
}

static void test_binding_cookie(void **st)
{
    /* 43 base64url chars = 32 bytes. */
    const char *good = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char hdr[200], out[44];
    static const char *const bad[] = {
        "hs_bind=short",
        "hs_bind=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* 42 */
        "hs_bind=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 44 */
        "hs_bind=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",  /* not url */
        "hs_bind=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.",
        "hs_bind=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; "
        "hs_bind=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    };
    (void)st;

    snprintf(hdr, sizeof(hdr), "x=1; hs_bind=%s", good);
    assert_int_equal(ingress_binding_get(hdr, 0, out, sizeof(out)), HS_OK);
    assert_string_equal(out, good);
    /* Under https only the __Host- cookie counts. */
    assert_int_equal(ingress_binding_get(hdr, 1, out, sizeof(out)),
                     HS_ERR_NOTFOUND);
    snprintf(hdr, sizeof(hdr), "__Host-hs_bind=%s", good);
    assert_int_equal(ingress_binding_get(hdr, 1, out, sizeof(out)), HS_OK);
    assert_int_equal(ingress_binding_get(NULL, 0, out, sizeof(out)),
                     HS_ERR_NOTFOUND);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(out, "untouched", 10);
        if (ingress_binding_get(bad[i], 0, out, sizeof(out)) !=
            HS_ERR_INVALID)
            fail_msg("accepted binding cookie %zu", i);
        assert_string_equal(out, "untouched");
    }
}

static void test_provider_name(void **st)
{
    char out[32] = "untouched";
    static const char *const bad[] = {"", "git-hub", "git hub", "git/hub",
                                      "gitHub%20", "\xc3\xbc",
                                      "0123456789012345678901234567890123"};
    (void)st;

    assert_int_equal(ingress_provider_parse("GitHub", 6, out, sizeof(out)),
                     HS_OK);
    assert_string_equal(out, "github");
    assert_int_equal(ingress_provider_parse("demo2/x", 5, out, sizeof(out)),
                     HS_OK);
    assert_string_equal(out, "demo2");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(out, "untouched", 10);
        if (ingress_provider_parse(bad[i], strlen(bad[i]), out,
                                   sizeof(out)) != HS_ERR_INVALID)
            fail_msg("accepted provider name %s", bad[i]);
        assert_string_equal(out, "untouched");
    }
}

static void test_body_length_within_the_cap_is_ok(void **st)
{
    static const char *const ok[] = {NULL, "0", "1", "16384", "016384",
                                     "0000000000000000000000000000001"};

    (void)st;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (ingress_body_length_verify(ok[i], INGRESS_BODY_MAX) != HS_OK)
            fail_msg("refused Content-Length %s", ok[i] ? ok[i] : "(none)");
}

static void test_body_length_past_the_cap_is_toobig(void **st)
{
    static const char *const huge[] = {
        "16385", "1048576", "67108864", "10737418240",
        "18446744073709551615",                 /* UINT64_MAX */
        "18446744073709551616",                 /* past it */
        "99999999999999999999999999999999999999999999999999"};

    (void)st;
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++)
        if (ingress_body_length_verify(huge[i], INGRESS_BODY_MAX) !=
            HS_ERR_TOOBIG)
            fail_msg("accepted Content-Length %s", huge[i]);
    assert_int_equal(ingress_body_length_verify("0", 0), HS_OK);
    assert_int_equal(ingress_body_length_verify("1", 0), HS_ERR_TOOBIG);
}

static void test_body_length_malformed_is_invalid(void **st)
{
    static const char *const bad[] = {"", " 1", "1 ", "-1", "+1", "0x10",
                                      "1e3", "1,2", "12a", "\t5"};

    (void)st;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ingress_body_length_verify(bad[i], INGRESS_BODY_MAX) !=
            HS_ERR_INVALID)
            fail_msg("took Content-Length \"%s\"", bad[i]);
}

static void test_body_verify_keeps_drops_then_closes(void **st)
{
    const size_t max = INGRESS_BODY_MAX;

    (void)st;
    assert_int_equal(ingress_body_verify(0, max, 0), INGRESS_BODY_KEEP);
    assert_int_equal(ingress_body_verify(max, max, 0), INGRESS_BODY_KEEP);
    assert_int_equal(ingress_body_verify(max + 1, max, 0), INGRESS_BODY_DROP);
    assert_int_equal(ingress_body_verify(max + INGRESS_BODY_SLACK, max, 0),
                     INGRESS_BODY_DROP);
    assert_int_equal(
        ingress_body_verify(max + INGRESS_BODY_SLACK + 1, max, 0),
        INGRESS_BODY_CLOSE);
    assert_int_equal(ingress_body_verify(SIZE_MAX, max, 0),
                     INGRESS_BODY_CLOSE);
}

static void test_body_verify_closes_a_slow_body(void **st)
{
    const size_t max = INGRESS_BODY_MAX;

    (void)st;
    assert_int_equal(ingress_body_verify(10, max, INGRESS_BODY_TIME_MAX_MS),
                     INGRESS_BODY_KEEP);
    assert_int_equal(
        ingress_body_verify(10, max, INGRESS_BODY_TIME_MAX_MS + 1),
        INGRESS_BODY_CLOSE);
    assert_int_equal(
        ingress_body_verify(max + 1, max, INGRESS_BODY_TIME_MAX_MS + 1),
        INGRESS_BODY_CLOSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_accepts_expected_params),
        cmocka_unit_test(test_query_refuses_bad_input_table),
        cmocka_unit_test(test_query_refuses_too_many),
        cmocka_unit_test(test_param_get),
        cmocka_unit_test(test_cookie_get_table),
        cmocka_unit_test(test_cookie_name_takes_host_prefix_under_https),
        cmocka_unit_test(test_binding_cookie),
        cmocka_unit_test(test_provider_name),
        cmocka_unit_test(test_body_length_within_the_cap_is_ok),
        cmocka_unit_test(test_body_length_past_the_cap_is_toobig),
        cmocka_unit_test(test_body_length_malformed_is_invalid),
        cmocka_unit_test(test_body_verify_keeps_drops_then_closes),
        cmocka_unit_test(test_body_verify_closes_a_slow_body),
    };

    fill(); /* before any test builds a table from big or edge */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
