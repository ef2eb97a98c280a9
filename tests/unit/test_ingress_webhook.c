/* Unit tests of ingress_webhook_verify: Slack's v0 scheme and the generic
 * HMAC one, against signatures computed here independently (RFC 4231
 * vectors check the HMAC itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "ingress_webhook.h"

#define NOW 1700000000

/* hex(HMAC-SHA256(key, msg)) */
static void hmac_hex(const char *key, const char *msg, size_t len,
                     char hex[65])
{
    unsigned char mac[32];
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, 65, mac, sizeof(mac));
}

static void slack_sig(const char *secret, const char *ts, const char *body,
                      char out[68])
{
    char base[512], hex[65];

    snprintf(base, sizeof(base), "v0:%s:%s", ts, body);
    hmac_hex(secret, base, strlen(base), hex);
    snprintf(out, 68, "v0=%s", hex);
}

static void test_hmac_is_rfc4231(void **st)
{
    char hex[65];
    (void)st;

    /* RFC 4231 test case 2. */
    hmac_hex("Jefe", "what do ya want for nothing?", 28, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d27"
                             "39839dec58b964ec3843");
}

static void test_slack(void **st)
{
    struct hs_provider p;
    const char *body = "payload=%7B%22type%22%3A%22block_actions%22%7D";
    const char *why = NULL;
    char sig[68], ts[16], upper[68];
    (void)st;

    memset(&p, 0, sizeof(p));
    p.hook = HS_HOOK_SLACK;
    snprintf(p.hook_secret, sizeof(p.hook_secret), "8f742231b10e8888abcd");
    snprintf(ts, sizeof(ts), "%d", NOW - 10);
    slack_sig(p.hook_secret, ts, body, sig);
    assert_int_equal(ingress_webhook_verify(&p, sig, ts, body, strlen(body),
                                            NOW, &why), HS_OK);
    /* Hex is compared as bytes: upper case is the same signature. */
    for (size_t i = 0; sig[i]; i++)
        upper[i] = (char)((sig[i] >= 'a' && sig[i] <= 'f') ? sig[i] - 32
                                                             : sig[i]);
    upper[strlen(sig)] = '\0';
    assert_int_equal(ingress_webhook_verify(&p, upper, ts, body,
                                            strlen(body), NOW, &why), HS_OK);
    {
        static const struct {
            const char *name, *sig, *ts, *body;
            int64_t now;
            const char *why;
        } bad[] = {
            {"no signature", NULL, "T", "B", NOW, "unsigned"},
            {"no timestamp", "S", NULL, "B", NOW, "unsigned"},
            {"changed body", "S", "T", "payload=x", NOW, "bad_signature"},
            {"300 s + 1 old", "S", "T", "B", NOW + 291, "stale"},
            {"from the future", "S", "T", "B", NOW - 311, "stale"},
            {"v1 prefix", "v1", "T", "B", NOW, "bad_signature"},
            {"short hex", "v0=abcd", "T", "B", NOW, "bad_signature"},
            {"non-numeric ts", "S", "12x", "B", NOW, "bad_signature"},
            {"negative ts", "S", "-5", "B", NOW, "bad_signature"},
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            const char *s = bad[i].sig, *t = bad[i].ts;
            const char *b = bad[i].body;

            if (s && strcmp(s, "S") == 0)
                s = sig;
            if (t && strcmp(t, "T") == 0)
                t = ts;
            if (strcmp(b, "B") == 0)
                b = body;
            why = NULL;
            if (ingress_webhook_verify(&p, s, t, b, strlen(b), bad[i].now,
                                       &why) != HS_ERR_DENIED ||
                !why || strcmp(why, bad[i].why) != 0)
                fail_msg("%s: %s, want %s", bad[i].name,
                         why ? why : "(accepted)", bad[i].why);
        }
    }
    /* Another secret. */
    snprintf(p.hook_secret, sizeof(p.hook_secret), "another");
    assert_int_equal(ingress_webhook_verify(&p, sig, ts, body, strlen(body),
                                            NOW, &why), HS_ERR_DENIED);
    assert_string_equal(why, "bad_signature");
}

static void test_generic_hmac(void **st)
{
    struct hs_provider p;
    const char *body = "{\"event\":\"push\"}";
    const char *why = NULL;
    char hex[65], sig[80];
    (void)st;

    memset(&p, 0, sizeof(p));
    p.hook = HS_HOOK_HMAC;
    snprintf(p.hook_secret, sizeof(p.hook_secret), "s3cret");
    snprintf(p.hook_prefix, sizeof(p.hook_prefix), "sha256=");
    hmac_hex(p.hook_secret, body, strlen(body), hex);
    snprintf(sig, sizeof(sig), "sha256=%s", hex);
    assert_int_equal(ingress_webhook_verify(&p, sig, NULL, body, strlen(body),
                                            NOW, &why), HS_OK);
    assert_int_equal(ingress_webhook_verify(&p, hex, NULL, body, strlen(body),
                                            NOW, &why), HS_ERR_DENIED);
    assert_string_equal(why, "bad_signature");
    assert_int_equal(ingress_webhook_verify(&p, NULL, NULL, body,
                                            strlen(body), NOW, &why),
                     HS_ERR_DENIED);
    assert_string_equal(why, "unsigned");
    sig[strlen(sig) - 1] ^= 1;
    assert_int_equal(ingress_webhook_verify(&p, sig, NULL, body, strlen(body),
                                            NOW, &why), HS_ERR_DENIED);
    p.hook = HS_HOOK_NONE;
    assert_int_equal(ingress_webhook_verify(&p, sig, NULL, body, strlen(body),
                                            NOW, &why), HS_ERR_DENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_is_rfc4231),
        cmocka_unit_test(test_slack),
        cmocka_unit_test(test_generic_hmac),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
