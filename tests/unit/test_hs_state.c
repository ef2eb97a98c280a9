/* Unit tests of lib/hs_state: the sealed OAuth state (SECURITY 1, 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hs_state.h"

#define NOW 1800000000000LL
#define TTL 600000LL

static struct hs_keyring *kr, *kr2;

static int setup(void **st)
{
    char err[100];

    (void)st;
    if (hs_crypto_init() != 0 ||
        hs_keyring_new("k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &kr,
                       err, sizeof(err)) != HS_OK ||
        hs_keyring_new("k1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA", &kr2,
                       err, sizeof(err)) != HS_OK)
        return -1;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    hs_keyring_free(kr);
    hs_keyring_free(kr2);
    return 0;
}

static void sample(struct hs_state *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->env, sizeof(s->env), "%s", "dev");
    snprintf(s->handshake_id, sizeof(s->handshake_id), "%s",
             "abcdefghijklmnopqrstuv");
    snprintf(s->provider, sizeof(s->provider), "%s", "github");
    s->flow = HS_FLOW_CONNECT;
    snprintf(s->subject, sizeof(s->subject), "%s", "user-1");
    snprintf(s->verifier, sizeof(s->verifier), "%s",
             "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    snprintf(s->nonce, sizeof(s->nonce), "%s", "nnnnnnnnnnnnnnnnnnnnnn");
    memset(s->binding, 7, sizeof(s->binding));
    s->issued_ms = NOW;
}

static void test_state_round_trip_keeps_every_field(void **st)
{
    struct hs_state in, out;
    char s[HS_STATE_MAX], env[32];
    (void)st;

    sample(&in);
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_OK);
    assert_int_equal(strncmp(s, "dev.", 4), 0);
    assert_null(strstr(s, in.verifier)); /* sealed, not signed */
    assert_int_equal(hs_state_verify(kr, s, NOW + 1000, TTL, &out), HS_OK);
    assert_memory_equal(&in, &out, sizeof(in));
    assert_int_equal(hs_state_env(s, env, sizeof(env)), HS_OK);
    assert_string_equal(env, "dev");
}

static void test_state_tampered_truncated_or_foreign_is_invalid(void **st)
{
    struct hs_state in, out, poison;
    char s[HS_STATE_MAX], t[HS_STATE_MAX + 8];
    const char *b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789-_";
    size_t n;
    (void)st;

    sample(&in);
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_OK);
    n = strlen(s);
    memset(&poison, 0xAB, sizeof(poison));
    for (size_t i = 4; i < n; i++) { /* every character of the blob */
        snprintf(t, sizeof(t), "%s", s);
        t[i] = t[i] == b64[0] ? b64[1] : b64[0];
        out = poison;
        if (hs_state_verify(kr, t, NOW, TTL, &out) != HS_ERR_INVALID)
            fail_msg("change at %zu not refused as invalid", i);
        assert_memory_equal(&out, &poison, sizeof(out)); /* untouched */
    }
    for (size_t k = 0; k < n; k++) {
        memcpy(t, s, k);
        t[k] = '\0';
        out = poison;
        if (hs_state_verify(kr, t, NOW, TTL, &out) != HS_ERR_INVALID)
            fail_msg("truncation to %zu not refused as invalid", k);
        assert_memory_equal(&out, &poison, sizeof(out));
    }
    snprintf(t, sizeof(t), "prod%s", s + 3); /* another env: the AEAD's ad */
    assert_int_equal(hs_state_verify(kr, t, NOW, TTL, &out), HS_ERR_INVALID);
    assert_int_equal(hs_state_verify(kr2, s, NOW, TTL, &out), HS_ERR_INVALID);
    assert_int_equal(hs_state_verify(kr, "", NOW, TTL, &out), HS_ERR_INVALID);
    assert_int_equal(hs_state_verify(kr, "dev.", NOW, TTL, &out),
                     HS_ERR_INVALID);
    assert_int_equal(hs_state_verify(kr, "DEV.AAAA", NOW, TTL, &out),
                     HS_ERR_INVALID);
}

static void test_state_expires_and_refuses_the_future(void **st)
{
    struct hs_state in, out;
    char s[HS_STATE_MAX];
    (void)st;

    sample(&in);
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_OK);
    assert_int_equal(hs_state_verify(kr, s, NOW + TTL, TTL, &out), HS_OK);
    assert_int_equal(hs_state_verify(kr, s, NOW + TTL + 1, TTL, &out),
                     HS_ERR_EXPIRED);
    assert_int_equal(hs_state_verify(kr, s, NOW - 60001, TTL, &out),
                     HS_ERR_EXPIRED);
}

static void test_state_two_mints_differ_and_max_fields_fit(void **st)
{
    struct hs_state in, out;
    char a[HS_STATE_MAX], b[HS_STATE_MAX];
    (void)st;

    sample(&in);
    assert_int_equal(hs_state_mint(kr, &in, a, sizeof(a)), HS_OK);
    assert_int_equal(hs_state_mint(kr, &in, b, sizeof(b)), HS_OK);
    assert_string_not_equal(a, b);
    memset(in.env, 'e', sizeof(in.env) - 1);
    memset(in.provider, 'p', sizeof(in.provider) - 1);
    memset(in.subject, 's', sizeof(in.subject) - 1);
    assert_int_equal(hs_state_mint(kr, &in, a, sizeof(a)), HS_OK);
    assert_int_equal(hs_state_verify(kr, a, NOW, TTL, &out), HS_OK);
    assert_string_equal(out.subject, in.subject);
}

static void test_state_mint_refuses_bad_fields(void **st)
{
    struct hs_state in;
    char s[HS_STATE_MAX];
    (void)st;

    sample(&in);
    in.handshake_id[0] = '\0';
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_ERR_INVALID);
    sample(&in);
    in.verifier[0] = '\0';
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_ERR_INVALID);
    sample(&in);
    snprintf(in.env, sizeof(in.env), "%s", "Dev");
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_ERR_INVALID);
    sample(&in);
    in.flow = (enum hs_flow)9;
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_ERR_INVALID);
    sample(&in);
    snprintf(in.provider, sizeof(in.provider), "%s", "git\nhub");
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_ERR_INVALID);
    sample(&in);
    assert_int_equal(hs_state_mint(kr, &in, s, 10), HS_ERR_TOOBIG);
}

static void test_flow_names(void **st)
{
    enum hs_flow f = HS_FLOW_CONNECT;
    (void)st;

    assert_string_equal(hs_flow_name(HS_FLOW_LOOPBACK), "loopback");
    assert_string_equal(hs_flow_name((enum hs_flow)0), "unknown");
    assert_int_equal(hs_flow_parse("session", &f), HS_OK);
    assert_int_equal(f, HS_FLOW_SESSION);
    assert_int_equal(hs_flow_parse("Session", &f), HS_ERR_INVALID);
    assert_int_equal(f, HS_FLOW_SESSION);
}

/* Each state differs from a valid one by one byte, one byte at a time,
 * through every base64url value: none is accepted. */
static void test_state_every_byte_value_at_every_place_is_invalid(void **st)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                              "tuvwxyz0123456789-_";
    struct hs_state in, out;
    char s[HS_STATE_MAX], t[HS_STATE_MAX + 8];
    size_t n;
    (void)st;

    sample(&in);
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_OK);
    n = strlen(s);
    for (size_t i = 4; i < n; i++) {
        for (size_t c = 0; c < sizeof(b64) - 1; c++) {
            if (s[i] == b64[c])
                continue;
            memcpy(t, s, n + 1);
            t[i] = b64[c];
            if (hs_state_verify(kr, t, NOW, TTL, &out) != HS_ERR_INVALID)
                fail_msg("'%c' at %zu accepted", b64[c], i);
        }
    }
    /* Appended characters, another env of valid form. */
    snprintf(t, sizeof(t), "%sA", s);
    assert_int_equal(hs_state_verify(kr, t, NOW, TTL, &out), HS_ERR_INVALID);
    snprintf(t, sizeof(t), "%sAAAA", s);
    assert_int_equal(hs_state_verify(kr, t, NOW, TTL, &out), HS_ERR_INVALID);
    snprintf(t, sizeof(t), "prod.%s", s + 4);
    assert_int_equal(hs_state_verify(kr, t, NOW, TTL, &out), HS_ERR_INVALID);
    snprintf(t, sizeof(t), "de.%s", s + 4);
    assert_int_equal(hs_state_verify(kr, t, NOW, TTL, &out), HS_ERR_INVALID);
}

static void test_state_expired_leaves_out_untouched(void **st)
{
    struct hs_state in, out, poison;
    char s[HS_STATE_MAX];
    (void)st;

    sample(&in);
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_OK);
    memset(&poison, 0xAB, sizeof(poison));
    out = poison;
    assert_int_equal(hs_state_verify(kr, s, NOW + TTL + 1, TTL, &out),
                     HS_ERR_EXPIRED);
    assert_memory_equal(&out, &poison, sizeof(out));
    assert_int_equal(hs_state_verify(kr, s, NOW - 60001, TTL, &out),
                     HS_ERR_EXPIRED);
    assert_memory_equal(&out, &poison, sizeof(out));
    assert_int_equal(hs_state_verify(kr, s, NOW + 5000, 4999, &out),
                     HS_ERR_EXPIRED);
    /* Exactly 60 s ahead is within the allowed skew. */
    assert_int_equal(hs_state_verify(kr, s, NOW - 60000, TTL, &out), HS_OK);
    assert_int_equal(out.issued_ms, NOW);
}

/* Found by tests/fuzz/fuzz_state: an issued time of 2^63 or more (negative
 * as int64_t) overflowed the age check; it is malformed. */
static void test_state_negative_issued_time_is_invalid(void **st)
{
    struct hs_state in, out;
    char s[HS_STATE_MAX];
    (void)st;

    sample(&in);
    in.issued_ms = INT64_MIN;
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_OK);
    assert_int_equal(hs_state_verify(kr, s, NOW, TTL, &out), HS_ERR_INVALID);
    in.issued_ms = -1;
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_OK);
    assert_int_equal(hs_state_verify(kr, s, NOW, TTL, &out), HS_ERR_INVALID);
}

/* Every field at its longest, a kid of 16: the state fits HS_STATE_MAX. */
static void test_state_longest_fields_fit_state_max(void **st)
{
    struct hs_keyring *longkid = NULL;
    struct hs_state in, out;
    char s[HS_STATE_MAX], err[100];
    (void)st;

    assert_int_equal(hs_keyring_new("abcdefghijklmnop:AAAAAAAAAAAAAAAAAAAAAA"
                                    "AAAAAAAAAAAAAAAAAAAAA", &longkid, err,
                                    sizeof(err)), HS_OK);
    sample(&in);
    memset(in.env, 'e', sizeof(in.env) - 1);
    memset(in.handshake_id, 'h', sizeof(in.handshake_id) - 1);
    memset(in.provider, 'p', sizeof(in.provider) - 1);
    memset(in.subject, 's', sizeof(in.subject) - 1);
    memset(in.verifier, 'v', sizeof(in.verifier) - 1);
    memset(in.nonce, 'n', sizeof(in.nonce) - 1);
    memset(in.binding, 0xff, sizeof(in.binding));
    in.issued_ms = INT64_MAX / 4;
    assert_int_equal(hs_state_mint(longkid, &in, s, sizeof(s)), HS_OK);
    assert_true(strlen(s) < HS_STATE_MAX);
    assert_int_equal(hs_state_verify(longkid, s, in.issued_ms, TTL, &out),
                     HS_OK);
    assert_memory_equal(&in, &out, sizeof(in));
    hs_keyring_free(longkid);
}

static void test_state_mint_refuses_empty_required_fields(void **st)
{
    struct hs_state in;
    char s[HS_STATE_MAX];
    (void)st;

    sample(&in);
    in.provider[0] = '\0';
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_ERR_INVALID);
    sample(&in);
    in.nonce[0] = '\0';
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_ERR_INVALID);
    sample(&in);
    in.env[0] = '\0';
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_ERR_INVALID);
    sample(&in);
    memset(in.subject, 's', sizeof(in.subject)); /* no terminator */
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_ERR_INVALID);
    sample(&in);
    in.subject[0] = '\0'; /* subject may be empty */
    assert_int_equal(hs_state_mint(kr, &in, s, sizeof(s)), HS_OK);
}

static void test_state_env_reads_only_a_well_formed_prefix(void **st)
{
    static const char *const bad[] = {"", "dev", ".AAAA", "Dev.AAAA",
                                      "d_v.AAAA",
                                      "0123456789012345678901234567890123.A"};
    char env[32] = "untouched";
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hs_state_env(bad[i], env, sizeof(env)),
                         HS_ERR_INVALID);
    assert_string_equal(env, "untouched");
    assert_int_equal(hs_state_env("prod-2.anything", env, sizeof(env)), HS_OK);
    assert_string_equal(env, "prod-2");
    assert_int_equal(hs_state_env("prod-2.x", env, 6), HS_ERR_INVALID);
}

static void test_flow_names_round_trip(void **st)
{
    static const char *const names[] = {"connect", "signup", "session",
                                        "loopback"};
    enum hs_flow f;
    (void)st;

    for (int i = 0; i < 4; i++) {
        assert_string_equal(hs_flow_name((enum hs_flow)(i + 1)), names[i]);
        assert_int_equal(hs_flow_parse(names[i], &f), HS_OK);
        assert_int_equal(f, i + 1);
    }
    assert_string_equal(hs_flow_name((enum hs_flow)5), "unknown");
    assert_int_equal(hs_flow_parse("", &f), HS_ERR_INVALID);
    assert_int_equal(hs_flow_parse("unknown", &f), HS_ERR_INVALID);
    assert_int_equal(hs_flow_parse("connect ", &f), HS_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_round_trip_keeps_every_field),
        cmocka_unit_test(test_state_tampered_truncated_or_foreign_is_invalid),
        cmocka_unit_test(test_state_expires_and_refuses_the_future),
        cmocka_unit_test(test_state_two_mints_differ_and_max_fields_fit),
        cmocka_unit_test(test_state_mint_refuses_bad_fields),
        cmocka_unit_test(test_flow_names),
        cmocka_unit_test(test_state_every_byte_value_at_every_place_is_invalid),
        cmocka_unit_test(test_state_expired_leaves_out_untouched),
        cmocka_unit_test(test_state_negative_issued_time_is_invalid),
        cmocka_unit_test(test_state_longest_fields_fit_state_max),
        cmocka_unit_test(test_state_mint_refuses_empty_required_fields),
        cmocka_unit_test(test_state_env_reads_only_a_well_formed_prefix),
        cmocka_unit_test(test_flow_names_round_trip),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
