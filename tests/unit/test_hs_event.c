/* Unit tests of schemas/hs_event: the msgpack codec, strict decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "hs_crypto.h"
#include "hs_event.h"

static struct hs_event ev, out;

static void callback_event(struct hs_event *e)
{
    hs_event_init(e, HS_EV_CALLBACK_RECEIVED, "dev", 1234);
    snprintf(e->handshake_id, sizeof(e->handshake_id), "%s", "h1");
    snprintf(e->provider, sizeof(e->provider), "%s", "github");
    e->flow = 1;
    snprintf(e->subject, sizeof(e->subject), "%s", "u1");
    snprintf(e->kid, sizeof(e->kid), "%s", "k1");
    memcpy(e->sealed, "\x00\x01\x02", 3);
    e->sealed_len = 3;
}

static void encode(const struct hs_event *e, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    assert_int_equal(hs_event_encode(e, sb), HS_OK);
}

static void test_every_type_round_trips(void **st)
{
    msgpack_sbuffer sb;
    (void)st;

    callback_event(&ev);
    snprintf(ev.error, sizeof(ev.error), "%s", "access_denied");
    encode(&ev, &sb);
    assert_int_equal(hs_event_decode(sb.data, sb.size, &out), HS_OK);
    assert_memory_equal(&ev, &out, sizeof(ev));
    msgpack_sbuffer_destroy(&sb);

    hs_event_init(&ev, HS_EV_TOKEN_ISSUED, "dev", 1);
    snprintf(ev.user_id, sizeof(ev.user_id), "%s", "u1");
    snprintf(ev.provider, sizeof(ev.provider), "%s", "github");
    snprintf(ev.token_type, sizeof(ev.token_type), "%s", "Bearer");
    snprintf(ev.scopes, sizeof(ev.scopes), "%s", "repo read:user");
    ev.expires_at = 99;
    ev.box_len = 60;
    memset(ev.box, 5, 60);
    snprintf(ev.agent_id, sizeof(ev.agent_id), "%s", "a1");
    encode(&ev, &sb);
    assert_int_equal(hs_event_decode(sb.data, sb.size, &out), HS_OK);
    assert_memory_equal(&ev, &out, sizeof(ev));
    msgpack_sbuffer_destroy(&sb);

    hs_event_init(&ev, HS_EV_CONNECT_FAILED, "dev", 1);
    snprintf(ev.user_id, sizeof(ev.user_id), "%s", "u1");
    snprintf(ev.provider, sizeof(ev.provider), "%s", "github");
    snprintf(ev.handshake_id, sizeof(ev.handshake_id), "%s", "h1");
    snprintf(ev.error, sizeof(ev.error), "%s", "access_denied");
    encode(&ev, &sb);
    assert_int_equal(hs_event_decode(sb.data, sb.size, &out), HS_OK);
    assert_memory_equal(&ev, &out, sizeof(ev));
    msgpack_sbuffer_destroy(&sb);

    hs_event_init(&ev, HS_EV_AUDIT, "dev", 1);
    snprintf(ev.svc, sizeof(ev.svc), "%s", "hs-ingress");
    snprintf(ev.action, sizeof(ev.action), "%s", "callback.received");
    snprintf(ev.outcome, sizeof(ev.outcome), "%s", "ok");
    ev.seq = 42;
    ev.sig_len = 64;
    memset(ev.sig, 9, 64);
    encode(&ev, &sb);
    assert_int_equal(hs_event_decode(sb.data, sb.size, &out), HS_OK);
    assert_memory_equal(&ev, &out, sizeof(ev));
    msgpack_sbuffer_destroy(&sb);
}

static void test_required_fields_and_token_carrier_are_enforced(void **st)
{
    msgpack_sbuffer sb;
    (void)st;

    msgpack_sbuffer_init(&sb);
    callback_event(&ev);
    ev.sealed_len = 0;
    assert_int_equal(hs_event_encode(&ev, &sb), HS_ERR_INVALID);
    hs_event_init(&ev, HS_EV_TOKEN_ISSUED, "dev", 1);
    snprintf(ev.user_id, sizeof(ev.user_id), "%s", "u1");
    snprintf(ev.provider, sizeof(ev.provider), "%s", "p");
    snprintf(ev.token_type, sizeof(ev.token_type), "%s", "Bearer");
    assert_int_equal(hs_event_encode(&ev, &sb), HS_ERR_INVALID); /* neither */
    ev.sealed_len = ev.box_len = 1;
    assert_int_equal(hs_event_encode(&ev, &sb), HS_ERR_INVALID); /* both */
    ev.type = (enum hs_event_type)99;
    assert_int_equal(hs_event_encode(&ev, &sb), HS_ERR_INVALID);
    msgpack_sbuffer_destroy(&sb);
}

static void test_every_truncation_fails_and_leaves_out_untouched(void **st)
{
    msgpack_sbuffer sb;
    struct hs_event poison;
    char *buf;
    (void)st;

    callback_event(&ev);
    encode(&ev, &sb);
    memset(&poison, 0xAB, sizeof(poison));
    for (size_t n = 0; n < sb.size; n++) {
        out = poison;
        assert_int_equal(hs_event_decode(sb.data, n, &out), HS_ERR_DECODE);
        assert_memory_equal(&out, &poison, sizeof(out));
    }
    buf = malloc(sb.size + 1); /* trailing byte after the map */
    memcpy(buf, sb.data, sb.size);
    buf[sb.size] = 0;
    assert_int_equal(hs_event_decode(buf, sb.size + 1, &out), HS_ERR_DECODE);
    free(buf);
    msgpack_sbuffer_destroy(&sb);
}

/* Packs a callback map with one field replaced by the caller. */
typedef void (*mutate_fn)(msgpack_packer *pk);

static void str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void pack_callback(msgpack_sbuffer *sb, const char *skip, mutate_fn f,
                          int64_t v)
{
    static const char *const keys[] = {"v", "id", "type", "ts", "env",
                                       "handshake_id", "provider", "flow",
                                       "kid", "sealed"};
    msgpack_packer pk;
    size_t n = 10 - (skip != NULL) + (f != NULL);

    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < 10; i++) {
        if (skip && strcmp(skip, keys[i]) == 0)
            continue;
        str(&pk, keys[i]);
        if (i == 0)
            msgpack_pack_int64(&pk, v);
        else if (i == 2)
            str(&pk, "callback.received");
        else if (i == 3 || i == 7)
            msgpack_pack_int(&pk, 1);
        else if (i == 9) {
            msgpack_pack_bin(&pk, 2);
            msgpack_pack_bin_body(&pk, "xy", 2);
        } else
            str(&pk, "x");
    }
    if (f)
        f(&pk);
}

static void extra_provider_int(msgpack_packer *pk)
{
    str(pk, "provider"); /* duplicate key, and an int */
    msgpack_pack_int(pk, 5);
}

static void extra_long_env(msgpack_packer *pk)
{
    char big[300];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    str(pk, "user_agent_unknown_key");
    str(pk, big); /* unknown keys are ignored, whatever their size */
}

static void test_wrong_types_missing_fields_and_versions(void **st)
{
    msgpack_sbuffer sb;
    (void)st;

    pack_callback(&sb, NULL, NULL, 1);
    assert_int_equal(hs_event_decode(sb.data, sb.size, &out), HS_OK);
    msgpack_sbuffer_destroy(&sb);
    pack_callback(&sb, NULL, extra_long_env, 1);
    assert_int_equal(hs_event_decode(sb.data, sb.size, &out), HS_OK);
    msgpack_sbuffer_destroy(&sb);
    pack_callback(&sb, NULL, NULL, 2); /* unknown version */
    assert_int_equal(hs_event_decode(sb.data, sb.size, &out), HS_ERR_DECODE);
    msgpack_sbuffer_destroy(&sb);
    pack_callback(&sb, NULL, extra_provider_int, 1);
    assert_int_equal(hs_event_decode(sb.data, sb.size, &out), HS_ERR_DECODE);
    msgpack_sbuffer_destroy(&sb);
    {
        static const char *const req[] = {"v", "id", "type", "ts", "env",
                                          "handshake_id", "provider",
                                          "flow", "kid", "sealed"};
        for (size_t i = 0; i < 10; i++) {
            pack_callback(&sb, req[i], NULL, 1);
            assert_int_equal(hs_event_decode(sb.data, sb.size, &out),
                             HS_ERR_DECODE);
            msgpack_sbuffer_destroy(&sb);
        }
    }
    assert_int_equal(hs_event_decode("\x93\x01\x02\x03", 4, &out),
                     HS_ERR_DECODE); /* an array, not a map */
    assert_int_equal(hs_event_decode(NULL, 0, &out), HS_ERR_DECODE);
}

static void test_random_bytes_never_crash(void **st)
{
    unsigned char buf[256];
    msgpack_sbuffer sb;
    uint32_t seed = 12345;
    int accepted = 0;
    (void)st;

    callback_event(&ev);
    encode(&ev, &sb);
    for (int i = 0; i < 5000; i++) {
        size_t n = (size_t)(seed % sizeof(buf));

        for (size_t j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            buf[j] = (unsigned char)(seed >> 16);
        }
        /* half pure noise, half a valid event with bytes flipped */
        if (i % 2 && sb.size <= sizeof(buf)) {
            memcpy(buf, sb.data, sb.size);
            buf[seed % sb.size] ^= (unsigned char)(1 + seed % 255);
            n = sb.size;
        }
        if (hs_event_decode(buf, n, &out) == HS_OK)
            accepted++; /* a flip inside a string may stay valid */
    }
    assert_true(accepted < 5000);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_required_fields_and_token_carrier_are_enforced),
        cmocka_unit_test(test_every_truncation_fails_and_leaves_out_untouched),
        cmocka_unit_test(test_wrong_types_missing_fields_and_versions),
        cmocka_unit_test(test_random_bytes_never_crash),
    };

    if (hs_crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
