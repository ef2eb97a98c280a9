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

/* Sets (or, with value NULL, unsets) HS_<NAME>_CLIENT_ID and _SECRET of
 * every entry of the shipped catalog. */
static json_t *shipped_catalog(const char *value)
{
    json_t *root = json_load_file(HS_SOURCE_DIR "/schemas/providers.json",
                                  JSON_REJECT_DUPLICATES, NULL);
    json_t *p;
    const char *name;

    assert_non_null(root);
    json_object_foreach(json_object_get(root, "providers"), name, p) {
        char id[64], secret[64], *u;

        snprintf(id, sizeof(id), "HS_%s_CLIENT_ID", name);
        snprintf(secret, sizeof(secret), "HS_%s_CLIENT_SECRET", name);
        for (u = id; *u; u++)
            *u = (char)(*u >= 'a' && *u <= 'z' ? *u - 32 : *u);
        for (u = secret; *u; u++)
            *u = (char)(*u >= 'a' && *u <= 'z' ? *u - 32 : *u);
        /* Conventions: the variables are named after the provider. */
        assert_string_equal(
            json_string_value(json_object_get(p, "client_id_env")), id);
        assert_string_equal(
            json_string_value(json_object_get(p, "client_secret_env")),
            secret);
        assert_null(json_object_get(p, "client_id"));
        if (value) {
            setenv(id, value, 1);
            setenv(secret, "s", 1);
        } else {
            unsetenv(id);
            unsetenv(secret);
        }
    }
    return root;
}

/* Every entry of schemas/providers.json loads and is well formed: https
 * endpoints, scopes, an identity source for sign-in providers, and the
 * quirks of the providers that have them. */
static void test_shipped_catalog(void **st)
{
    static const char *const want[] = {"github", "gitlab", "slack",
                                       "atlassian", "microsoft", "google",
                                       "bitbucket", "linear", "oidc"};
    json_t *root = shipped_catalog("client-1");
    struct hs_catalog cat = {0};
    const struct hs_provider *p;
    char err[300] = "";
    (void)st;

    if (hs_catalog_load(HS_SOURCE_DIR "/schemas/providers.json", 0, &cat, err,
                        sizeof(err)) != HS_OK)
        fail_msg("%s", err);
    assert_int_equal(cat.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        p = hs_catalog_find(&cat, want[i]);
        if (!p)
            fail_msg("%s missing", want[i]);
        assert_true(hs_provider_url_ok(p->authorize_url, 0));
        assert_true(hs_provider_url_ok(p->token_url, 0));
        assert_true(!p->userinfo_url[0] ||
                    hs_provider_url_ok(p->userinfo_url, 0));
        assert_true(!p->revoke_url[0] || hs_provider_url_ok(p->revoke_url, 0));
        assert_true(!p->issuer[0] || hs_provider_url_ok(p->issuer, 0));
        assert_true(p->scopes[0] != '\0');
        assert_string_equal(p->client_id, "client-1");
        assert_string_equal(p->client_secret, "s");
        /* A sign-in needs an identity: an ID token or userinfo. */
        if (p->signin && !p->issuer[0] && !p->userinfo_url[0])
            fail_msg("%s: signin without issuer or userinfo_url", want[i]);
        /* An OpenID provider's scopes ask for the ID token. */
        if (p->issuer[0] && strncmp(p->scopes, "openid", 6) != 0)
            fail_msg("%s: issuer without the openid scope", want[i]);
        assert_int_equal(p->scope_sep, strcmp(want[i], "linear") == 0 ? ','
                                                                      : ' ');
    }
    p = hs_catalog_find(&cat, "atlassian");
    assert_int_equal(p->n_auth_params, 2);
    assert_string_equal(p->auth_params[0].name, "audience");
    assert_string_equal(p->auth_params[0].value, "api.atlassian.com");
    p = hs_catalog_find(&cat, "google");
    assert_string_equal(p->auth_params[0].name, "access_type");
    assert_string_equal(p->auth_params[0].value, "offline");
    assert_int_equal(hs_catalog_find(&cat, "bitbucket")->token_auth,
                     HS_AUTH_BASIC);
    assert_int_equal(hs_catalog_find(&cat, "github")->token_auth,
                     HS_AUTH_POST);
    hs_catalog_cleanup(&cat);
    json_decref(shipped_catalog(NULL));
    json_decref(root);
}

/* A deployment enables a shipped entry by its two variables; the others
 * stay out of the catalog. */
static void test_shipped_entries_are_enabled_one_at_a_time(void **st)
{
    const char *path = HS_SOURCE_DIR "/schemas/providers.json";
    json_t *root = shipped_catalog(NULL);
    struct hs_catalog cat = {0};
    char err[300] = "";
    (void)st;

    assert_int_equal(hs_catalog_load(path, 0, &cat, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_non_null(strstr(err, "every provider is disabled"));
    setenv("HS_GITHUB_CLIENT_ID", "Iv1.abc", 1);
    assert_int_equal(hs_catalog_load(path, 0, &cat, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_non_null(strstr(err, "provider \"github\": HS_GITHUB_CLIENT_SECRET"
                                " (its client_secret_env) is not set"));
    setenv("HS_GITHUB_CLIENT_SECRET", "s3cret", 1);
    assert_int_equal(hs_catalog_load(path, 0, &cat, err, sizeof(err)), HS_OK);
    assert_int_equal(cat.n, 1);
    assert_string_equal(hs_catalog_find(&cat, "github")->client_id,
                        "Iv1.abc");
    assert_null(hs_catalog_find(&cat, "gitlab"));
    hs_catalog_cleanup(&cat);
    setenv("HS_GITHUB_CLIENT_ID", "has space", 1);
    assert_int_equal(hs_catalog_load(path, 0, &cat, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_non_null(strstr(err, "HS_GITHUB_CLIENT_ID (its client_id_env)"));
    assert_null(strstr(err, "has space"));
    json_decref(shipped_catalog(NULL));
    json_decref(root);
}

#define ACME(extra) PROV("acme", GOOD_BODY "," extra)

/* authorize_params, scope_separator and client_id_env, each bad value
 * refused naming the provider and key. */
static void test_quirk_keys(void **st)
{
    static const struct bad bad[] = {
        {ACME("\"authorize_params\":[]"), "\"authorize_params\" must be"},
        {ACME("\"authorize_params\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\","
              "\"d\":\"4\",\"e\":\"5\"}"), "\"authorize_params\" must be"},
        {ACME("\"authorize_params\":{\"scope\":\"x\"}"), "cannot set \"scope\""},
        {ACME("\"authorize_params\":{\"redirect_uri\":\"x\"}"),
         "cannot set \"redirect_uri\""},
        {ACME("\"authorize_params\":{\"state\":\"x\"}"), "cannot set \"state\""},
        {ACME("\"authorize_params\":{\"Prompt\":\"x\"}"), "[a-z_]"},
        {ACME("\"authorize_params\":{\"\":\"x\"}"), "[a-z_]"},
        {ACME("\"authorize_params\":{\"a&b\":\"x\"}"), "[a-z_]"},
        {ACME("\"authorize_params\":{\"prompt\":1}"), "\"prompt\" must be"},
        {ACME("\"authorize_params\":{\"prompt\":\"\"}"), "\"prompt\" must be"},
        {ACME("\"authorize_params\":{\"prompt\":\"a b\"}"),
         "\"prompt\" must be"},
        {ACME("\"scope_separator\":\";\""), "\"scope_separator\" must be"},
        {ACME("\"scope_separator\":\"\""), "\"scope_separator\" must be"},
        {ACME("\"scope_separator\":0"), "\"scope_separator\" must be"},
        {ACME("\"client_id_env\":\"HS_T_ID\""), "one of them"},
        {ACME("\"client_id_env\":\"1X\""), "\"client_id_env\" must name"},
        {PROV("acme", "\"authorize_url\":\"https://x/a\",\"token_url\":"
                      "\"https://x/t\",\"scopes\":[\"a\"],"
                      "\"client_secret_env\":\"HS_T_SECRET\""),
         "one of them"},
    };
    struct hs_catalog cat = {0};
    const struct hs_provider *p;
    char err[300] = "";
    (void)st;

    setenv("HS_T_SECRET", "s3cret", 1);
    setenv("HS_T_ID", "id", 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (parse(bad[i].json, 0, &cat, err, sizeof(err)) != HS_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i].json);
        if (!strstr(err, "provider \"acme\"") || !strstr(err, bad[i].want))
            fail_msg("error \"%s\" lacks \"%s\"", err, bad[i].want);
    }
    assert_int_equal(parse(ACME("\"authorize_params\":{\"audience\":"
                                "\"api.example\",\"prompt\":\"consent\"},"
                                "\"scope_separator\":\",\""),
                           0, &cat, err, sizeof(err)), HS_OK);
    p = hs_catalog_find(&cat, "acme");
    assert_int_equal(p->n_auth_params, 2);
    assert_string_equal(p->auth_params[1].name, "prompt");
    assert_string_equal(p->auth_params[1].value, "consent");
    assert_int_equal(p->scope_sep, ',');
    hs_catalog_cleanup(&cat);
    unsetenv("HS_T_ID");
}

static void test_webhook_key(void **st)
{
    static const struct bad bad[] = {
        {ACME("\"webhook\":\"slack\""), "\"webhook\" must be an object"},
        {ACME("\"webhook\":{\"scheme\":\"md5\",\"secret_env\":"
              "\"HS_T_HOOK\"}"), "\"scheme\" must be slack or"},
        {ACME("\"webhook\":{\"secret_env\":\"HS_T_HOOK\"}"),
         "\"scheme\" must be slack or"},
        {ACME("\"webhook\":{\"scheme\":\"slack\"}"),
         "\"secret_env\" must name"},
        {ACME("\"webhook\":{\"scheme\":\"slack\",\"secret_env\":"
              "\"HS_T_UNSET\"}"), "HS_T_UNSET (its webhook secret_env)"},
        {ACME("\"webhook\":{\"scheme\":\"slack\",\"secret_env\":"
              "\"HS_T_HOOK\",\"header\":\"X-A\"}"), "takes no header"},
        {ACME("\"webhook\":{\"scheme\":\"hmac-sha256\",\"secret_env\":"
              "\"HS_T_HOOK\",\"header\":\"X A\"}"), "\"header\" must be"},
        {ACME("\"webhook\":{\"scheme\":\"hmac-sha256\",\"secret_env\":"
              "\"HS_T_HOOK\",\"prefix\":1}"), "\"prefix\" must be a string"},
        {ACME("\"webhook\":{\"scheme\":\"slack\",\"secret_env\":"
              "\"HS_T_HOOK\",\"url\":\"x\"}"), "unknown webhook key"},
    };
    struct hs_catalog cat = {0};
    const struct hs_provider *p;
    char err[300] = "";
    (void)st;

    setenv("HS_T_SECRET", "s3cret", 1);
    setenv("HS_T_HOOK", "hook-secret", 1);
    unsetenv("HS_T_UNSET");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (parse(bad[i].json, 0, &cat, err, sizeof(err)) != HS_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i].json);
        if (!strstr(err, "provider \"acme\"") || !strstr(err, bad[i].want))
            fail_msg("error \"%s\" lacks \"%s\"", err, bad[i].want);
        assert_null(strstr(err, "hook-secret"));
    }
    assert_int_equal(parse(ACME("\"webhook\":{\"scheme\":\"hmac-sha256\","
                                "\"secret_env\":\"HS_T_HOOK\",\"prefix\":"
                                "\"sha256=\"}"),
                           0, &cat, err, sizeof(err)), HS_OK);
    p = hs_catalog_find(&cat, "acme");
    assert_int_equal(p->hook, HS_HOOK_HMAC);
    assert_string_equal(p->hook_secret, "hook-secret");
    assert_string_equal(p->hook_header, "X-Signature-256");
    assert_string_equal(p->hook_prefix, "sha256=");
    hs_catalog_cleanup(&cat);
    assert_int_equal(parse(ACME("\"scope_separator\":\" \""), 0, &cat, err,
                           sizeof(err)), HS_OK);
    assert_int_equal(hs_catalog_find(&cat, "acme")->hook, HS_HOOK_NONE);
    hs_catalog_cleanup(&cat);
    unsetenv("HS_T_HOOK");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_catalog_parses_with_defaults),
        cmocka_unit_test(test_bad_catalogs_name_the_provider_and_key),
        cmocka_unit_test(test_issuer_lets_discovery_fill_urls),
        cmocka_unit_test(test_http_urls_only_when_allowed),
        cmocka_unit_test(test_shipped_catalog),
        cmocka_unit_test(test_shipped_entries_are_enabled_one_at_a_time),
        cmocka_unit_test(test_quirk_keys),
        cmocka_unit_test(test_webhook_key),
        cmocka_unit_test(test_wrong_types_are_refused_naming_provider_and_key),
        cmocka_unit_test(test_scopes_must_be_plain_strings),
        cmocka_unit_test(test_client_secret_variable_is_named_never_its_value),
        cmocka_unit_test(test_find_is_case_insensitive_and_refuses_bad_names),
        cmocka_unit_test(test_errors_are_one_printable_line),
        cmocka_unit_test(test_variable_scope_and_client_id_tables),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
