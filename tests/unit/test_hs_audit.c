/* Unit tests of lib/hs_audit: signatures, tampering, public keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hs_audit.h"

#define K1 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define K2 "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA"

static struct hs_keyring *ring(const char *spec)
{
    struct hs_keyring *kr = NULL;
    char err[200];

    assert_int_equal(hs_keyring_new(spec, &kr, err, sizeof(err)), HS_OK);
    return kr;
}

static void event(struct hs_event *ev)
{
    hs_event_init(ev, HS_EV_AUDIT, "dev", 1700000000000);
    snprintf(ev->svc, sizeof(ev->svc), "hs-ingress/abcdefgh");
    snprintf(ev->action, sizeof(ev->action), "callback.rejected");
    snprintf(ev->outcome, sizeof(ev->outcome), "rejected");
    snprintf(ev->reason, sizeof(ev->reason), "state_expired");
    snprintf(ev->handshake_id, sizeof(ev->handshake_id), "h1");
    snprintf(ev->client_ip, sizeof(ev->client_ip), "127.0.0.1");
    ev->seq = 7;
}

static void test_signed_event_verifies_after_a_round_trip(void **st)
{
    struct hs_keyring *kr = ring("k1:" K1 ",k0:" K2);
    struct hs_audit_keys keys;
    struct hs_event ev, back;
    unsigned char pk[32], sk[64];
    msgpack_sbuffer sb;
    (void)st;

    assert_int_equal(hs_audit_keypair(kr, NULL, pk, sk), HS_OK);
    event(&ev);
    assert_int_equal(hs_audit_sign(&ev, "k1", sk), HS_OK);
    assert_string_equal(ev.kid, "k1");
    assert_int_equal(ev.sig_len, 64);
    msgpack_sbuffer_init(&sb);
    assert_int_equal(hs_event_encode(&ev, &sb), HS_OK);
    assert_int_equal(hs_event_decode(sb.data, sb.size, &back), HS_OK);
    assert_int_equal(hs_audit_verify(&back, pk), HS_OK);
    /* The verifier's keys: every key of the ring, by kid. */
    assert_int_equal(hs_audit_keys_from_ring(kr, &keys), HS_OK);
    assert_int_equal(keys.n, 2);
    assert_memory_equal(hs_audit_keys_find(&keys, "k1"), pk, 32);
    assert_non_null(hs_audit_keys_find(&keys, "k0"));
    assert_null(hs_audit_keys_find(&keys, "k9"));
    assert_int_equal(hs_audit_verify(&back, hs_audit_keys_find(&keys, "k0")),
                     HS_ERR_CRYPTO);
    /* Every single changed byte breaks the decoding or the signature. */
    for (size_t i = 0; i < sb.size; i++) {
        unsigned char saved = (unsigned char)sb.data[i];

        for (int bit = 0; bit < 8; bit++) {
            sb.data[i] = (char)(saved ^ (1u << bit));
            if (hs_event_decode(sb.data, sb.size, &back) == HS_OK)
                assert_int_equal(hs_audit_verify(&back, pk), HS_ERR_CRYPTO);
        }
        sb.data[i] = (char)saved;
    }
    msgpack_sbuffer_destroy(&sb);
    hs_keyring_free(kr);
}

static void test_unsigned_or_changed_events_fail(void **st)
{
    struct hs_keyring *kr = ring("k1:" K1);
    struct hs_event ev, t;
    unsigned char pk[32], sk[64];
    (void)st;

    assert_int_equal(hs_audit_keypair(kr, "k1", pk, sk), HS_OK);
    assert_int_equal(hs_audit_keypair(kr, "nope", pk, sk), HS_ERR_NOTFOUND);
    assert_int_equal(hs_audit_keypair(kr, "k1", pk, sk), HS_OK);
    event(&ev);
    assert_int_equal(hs_audit_verify(&ev, pk), HS_ERR_CRYPTO); /* no sig */
    assert_int_equal(hs_audit_sign(&ev, "k1", sk), HS_OK);
    t = ev;
    t.seq = 8;
    assert_int_equal(hs_audit_verify(&t, pk), HS_ERR_CRYPTO);
    t = ev;
    t.outcome[0] = 'o';
    assert_int_equal(hs_audit_verify(&t, pk), HS_ERR_CRYPTO);
    t = ev;
    snprintf(t.kid, sizeof(t.kid), "k2");
    assert_int_equal(hs_audit_verify(&t, pk), HS_ERR_CRYPTO);
    t = ev;
    t.type = HS_EV_TOKEN_ISSUED;
    assert_int_equal(hs_audit_verify(&t, pk), HS_ERR_CRYPTO);
    assert_int_equal(hs_audit_sign(&t, "k1", sk), HS_ERR_INVALID);
    hs_keyring_free(kr);
}

static void test_public_keys_parse(void **st)
{
    struct hs_audit_keys k;
    char err[200];
    static const char *const bad[] = {
        "", "k1", "k1:", ":" K1, "k1:AAAA", "abcdefghijklmnopq:" K1,
        "k1:" K1 ",", "k1:" K1 "A",
    };
    (void)st;

    assert_int_equal(hs_audit_keys_parse("k1:" K1 ",k2:" K2, &k, err,
                                         sizeof(err)), HS_OK);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.kid[1], "k2");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(hs_audit_keys_parse(bad[i], &k, err, sizeof(err)),
                         HS_ERR_CONFIG);
        assert_non_null(strstr(err, "HS_AUDIT_KEYS"));
    }
}

static void count_down(void *arg, enum hs_err rc)
{
    int *calls = arg;

    assert_int_equal(rc, HS_ERR_UNRECORDED);
    (*calls)++;
}

/* Held records that Kafka does not take: every one answers
 * HS_ERR_UNRECORDED, once, within the Kafka time-out and its margin. */
static void test_held_records_without_kafka_are_unrecorded(void **st)
{
    struct hs_keyring *kr = ring("k1:" K1);
    struct hs_config cfg;
    struct hs_kafka_producer *p = NULL;
    struct hs_auditor *a = NULL;
    struct hs_audit_step steps[3] = {
        {.action = "broadcast.sent", .outcome = "ok", .handshake_id = "h1"},
        {.action = "broadcast.sent", .outcome = "ok", .handshake_id = "h2"},
        {.action = "broadcast.sent", .outcome = "ok", .handshake_id = "h3"}};
    enum hs_err rcs[3] = {HS_OK, HS_OK, HS_OK};
    char err[256];
    time_t t0;
    int calls = 0;
    (void)st;

    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.env, sizeof(cfg.env), "dev");
    snprintf(cfg.brokers, sizeof(cfg.brokers), "127.0.0.1:1");
    cfg.kafka_timeout_ms = 1000;
    assert_int_equal(hs_kafka_producer_new(&cfg, &p, err, sizeof(err)),
                     HS_OK);
    assert_int_equal(hs_auditor_new(&cfg, kr, "hs-test", p, &a), HS_OK);
    t0 = time(NULL);
    hs_audit_hold_all(a, steps, 3, rcs);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rcs[i], HS_ERR_UNRECORDED);
    assert_true(time(NULL) - t0 <= 4);
    /* Records are kept now: the next one waits its turn (and fails, its
     * time-out bounded), its function called before the return. */
    hs_audit_hold_then(a, &steps[0], count_down, &calls);
    assert_int_equal(calls, 1);
    hs_auditor_free(a);
    hs_kafka_producer_free(p);
    hs_keyring_free(kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_event_verifies_after_a_round_trip),
        cmocka_unit_test(test_unsigned_or_changed_events_fail),
        cmocka_unit_test(test_public_keys_parse),
        cmocka_unit_test(test_held_records_without_kafka_are_unrecorded),
    };

    if (hs_crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
