/* Unit tests of schemas/hs_webhook: both events round-trip; anything else
 * is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "hs_crypto.h"
#include "hs_webhook.h"

static void test_round_trips(void **st)
{
    struct hs_webhook a, b;
    unsigned char blob[3] = {0, 1, 2};
    msgpack_sbuffer sb;
    (void)st;

    hs_webhook_init(&a, HS_WH_RECEIVED, "qa", 1234);
    snprintf(a.provider, sizeof(a.provider), "slack");
    a.sealed = blob;
    a.sealed_len = sizeof(blob);
    msgpack_sbuffer_init(&sb);
    assert_int_equal(hs_webhook_encode(&a, &sb), HS_OK);
    assert_int_equal(hs_webhook_decode(sb.data, sb.size, &b), HS_OK);
    assert_int_equal(b.type, HS_WH_RECEIVED);
    assert_string_equal(b.id, a.id);
    assert_string_equal(b.env, "qa");
    assert_string_equal(b.provider, "slack");
    assert_int_equal(b.ts, 1234);
    assert_int_equal(b.sealed_len, 3);
    assert_memory_equal(b.sealed, blob, 3);
    hs_webhook_free(&b);
    /* Cut short: refused, nothing left to free. */
    assert_int_equal(hs_webhook_decode(sb.data, sb.size - 1, &b),
                     HS_ERR_DECODE);
    assert_null(b.sealed);
    msgpack_sbuffer_destroy(&sb);

    hs_webhook_init(&a, HS_WH_RELAYED, "qa", 99);
    snprintf(a.provider, sizeof(a.provider), "slack");
    snprintf(a.ref, sizeof(a.ref), "r1");
    a.status = 502;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(hs_webhook_encode(&a, &sb), HS_OK);
    assert_int_equal(hs_webhook_decode(sb.data, sb.size, &b), HS_OK);
    assert_int_equal(b.type, HS_WH_RELAYED);
    assert_int_equal(b.status, 502);
    assert_string_equal(b.ref, "r1");
    assert_string_equal(b.error, "");
    hs_webhook_free(&b);
    msgpack_sbuffer_destroy(&sb);
}

static void test_incomplete_events_are_not_encoded(void **st)
{
    struct hs_webhook a;
    msgpack_sbuffer sb;
    (void)st;

    msgpack_sbuffer_init(&sb);
    hs_webhook_init(&a, HS_WH_RECEIVED, "qa", 1);
    snprintf(a.provider, sizeof(a.provider), "slack");
    assert_int_equal(hs_webhook_encode(&a, &sb), HS_ERR_INVALID); /* sealed */
    hs_webhook_init(&a, HS_WH_RELAYED, "qa", 1);
    snprintf(a.provider, sizeof(a.provider), "slack");
    assert_int_equal(hs_webhook_encode(&a, &sb), HS_ERR_INVALID); /* ref */
    assert_int_equal(sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
}

/* Maps built by hand: wrong version, unknown key, repeated key, a key of
 * the other type, wrong types. */
static void test_bad_maps_are_refused(void **st)
{
    static const char *const cases[] = {
        "v=2", "extra", "dup", "mixed", "status_str", "no_env",
    };
    (void)st;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        struct hs_webhook out;
        const char *c = cases[i];
        int extra = strcmp(c, "extra") == 0 || strcmp(c, "dup") == 0 ||
                    strcmp(c, "mixed") == 0;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, (strcmp(c, "no_env") == 0 ? 8 : 9) + extra);
#define KS(k, v)                                                              \
    do {                                                                      \
        msgpack_pack_str(&pk, strlen(k));                                     \
        msgpack_pack_str_body(&pk, k, strlen(k));                             \
        msgpack_pack_str(&pk, strlen(v));                                     \
        msgpack_pack_str_body(&pk, v, strlen(v));                             \
    } while (0)
#define KI(k, v)                                                              \
    do {                                                                      \
        msgpack_pack_str(&pk, strlen(k));                                     \
        msgpack_pack_str_body(&pk, k, strlen(k));                             \
        msgpack_pack_int(&pk, v);                                             \
    } while (0)
        KI("v", strcmp(c, "v=2") == 0 ? 2 : 1);
        KS("id", "i1");
        KS("type", "webhook.relayed");
        KI("ts", 5);
        if (strcmp(c, "no_env") != 0)
            KS("env", "qa");
        KS("provider", "slack");
        KS("ref", "r");
        if (strcmp(c, "status_str") == 0)
            KS("status", "200");
        else
            KI("status", 200);
        KS("error", "");
        if (strcmp(c, "extra") == 0)
            KS("other", "x");
        if (strcmp(c, "dup") == 0)
            KS("ref", "r2");
        if (strcmp(c, "mixed") == 0) {
            msgpack_pack_str(&pk, 6);
            msgpack_pack_str_body(&pk, "sealed", 6);
            msgpack_pack_bin(&pk, 1);
            msgpack_pack_bin_body(&pk, "x", 1);
        }
        if (hs_webhook_decode(sb.data, sb.size, &out) != HS_ERR_DECODE)
            fail_msg("%s was accepted", c);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* Found by tests/fuzz/fuzz_event: msgpack-c reserves what a container
 * header declares, so 5 bytes claiming 2^32-1 entries asked malloc for
 * 64 GiB or more (ASan aborts on it). They are refused before unpacking. */
static void test_huge_container_headers_are_refused(void **st)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\xdf\xff\xff\xff\xff", 5},      /* map32 */
        {"\xdd\xff\xff\xff\xff", 5},      /* array32 */
        {"\x81\xa1v\xdd\xff\xff\xff\xff", 8}, /* {"v": array32} */
        {"\xde\xff\xff", 3},                /* map16 */
    };
    (void)st;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hs_webhook out;

        assert_int_equal(hs_webhook_decode(cases[i].bytes, cases[i].len, &out),
                         HS_ERR_DECODE);
        assert_null(out.sealed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_incomplete_events_are_not_encoded),
        cmocka_unit_test(test_bad_maps_are_refused),
        cmocka_unit_test(test_huge_container_headers_are_refused),
    };

    if (hs_crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
