/* Unit tests of producers/ingress/ingress_connect.h that need no
 * connection: the CSRF token of the confirmation form and the remember
 * cookie (SECURITY 13: both bound to this browser, refused elsewhere). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "ingress_connect.h"

#define KEY1 "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define KEY2 "k2:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA"

static const char bind1[] = "bXlfYmluZGluZ19jb29raWVfdmFsdWVfMzJieXRlcyE";
static const char bind2[] = "b3RoZXJfYmluZGluZ19jb29raWVfdmFsdWVfMzJieXQ";
static const char code[] = "Y29kZV9jb2RlX2NvZGVfY29kZV9jb2RlX2NvZGVfY28";
static const char code2[] = "Y29kZV9jb2RlX2NvZGVfY29kZV9jb2RlX2NvZGVfY29";

struct fixture {
    struct hs_keyring *kr, *other, *rotated;
};

static int setup(void **state)
{
    static struct fixture f;
    char err[128];

    memset(&f, 0, sizeof(f));
    if (hs_crypto_init() != 0 ||
        hs_keyring_new(KEY1, &f.kr, err, sizeof(err)) != HS_OK ||
        hs_keyring_new(KEY2, &f.other, err, sizeof(err)) != HS_OK ||
        hs_keyring_new(KEY2 "," KEY1, &f.rotated, err, sizeof(err)) != HS_OK)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (!f)
        return 0;
    hs_keyring_free(f->kr);
    hs_keyring_free(f->other);
    hs_keyring_free(f->rotated);
    return 0;
}

static void test_csrf_accepts_own_token(void **state)
{
    struct fixture *f = *state;
    char tok[44];

    assert_int_equal(ingress_csrf_make(f->kr, bind1, code, tok), HS_OK);
    assert_int_equal(strlen(tok), 43);
    assert_int_equal(ingress_csrf_verify(f->kr, bind1, code, tok), HS_OK);
    /* after a key rotation the old key still verifies */
    assert_int_equal(ingress_csrf_verify(f->rotated, bind1, code, tok),
                     HS_OK);
}

struct csrf_case {
    const char *name;
    const char *bind, *code, *given;
    int other_ring;
};

static void test_csrf_refuses_table(void **state)
{
    struct fixture *f = *state;
    char tok[44], tampered[44], other_key[44];

    assert_int_equal(ingress_csrf_make(f->kr, bind1, code, tok), HS_OK);
    assert_int_equal(ingress_csrf_make(f->other, bind1, code, other_key),
                     HS_OK);
    memcpy(tampered, tok, sizeof(tok));
    tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
    {
        const struct csrf_case bad[] = {
            {"another browser", bind2, code, tok, 0},
            {"another code", bind1, code2, tok, 0},
            {"made with another key", bind1, code, other_key, 0},
            {"checked with another key", bind1, code, tok, 1},
            {"tampered", bind1, code, tampered, 0},
            {"missing", bind1, code, NULL, 0},
            {"empty", bind1, code, "", 0},
            {"short", bind1, code, "AAAA", 0},
            {"not base64url", bind1, code,
             "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", 0},
            {"too long", bind1, code,
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0},
            {"no binding cookie", NULL, code, tok, 0},
            {"the binding cookie itself", bind1, code, bind1, 0},
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            if (ingress_csrf_verify(bad[i].other_ring ? f->other : f->kr,
                                    bad[i].bind, bad[i].code,
                                    bad[i].given) != HS_ERR_DENIED)
                fail_msg("accepted CSRF token: %s", bad[i].name);
    }
}

static void test_remember_round_trip(void **state)
{
    struct fixture *f = *state;
    char v[200];

    assert_int_equal(ingress_remember_make(f->kr, "user-1", 5000, bind1, v,
                                           sizeof(v)), HS_OK);
    assert_int_equal(strncmp(v, "user-1.5000.", 12), 0);
    assert_int_equal(ingress_remember_verify(f->kr, v, bind1, "user-1",
                                             4999), HS_OK);
    assert_int_equal(ingress_remember_verify(f->kr, v, bind1, "user-1",
                                             5001), HS_ERR_EXPIRED);
    assert_int_equal(ingress_remember_make(f->kr, "user-1", 5000, bind1, v,
                                           20), HS_ERR_TOOBIG);
}

static void test_remember_refuses_table(void **state)
{
    struct fixture *f = *state;
    char v[200], later[200], forged[200];
    size_t n;
    static const char *const malformed[] = {
        "", "user-1", "user-1.5000", "user-1..AAAA", ".5000.AAAA",
        "user-1.5x00.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "user-1.5000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "user-1.5000.short",
    };

    assert_int_equal(ingress_remember_make(f->kr, "user-1", 5000, bind1, v,
                                           sizeof(v)), HS_OK);
    /* another browser, another account, another key */
    assert_int_equal(ingress_remember_verify(f->kr, v, bind2, "user-1", 1),
                     HS_ERR_DENIED);
    assert_int_equal(ingress_remember_verify(f->kr, v, bind1, "user-2", 1),
                     HS_ERR_DENIED);
    assert_int_equal(ingress_remember_verify(f->other, v, bind1, "user-1",
                                             1), HS_ERR_DENIED);
    /* the expiry is under the MAC: pushing it out breaks it */
    memcpy(later, v, sizeof(v));
    later[7] = '9';
    assert_int_equal(ingress_remember_verify(f->kr, later, bind1, "user-1",
                                             1), HS_ERR_DENIED);
    memcpy(forged, v, sizeof(v));
    n = strlen(forged);
    forged[n - 3] = forged[n - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(ingress_remember_verify(f->kr, forged, bind1, "user-1",
                                             1), HS_ERR_DENIED);
    assert_int_equal(ingress_remember_verify(f->kr, NULL, bind1, "user-1", 1),
                     HS_ERR_DENIED);
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        if (ingress_remember_verify(f->kr, malformed[i], bind1, "user-1",
                                    1) != HS_ERR_DENIED)
            fail_msg("accepted remember cookie %s", malformed[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csrf_accepts_own_token),
        cmocka_unit_test(test_csrf_refuses_table),
        cmocka_unit_test(test_remember_round_trip),
        cmocka_unit_test(test_remember_refuses_table),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
