/* Unit tests of lib/hs_crypto: keyring, AEAD, MAC, boxes, encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
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
    };

    if (hs_crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
