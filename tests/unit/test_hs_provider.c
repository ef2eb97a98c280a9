/* Unit tests of lib/hs_provider: the strict catalog (SPEC §6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_provider.h"

#define GOOD_BODY                                                             \
    "\"authorize_url\":\"https://id.acme.example/authorize\","                \
    "\"token_url\":\"https://id.acme.example/token\","                        \
    "\"scopes\":[\"openid\",\"email\"],\"client_id\":\"handshake\","          \
    "\"client_secret_env\":\"HS_T_SECRET\""

static enum hs_err parse(const char *json, int allow_http,
                         struct hs_catalog *cat, char *err, size_t errlen)
{
    return hs_catalog_parse(json, strlen(json), allow_http, cat, err, errlen);
}

static void test_good_catalog_parses_with_defaults(void **st)
{
    struct hs_catalog cat = {0};
    const struct hs_provider *p;
    char err[300];
    (void)st;

    setenv("HS_T_SECRET", "s3cret", 1);
    assert_int_equal(parse("{\"providers\":{\"Acme\":{" GOOD_BODY
                           ",\"token_auth\":\"client_secret_post\","
                           "\"issuer\":\"https://id.acme.example\"}}}",
                           0, &cat, err, sizeof(err)), HS_OK);
    assert_int_equal(cat.n, 1);
    p = hs_catalog_find(&cat, "ACME");
    assert_non_null(p);
    assert_string_equal(p->name, "acme");
    assert_string_equal(p->scopes, "openid email");
    assert_string_equal(p->client_secret, "s3cret");
    assert_int_equal(p->token_auth, HS_AUTH_POST);
    assert_int_equal(p->pkce, 1);
    assert_int_equal(p->refresh, 0);
    assert_null(hs_catalog_find(&cat, "ac me"));
    assert_null(hs_catalog_find(&cat, "other"));
    hs_catalog_cleanup(&cat);
    hs_catalog_cleanup(&cat); /* safe twice */
}

struct bad {
    const char *json, *want; /* want: a piece of the error */
};

static void test_issuer_lets_discovery_fill_urls(void **st)
{
    struct hs_catalog cat = {0};
    char err[300] = "";
    (void)st;

    setenv("HS_T_SECRET", "s3cret", 1);
    assert_int_equal(parse("{\"providers\":{\"acme\":{\"issuer\":"
                           "\"https://id.acme.example\",\"scopes\":"
                           "[\"openid\"],\"client_id\":\"c\","
                           "\"client_secret_env\":\"HS_T_SECRET\"}}}",
                           0, &cat, err, sizeof(err)),
                     HS_OK);
    assert_string_equal(cat.v[0].authorize_url, "");
    hs_catalog_cleanup(&cat);
    /* without an issuer the URLs stay required, and the error says how */
    assert_int_equal(parse("{\"providers\":{\"acme\":{\"scopes\":"
                           "[\"openid\"],\"client_id\":\"c\","
                           "\"client_secret_env\":\"HS_T_SECRET\"}}}",
                           0, &cat, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_non_null(strstr(err, "or an \"issuer\" to discover it"));
}

static void test_bad_catalogs_name_the_provider_and_key(void **st)
{
    static const struct bad bad[] = {
        {"not json", "not valid JSON"},
        {"[]", "expected"},
        {"{\"providers\":{},\"x\":1}", "unknown top-level key"},
        {"{\"providers\":{\"acme\":{" GOOD_BODY ",\"scope\":\"x\"}}}",
         "provider \"acme\": unknown key \"scope\""},
        {"{\"providers\":{\"acme\":{" GOOD_BODY ",\"pkce\":\"yes\"}}}",
         "\"pkce\""},
        {"{\"providers\":{\"acme\":{" GOOD_BODY ",\"token_auth\":\"none\"}}}",
         "token_auth"},
        {"{\"providers\":{\"acme\":{\"token_url\":\"https://x/t\",\"scopes\":"
         "[],\"client_id\":\"c\",\"client_secret_env\":\"HS_T_SECRET\"}}}",
         "\"authorize_url\" is required"},
        {"{\"providers\":{\"acme\":{" GOOD_BODY
         ",\"userinfo_url\":\"http://id.acme.example/me\"}}}",
         "https URL"},
        {"{\"providers\":{\"ac-me\":{" GOOD_BODY "}}}", "must match"},
        {"{\"providers\":{\"acme\":{" GOOD_BODY "},\"ACME\":{" GOOD_BODY
         "}}}", "listed twice"},
        {"{\"providers\":{\"acme\":{\"authorize_url\":\"https://x/a\","
         "\"token_url\":\"https://x/t\",\"scopes\":[\"a\"],\"client_id\":"
         "\"c\",\"client_secret_env\":\"HS_T_UNSET\"}}}",
         "HS_T_UNSET (its client_secret_env) is not set"},
        {"{\"providers\":{\"acme\":{" GOOD_BODY ",\"scopes\":[1]}}}",
         "duplicate"}, /* JSON_REJECT_DUPLICATES */
    };
    (void)st;

    setenv("HS_T_SECRET", "s3cret", 1);
    unsetenv("HS_T_UNSET");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hs_catalog cat = {(struct hs_provider *)0x1, 77};
        char err[300] = "";

        if (parse(bad[i].json, 0, &cat, err, sizeof(err)) != HS_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i].json);
        assert_ptr_equal(cat.v, (struct hs_provider *)0x1);
        assert_int_equal(strncmp(err, "HS_PROVIDERS: ", 14), 0);
        if (!strstr(err, bad[i].want))
            fail_msg("error \"%s\" lacks \"%s\"", err, bad[i].want);
        assert_null(strstr(err, "s3cret"));
    }
}

static void test_http_urls_only_when_allowed(void **st)
{
    struct hs_catalog cat = {0};
    char err[300];
    const char *json = "{\"providers\":{\"dev\":{\"authorize_url\":"
                       "\"http://127.0.0.1:1/a\",\"token_url\":"
                       "\"http://127.0.0.1:1/t\",\"scopes\":[\"a\"],"
                       "\"client_id\":\"c\",\"client_secret_env\":"
                       "\"HS_T_SECRET\"}}}";
    (void)st;

    setenv("HS_T_SECRET", "s", 1);
    assert_int_equal(parse(json, 0, &cat, err, sizeof(err)), HS_ERR_CONFIG);
    assert_int_equal(parse(json, 1, &cat, err, sizeof(err)), HS_OK);
    hs_catalog_cleanup(&cat);
}

static void test_shipped_catalog_parses(void **st)
{
    struct hs_catalog cat = {0};
    char err[300];
    static const char *const names[] = {"GITHUB", "GITLAB", "SLACK",
                                        "ATLASSIAN", "MICROSOFT", "GOOGLE",
                                        "BITBUCKET", "LINEAR", "OIDC"};
    (void)st;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char var[64];

        snprintf(var, sizeof(var), "HS_%s_CLIENT_SECRET", names[i]);
        setenv(var, "x", 1);
    }
    assert_int_equal(hs_catalog_load(HS_SOURCE_DIR "/schemas/providers.json",
                                     0, &cat, err, sizeof(err)), HS_OK);
    assert_int_equal(cat.n, 9);
    assert_non_null(hs_catalog_find(&cat, "GitHub"));
    hs_catalog_cleanup(&cat);
    assert_int_equal(hs_catalog_load("/nonexistent.json", 0, &cat, err,
                                     sizeof(err)), HS_ERR_CONFIG);
}

#define PROV(name, body) "{\"providers\":{\"" name "\":{" body "}}}"

/* Each row replaces or adds one key of a good provider "acme". */
static void test_wrong_types_are_refused_naming_provider_and_key(void **st)
{
    static const struct bad bad[] = {
        {PROV("acme", GOOD_BODY ",\"authorize_url\":5"), "duplicate"},
        {PROV("acme", "\"authorize_url\":5,\"token_url\":\"https://x/t\","
                      "\"scopes\":[\"a\"],\"client_id\":\"c\","
                      "\"client_secret_env\":\"HS_T_SECRET\""),
         "provider \"acme\": \"authorize_url\""},
        {PROV("acme", GOOD_BODY ",\"issuer\":true"),
         "provider \"acme\": \"issuer\""},
        {PROV("acme", GOOD_BODY ",\"refresh\":1"),
         "provider \"acme\": \"refresh\""},
        {PROV("acme", GOOD_BODY ",\"signin\":\"true\""),
         "provider \"acme\": \"signin\""},
        {PROV("acme", GOOD_BODY ",\"use_auth_origin\":null"),
         "provider \"acme\": \"use_auth_origin\""},
        {PROV("acme", GOOD_BODY ",\"token_auth\":1"),
         "provider \"acme\": \"token_auth\""},
        {PROV("acme", GOOD_BODY ",\"revoke_url\":\"ftp://x/r\""),
         "provider \"acme\": \"revoke_url\""},
        {PROV("acme", GOOD_BODY ",\"revoke_url\":\"https://u@x/r\""),
         "provider \"acme\": \"revoke_url\""},
        {PROV("acme", GOOD_BODY ",\"revoke_url\":\"https://x/r#f\""),
         "provider \"acme\": \"revoke_url\""},
        {PROV("acme", GOOD_BODY ",\"revoke_url\":\"https://x/a b\""),
         "provider \"acme\": \"revoke_url\""},
        {PROV("acme", GOOD_BODY ",\"revoke_url\":\"\""),
         "provider \"acme\": \"revoke_url\""},
        {"{\"providers\":{\"acme\":\"x\"}}", "provider \"acme\""},
        {"{\"providers\":[]}", "expected"},
        {"{\"providers\":{\"\":{" GOOD_BODY "}}}", "must match"},
        {"{\"providers\":{\"abcdefghijabcdefghijabcdefghijab\":{" GOOD_BODY
         "}}}", "must match"},
        {"{}", "expected"},
    };
    (void)st;

    setenv("HS_T_SECRET", "s3cret", 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hs_catalog cat = {(struct hs_provider *)0x1, 77};
        char err[300] = "";

        if (parse(bad[i].json, 1, &cat, err, sizeof(err)) != HS_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i].json);
        assert_ptr_equal(cat.v, (struct hs_provider *)0x1);
        assert_int_equal(cat.n, 77);
        if (!strstr(err, bad[i].want))
            fail_msg("error \"%s\" lacks \"%s\"", err, bad[i].want);
    }
}

static void test_scopes_must_be_plain_strings(void **st)
{
    static const char *const bad[] = {
        PROV("acme", "\"authorize_url\":\"https://x/a\",\"token_url\":"
                     "\"https://x/t\",\"client_id\":\"c\","
                     "\"client_secret_env\":\"HS_T_SECRET\","
                     "\"scopes\":\"openid\""),
        PROV("acme", "\"authorize_url\":\"https://x/a\",\"token_url\":"
                     "\"https://x/t\",\"client_id\":\"c\","
                     "\"client_secret_env\":\"HS_T_SECRET\",\"scopes\":[\"\"]"),
        PROV("acme", "\"authorize_url\":\"https://x/a\",\"token_url\":"
                     "\"https://x/t\",\"client_id\":\"c\","
                     "\"client_secret_env\":\"HS_T_SECRET\","
                     "\"scopes\":[\"a b\"]"),
        PROV("acme", "\"authorize_url\":\"https://x/a\",\"token_url\":"
                     "\"https://x/t\",\"client_id\":\"c\","
                     "\"client_secret_env\":\"HS_T_SECRET\","
                     "\"scopes\":[\"a\",1]"),
    };
    (void)st;

    setenv("HS_T_SECRET", "s3cret", 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hs_catalog cat = {0};
        char err[300] = "";

        if (parse(bad[i], 0, &cat, err, sizeof(err)) != HS_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(err, "provider \"acme\""));
        assert_null(cat.v);
    }
}

static void test_client_secret_variable_is_named_never_its_value(void **st)
{
    static char big[600];
    struct hs_catalog cat = {0};
    char err[300] = "";
    const char *json = PROV("acme", "\"authorize_url\":\"https://x/a\","
                                    "\"token_url\":\"https://x/t\","
                                    "\"scopes\":[\"a\"],\"client_id\":\"c\","
                                    "\"client_secret_env\":\"HS_T_OTHER\"");
    (void)st;

    setenv("HS_T_OTHER", "", 1); /* empty is not set */
    assert_int_equal(parse(json, 0, &cat, err, sizeof(err)), HS_ERR_CONFIG);
    assert_non_null(strstr(err, "HS_T_OTHER"));
    memset(big, 'q', sizeof(big) - 1);
    setenv("HS_T_OTHER", big, 1); /* too long for client_secret */
    assert_int_equal(parse(json, 0, &cat, err, sizeof(err)), HS_ERR_CONFIG);
    assert_non_null(strstr(err, "HS_T_OTHER"));
    assert_null(strstr(err, "qqqq"));
    setenv("HS_T_OTHER", "v", 1);
    assert_int_equal(parse(json, 0, &cat, err, sizeof(err)), HS_OK);
    assert_string_equal(cat.v[0].client_secret, "v");
    hs_catalog_cleanup(&cat);
    unsetenv("HS_T_OTHER");
}

static void test_find_is_case_insensitive_and_refuses_bad_names(void **st)
{
    struct hs_catalog cat = {0};
    char err[300];
    (void)st;

    setenv("HS_T_SECRET", "s", 1);
    assert_int_equal(parse("{\"providers\":{\"demo\":{" GOOD_BODY "},"
                           "\"Other2\":{" GOOD_BODY ",\"refresh\":true}}}",
                           0, &cat, err, sizeof(err)), HS_OK);
    assert_int_equal(cat.n, 2);
    assert_ptr_equal(hs_catalog_find(&cat, "DeMo"), &cat.v[0]);
    assert_ptr_equal(hs_catalog_find(&cat, "other2"), &cat.v[1]);
    assert_string_equal(cat.v[1].name, "other2");
    assert_int_equal(cat.v[1].refresh, 1);
    assert_int_equal(cat.v[1].token_auth, HS_AUTH_BASIC); /* default */
    assert_null(hs_catalog_find(&cat, "de mo"));
    assert_null(hs_catalog_find(&cat, ""));
    assert_null(hs_catalog_find(&cat, "demo\n"));
    assert_null(hs_catalog_find(&cat, "dem"));
    assert_null(hs_catalog_find(&cat, "demo2"));
    hs_catalog_cleanup(&cat);
    assert_null(hs_catalog_find(&cat, "demo"));
}

/* schemas/providers.json parses once every variable it names is set. */
static void test_shipped_catalog_parses_with_the_variables_it_names(void **st)
{
    const char *path = HS_SOURCE_DIR "/schemas/providers.json";
    json_t *root = json_load_file(path, 0, NULL), *provs, *p;
    struct hs_catalog cat = {0};
    const char *name;
    char err[300];
    (void)st;

    if (!root)
        skip();
    provs = json_object_get(root, "providers");
    assert_true(json_is_object(provs));
    json_object_foreach(provs, name, p) {
        const char *var =
            json_string_value(json_object_get(p, "client_secret_env"));

        assert_non_null(var);
        assert_int_equal(strncmp(var, "HS_", 3), 0);
        setenv(var, "x", 1);
    }
    assert_int_equal(hs_catalog_load(path, 0, &cat, err, sizeof(err)), HS_OK);
    assert_int_equal(cat.n, json_object_size(provs));
    json_object_foreach(provs, name, p)
        assert_non_null(hs_catalog_find(&cat, name));
    hs_catalog_cleanup(&cat);
    json_decref(root);
}

/* Errors stay one printable line whatever the catalog holds; names and
 * variable names are validated before they reach an error. */
static void test_errors_are_one_printable_line(void **st)
{
    static const struct bad bad[] = {
        {PROV("acme", GOOD_BODY ",\"sc\\nope\":1"), "unknown key \"sc?ope\""},
        {PROV("ac\\u001bme", GOOD_BODY), "provider name \"ac?me\""},
        {PROV("acme", GOOD_BODY ",\"x\\\"y\":1"), "unknown key \"x?y\""},
        {"{\"providers\":{},\"\\r\\nfake\":1}", "top-level key \"??fake\""},
        {PROV("acme", GOOD_BODY ",\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                "aaaaaaaaaaaaaaa\":1"),
         "aaaaaaaaaa...\""},
        {"{\"providers\":\n{\"acme\":\n", "not valid JSON (line 3"},
    };
    (void)st;

    setenv("HS_T_SECRET", "s3cret", 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hs_catalog cat = {0};
        char err[300] = "";

        if (parse(bad[i].json, 0, &cat, err, sizeof(err)) != HS_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i].json);
        for (const char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                fail_msg("row %zu: byte 0x%02x in \"%s\"", i,
                         (unsigned char)*p, err);
        if (!strstr(err, bad[i].want))
            fail_msg("error \"%s\" lacks \"%s\"", err, bad[i].want);
    }
    /* a short error buffer truncates, never overflows */
    {
        struct hs_catalog cat = {0};
        char err[20];

        memset(err, 'x', sizeof(err));
        assert_int_equal(parse("nope", 0, &cat, err, 8), HS_ERR_CONFIG);
        assert_int_equal(strlen(err), 7);
        assert_int_equal(err[8], 'x');
        assert_int_equal(parse("nope", 0, &cat, NULL, 0), HS_ERR_CONFIG);
    }
}

#define BODY_WITH(secret_env, scope, client_id)                              \
    PROV("acme", "\"authorize_url\":\"https://x/a\",\"token_url\":"         \
                 "\"https://x/t\",\"scopes\":[\"" scope "\"],\"client_id\":" \
                 "\"" client_id "\",\"client_secret_env\":\"" secret_env "\"")

/* Tables of bad variable names, scope tokens and client ids. */
static void test_variable_scope_and_client_id_tables(void **st)
{
    static const struct bad bad[] = {
        {BODY_WITH("", "a", "c"), "\"client_secret_env\" must name"},
        {BODY_WITH("1ABC", "a", "c"), "\"client_secret_env\" must name"},
        {BODY_WITH("HS T", "a", "c"), "\"client_secret_env\" must name"},
        {BODY_WITH("HS-T", "a", "c"), "\"client_secret_env\" must name"},
        {BODY_WITH("HS_T\\n", "a", "c"), "\"client_secret_env\" must name"},
        {BODY_WITH("HS_T=x", "a", "c"), "\"client_secret_env\" must name"},
        {BODY_WITH("HS_T_SECRET", "a\\tb", "c"), "bad scope 1"},
        {BODY_WITH("HS_T_SECRET", "\\u00e9", "c"), "bad scope 1"},
        {BODY_WITH("HS_T_SECRET", "a\\\\b", "c"), "bad scope 1"},
        {BODY_WITH("HS_T_SECRET", "a\\\"b", "c"), "bad scope 1"},
        {BODY_WITH("HS_T_SECRET", "a\\u007f", "c"), "bad scope 1"},
        {BODY_WITH("HS_T_SECRET", "a", ""), "\"client_id\""},
        {BODY_WITH("HS_T_SECRET", "a", "c d"), "\"client_id\""},
        {BODY_WITH("HS_T_SECRET", "a", "c\\r\\n"), "\"client_id\""},
        {BODY_WITH("HS_T_SECRET", "a", "\\u00e9"), "\"client_id\""},
    };
    static const char *const good[] = {
        BODY_WITH("HS_T_SECRET", "read:user", "c"),
        BODY_WITH("_x9", "https://graph.microsoft.com/User.Read", "a.b-c_d~"),
        BODY_WITH("HS_T_SECRET", "!#[]~", "1234567890.apps.example"),
    };
    (void)st;

    setenv("HS_T_SECRET", "s3cret", 1);
    setenv("_x9", "v", 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hs_catalog cat = {0};
        char err[300] = "";

        if (parse(bad[i].json, 0, &cat, err, sizeof(err)) != HS_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i].json);
        assert_null(cat.v);
        if (!strstr(err, "provider \"acme\"") || !strstr(err, bad[i].want))
            fail_msg("error \"%s\" lacks \"%s\"", err, bad[i].want);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct hs_catalog cat = {0};
        char err[300] = "";

        if (parse(good[i], 0, &cat, err, sizeof(err)) != HS_OK)
            fail_msg("refused: %s (%s)", good[i], err);
        hs_catalog_cleanup(&cat);
    }
    unsetenv("_x9");
}

/* The shipped catalog follows its own conventions: client_id "set-me",
 * HS_<NAME>_CLIENT_SECRET, https everywhere, every flag a boolean. */
static void test_shipped_catalog_conventions(void **st)
{
    static const char *const want[] = {"github", "gitlab", "slack",
                                       "atlassian", "microsoft", "google",
                                       "bitbucket", "linear", "oidc"};
    const char *path = HS_SOURCE_DIR "/schemas/providers.json";
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    json_t *provs;
    (void)st;

    assert_non_null(root);
    provs = json_object_get(root, "providers");
    assert_int_equal(json_object_size(provs), 9);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        json_t *p = json_object_get(provs, want[i]);
        char var[64], *u;

        if (!p)
            fail_msg("%s missing", want[i]);
        snprintf(var, sizeof(var), "HS_%s_CLIENT_SECRET", want[i]);
        for (u = var; *u; u++)
            if (*u >= 'a' && *u <= 'z')
                *u = (char)(*u - 32);
        assert_string_equal(
            json_string_value(json_object_get(p, "client_secret_env")), var);
        assert_string_equal(json_string_value(json_object_get(p, "client_id")),
                            "set-me");
        assert_non_null(json_string_value(json_object_get(p, "token_auth")));
    }
    /* the generic entry uses placeholder URLs only */
    assert_int_equal(strncmp(json_string_value(json_object_get(
                                 json_object_get(provs, "oidc"),
                                 "authorize_url")),
                             "https://id.example.com/", 23), 0);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_catalog_parses_with_defaults),
        cmocka_unit_test(test_bad_catalogs_name_the_provider_and_key),
        cmocka_unit_test(test_issuer_lets_discovery_fill_urls),
        cmocka_unit_test(test_http_urls_only_when_allowed),
        cmocka_unit_test(test_shipped_catalog_parses),
        cmocka_unit_test(test_wrong_types_are_refused_naming_provider_and_key),
        cmocka_unit_test(test_scopes_must_be_plain_strings),
        cmocka_unit_test(test_client_secret_variable_is_named_never_its_value),
        cmocka_unit_test(test_find_is_case_insensitive_and_refuses_bad_names),
        cmocka_unit_test(
            test_shipped_catalog_parses_with_the_variables_it_names),
        cmocka_unit_test(test_errors_are_one_printable_line),
        cmocka_unit_test(test_variable_scope_and_client_id_tables),
        cmocka_unit_test(test_shipped_catalog_conventions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
