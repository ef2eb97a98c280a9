/* Unit tests of lib/hs_worker: the dead-letter record keeps the original
 * bytes and says where they came from and why (SECURITY 22). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "hs_worker.h"

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;

        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &map->via.map.ptr[i].val;
    }
    fail_msg("no key %s", key);
    return NULL;
}

static void test_dlq_record_keeps_the_original_bytes(void **st)
{
    const char payload[] = {0x00, (char)0xc1, 0x7f, 0x01};
    struct hs_kafka_msg m = {.topic = "hs.callbacks", .partition = 3,
                             .offset = 77, .key = "h1", .keylen = 2,
                             .val = payload, .vallen = sizeof(payload)};
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    const msgpack_object *o, *v;
    size_t off = 0;
    (void)st;

    msgpack_sbuffer_init(&sb);
    assert_int_equal(hs_worker_dlq_encode(&m, "hs-exchange",
                                          "undecodable_event", 1234, &sb),
                     HS_OK);
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, sb.size);
    o = &up.data;
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    v = get(o, "payload");
    assert_int_equal(v->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(v->via.bin.size, sizeof(payload));
    assert_memory_equal(v->via.bin.ptr, payload, sizeof(payload));
    v = get(o, "key");
    assert_memory_equal(v->via.bin.ptr, "h1", 2);
    assert_int_equal(get(o, "partition")->via.u64, 3);
    assert_int_equal(get(o, "offset")->via.u64, 77);
    assert_int_equal(get(o, "ts")->via.u64, 1234);
    v = get(o, "reason");
    assert_memory_equal(v->via.str.ptr, "undecodable_event", 17);
    v = get(o, "topic");
    assert_memory_equal(v->via.str.ptr, "hs.callbacks", 12);
    v = get(o, "svc");
    assert_memory_equal(v->via.str.ptr, "hs-exchange", 11);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dlq_record_keeps_the_original_bytes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
