/* Unit tests of producers/ingress/ingress_callback.h with the Kafka seam
 * replaced by tests/fakes/fake_kafka_ingress.c: a good callback produces
 * one sealed callback.received before its 302; Kafka down is a 503 page
 * and nothing else; every bad callback is a 4xx and produces nothing
 * (SECURITY 1, 2, 4, 8, 10, 12). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fakes/fake_kafka_ingress.h"
#include "hs_event.h"
#include "hs_state.h"
#include "ingress_callback.h"

#define KEY1 "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define NOW 1800000000000LL
#define HID "aGFuZHNoYWtlLWlkLTAwMQ"
#define CODE "the-authorization-code-SECRET"
#define VERIFIER "VERIFIERverifierVERIFIERverifierVERIFIERver"
#define NONCE "bm9uY2Vub25jZW5vbmNlMQ"
#define ROUTE "/no-auth/provider-token/{p}"

static const char catalog[] =
    "{\"providers\":{"
    "\"demo\":{\"authorize_url\":\"http://127.0.0.1:9/authorize\","
    "\"token_url\":\"http://127.0.0.1:9/token\",\"scopes\":[\"read\"],"
    "\"client_id\":\"c\",\"client_secret_env\":\"HS_TEST_CB_SECRET\"},"
    "\"acme\":{\"authorize_url\":\"http://127.0.0.1:9/a\","
    "\"token_url\":\"http://127.0.0.1:9/t\",\"scopes\":[\"openid\"],"
    "\"client_id\":\"c\",\"client_secret_env\":\"HS_TEST_CB_SECRET\","
    "\"issuer\":\"https://id.acme.example\"}}}";

static const char bind1[] = "bXlfYmluZGluZ19jb29raWVfdmFsdWVfMzJieXRlcyE";
static const char bind2[] = "b3RoZXJfYmluZGluZ19jb29raWVfdmFsdWVfMzJieXQ";

static struct hs_config cfg;
static struct hs_keyring *kr;
static struct hs_catalog cat;
static struct ingress in;
static int dummy_producer;

static int setup(void **st)
{
    char err[256];

    (void)st;
    if (hs_crypto_init() != 0 ||
        hs_keyring_new(KEY1, &kr, err, sizeof(err)) != HS_OK)
        return -1;
    setenv("HS_TEST_CB_SECRET", "s", 1);
    if (hs_catalog_parse(catalog, strlen(catalog), 1, &cat, err,
                         sizeof(err)) != HS_OK) {
        fprintf(stderr, "catalog: %s\n", err);
        return -1;
    }
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.env, sizeof(cfg.env), "dev");
    snprintf(cfg.public_url, sizeof(cfg.public_url), "http://127.0.0.1:8080");
    cfg.state_ttl_s = 600;
    cfg.threads = 1;
    memset(&in, 0, sizeof(in));
    in.cfg = &cfg;
    in.kr = kr;
    in.cat = &cat;
    in.producer = (struct hs_kafka_producer *)(void *)&dummy_producer;
    hs_log_init("test", HS_LOG_ERROR);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    fake_kafka_reset();
    hs_catalog_cleanup(&cat);
    hs_keyring_free(kr);
    return 0;
}

static int reset(void **st)
{
    (void)st;
    fake_kafka_reset();
    return 0;
}

/* Mints a state for provider in env, bound to b, issued at issued. */
static void mint(const char *env, const char *provider, const char *b,
                 int64_t issued, char *out, size_t cap)
{
    struct hs_state s;

    memset(&s, 0, sizeof(s));
    snprintf(s.env, sizeof(s.env), "%s", env);
    snprintf(s.handshake_id, sizeof(s.handshake_id), "%s", HID);
    snprintf(s.provider, sizeof(s.provider), "%s", provider);
    s.flow = HS_FLOW_CONNECT;
    snprintf(s.subject, sizeof(s.subject), "user-1");
    snprintf(s.verifier, sizeof(s.verifier), "%s", VERIFIER);
    snprintf(s.nonce, sizeof(s.nonce), "%s", NONCE);
    hs_sha256(b, strlen(b), s.binding);
    s.issued_ms = issued;
    assert_int_equal(hs_state_mint(kr, &s, out, cap), HS_OK);
}

static void cookie_of(const char *b, char *out, size_t cap)
{
    snprintf(out, cap, "theme=dark; hs_bind=%s", b);
}

#define PARAM(k, v) {(k), (v), strlen(v)}

static void expect_produce(enum hs_err rc)
{
    expect_string(hs_kafka_produce_acked, topic, "hs.callbacks");
    expect_value(hs_kafka_produce_acked, keylen, strlen(HID));
    expect_memory(hs_kafka_produce_acked, key, HID, strlen(HID));
    will_return(hs_kafka_produce_acked, rc);
}

static int contains(const unsigned char *buf, size_t len, const char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, s, n) == 0)
            return 1;
    return 0;
}

/* Decodes the produced event and opens its sealed part into a JSON. */
static json_t *open_last(struct hs_event *ev)
{
    size_t len, ptlen;
    const unsigned char *val = fake_kafka_last(&len);
    unsigned char pt[1024];

    assert_non_null(val);
    assert_int_equal(hs_event_decode(val, len, ev), HS_OK);
    assert_int_equal(hs_aead_open(kr, HS_KEY_PIPELINE, ev->sealed,
                                  ev->sealed_len, HID, strlen(HID), pt,
                                  sizeof(pt) - 1, &ptlen), HS_OK);
    pt[ptlen] = '\0';
    return json_loads((const char *)pt, 0, NULL);
}

static void test_callback_emits_then_redirects(void **st)
{
    char state[HS_STATE_MAX], cookies[128];
    struct ingress_callback_result res;
    struct hs_event *ev = calloc(1, sizeof(*ev));
    json_t *secret;
    size_t len;
    const unsigned char *val;
    (void)st;

    mint("dev", "demo", bind1, NOW - 1000, state, sizeof(state));
    cookie_of(bind1, cookies, sizeof(cookies));
    {
        struct ingress_param p[] = {PARAM("code", CODE),
                                    PARAM("state", state)};

        expect_produce(HS_OK);
        assert_int_equal(ingress_callback_accept(&in, NULL, "demo", ROUTE, p, 2,
                                                 cookies, NOW, &res), 302);
    }
    assert_string_equal(res.location, "/web/handshake/" HID);
    assert_null(res.reason);
    assert_int_equal(fake_kafka_calls(), 1);
    val = fake_kafka_last(&len);
    assert_false(contains(val, len, CODE)); /* never in clear */
    assert_false(contains(val, len, VERIFIER));
    assert_non_null(ev);
    secret = open_last(ev);
    assert_int_equal(ev->type, HS_EV_CALLBACK_RECEIVED);
    assert_string_equal(ev->env, "dev");
    assert_string_equal(ev->handshake_id, HID);
    assert_string_equal(ev->provider, "demo");
    assert_int_equal(ev->flow, HS_FLOW_CONNECT);
    assert_string_equal(ev->subject, "user-1");
    assert_string_equal(ev->kid, "k1");
    assert_string_equal(ev->error, "");
    assert_non_null(secret);
    assert_string_equal(json_string_value(json_object_get(secret, "code")),
                        CODE);
    assert_string_equal(
        json_string_value(json_object_get(secret, "verifier")), VERIFIER);
    assert_string_equal(json_string_value(json_object_get(secret, "nonce")),
                        NONCE);
    assert_string_equal(
        json_string_value(json_object_get(secret, "redirect_uri")),
        "http://127.0.0.1:8080/no-auth/provider-token/demo");
    json_decref(secret);
    free(ev);
}

/* A callback on /integration/{p}/callback asks the token with that same
 * redirect_uri (the one its flow's authorize request carried). */
static void test_integration_callback_keeps_its_redirect_uri(void **st)
{
    char state[HS_STATE_MAX], cookies[128];
    struct ingress_callback_result res;
    struct hs_event *ev = calloc(1, sizeof(*ev));
    json_t *secret;
    (void)st;

    mint("dev", "demo", bind1, NOW - 1000, state, sizeof(state));
    cookie_of(bind1, cookies, sizeof(cookies));
    {
        struct ingress_param p[] = {PARAM("code", CODE),
                                    PARAM("state", state)};

        expect_produce(HS_OK);
        assert_int_equal(ingress_callback_accept(
                             &in, NULL, "demo", "/integration/{p}/callback", p, 2,
                             cookies, NOW, &res), 302);
    }
    assert_non_null(ev);
    secret = open_last(ev);
    assert_non_null(secret);
    assert_string_equal(
        json_string_value(json_object_get(secret, "redirect_uri")),
        "http://127.0.0.1:8080/integration/demo/callback");
    json_decref(secret);
    free(ev);
}

static void test_error_callback_carries_the_error(void **st)
{
    char state[HS_STATE_MAX], cookies[128];
    struct ingress_callback_result res;
    struct hs_event *ev = calloc(1, sizeof(*ev));
    json_t *secret;
    (void)st;

    mint("dev", "demo", bind1, NOW - 1000, state, sizeof(state));
    cookie_of(bind1, cookies, sizeof(cookies));
    {
        struct ingress_param p[] = {
            PARAM("error", "access_denied"),
            PARAM("error_description", "The user <b>said</b> no"),
            PARAM("state", state)};

        expect_produce(HS_OK);
        assert_int_equal(ingress_callback_accept(&in, NULL, "demo", ROUTE, p, 3,
                                                 cookies, NOW, &res), 302);
    }
    assert_non_null(ev);
    secret = open_last(ev);
    assert_string_equal(ev->error, "access_denied");
    assert_string_equal(ev->error_description, "The user <b>said</b> no");
    assert_non_null(secret);
    assert_null(json_object_get(secret, "code"));
    json_decref(secret);
    free(ev);
}

static void test_callback_kafka_down_is_503(void **st)
{
    static const enum hs_err failures[] = {HS_ERR_TIMEOUT, HS_ERR_TRANSIENT,
                                           HS_ERR_TOOBIG};
    char state[HS_STATE_MAX], cookies[128];
    (void)st;

    mint("dev", "demo", bind1, NOW - 1000, state, sizeof(state));
    cookie_of(bind1, cookies, sizeof(cookies));
    for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
        struct ingress_param p[] = {PARAM("code", CODE),
                                    PARAM("state", state)};
        struct ingress_callback_result res;

        fake_kafka_reset();
        expect_produce(failures[i]);
        assert_int_equal(ingress_callback_accept(&in, NULL, "demo", ROUTE, p, 2,
                                                 cookies, NOW, &res), 503);
        assert_int_equal(res.page.status, 503);
        assert_string_equal(res.reason, "emit_failed");
        assert_string_equal(res.location, "");
        assert_string_equal(res.handshake_id, HID);
        assert_non_null(strstr(res.page.html,
                               "We could not record the answer from Demo. "
                               "Nothing was lost on your side: start again "
                               "from your editor."));
        assert_null(strstr(res.page.html, CODE));
        assert_int_equal(fake_kafka_calls(), 1); /* one try, no retry */
    }
}

struct refusal {
    const char *name;
    const char *provider;
    struct ingress_param p[4];
    size_t n;
    const char *cookies;
    int64_t now;
    unsigned status;
    const char *reason;
};

static void test_bad_callbacks_produce_nothing(void **st)
{
    static char good[HS_STATE_MAX], acme[HS_STATE_MAX], prod[HS_STATE_MAX],
        trunc[HS_STATE_MAX], flip[HS_STATE_MAX], ck[128], ck2[128],
        ckdup[256], bigcode[2100], renamed[HS_STATE_MAX];
    const int64_t ttl = 600 * 1000;
    size_t n;
    (void)st;

    mint("dev", "demo", bind1, NOW - 1000, good, sizeof(good));
    mint("dev", "acme", bind1, NOW - 1000, acme, sizeof(acme));
    mint("prod", "demo", bind1, NOW - 1000, prod, sizeof(prod));
    snprintf(renamed, sizeof(renamed), "dev%s", strchr(prod, '.'));
    snprintf(trunc, sizeof(trunc), "%.*s", (int)(strlen(good) / 2), good);
    snprintf(flip, sizeof(flip), "%s", good);
    n = strlen(flip);
    flip[n - 5] = flip[n - 5] == 'A' ? 'B' : 'A';
    cookie_of(bind1, ck, sizeof(ck));
    cookie_of(bind2, ck2, sizeof(ck2));
    snprintf(ckdup, sizeof(ckdup), "hs_bind=%s; hs_bind=%s", bind2, bind1);
    memset(bigcode, 'c', 2049);
    bigcode[2049] = '\0';
    {
        const struct refusal cases[] = {
            {"unknown provider", "nosuch",
             {PARAM("code", CODE), PARAM("state", good)}, 2, ck, NOW, 404,
             "unknown_provider"},
            {"missing state", "demo", {PARAM("code", CODE)}, 1, ck, NOW, 400,
             "missing_state"},
            {"empty state", "demo", {PARAM("code", CODE), PARAM("state", "")},
             2, ck, NOW, 400, "missing_state"},
            {"forged state", "demo",
             {PARAM("code", CODE),
              PARAM("state", "dev.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
             2, ck, NOW, 400, "forged_state"},
            {"no env prefix", "demo",
             {PARAM("code", CODE), PARAM("state", "garbage")}, 2, ck, NOW,
             400, "forged_state"},
            {"truncated state", "demo",
             {PARAM("code", CODE), PARAM("state", trunc)}, 2, ck, NOW, 400,
             "forged_state"},
            {"tampered state", "demo",
             {PARAM("code", CODE), PARAM("state", flip)}, 2, ck, NOW, 400,
             "forged_state"},
            {"expired state", "demo",
             {PARAM("code", CODE), PARAM("state", good)}, 2, ck,
             NOW - 1000 + ttl + 1, 400, "expired_state"},
            {"state of an environment with no route", "demo",
             {PARAM("code", CODE), PARAM("state", prod)}, 2, ck, NOW, 400,
             "unknown_env"},
            {"another environment's state renamed to this one", "demo",
             {PARAM("code", CODE), PARAM("state", renamed)}, 2, ck, NOW, 400,
             "forged_state"},
            {"state of another provider (mix-up)", "demo",
             {PARAM("code", CODE), PARAM("state", acme)}, 2, ck, NOW, 400,
             "wrong_provider"},
            {"wrong iss (RFC 9207)", "acme",
             {PARAM("code", CODE), PARAM("state", acme),
              PARAM("iss", "https://evil.example")}, 3, ck, NOW, 400,
             "wrong_issuer"},
            {"no binding cookie", "demo",
             {PARAM("code", CODE), PARAM("state", good)}, 2, NULL, NOW, 400,
             "unbound_state"},
            {"other cookies only", "demo",
             {PARAM("code", CODE), PARAM("state", good)}, 2, "theme=dark",
             NOW, 400, "unbound_state"},
            {"foreign binding cookie", "demo",
             {PARAM("code", CODE), PARAM("state", good)}, 2, ck2, NOW, 400,
             "unbound_state"},
            {"repeated binding cookie", "demo",
             {PARAM("code", CODE), PARAM("state", good)}, 2, ckdup, NOW, 400,
             "unbound_state"},
            {"duplicate state", "demo",
             {PARAM("code", CODE), PARAM("state", good),
              PARAM("state", good)}, 3, ck, NOW, 400, "duplicate_param"},
            {"duplicate code", "demo",
             {PARAM("code", CODE), PARAM("code", "x"), PARAM("state", good)},
             3, ck, NOW, 400, "duplicate_param"},
            {"unknown parameter", "demo",
             {PARAM("code", CODE), PARAM("state", good),
              PARAM("return_to", "https://evil.example")}, 3, ck, NOW, 400,
             "unknown_param"},
            {"control character", "demo",
             {PARAM("code", "a\x01" "b"), PARAM("state", good)}, 2, ck, NOW,
             400, "control_character"},
            {"oversized code", "demo",
             {PARAM("code", bigcode), PARAM("state", good)}, 2, ck, NOW, 400,
             "malformed_value"},
            {"empty code", "demo", {PARAM("code", ""), PARAM("state", good)},
             2, ck, NOW, 400, "malformed_value"},
            {"code and error", "demo",
             {PARAM("code", CODE), PARAM("error", "access_denied"),
              PARAM("state", good)}, 3, ck, NOW, 400, "code_and_error"},
            {"neither code nor error", "demo", {PARAM("state", good)}, 1, ck,
             NOW, 400, "no_code_no_error"},
            {"non-ASCII error", "demo",
             {PARAM("error", "acc\xc3\xa8s"), PARAM("state", good)}, 2, ck,
             NOW, 400, "malformed_value"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            struct ingress_callback_result res;
            unsigned status;

            fake_kafka_reset();
            status = ingress_callback_accept(&in, NULL, cases[i].provider, ROUTE,
                                             cases[i].p, cases[i].n,
                                             cases[i].cookies, cases[i].now,
                                             &res);
            if (status != cases[i].status || res.status != status)
                fail_msg("%s: status %u, want %u", cases[i].name, status,
                         cases[i].status);
            if (!res.reason || strcmp(res.reason, cases[i].reason) != 0)
                fail_msg("%s: reason %s, want %s", cases[i].name,
                         res.reason ? res.reason : "(null)", cases[i].reason);
            if (fake_kafka_calls() != 0)
                fail_msg("%s: produced an event", cases[i].name);
            assert_int_equal(res.page.status, status);
            assert_string_equal(res.location, "");
            assert_non_null(strstr(res.page.html, "</p>"));
            assert_null(strstr(res.page.html, CODE));
        }
    }
}

static void test_matching_iss_and_provider_extras_accepted(void **st)
{
    char state[HS_STATE_MAX], cookies[128];
    struct ingress_callback_result res;
    (void)st;

    mint("dev", "acme", bind1, NOW - 1000, state, sizeof(state));
    cookie_of(bind1, cookies, sizeof(cookies));
    {
        struct ingress_param p[] = {PARAM("code", CODE),
                                    PARAM("state", state),
                                    PARAM("iss", "https://id.acme.example"),
                                    PARAM("scope", "openid")};

        expect_produce(HS_OK);
        assert_int_equal(ingress_callback_accept(&in, NULL, "acme", ROUTE, p, 4,
                                                 cookies, NOW, &res), 302);
    }
}

/* A state of another environment goes to that environment's ingress,
 * path and query unchanged, without being opened here. */
static void test_other_environment_is_routed(void **st)
{
    char state[HS_STATE_MAX], cookies[128], want[4096];
    struct ingress_callback_result res;
    (void)st;

    snprintf(cfg.env_routes, sizeof(cfg.env_routes),
             "qa=https://qa.example:8443,prod=https://prod.example");
    mint("qa", "demo", bind1, NOW - 1000, state, sizeof(state));
    cookie_of(bind1, cookies, sizeof(cookies));
    {
        struct ingress_param p[] = {PARAM("code", "a b/c+d"),
                                    PARAM("state", state),
                                    PARAM("iss", "https://x.example")};

        fake_kafka_reset();
        assert_int_equal(ingress_callback_accept(&in, NULL, "demo",
                                                 "/integration/{p}/callback",
                                                 p, 3, NULL, NOW, &res),
                         302);
        snprintf(want, sizeof(want),
                 "https://qa.example:8443/integration/demo/callback?"
                 "code=a+b%%2Fc%%2Bd&state=%s&iss=https%%3A%%2F%%2Fx.example",
                 state);
        assert_string_equal(res.location, want);
        assert_string_equal(res.reason, "routed");
        assert_int_equal(fake_kafka_calls(), 0);
    }
    cfg.env_routes[0] = '\0';
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_callback_emits_then_redirects, reset),
        cmocka_unit_test_setup(
            test_integration_callback_keeps_its_redirect_uri, reset),
        cmocka_unit_test_setup(test_error_callback_carries_the_error, reset),
        cmocka_unit_test_setup(test_callback_kafka_down_is_503, reset),
        cmocka_unit_test_setup(test_bad_callbacks_produce_nothing, reset),
        cmocka_unit_test_setup(test_matching_iss_and_provider_extras_accepted,
                               reset),
        cmocka_unit_test_setup(test_other_environment_is_routed, reset),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
