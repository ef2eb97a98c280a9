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
    size_t poison_len;
    (void)st;

    memset(&poison_len, 0xAB, sizeof(poison_len));

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
        memset(&out, 0xAB, sizeof(out));
        if (hs_event_decode(buf, n, &out) == HS_OK)
            accepted++; /* a flip inside a string may stay valid */
        else if (out.v != (int)0xABABABAB || out.sealed_len != poison_len)
            fail_msg("buffer %d: out written on failure", i);
    }
    assert_true(accepted < 5000);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- a small packer for hand-made maps ---------------------------------- */

/* One key/value: kind 's' str, 'i' int, 'b' bin of n bytes of 'x', 'n' nil.
 * A NULL key ends a list. */
struct kv {
    const char *k;
    char kind;
    const char *s;
    int64_t i;
};

#define KS(k, v) {k, 's', v, 0}
#define KI(k, v) {k, 'i', NULL, v}
#define KB(k, n) {k, 'b', NULL, n}
#define KEND {NULL, 0, NULL, 0}

static void pack_kv(msgpack_packer *pk, const struct kv *e)
{
    static unsigned char blob[HS_BLOB_MAX + 2];

    str(pk, e->k);
    switch (e->kind) {
    case 's':
        str(pk, e->s);
        break;
    case 'i':
        msgpack_pack_int64(pk, e->i);
        break;
    case 'b':
        memset(blob, 'x', sizeof(blob));
        msgpack_pack_bin(pk, (size_t)e->i);
        msgpack_pack_bin_body(pk, blob, (size_t)e->i);
        break;
    default:
        msgpack_pack_nil(pk);
    }
}

/* Packs base, leaving out keys named in drop, then extra. */
static void pack_list(msgpack_sbuffer *sb, const struct kv *base,
                      const char *drop, const struct kv *extra)
{
    msgpack_packer pk;
    size_t n = 0;

    for (const struct kv *e = base; e->k; e++)
        n += !(drop && strcmp(drop, e->k) == 0);
    for (const struct kv *e = extra; e && e->k; e++)
        n++;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (const struct kv *e = base; e->k; e++)
        if (!(drop && strcmp(drop, e->k) == 0))
            pack_kv(&pk, e);
    for (const struct kv *e = extra; e && e->k; e++)
        pack_kv(&pk, e);
}

static const struct kv token_base[] = {
    KI("v", 1), KS("id", "e1"), KS("type", "token.issued"), KI("ts", 5),
    KS("env", "dev"), KS("provider", "github"), KS("user_id", "u1"),
    KI("expires_at", 0), KS("token_type", "Bearer"), KS("kid", "k1"),
    KB("sealed", 4), KEND,
};

static enum hs_err decode_list(const struct kv *base, const char *drop,
                               const struct kv *extra)
{
    msgpack_sbuffer sb;
    struct hs_event poison;
    enum hs_err rc;

    pack_list(&sb, base, drop, extra);
    memset(&poison, 0xAB, sizeof(poison));
    out = poison;
    rc = hs_event_decode(sb.data, sb.size, &out);
    if (rc != HS_OK)
        assert_memory_equal(&out, &poison, sizeof(out));
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

struct variant {
    const char *what, *drop;
    struct kv extra[3];
};

/* Each row changes one thing of a valid token.issued map. */
static void test_decode_table_of_bad_token_maps(void **st)
{
    static char longs[300];
    static const struct variant bad[] = {
        {"v as string", "v", {KS("v", "1"), KEND}},
        {"v 2", "v", {KI("v", 2), KEND}},
        {"v 0", "v", {KI("v", 0), KEND}},
        {"ts as string", "ts", {KS("ts", "5"), KEND}},
        {"sealed as str", "sealed", {KS("sealed", "abcd"), KEND}},
        {"sealed empty", "sealed", {KB("sealed", 0), KEND}},
        {"sealed too big", "sealed", {KB("sealed", HS_BLOB_MAX + 1), KEND}},
        {"provider as int", "provider", {KI("provider", 5), KEND}},
        {"provider nil", "provider", {{"provider", 'n', NULL, 0}, KEND}},
        {"type as int", "type", {KI("type", 2), KEND}},
        {"unknown type", "type", {KS("type", "token.revoked"), KEND}},
        {"type long", "type", {KS("type", longs), KEND}},
        {"provider 32", "provider",
         {KS("provider", "0123456789abcdef0123456789abcdef"), KEND}},
        {"env 32", "env", {KS("env", "0123456789abcdef0123456789abcdef"),
                           KEND}},
        {"duplicate env", NULL, {KS("env", "dev"), KEND}},
        {"duplicate v", NULL, {KI("v", 1), KEND}},
        {"duplicate type", NULL, {KS("type", "token.issued"), KEND}},
        {"both sealed and box", NULL, {KB("box", 60), KEND}},
        {"neither sealed nor box", "sealed", {KEND}},
        {"missing v", "v", {KEND}},
        {"missing type", "type", {KEND}},
        {"missing id", "id", {KEND}},
        {"missing ts", "ts", {KEND}},
        {"missing env", "env", {KEND}},
        {"missing provider", "provider", {KEND}},
        {"missing user_id", "user_id", {KEND}},
        {"missing expires_at", "expires_at", {KEND}},
        {"missing token_type", "token_type", {KEND}},
    };
    (void)st;

    memset(longs, 'a', sizeof(longs) - 1);
    assert_int_equal(decode_list(token_base, NULL, NULL), HS_OK);
    assert_int_equal(out.sealed_len, 4);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum hs_err rc = decode_list(token_base, bad[i].drop, bad[i].extra);

        if (rc != HS_ERR_DECODE)
            fail_msg("%s: got %d", bad[i].what, rc);
    }
}

/* The events of every type this test knows, filled as producers do. */
static void make_event(int which, struct hs_event *e)
{
    static const enum hs_event_type types[] = {
        HS_EV_CALLBACK_RECEIVED, HS_EV_TOKEN_ISSUED, HS_EV_TOKEN_ISSUED,
        HS_EV_TOKEN_REFRESHED, HS_EV_CONNECT_FAILED, HS_EV_AUDIT,
        HS_EV_PROVIDER_DISCONNECTED, HS_EV_REAUTH_REQUIRED};

    if (which == 0) {
        callback_event(e);
        snprintf(e->iss, sizeof(e->iss), "%s", "https://id.example");
        snprintf(e->error_description, sizeof(e->error_description), "%s",
                 "say \"no\"");
        return;
    }
    hs_event_init(e, types[which], "prod", 1800000000000LL);
    snprintf(e->provider, sizeof(e->provider), "%s", "gitlab");
    snprintf(e->user_id, sizeof(e->user_id), "%s", "u-9");
    switch (which) {
    case 1: /* token.issued on hs.tokens: sealed, with kid */
    case 3:
        snprintf(e->token_type, sizeof(e->token_type), "%s", "Bearer");
        snprintf(e->kid, sizeof(e->kid), "%s", "k2");
        snprintf(e->handshake_id, sizeof(e->handshake_id), "%s", "h9");
        e->expires_at = 1800000360000LL;
        e->sealed_len = HS_BLOB_MAX; /* the largest blob */
        memset(e->sealed, 0xee, HS_BLOB_MAX);
        break;
    case 2: /* token.issued on hs.me: box */
        snprintf(e->token_type, sizeof(e->token_type), "%s", "Bearer");
        snprintf(e->agent_id, sizeof(e->agent_id), "%s", "agent-1");
        e->box_len = 80;
        memset(e->box, 0x11, 80);
        break;
    case 4:
        snprintf(e->handshake_id, sizeof(e->handshake_id), "%s", "h9");
        snprintf(e->error, sizeof(e->error), "%s", "invalid_grant");
        break;
    case 5:
        memset(e->provider, 0, sizeof(e->provider));
        memset(e->user_id, 0, sizeof(e->user_id));
        snprintf(e->svc, sizeof(e->svc), "%s", "hs-exchange");
        snprintf(e->action, sizeof(e->action), "%s", "token.stored");
        snprintf(e->outcome, sizeof(e->outcome), "%s", "rejected");
        snprintf(e->client_ip, sizeof(e->client_ip), "%s", "127.0.0.1");
        snprintf(e->fingerprint, sizeof(e->fingerprint), "%s", "abcd");
        e->seq = INT64_MAX;
        break;
    default: /* provider.disconnected, reauth.required */
        snprintf(e->agent_id, sizeof(e->agent_id), "%s", "agent-2");
        break;
    }
}

#define NMADE 8

static void test_each_type_round_trips_and_every_prefix_fails(void **st)
{
    static struct hs_event poison;
    msgpack_sbuffer sb;
    (void)st;

    memset(&poison, 0xAB, sizeof(poison));
    for (int w = 0; w < NMADE; w++) {
        make_event(w, &ev);
        encode(&ev, &sb);
        assert_int_equal(hs_event_decode(sb.data, sb.size, &out), HS_OK);
        if (memcmp(&ev, &out, sizeof(ev)) != 0)
            fail_msg("event %d (%s) changed in the round trip", w,
                     hs_event_type_name(ev.type));
        for (size_t n = 0; n < sb.size; n++) {
            out = poison;
            if (hs_event_decode(sb.data, n, &out) != HS_ERR_DECODE)
                fail_msg("event %d: prefix %zu decoded", w, n);
            assert_memory_equal(&out, &poison, sizeof(out));
        }
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_type_names_round_trip(void **st)
{
    enum hs_event_type t = HS_EV_AUDIT;
    (void)st;

    for (int i = HS_EV_CALLBACK_RECEIVED; i <= HS_EV_AUDIT; i++) {
        assert_non_null(hs_event_type_name((enum hs_event_type)i));
        assert_int_equal(hs_event_type_parse(
                             hs_event_type_name((enum hs_event_type)i), &t),
                         HS_OK);
        assert_int_equal(t, i);
    }
    assert_null(hs_event_type_name((enum hs_event_type)0));
    assert_null(hs_event_type_name((enum hs_event_type)8));
    assert_int_equal(hs_event_type_parse("Audit", &t), HS_ERR_DECODE);
    assert_int_equal(t, HS_EV_AUDIT);
}

static void test_non_string_keys_and_huge_headers_fail(void **st)
{
    /* {1: 1}; a map or array header claiming 2^32-1 entries; nil; a str. */
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {{"\x81\x01\x01", 3}, {"\xdf\xff\xff\xff\xff", 5},
               {"\xdd\xff\xff\xff\xff", 5}, {"\xc0", 1}, {"\xa1x", 2},
               {"\x80", 1}};
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hs_event_decode(bad[i].b, bad[i].n, &out),
                         HS_ERR_DECODE);
    {
        unsigned char *big = calloc(1, HS_EVENT_MAX_BYTES + 1);

        assert_non_null(big);
        assert_int_equal(hs_event_decode(big, HS_EVENT_MAX_BYTES + 1, &out),
                         HS_ERR_DECODE);
        free(big);
    }
}

static void test_event_wipe_clears_secrets(void **st)
{
    (void)st;

    make_event(1, &ev);
    make_event(2, &out);
    memcpy(ev.box, out.box, out.box_len);
    ev.box_len = out.box_len;
    hs_event_wipe(&ev);
    assert_int_equal(ev.sealed_len, 0);
    assert_int_equal(ev.box_len, 0);
    for (size_t i = 0; i < HS_BLOB_MAX; i++)
        if (ev.sealed[i] || ev.box[i])
            fail_msg("byte %zu survived the wipe", i);
    assert_string_equal(ev.user_id, "u-9"); /* the rest stays */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_required_fields_and_token_carrier_are_enforced),
        cmocka_unit_test(test_every_truncation_fails_and_leaves_out_untouched),
        cmocka_unit_test(test_wrong_types_missing_fields_and_versions),
        cmocka_unit_test(test_random_bytes_never_crash),
        cmocka_unit_test(test_decode_table_of_bad_token_maps),
        cmocka_unit_test(test_each_type_round_trips_and_every_prefix_fails),
        cmocka_unit_test(test_type_names_round_trip),
        cmocka_unit_test(test_non_string_keys_and_huge_headers_fail),
        cmocka_unit_test(test_event_wipe_clears_secrets),
    };

    if (hs_crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
