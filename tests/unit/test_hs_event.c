/* Unit tests of schemas/hs_event: the msgpack codec and its strict
 * decoder (schemas/events.md is the contract these tables restate). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_crypto.h"
#include "hs_event.h"

/* struct hs_event is ~17 KiB: keep them off the test stack. */
static struct hs_event ev, out, poison;

#define SET(field, val) snprintf(e->field, sizeof(e->field), "%s", val)

/* ---- the events producers make ------------------------------------------ */

/* One row per event as a producer fills it, with the keys whose absence
 * must make the decoder refuse it (required, always written, or needed by
 * a pairing rule); every other key of the map is optional. */
struct variant {
    const char *what;
    const char *must; /* space-separated keys */
};

static const struct variant variants[] = {
    {"callback.received (code)",
     "v id type ts env handshake_id provider flow subject error "
     "error_description kid sealed"},
    {"callback.received (error)",
     "v id type ts env handshake_id provider flow subject error "
     "error_description kid sealed"},
    {"token.issued (hs.tokens)",
     "v id type ts env user_id provider expires_at scopes token_type kid "
     "sealed"},
    {"token.refreshed (hs.me)",
     "v id type ts env user_id provider expires_at scopes token_type "
     "agent_id box"},
    {"connect.failed (hs.tokens)",
     "v id type ts env user_id provider handshake_id error "
     "error_description"},
    {"connect.failed (hs.me)",
     "v id type ts env user_id provider handshake_id error "
     "error_description agent_id box"},
    {"provider.disconnected (hs.tokens)", "v id type ts env user_id provider"},
    {"reauth.required (hs.me)",
     "v id type ts env user_id provider agent_id box"},
    {"audit (every field)", "v id type ts env svc action outcome reason seq"},
    {"audit (minimal)", "v id type ts env svc action outcome reason seq"},
};

#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static void blob(unsigned char *p, size_t *len, size_t n, int fill)
{
    memset(p, fill, n);
    *len = n;
}

static void make_event(size_t which, struct hs_event *e)
{
    switch (which) {
    case 0:
    case 1:
        hs_event_init(e, HS_EV_CALLBACK_RECEIVED, "dev", 1234);
        SET(handshake_id, "h1");
        SET(provider, "github");
        e->flow = 1;
        SET(subject, which ? "" : "u1"); /* subject may be empty */
        SET(kid, "k1");
        blob(e->sealed, &e->sealed_len, 40, 0xc1);
        if (which == 1) {
            SET(error, "access_denied");
            SET(error_description, "say \"no\"");
        } else {
            SET(iss, "https://id.example");
        }
        return;
    case 2:
    case 3:
        hs_event_init(e, which == 2 ? HS_EV_TOKEN_ISSUED
                                    : HS_EV_TOKEN_REFRESHED,
                      "prod", 1800000000000LL);
        SET(user_id, "u-9");
        SET(provider, "gitlab");
        SET(token_type, "Bearer");
        SET(scopes, "repo read:user");
        e->expires_at = 1800000360000LL;
        if (which == 2) {
            SET(handshake_id, "h9");
            SET(kid, "k2");
            blob(e->sealed, &e->sealed_len, 70, 0xee);
        } else {
            SET(agent_id, "agent-1");
            blob(e->box, &e->box_len, 90, 0x11);
        }
        return;
    case 4:
    case 5:
        hs_event_init(e, HS_EV_CONNECT_FAILED, "dev", 5);
        SET(user_id, "u1");
        SET(provider, "github");
        SET(handshake_id, "h1");
        SET(error, "invalid_grant");
        if (which == 5) {
            SET(agent_id, "a1");
            blob(e->box, &e->box_len, 60, 0x22);
        }
        return;
    case 6:
    case 7:
        hs_event_init(e, which == 6 ? HS_EV_PROVIDER_DISCONNECTED
                                    : HS_EV_REAUTH_REQUIRED, "dev", 6);
        SET(user_id, "u1");
        SET(provider, "slack");
        if (which == 7) {
            SET(agent_id, "a2");
            blob(e->box, &e->box_len, 50, 0x33);
        }
        return;
    default:
        hs_event_init(e, HS_EV_AUDIT, "dev", 7);
        SET(svc, "hs-exchange");
        SET(action, "token.stored");
        SET(outcome, "ok");
        e->seq = INT64_MAX;
        if (which == 8) {
            SET(reason, "fine");
            SET(handshake_id, "h1");
            SET(user_id, "u1");
            SET(provider, "github");
            SET(client_ip, "127.0.0.1");
            SET(user_agent, "curl/8");
            SET(fingerprint, "abcdEFGH12345678");
            blob(e->sig, &e->sig_len, 64, 0x99);
        }
        return;
    }
}

static void encode(const struct hs_event *e, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    assert_int_equal(hs_event_encode(e, sb), HS_OK);
}

/* Decodes into out (poisoned first); on failure checks out untouched. */
static enum hs_err decode(const void *buf, size_t len)
{
    enum hs_err rc;

    out = poison;
    rc = hs_event_decode(buf, len, &out);
    if (rc != HS_OK && memcmp(&out, &poison, sizeof(out)) != 0)
        fail_msg("out written although decode failed (%d)", rc);
    return rc;
}

static int setup(void **st)
{
    (void)st;
    memset(&poison, 0xAB, sizeof(poison));
    return hs_crypto_init();
}

/* ---- round trips and truncation ------------------------------------------ */

static void test_every_variant_round_trips_byte_for_byte(void **st)
{
    msgpack_sbuffer sb, again;
    (void)st;

    for (size_t w = 0; w < NVARIANTS; w++) {
        make_event(w, &ev);
        encode(&ev, &sb);
        assert_true(sb.size <= HS_EVENT_MAX_BYTES);
        if (decode(sb.data, sb.size) != HS_OK)
            fail_msg("%s does not decode", variants[w].what);
        if (memcmp(&ev, &out, sizeof(ev)) != 0)
            fail_msg("%s changed in the round trip", variants[w].what);
        encode(&out, &again); /* the encoding is canonical */
        assert_int_equal(again.size, sb.size);
        assert_memory_equal(again.data, sb.data, sb.size);
        msgpack_sbuffer_destroy(&again);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_every_prefix_and_trailing_byte_fail_cleanly(void **st)
{
    msgpack_sbuffer sb;
    (void)st;

    for (size_t w = 0; w < NVARIANTS; w++) {
        make_event(w, &ev);
        encode(&ev, &sb);
        for (size_t n = 0; n < sb.size; n++)
            if (decode(sb.data, n) != HS_ERR_DECODE)
                fail_msg("%s: prefix %zu decoded", variants[w].what, n);
        msgpack_sbuffer_write(&sb, "\xc0", 1); /* one more object */
        assert_int_equal(decode(sb.data, sb.size), HS_ERR_DECODE);
        msgpack_sbuffer_destroy(&sb);
    }
    assert_int_equal(decode(NULL, 10), HS_ERR_DECODE);
}

/* ---- repacking an encoded event with one change ------------------------- */

enum op { OP_DROP, OP_SET, OP_DUP, OP_ADD };

/* A value to put in a map: 'n' nil, 'i' int, 'u' uint64 max, 's' string of
 * n bytes ('a'), 'z' string with a NUL, 'b' bin of n bytes, 'A' array of
 * n nils, 'M' map, 'f' float, 't' true, 'x' ext of n bytes. */
struct val {
    char kind;
    size_t n;
    int64_t i;
};

static void pack_val(msgpack_packer *pk, const struct val *v)
{
    static char fill[2 * HS_EVENT_MAX_BYTES];

    memset(fill, 'a', sizeof(fill));
    switch (v->kind) {
    case 'i':
        msgpack_pack_int64(pk, v->i);
        break;
    case 'u':
        msgpack_pack_uint64(pk, UINT64_MAX);
        break;
    case 's':
        msgpack_pack_str(pk, v->n);
        msgpack_pack_str_body(pk, fill, v->n);
        break;
    case 'z':
        msgpack_pack_str(pk, 3);
        msgpack_pack_str_body(pk, "a\0b", 3);
        break;
    case 'b':
        msgpack_pack_bin(pk, v->n);
        msgpack_pack_bin_body(pk, fill, v->n);
        break;
    case 'A':
        msgpack_pack_array(pk, v->n);
        for (size_t i = 0; i < v->n; i++)
            msgpack_pack_nil(pk);
        break;
    case 'x':
        msgpack_pack_ext(pk, v->n, 7);
        msgpack_pack_ext_body(pk, fill, v->n);
        break;
    case 'M':
        msgpack_pack_map(pk, 0);
        break;
    case 'f':
        msgpack_pack_double(pk, 1.5);
        break;
    case 't':
        msgpack_pack_true(pk);
        break;
    default:
        msgpack_pack_nil(pk);
    }
}

static int key_eq(const msgpack_object *k, const char *s)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(s) &&
           memcmp(k->via.str.ptr, s, k->via.str.size) == 0;
}

static void pack_key(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str(pk, strlen(key));
    msgpack_pack_str_body(pk, key, strlen(key));
}

/* Re-packs the map in sb0 into sb with one change to key. */
static void repack(const msgpack_sbuffer *sb0, const char *key, enum op op,
                   const struct val *v, msgpack_sbuffer *sb)
{
    msgpack_unpacked up;
    msgpack_packer pk;
    const msgpack_object_map *m;
    size_t off = 0, n;

    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, sb0->data, sb0->size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    m = &up.data.via.map;
    n = m->size - (op == OP_DROP) + (op == OP_DUP || op == OP_ADD);
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object_kv *kv = &m->ptr[i];

        if (key_eq(&kv->key, key) && op == OP_DROP)
            continue;
        msgpack_pack_object(&pk, kv->key);
        if (key_eq(&kv->key, key) && op == OP_SET)
            pack_val(&pk, v);
        else
            msgpack_pack_object(&pk, kv->val);
        if (key_eq(&kv->key, key) && op == OP_DUP) {
            msgpack_pack_object(&pk, kv->key);
            msgpack_pack_object(&pk, kv->val);
        }
    }
    if (op == OP_ADD) {
        pack_key(&pk, key);
        pack_val(&pk, v);
    }
    msgpack_unpacked_destroy(&up);
}

/* The keys of the encoded map in sb, as a NULL-terminated list of
 * malloc'd strings (freed with free_keys). */
static char **keys_of(const msgpack_sbuffer *sb, char *kinds)
{
    msgpack_unpacked up;
    size_t off = 0;
    char **keys;

    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, sb->data, sb->size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    keys = calloc(up.data.via.map.size + 1, sizeof(*keys));
    assert_non_null(keys);
    for (uint32_t i = 0; i < up.data.via.map.size; i++) {
        const msgpack_object_kv *kv = &up.data.via.map.ptr[i];

        keys[i] = strndup(kv->key.via.str.ptr, kv->key.via.str.size);
        assert_non_null(keys[i]);
        kinds[i] = kv->val.type == MSGPACK_OBJECT_STR   ? 's'
                   : kv->val.type == MSGPACK_OBJECT_BIN ? 'b'
                                                        : 'i';
    }
    msgpack_unpacked_destroy(&up);
    return keys;
}

static void free_keys(char **keys)
{
    for (size_t i = 0; keys[i]; i++)
        free(keys[i]);
    free(keys);
}

static int in_list(const char *list, const char *key)
{
    size_t n = strlen(key);

    for (const char *p = list; (p = strstr(p, key)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static enum hs_err decode_changed(const msgpack_sbuffer *sb0,
                                  const char *key, enum op op,
                                  const struct val *v)
{
    msgpack_sbuffer sb;
    enum hs_err rc;

    repack(sb0, key, op, v, &sb);
    rc = decode(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Dropping a required key fails; dropping an optional one does not. */
static void test_missing_required_keys_fail_optional_ones_do_not(void **st)
{
    msgpack_sbuffer sb;
    char kinds[64];
    (void)st;

    for (size_t w = 0; w < NVARIANTS; w++) {
        char **keys;

        make_event(w, &ev);
        encode(&ev, &sb);
        keys = keys_of(&sb, kinds);
        for (size_t i = 0; keys[i]; i++) {
            enum hs_err want = in_list(variants[w].must, keys[i])
                                   ? HS_ERR_DECODE : HS_OK;

            if (decode_changed(&sb, keys[i], OP_DROP, NULL) != want)
                fail_msg("%s without %s: expected %d", variants[w].what,
                         keys[i], want);
        }
        /* every "must" key is actually written */
        for (const char *p = variants[w].must; *p;) {
            size_t n = strcspn(p, " ");
            int found = 0;

            for (size_t i = 0; keys[i]; i++)
                found |= strlen(keys[i]) == n && !strncmp(keys[i], p, n);
            if (!found)
                fail_msg("%s: %.*s not written", variants[w].what, (int)n, p);
            p += n + (p[n] == ' ');
        }
        free_keys(keys);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* Every key of every variant given a value of every other msgpack kind. */
static void test_wrong_value_types_fail_for_every_key(void **st)
{
    static const struct val wrong[] = {
        {'n', 0, 0}, {'i', 0, 1}, {'s', 1, 0}, {'b', 1, 0}, {'A', 0, 0},
        {'M', 0, 0}, {'f', 0, 0}, {'t', 0, 0},
    };
    msgpack_sbuffer sb;
    char kinds[64];
    (void)st;

    for (size_t w = 0; w < NVARIANTS; w++) {
        char **keys;

        make_event(w, &ev);
        encode(&ev, &sb);
        keys = keys_of(&sb, kinds);
        for (size_t i = 0; keys[i]; i++) {
            for (size_t k = 0; k < sizeof(wrong) / sizeof(wrong[0]); k++) {
                if (wrong[k].kind == kinds[i])
                    continue; /* the right kind */
                if (decode_changed(&sb, keys[i], OP_SET, &wrong[k]) !=
                    HS_ERR_DECODE)
                    fail_msg("%s: %s as '%c' decoded", variants[w].what,
                             keys[i], wrong[k].kind);
            }
            /* and a duplicate of the key, same value */
            if (decode_changed(&sb, keys[i], OP_DUP, NULL) != HS_ERR_DECODE)
                fail_msg("%s: duplicate %s decoded", variants[w].what,
                         keys[i]);
        }
        free_keys(keys);
        msgpack_sbuffer_destroy(&sb);
    }
}

#define CAP(f) {#f, sizeof(((struct hs_event *)0)->f)}

/* A string that fills its field exactly (no room for the NUL) is refused:
 * the decoder never truncates. One byte less fits. */
static void test_over_long_strings_fail_never_truncate(void **st)
{
    static const struct {
        const char *key;
        size_t cap;
    } caps[] = {
        CAP(id), CAP(env), CAP(handshake_id), CAP(provider), CAP(subject),
        CAP(error), CAP(error_description), CAP(iss), CAP(user_id),
        CAP(agent_id), CAP(scopes), CAP(token_type), CAP(kid), CAP(svc),
        CAP(action), CAP(outcome), CAP(reason), CAP(client_ip),
        CAP(user_agent), CAP(fingerprint),
    };
    msgpack_sbuffer sb;
    char kinds[64];
    int tried = 0;
    (void)st;

    for (size_t w = 0; w < NVARIANTS; w++) {
        char **keys;

        make_event(w, &ev);
        encode(&ev, &sb);
        keys = keys_of(&sb, kinds);
        for (size_t i = 0; keys[i]; i++) {
            for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
                struct val full = {'s', caps[c].cap, 0};
                struct val fits = {'s', caps[c].cap - 1, 0};

                if (strcmp(keys[i], caps[c].key) != 0)
                    continue;
                tried++;
                if (decode_changed(&sb, keys[i], OP_SET, &full) !=
                    HS_ERR_DECODE)
                    fail_msg("%s: %s of %zu bytes decoded", variants[w].what,
                             keys[i], caps[c].cap);
                if (decode_changed(&sb, keys[i], OP_SET, &fits) != HS_OK)
                    fail_msg("%s: %s of %zu bytes refused", variants[w].what,
                             keys[i], caps[c].cap - 1);
            }
        }
        free_keys(keys);
        msgpack_sbuffer_destroy(&sb);
    }
    assert_true(tried >= 40);
    /* the longest provider fits whole */
    make_event(6, &ev);
    encode(&ev, &sb);
    {
        struct val fits = {'s', sizeof(ev.provider) - 1, 0};

        assert_int_equal(decode_changed(&sb, "provider", OP_SET, &fits),
                         HS_OK);
        assert_int_equal(strlen(out.provider), sizeof(out.provider) - 1);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* One change to a valid map, and what the decoder must answer. */
struct change {
    size_t variant;
    const char *key;
    enum op op;
    struct val v;
    enum hs_err want;
    const char *what;
};

static void test_table_of_single_changes(void **st)
{
    static const struct change t[] = {
        {0, "v", OP_SET, {'i', 0, 2}, HS_ERR_DECODE, "v 2"},
        {0, "v", OP_SET, {'i', 0, 0}, HS_ERR_DECODE, "v 0"},
        {0, "v", OP_SET, {'i', 0, -1}, HS_ERR_DECODE, "v -1"},
        {0, "v", OP_SET, {'u', 0, 0}, HS_ERR_DECODE, "v 2^64-1"},
        {0, "type", OP_SET, {'s', 5, 0}, HS_ERR_DECODE, "unknown type"},
        {0, "type", OP_SET, {'s', 300, 0}, HS_ERR_DECODE, "type 300 bytes"},
        {0, "type", OP_SET, {'z', 0, 0}, HS_ERR_DECODE, "type with a NUL"},
        {0, "provider", OP_SET, {'z', 0, 0}, HS_ERR_DECODE, "NUL in string"},
        {0, "provider", OP_SET, {'s', 0, 0}, HS_ERR_DECODE, "provider empty"},
        {0, "handshake_id", OP_SET, {'s', 0, 0}, HS_ERR_DECODE,
         "handshake_id empty"},
        {0, "kid", OP_SET, {'s', 0, 0}, HS_ERR_DECODE, "kid empty"},
        {0, "subject", OP_SET, {'s', 0, 0}, HS_OK, "subject may be empty"},
        {1, "error", OP_SET, {'s', 0, 0}, HS_OK, "callback error may be empty"},
        {4, "error", OP_SET, {'s', 0, 0}, HS_ERR_DECODE,
         "connect.failed error empty"},
        {4, "error_description", OP_SET, {'s', 0, 0}, HS_OK,
         "connect.failed description may be empty"},
        {0, "flow", OP_SET, {'i', 0, -1}, HS_ERR_DECODE, "flow -1"},
        {0, "flow", OP_SET, {'i', 0, 1001}, HS_ERR_DECODE, "flow 1001"},
        {0, "flow", OP_SET, {'i', 0, 4}, HS_OK, "flow 4"},
        {0, "ts", OP_SET, {'u', 0, 0}, HS_ERR_DECODE, "ts over int64"},
        {0, "ts", OP_SET, {'i', 0, INT64_MIN}, HS_OK, "ts int64 min"},
        {0, "sealed", OP_SET, {'b', 0, 0}, HS_ERR_DECODE, "sealed empty"},
        {0, "sealed", OP_SET, {'b', HS_BLOB_MAX, 0}, HS_OK, "sealed max"},
        {0, "sealed", OP_SET, {'b', HS_BLOB_MAX + 1, 0}, HS_ERR_DECODE,
         "sealed over max"},
        {3, "box", OP_SET, {'b', HS_BLOB_MAX + 1, 0}, HS_ERR_DECODE,
         "box over max"},
        {8, "sig", OP_SET, {'b', 63, 0}, HS_ERR_DECODE, "sig 63 bytes"},
        {8, "sig", OP_SET, {'b', 65, 0}, HS_ERR_DECODE, "sig 65 bytes"},
        {8, "reason", OP_SET, {'s', 0, 0}, HS_OK, "audit reason empty"},
        {8, "svc", OP_SET, {'s', 0, 0}, HS_ERR_DECODE, "audit svc empty"},
        {2, "box", OP_ADD, {'b', 10, 0}, HS_ERR_DECODE, "sealed and box"},
        {3, "sealed", OP_ADD, {'b', 10, 0}, HS_ERR_DECODE, "box and sealed"},
        {3, "kid", OP_ADD, {'s', 2, 0}, HS_OK, "kid beside a box"},
        {6, "agent_id", OP_ADD, {'s', 2, 0}, HS_ERR_DECODE,
         "agent_id without box"},
        {6, "box", OP_ADD, {'b', 10, 0}, HS_ERR_DECODE, "box without agent"},
        {4, "sealed", OP_ADD, {'b', 10, 0}, HS_OK,
         "sealed on connect.failed: another type's key, ignored"},
        {0, "seq", OP_ADD, {'s', 3, 0}, HS_OK,
         "seq on a callback: another type's key, ignored whatever its kind"},
        {0, "zz_future", OP_ADD, {'s', 1000, 0}, HS_OK, "unknown key"},
        {0, "zz_future", OP_ADD, {'M', 0, 0}, HS_OK, "unknown key, a map"},
        {0, "zz_future", OP_ADD, {'A', 70000, 0}, HS_ERR_DECODE,
         "unknown key, array32 over the cap"},
        {0, "zz_future", OP_ADD, {'A', 300, 0}, HS_OK, "unknown array16"},
        {0, "zz_future", OP_ADD, {'f', 0, 0}, HS_OK, "unknown float"},
        {0, "zz_future", OP_ADD, {'x', 1, 0}, HS_OK, "unknown fixext1"},
        {0, "zz_future", OP_ADD, {'x', 2, 0}, HS_OK, "unknown fixext2"},
        {0, "zz_future", OP_ADD, {'x', 4, 0}, HS_OK, "unknown fixext4"},
        {0, "zz_future", OP_ADD, {'x', 8, 0}, HS_OK, "unknown fixext8"},
        {0, "zz_future", OP_ADD, {'x', 16, 0}, HS_OK, "unknown fixext16"},
        {0, "zz_future", OP_ADD, {'x', 3, 0}, HS_OK, "unknown ext8"},
        {0, "zz_future", OP_ADD, {'x', 300, 0}, HS_OK, "unknown ext16"},
        {0, "zz_future", OP_ADD, {'x', 70000, 0}, HS_ERR_DECODE,
         "unknown ext32 over the cap"},
        {0, "zz_future", OP_ADD, {'u', 0, 0}, HS_OK, "unknown uint64"},
        {0, "zz_future", OP_ADD, {'s', HS_EVENT_MAX_BYTES, 0}, HS_ERR_DECODE,
         "payload over HS_EVENT_MAX_BYTES"},
    };
    msgpack_sbuffer sb;
    (void)st;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        enum hs_err rc;

        make_event(t[i].variant, &ev);
        encode(&ev, &sb);
        rc = decode_changed(&sb, t[i].key, t[i].op, &t[i].v);
        if (rc != t[i].want)
            fail_msg("%s: got %d, want %d", t[i].what, rc, t[i].want);
        msgpack_sbuffer_destroy(&sb);
    }
    /* another type's key is not copied */
    make_event(4, &ev);
    encode(&ev, &sb);
    {
        struct val v = {'b', 10, 0};

        assert_int_equal(decode_changed(&sb, "sealed", OP_ADD, &v), HS_OK);
        assert_int_equal(out.sealed_len, 0);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* A map just under the payload cap decodes; the cap is about bytes. */
static void test_payload_cap_boundary(void **st)
{
    msgpack_sbuffer sb, big;
    struct val v = {'s', 0, 0};
    (void)st;

    make_event(6, &ev);
    encode(&ev, &sb);
    /* key "zz" (3) + str16 header (3) + n bytes; the fixmap header keeps
     * its size */
    v.n = HS_EVENT_MAX_BYTES - sb.size - 3 - 3;
    repack(&sb, "zz", OP_ADD, &v, &big);
    assert_int_equal(big.size, HS_EVENT_MAX_BYTES);
    assert_int_equal(decode(big.data, big.size), HS_OK);
    msgpack_sbuffer_destroy(&big);
    v.n++;
    repack(&sb, "zz", OP_ADD, &v, &big);
    assert_int_equal(decode(big.data, big.size), HS_ERR_DECODE);
    msgpack_sbuffer_destroy(&big);
    msgpack_sbuffer_destroy(&sb);
}

static void test_non_maps_non_string_keys_and_huge_headers_fail(void **st)
{
    /* {1: 1}; map and array headers claiming 2^32-1 entries; nil; a str;
     * an empty map; an array; {"v": 1} alone; a map whose key is a bin. */
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {{"\x81\x01\x01", 3},          {"\xdf\xff\xff\xff\xff", 5},
               {"\xdd\xff\xff\xff\xff", 5},  {"\xc0", 1},
               {"\xa1x", 2},                 {"\x80", 1},
               {"\x93\x01\x02\x03", 4},      {"\x81\xa1v\x01", 4},
               {"\x81\xc4\x01v\x01", 5},
               /* nested headers claiming more items than bytes left */
               {"\x81\xa1v\xdd\xff\xff\xff\xff", 8},
               {"\x81\xa1v\xdf\xff\xff\xff\xff", 8},
               {"\xde\xff\xff\xa1v\x01\xa1w\x02", 10},
               {"\x82\xa1v\x01\xa1w\x9f", 8},
               /* lengths past the end; the unused byte 0xc1 */
               {"\x81\xa1v\xdb\xff\xff\xff\xff", 8},
               {"\x81\xa1v\xc6\x00\x00\x00\x09xy", 10},
               {"\x81\xa1v\xc9\x00\x00\x00\x01", 8},
               {"\x81\xa1v\xd8\x01", 5},
               {"\x81\xa1v\xc1", 4},
               {"\x81\xa1v\xcf\x00", 5}};
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (decode(bad[i].b, bad[i].n) != HS_ERR_DECODE)
            fail_msg("bad buffer %zu decoded", i);
}

/* Seeded noise and bit-flipped events: never a crash (valgrind and ASan
 * runs make this meaningful), never a write to out on failure, and what
 * the decoder accepts the encoder can write again. */
static void test_random_bytes_never_crash(void **st)
{
    static unsigned char buf[1024];
    msgpack_sbuffer sb[NVARIANTS], re;
    uint32_t seed = 12345;
    int accepted = 0;
    (void)st;

    for (size_t w = 0; w < NVARIANTS; w++) {
        make_event(w, &ev);
        encode(&ev, &sb[w]);
        assert_true(sb[w].size <= sizeof(buf));
    }
    for (int i = 0; i < 6000; i++) {
        size_t n;

        seed = seed * 1103515245u + 12345u;
        n = (seed >> 8) % sizeof(buf);
        for (size_t j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            buf[j] = (unsigned char)(seed >> 16);
        }
        if (i % 3) { /* a valid event with one to three bytes changed */
            const msgpack_sbuffer *s = &sb[(size_t)i % NVARIANTS];

            memcpy(buf, s->data, s->size);
            n = s->size;
            for (int f = 0; f <= i % 3; f++) {
                seed = seed * 1103515245u + 12345u;
                buf[(seed >> 4) % n] ^= (unsigned char)(1 + (seed >> 20) % 255);
            }
        }
        if (decode(buf, n) != HS_OK)
            continue;
        accepted++; /* a flip inside a string may stay valid */
        msgpack_sbuffer_init(&re);
        if (hs_event_encode(&out, &re) != HS_OK)
            fail_msg("buffer %d decoded but does not encode", i);
        msgpack_sbuffer_destroy(&re);
    }
    assert_true(accepted > 0 && accepted < 6000);
    for (size_t w = 0; w < NVARIANTS; w++)
        msgpack_sbuffer_destroy(&sb[w]);
}

/* ---- the encoder -------------------------------------------------------- */

/* Clears one field of a valid variant; the encoder must refuse it and
 * leave the caller's buffer as it was. */
static void test_encoder_refuses_incomplete_events(void **st)
{
    static const struct {
        size_t variant;
        const char *what;
    } t[] = {
        {0, "sealed"}, {0, "kid"}, {0, "handshake_id"}, {0, "provider"},
        {0, "id"}, {0, "env"}, {2, "sealed"}, {2, "kid"}, {2, "user_id"},
        {2, "token_type"}, {3, "box"}, {3, "agent_id"}, {4, "error"},
        {4, "handshake_id"}, {5, "box"}, {5, "agent_id"}, {8, "svc"},
        {8, "action"}, {8, "outcome"}, {8, "sig_len"}, {2, "both"},
        {0, "type"}, {0, "v"}, {0, "unterminated"}, {0, "sealed_len"},
        {6, "agent_only"},
    };
    msgpack_sbuffer sb;
    (void)st;

    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_write(&sb, "prev", 4); /* encode appends */
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *w = t[i].what;
        struct hs_event *e = &ev;

        make_event(t[i].variant, e);
        if (!strcmp(w, "sealed"))
            e->sealed_len = 0;
        else if (!strcmp(w, "box"))
            e->box_len = 0;
        else if (!strcmp(w, "sig_len"))
            e->sig_len = 10;
        else if (!strcmp(w, "sealed_len"))
            e->sealed_len = HS_BLOB_MAX + 1;
        else if (!strcmp(w, "both"))
            blob(e->box, &e->box_len, 4, 1);
        else if (!strcmp(w, "type"))
            e->type = (enum hs_event_type)99;
        else if (!strcmp(w, "v"))
            e->v = 2;
        else if (!strcmp(w, "unterminated"))
            memset(e->provider, 'a', sizeof(e->provider));
        else if (!strcmp(w, "agent_only"))
            SET(agent_id, "a1");
        else if (!strcmp(w, "kid"))
            e->kid[0] = '\0';
        else if (!strcmp(w, "handshake_id"))
            e->handshake_id[0] = '\0';
        else if (!strcmp(w, "provider"))
            e->provider[0] = '\0';
        else if (!strcmp(w, "id"))
            e->id[0] = '\0';
        else if (!strcmp(w, "env"))
            e->env[0] = '\0';
        else if (!strcmp(w, "user_id"))
            e->user_id[0] = '\0';
        else if (!strcmp(w, "token_type"))
            e->token_type[0] = '\0';
        else if (!strcmp(w, "agent_id"))
            e->agent_id[0] = '\0';
        else if (!strcmp(w, "error"))
            e->error[0] = '\0';
        else if (!strcmp(w, "svc"))
            e->svc[0] = '\0';
        else if (!strcmp(w, "action"))
            e->action[0] = '\0';
        else if (!strcmp(w, "outcome"))
            e->outcome[0] = '\0';
        else
            fail_msg("row %zu: no such change", i);
        if (hs_event_encode(e, &sb) != HS_ERR_INVALID)
            fail_msg("%s without %s encoded", variants[t[i].variant].what, w);
        assert_int_equal(sb.size, 4);
    }
    make_event(0, &ev);
    assert_int_equal(hs_event_encode(&ev, &sb), HS_OK);
    assert_memory_equal(sb.data, "prev", 4);
    assert_int_equal(decode(sb.data + 4, sb.size - 4), HS_OK);
    msgpack_sbuffer_destroy(&sb);
}

/* 1 when the bytes of s occur in sb. */
static int contains(const msgpack_sbuffer *sb, const char *s, size_t n)
{
    for (size_t i = 0; i + n <= sb->size; i++)
        if (memcmp(sb->data + i, s, n) == 0)
            return 1;
    return 0;
}

/* Fields that do not belong to the type are not written. */
static void test_encoder_writes_only_the_fields_of_the_type(void **st)
{
    msgpack_sbuffer sb;
    struct hs_event *e = &ev;
    (void)st;

    make_event(6, e); /* provider.disconnected */
    SET(handshake_id, "h1"); /* not a field of this type */
    e->seq = 5;
    blob(e->sealed, &e->sealed_len, 8, 1);
    SET(kid, "k1");
    encode(&ev, &sb);
    assert_int_equal(decode(sb.data, sb.size), HS_OK);
    assert_string_equal(out.handshake_id, "");
    assert_int_equal(out.seq, 0);
    assert_int_equal(out.sealed_len, 0);
    assert_string_equal(out.kid, "");
    assert_false(contains(&sb, "handshake_id", 12));
    msgpack_sbuffer_destroy(&sb);
    /* an optional field left empty is not written at all */
    make_event(0, &ev);
    ev.iss[0] = '\0';
    encode(&ev, &sb);
    assert_false(contains(&sb, "iss", 3));
    assert_true(contains(&sb, "subject", 7));
    msgpack_sbuffer_destroy(&sb);
}

/* ---- names, init, wipe -------------------------------------------------- */

static void test_type_names_round_trip(void **st)
{
    static const char *const names[] = {
        "callback.received", "token.issued", "token.refreshed",
        "provider.disconnected", "reauth.required", "connect.failed",
        "audit"};
    enum hs_event_type t = HS_EV_AUDIT;
    (void)st;

    for (int i = HS_EV_CALLBACK_RECEIVED; i <= HS_EV_AUDIT; i++) {
        assert_string_equal(hs_event_type_name((enum hs_event_type)i),
                            names[i - 1]);
        assert_int_equal(hs_event_type_parse(names[i - 1], &t), HS_OK);
        assert_int_equal(t, i);
    }
    assert_null(hs_event_type_name((enum hs_event_type)0));
    assert_null(hs_event_type_name((enum hs_event_type)8));
    assert_null(hs_event_type_name((enum hs_event_type)-1));
    t = HS_EV_AUDIT;
    assert_int_equal(hs_event_type_parse("Audit", &t), HS_ERR_DECODE);
    assert_int_equal(hs_event_type_parse("", &t), HS_ERR_DECODE);
    assert_int_equal(hs_event_type_parse("audit ", &t), HS_ERR_DECODE);
    assert_int_equal(hs_event_type_parse(NULL, &t), HS_ERR_DECODE);
    assert_int_equal(t, HS_EV_AUDIT);
}

static void test_init_fills_common_fields_with_a_fresh_id(void **st)
{
    static struct hs_event a, b;
    (void)st;

    memset(&a, 0x5a, sizeof(a));
    hs_event_init(&a, HS_EV_TOKEN_ISSUED, "staging-1", 42);
    hs_event_init(&b, HS_EV_TOKEN_ISSUED, "staging-1", 42);
    assert_int_equal(a.v, HS_EVENT_VERSION);
    assert_int_equal(a.type, HS_EV_TOKEN_ISSUED);
    assert_int_equal(a.ts, 42);
    assert_string_equal(a.env, "staging-1");
    assert_int_equal(strlen(a.id), HS_ID_LEN);
    assert_int_equal(strspn(a.id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                  "opqrstuvwxyz0123456789-_"), HS_ID_LEN);
    assert_string_not_equal(a.id, b.id);
    assert_int_equal(a.sealed_len, 0); /* everything else zeroed */
    assert_int_equal(a.user_id[0], 0);
    assert_int_equal(a.sig[63], 0);
    /* an env that does not fit is left empty, so encoding refuses it */
    hs_event_init(&a, HS_EV_AUDIT, "0123456789abcdef0123456789abcdef", 1);
    assert_string_equal(a.env, "");
    hs_event_init(&a, HS_EV_AUDIT, NULL, 1);
    assert_string_equal(a.env, "");
}

static void test_event_wipe_clears_secrets(void **st)
{
    (void)st;

    make_event(2, &ev);
    blob(ev.box, &ev.box_len, HS_BLOB_MAX, 0x77);
    blob(ev.sealed, &ev.sealed_len, HS_BLOB_MAX, 0x66);
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
        cmocka_unit_test(test_every_variant_round_trips_byte_for_byte),
        cmocka_unit_test(test_every_prefix_and_trailing_byte_fail_cleanly),
        cmocka_unit_test(test_missing_required_keys_fail_optional_ones_do_not),
        cmocka_unit_test(test_wrong_value_types_fail_for_every_key),
        cmocka_unit_test(test_over_long_strings_fail_never_truncate),
        cmocka_unit_test(test_table_of_single_changes),
        cmocka_unit_test(test_payload_cap_boundary),
        cmocka_unit_test(test_non_maps_non_string_keys_and_huge_headers_fail),
        cmocka_unit_test(test_random_bytes_never_crash),
        cmocka_unit_test(test_encoder_refuses_incomplete_events),
        cmocka_unit_test(test_encoder_writes_only_the_fields_of_the_type),
        cmocka_unit_test(test_type_names_round_trip),
        cmocka_unit_test(test_init_fills_common_fields_with_a_fresh_id),
        cmocka_unit_test(test_event_wipe_clears_secrets),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
