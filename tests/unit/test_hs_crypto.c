/* Unit tests of lib/hs_crypto: keyring, AEAD, MAC, boxes, encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hs_crypto.h"

#define K1 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define K2 "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA"

static struct hs_keyring *ring(const char *spec)
{
    struct hs_keyring *kr = NULL;
    char err[200];

    assert_int_equal(hs_keyring_new(spec, &kr, err, sizeof(err)), HS_OK);
    return kr;
}

static void test_keyring_refuses_bad_specs_without_echoing_keys(void **st)
{
    static const char *const bad[] = {
        "", "nokey", "k1:", ":" K1, "k 1:" K1, "k1:" K1 ",",
        "abcdefghijklmnopq:" K1, "k1:AAAA", "k1:" K1 "=", "k1:" K1 "+",
        "k1:" K1 ",k1:" K2, "k1:" K1 "AAAA",
    };
    (void)st;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hs_keyring *kr = (struct hs_keyring *)0x1;
        char err[200] = "";

        assert_int_not_equal(hs_keyring_new(bad[i], &kr, err, sizeof(err)),
                             HS_OK);
        assert_ptr_equal(kr, (struct hs_keyring *)0x1); /* untouched */
        assert_non_null(strstr(err, "HS_SECRET_KEYS"));
        assert_null(strstr(err, "AAAAAAAA"));
    }
}

static void test_aead_round_trip_and_every_tamper_fails(void **st)
{
    struct hs_keyring *kr = ring("k1:" K1);
    unsigned char ct[200], pt[200];
    size_t ctlen, ptlen = 7;
    (void)st;

    assert_int_equal(hs_aead_seal(kr, HS_KEY_DB, "secret!", 7, "row1", 4, ct,
                                  sizeof(ct), &ctlen), HS_OK);
    assert_int_equal(hs_aead_open(kr, HS_KEY_DB, ct, ctlen, "row1", 4, pt,
                                  sizeof(pt), &ptlen), HS_OK);
    assert_int_equal(ptlen, 7);
    assert_memory_equal(pt, "secret!", 7);
    /* Another row, another use: the blob is bound to its place. */
    assert_int_equal(hs_aead_open(kr, HS_KEY_DB, ct, ctlen, "row2", 4, pt,
                                  sizeof(pt), &ptlen), HS_ERR_CRYPTO);
    assert_int_equal(hs_aead_open(kr, HS_KEY_PIPELINE, ct, ctlen, "row1", 4,
                                  pt, sizeof(pt), &ptlen), HS_ERR_CRYPTO);
    for (size_t i = 0; i < ctlen; i++) {
        ct[i] ^= 0x01;
        ptlen = 99;
        assert_int_not_equal(hs_aead_open(kr, HS_KEY_DB, ct, ctlen, "row1",
                                          4, pt, sizeof(pt), &ptlen), HS_OK);
        assert_int_equal(ptlen, 99);
        ct[i] ^= 0x01;
    }
    for (size_t n = 0; n < ctlen; n++)
        assert_int_not_equal(hs_aead_open(kr, HS_KEY_DB, ct, n, "row1", 4,
                                          pt, sizeof(pt), &ptlen), HS_OK);
    assert_int_equal(hs_aead_seal(kr, HS_KEY_DB, "secret!", 7, "", 0, ct, 20,
                                  &ctlen), HS_ERR_TOOBIG);
    hs_keyring_free(kr);
}

static void test_rotation_opens_old_blobs_and_unknown_kid_fails(void **st)
{
    struct hs_keyring *old = ring("a:" K1), *rot = ring("b:" K2 ",a:" K1);
    struct hs_keyring *other = ring("c:" K2);
    unsigned char ct[100], pt[100], mac[32];
    size_t ctlen, ptlen;
    char kid[HS_KID_MAX + 1];
    (void)st;

    assert_int_equal(hs_aead_seal(old, HS_KEY_STATE, "x", 1, NULL, 0, ct,
                                  sizeof(ct), &ctlen), HS_OK);
    assert_int_equal(hs_aead_open(rot, HS_KEY_STATE, ct, ctlen, NULL, 0, pt,
                                  sizeof(pt), &ptlen), HS_OK);
    assert_int_equal(hs_aead_open(other, HS_KEY_STATE, ct, ctlen, NULL, 0, pt,
                                  sizeof(pt), &ptlen), HS_ERR_CRYPTO);
    assert_int_equal(hs_aead_kid(ct, ctlen, kid, sizeof(kid)), HS_OK);
    assert_string_equal(kid, "a");
    assert_string_equal(hs_keyring_active_kid(rot), "b");
    hs_mac(old, HS_KEY_COOKIE, "m", 1, mac);
    assert_true(hs_mac_verify(rot, HS_KEY_COOKIE, "m", 1, mac));
    assert_false(hs_mac_verify(rot, HS_KEY_COOKIE, "n", 1, mac));
    assert_false(hs_mac_verify(rot, HS_KEY_STATE, "m", 1, mac));
    assert_false(hs_mac_verify(other, HS_KEY_COOKIE, "m", 1, mac));
    hs_keyring_free(old);
    hs_keyring_free(rot);
    hs_keyring_free(other);
}

static void test_b64url_is_strict(void **st)
{
    static const char *const bad[] = {"AA==", "A+B/", "A", "AAAAA", "AA AA",
                                      "AA\n"};
    unsigned char out[16];
    size_t n = 77;
    char enc[8];
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hs_b64url_decode(bad[i], out, sizeof(out), &n),
                         HS_ERR_DECODE);
    assert_int_equal(n, 77);
    assert_int_equal(hs_b64url_encode("\xfb\xff", 2, enc, sizeof(enc)), HS_OK);
    assert_string_equal(enc, "-_8");
    assert_int_equal(hs_b64url_decode("-_8", out, sizeof(out), &n), HS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(hs_b64url_encode("abcdef", 6, enc, 4), HS_ERR_TOOBIG);
}

static void test_pkce_matches_rfc7636_appendix_b(void **st)
{
    char out[44];
    (void)st;

    hs_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", out);
    assert_string_equal(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void test_box_opens_only_for_its_key_pair(void **st)
{
    unsigned char pk[32], sk[32], pk2[32], sk2[32], ct[100], pt[100];
    size_t ctlen, ptlen;
    (void)st;

    hs_box_keypair(pk, sk);
    hs_box_keypair(pk2, sk2);
    assert_int_equal(hs_box_seal(pk, "token", 5, ct, sizeof(ct), &ctlen),
                     HS_OK);
    assert_int_equal(ctlen, 5 + HS_BOX_OVERHEAD);
    assert_int_equal(hs_box_open(pk, sk, ct, ctlen, pt, sizeof(pt), &ptlen),
                     HS_OK);
    assert_memory_equal(pt, "token", 5);
    assert_int_equal(hs_box_open(pk2, sk2, ct, ctlen, pt, sizeof(pt), &ptlen),
                     HS_ERR_CRYPTO);
    assert_int_equal(hs_box_open(pk, sk, ct, 10, pt, sizeof(pt), &ptlen),
                     HS_ERR_DECODE);
}

static void test_tokens_codes_and_fingerprints(void **st)
{
    char a[64], b[64], code[10], code2[10], fp[17];
    (void)st;

    assert_int_equal(hs_random_token(16, a, sizeof(a)), HS_OK);
    assert_int_equal(strlen(a), HS_ID_LEN);
    assert_int_equal(hs_random_token(32, b, sizeof(b)), HS_OK);
    assert_int_equal(strlen(b), 43);
    assert_int_equal(hs_random_token(32, b, 20), HS_ERR_TOOBIG);
    assert_int_equal(hs_random_token(16, b, sizeof(b)), HS_OK);
    assert_string_not_equal(a, b);
    hs_user_code("secret", code);
    hs_user_code("secret", code2);
    assert_string_equal(code, code2);
    assert_int_equal(strlen(code), 9);
    assert_int_equal(code[4], '-');
    for (int i = 0; i < 9; i++)
        if (i != 4)
            assert_non_null(strchr("BCDFGHJKMNPQRSTVWXZ23456789", code[i]));
    hs_crypto_fingerprint("secret", fp);
    assert_int_equal(strlen(fp), 16);
    assert_null(strstr(fp, "secret"));
    assert_true(hs_memeq("abc", "abc", 3));
    assert_false(hs_memeq("abc", "abd", 3));
}

/* A table of bad keyrings: each is refused with HS_ERR_CONFIG and no part
 * of any key it holds reaches the error text. */
static void test_keyring_bad_spec_table_is_config_error_without_key_text(
    void **st)
{
    static const char *const bad[] = {
        "",                                      /* empty */
        "k1" K1,                                 /* no colon */
        "k.1:" K1, "k/1:" K1, "k\xc3\xa9:" K1,   /* bad kid chars */
        "abcdefghijklmnopq:" K1,                 /* kid of 17 */
        "k1:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZQ", /* 31 bytes */
        "k1:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn", /* 33 bytes */
        "k1:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZW*", /* bad char */
        "k1:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=", /* padding */
        "k1:" K1 ",k1:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY", /* dup */
        "k1:" K1 ",",                            /* trailing comma */
        ",k1:" K1, "k1:" K1 ",,k2:" K2,          /* empty entries */
        "k1:" K1 ",k2:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZQ", /* 2nd bad */
    };
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hs_keyring *kr = (struct hs_keyring *)0x1;
        char err[200] = "";

        if (hs_keyring_new(bad[i], &kr, err, sizeof(err)) != HS_ERR_CONFIG)
            fail_msg("accepted or wrong code: \"%s\"", bad[i]);
        assert_ptr_equal(kr, (struct hs_keyring *)0x1);
        assert_int_equal(strncmp(err, "HS_SECRET_KEYS: ", 16), 0);
        assert_null(strstr(err, "AAAAAA"));
        assert_null(strstr(err, "BBBBBB"));
        assert_null(strstr(err, "QUJDRE")); /* the other keys' material */
        assert_null(strstr(err, "RVVldY"));
    }
}

static void test_keyring_accepts_eight_keys_and_refuses_nine(void **st)
{
    char spec[600];
    size_t pos = 0;
    struct hs_keyring *kr = NULL;
    char err[200];
    (void)st;

    for (int i = 1; i <= 9; i++) {
        int n = snprintf(spec + pos, sizeof(spec) - pos, "%sk%d:%s",
                         i > 1 ? "," : "", i, K1);
        assert_true(n > 0 && (size_t)n < sizeof(spec) - pos);
        pos += (size_t)n;
        if (i == 8) {
            assert_int_equal(hs_keyring_new(spec, &kr, err, sizeof(err)),
                             HS_OK);
            assert_string_equal(hs_keyring_active_kid(kr), "k1");
            hs_keyring_free(kr);
        }
    }
    assert_int_equal(hs_keyring_new(spec, &kr, err, sizeof(err)),
                     HS_ERR_CONFIG);
    hs_keyring_free(NULL); /* a no-op */
}

/* Every failure of hs_aead_open leaves *outlen as it was and no plaintext
 * in out. */
static void open_fails(const struct hs_keyring *kr, enum hs_key_use use,
                       const unsigned char *ct, size_t ctlen, const char *ad,
                       size_t cap, enum hs_err want)
{
    unsigned char pt[200], poison[200];
    size_t ptlen = 99;

    memset(poison, 0xAB, sizeof(poison));
    memcpy(pt, poison, sizeof(pt));
    assert_int_equal(hs_aead_open(kr, use, ct, ctlen, ad, strlen(ad), pt, cap,
                                  &ptlen), want);
    /* The header promises *outlen untouched. libsodium zeroes out on a
     * MAC failure; what matters is that no plaintext is left there. */
    for (size_t i = 0; i < sizeof(pt); i++)
        if (pt[i] != poison[i] && pt[i] != 0)
            fail_msg("byte %zu of out was written on failure", i);
    assert_int_equal(ptlen, 99);
}

static void test_aead_open_failures_leave_out_untouched(void **st)
{
    struct hs_keyring *kr = ring("k1:" K1), *other = ring("zz:" K1);
    unsigned char ct[200], pt[8];
    size_t ctlen, ptlen = 99;
    (void)st;

    assert_int_equal(hs_aead_seal(kr, HS_KEY_PIPELINE, "abc", 3, "ad", 2, ct,
                                  sizeof(ct), &ctlen), HS_OK);
    /* Wrong ad, wrong use, unknown kid (same key bytes, other name). */
    open_fails(kr, HS_KEY_PIPELINE, ct, ctlen, "ae", 200, HS_ERR_CRYPTO);
    open_fails(kr, HS_KEY_AUDIT, ct, ctlen, "ad", 200, HS_ERR_CRYPTO);
    open_fails(other, HS_KEY_PIPELINE, ct, ctlen, "ad", 200, HS_ERR_CRYPTO);
    open_fails(kr, (enum hs_key_use)0, ct, ctlen, "ad", 200, HS_ERR_INVALID);
    /* Shorter than kid + nonce + tag: not a blob at all. */
    open_fails(kr, HS_KEY_PIPELINE, ct, 1 + 2 + 24 + 15, "ad", 200,
               HS_ERR_DECODE);
    open_fails(kr, HS_KEY_PIPELINE, ct, 0, "ad", 200, HS_ERR_DECODE);
    ct[ctlen - 1] ^= 0x80; /* the tag */
    open_fails(kr, HS_KEY_PIPELINE, ct, ctlen, "ad", 200, HS_ERR_CRYPTO);
    ct[ctlen - 1] ^= 0x80;
    ct[0] = 0; /* kid length 0 */
    open_fails(kr, HS_KEY_PIPELINE, ct, ctlen, "ad", 200, HS_ERR_DECODE);
    ct[0] = HS_KID_MAX + 1;
    open_fails(kr, HS_KEY_PIPELINE, ct, ctlen, "ad", 200, HS_ERR_DECODE);
    ct[0] = 2;
    open_fails(kr, HS_KEY_PIPELINE, ct, ctlen, "ad", 2, HS_ERR_TOOBIG);
    /* The unchanged blob still opens: the failures above were the edits. */
    assert_int_equal(hs_aead_open(kr, HS_KEY_PIPELINE, ct, ctlen, "ad", 2, pt,
                                  3, &ptlen), HS_OK);
    assert_int_equal(ptlen, 3);
    assert_memory_equal(pt, "abc", 3);
    hs_keyring_free(kr);
    hs_keyring_free(other);
}

static void test_aead_overhead_bound_and_empty_plaintext(void **st)
{
    struct hs_keyring *kr = ring("abcdefghijklmnop:" K1); /* kid of 16 */
    unsigned char ct[100], pt[8];
    size_t ctlen, ptlen = 5;
    (void)st;

    assert_int_equal(hs_aead_seal(kr, HS_KEY_STATE, "", 0, NULL, 0, ct,
                                  HS_AEAD_OVERHEAD, &ctlen), HS_OK);
    assert_int_equal(ctlen, HS_AEAD_OVERHEAD);
    assert_int_equal(hs_aead_open(kr, HS_KEY_STATE, ct, ctlen, NULL, 0, pt,
                                  sizeof(pt), &ptlen), HS_OK);
    assert_int_equal(ptlen, 0);
    assert_int_equal(hs_aead_seal(kr, HS_KEY_STATE, "x", 1, NULL, 0, ct,
                                  HS_AEAD_OVERHEAD, &ctlen), HS_ERR_TOOBIG);
    assert_int_equal(hs_aead_seal(kr, (enum hs_key_use)0, "x", 1, NULL, 0, ct,
                                  sizeof(ct), &ctlen), HS_ERR_INVALID);
    assert_int_equal(hs_aead_seal(kr, (enum hs_key_use)6, "x", 1, NULL, 0, ct,
                                  sizeof(ct), &ctlen), HS_ERR_INVALID);
    hs_keyring_free(kr);
}

static void test_b64url_decode_bad_table_leaves_outlen(void **st)
{
    static const char *const bad[] = {
        "AAA=", "AA==", "AAAA====", /* padding */
        "AB+C", "AB/C",             /* the other alphabet */
        "A", "AAAAA", "AAAAAAAAA",  /* length % 4 == 1 */
        "AAAA!", "AAAA ", "AAAA\n", "AAAA.", "AB\x80", /* trailing garbage */
        "AB",                       /* non-zero leftover bits */
    };
    unsigned char out[16];
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = 77;

        if (hs_b64url_decode(bad[i], out, sizeof(out), &n) != HS_ERR_DECODE)
            fail_msg("decoded \"%s\"", bad[i]);
        assert_int_equal(n, 77);
    }
}

static void test_b64url_round_trips_every_length(void **st)
{
    unsigned char in[40], back[40];
    char enc[64];
    size_t n;
    (void)st;

    for (size_t len = 0; len <= sizeof(in); len++) {
        hs_random_bytes(in, len);
        assert_int_equal(hs_b64url_encode(in, len, enc, sizeof(enc)), HS_OK);
        assert_int_equal(strlen(enc), (len * 4 + 2) / 3);
        assert_null(strpbrk(enc, "=+/"));
        assert_int_equal(hs_b64url_decode(enc, back, sizeof(back), &n), HS_OK);
        assert_int_equal(n, len);
        assert_memory_equal(back, in, len);
    }
    /* A decode that does not fit its buffer fails. */
    assert_int_equal(hs_b64url_encode(in, 32, enc, sizeof(enc)), HS_OK);
    assert_int_not_equal(hs_b64url_decode(enc, back, 31, &n), HS_OK);
}

static void test_sha256_and_fingerprint_known_values(void **st)
{
    char h[44], fp[17];
    unsigned char raw[32];
    (void)st;

    hs_sha256_b64url("abc", 3, h);
    assert_string_equal(h, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    hs_sha256("abc", 3, raw);
    assert_int_equal(raw[0], 0xba);
    assert_int_equal(raw[31], 0xad);
    hs_crypto_fingerprint("abc", fp);
    assert_string_equal(fp, "ungWv48Bz-pBQUDe");
}

static void test_box_tampered_or_short_cap_fails(void **st)
{
    unsigned char pk[32], sk[32], ct[100], pt[100];
    size_t ctlen, ptlen = 99;
    (void)st;

    hs_box_keypair(pk, sk);
    assert_int_equal(hs_box_seal(pk, "token", 5, ct, 5 + HS_BOX_OVERHEAD - 1,
                                 &ctlen), HS_ERR_TOOBIG);
    assert_int_equal(hs_box_seal(pk, "token", 5, ct, sizeof(ct), &ctlen),
                     HS_OK);
    for (size_t i = 0; i < ctlen; i++) {
        ct[i] ^= 0x04;
        assert_int_equal(hs_box_open(pk, sk, ct, ctlen, pt, sizeof(pt),
                                     &ptlen), HS_ERR_CRYPTO);
        ct[i] ^= 0x04;
    }
    assert_int_equal(ptlen, 99);
    assert_int_equal(hs_box_open(pk, sk, ct, ctlen, pt, 4, &ptlen),
                     HS_ERR_TOOBIG);
    assert_int_equal(hs_box_open(pk, sk, ct, ctlen, pt, 5, &ptlen), HS_OK);
    assert_int_equal(ptlen, 5);
}

static void test_user_code_known_value_and_spread(void **st)
{
    char code[10], other[10];
    (void)st;

    hs_user_code("secret", code); /* SHA-256 bytes mod 27, computed apart */
    assert_string_equal(code, "W5SD-VDCQ");
    hs_user_code("secreu", other);
    assert_string_not_equal(code, other);
    hs_user_code("", other);
    assert_int_equal(strlen(other), 9);
}

/* A token sealed for one place opens only there: its user, provider,
 * kind and key use are all bound. */
static void test_token_seal_binds_its_place(void **st)
{
    struct hs_keyring *kr = ring("k1:" K1);
    unsigned char ct[256];
    char out[64];
    size_t n;
    (void)st;

    assert_int_equal(hs_token_seal(kr, "u1", "gh", "refresh", "rt-1", ct,
                                   sizeof(ct), &n), HS_OK);
    assert_int_equal(hs_token_open(kr, "u1", "gh", "refresh", ct, n, out,
                                   sizeof(out)), HS_OK);
    assert_string_equal(out, "rt-1");
    assert_int_equal(hs_token_open(kr, "u1", "gh", "access", ct, n, out,
                                   sizeof(out)), HS_ERR_CRYPTO);
    assert_int_equal(hs_token_open(kr, "u2", "gh", "refresh", ct, n, out,
                                   sizeof(out)), HS_ERR_CRYPTO);
    assert_int_equal(hs_token_open(kr, "u1", "gh", NULL, ct, n, out,
                                   sizeof(out)), HS_ERR_CRYPTO);
    assert_int_equal(hs_token_open(kr, "u1", "gh", "refresh", ct, n, out, 4),
                     HS_ERR_TOOBIG);
    assert_int_equal(hs_token_seal(kr, "u1", "gh", NULL, "at", ct,
                                   sizeof(ct), &n), HS_OK);
    assert_int_equal(hs_token_open(kr, "u1", "gh", NULL, ct, n, out,
                                   sizeof(out)), HS_OK);
    assert_string_equal(out, "at");
    hs_keyring_free(kr);
}

static void test_random_token_bounds(void **st)
{
    char buf[64];
    (void)st;

    assert_int_equal(hs_random_token(16, buf, HS_ID_LEN + 1), HS_OK);
    assert_int_equal(strlen(buf), HS_ID_LEN);
    assert_null(strpbrk(buf, "=+/"));
    assert_int_equal(hs_random_token(16, buf, HS_ID_LEN), HS_ERR_TOOBIG);
    assert_int_equal(hs_random_token(32, buf, 44), HS_OK);
    assert_int_equal(strlen(buf), 43);
    assert_int_equal(hs_random_token(0, buf, sizeof(buf)), HS_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyring_refuses_bad_specs_without_echoing_keys),
        cmocka_unit_test(test_aead_round_trip_and_every_tamper_fails),
        cmocka_unit_test(test_rotation_opens_old_blobs_and_unknown_kid_fails),
        cmocka_unit_test(test_b64url_is_strict),
        cmocka_unit_test(test_pkce_matches_rfc7636_appendix_b),
        cmocka_unit_test(test_box_opens_only_for_its_key_pair),
        cmocka_unit_test(test_tokens_codes_and_fingerprints),
        cmocka_unit_test(
            test_keyring_bad_spec_table_is_config_error_without_key_text),
        cmocka_unit_test(test_keyring_accepts_eight_keys_and_refuses_nine),
        cmocka_unit_test(test_aead_open_failures_leave_out_untouched),
        cmocka_unit_test(test_aead_overhead_bound_and_empty_plaintext),
        cmocka_unit_test(test_b64url_decode_bad_table_leaves_outlen),
        cmocka_unit_test(test_b64url_round_trips_every_length),
        cmocka_unit_test(test_sha256_and_fingerprint_known_values),
        cmocka_unit_test(test_box_tampered_or_short_cap_fails),
        cmocka_unit_test(test_user_code_known_value_and_spread),
        cmocka_unit_test(test_random_token_bounds),
        cmocka_unit_test(test_token_seal_binds_its_place),
    };

    if (hs_crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
