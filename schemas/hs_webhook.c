/* hs_webhook: msgpack codec of hs.webhooks events (hs_webhook.h). */
#include "hs_webhook.h"

#include <stdlib.h>
#include <string.h>

#include "hs_crypto.h"
#include "hs_event.h" /* hs__msgpack_shape_ok */

#define VERSION 1

void hs_webhook_init(struct hs_webhook *wh, enum hs_webhook_type type,
                     const char *env, int64_t now_ms)
{
    memset(wh, 0, sizeof(*wh));
    wh->v = VERSION;
    wh->type = type;
    wh->ts = now_ms;
    snprintf(wh->env, sizeof(wh->env), "%s", env);
    if (hs_random_token(16, wh->id, sizeof(wh->id)) != HS_OK)
        wh->id[0] = '\0'; /* refused by the encoder */
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void pack_key(msgpack_packer *pk, const char *k)
{
    pack_str(pk, k);
}

enum hs_err hs_webhook_encode(const struct hs_webhook *wh,
                              msgpack_sbuffer *out)
{
    msgpack_packer pk;
    int received = wh->type == HS_WH_RECEIVED;

    if (!wh->id[0] || !wh->env[0] || !wh->provider[0] ||
        (wh->type != HS_WH_RECEIVED && wh->type != HS_WH_RELAYED) ||
        (received && (!wh->sealed_len ||
                      wh->sealed_len > HS_WEBHOOK_SEALED_MAX)) ||
        (!received && !wh->ref[0]))
        return HS_ERR_INVALID;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, received ? 7 : 9);
    pack_key(&pk, "v");
    msgpack_pack_int(&pk, wh->v);
    pack_key(&pk, "id");
    pack_str(&pk, wh->id);
    pack_key(&pk, "type");
    pack_str(&pk, received ? "webhook.received" : "webhook.relayed");
    pack_key(&pk, "ts");
    msgpack_pack_int64(&pk, wh->ts);
    pack_key(&pk, "env");
    pack_str(&pk, wh->env);
    pack_key(&pk, "provider");
    pack_str(&pk, wh->provider);
    if (received) {
        pack_key(&pk, "sealed");
        msgpack_pack_bin(&pk, wh->sealed_len);
        msgpack_pack_bin_body(&pk, wh->sealed, wh->sealed_len);
    } else {
        pack_key(&pk, "ref");
        pack_str(&pk, wh->ref);
        pack_key(&pk, "status");
        msgpack_pack_int(&pk, wh->status);
        pack_key(&pk, "error");
        pack_str(&pk, wh->error);
    }
    return HS_OK;
}

static int key_is(const msgpack_object *k, const char *s)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(s) &&
           memcmp(k->via.str.ptr, s, k->via.str.size) == 0;
}

/* A string that fits cap with its NUL and holds no NUL. */
static int get_str(const msgpack_object *o, char *dst, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap ||
        memchr(o->via.str.ptr, '\0', o->via.str.size))
        return 0;
    memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = '\0';
    return 1;
}

static int get_int(const msgpack_object *o, int64_t lo, int64_t hi,
                   int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
        o->via.u64 <= (uint64_t)INT64_MAX)
        *out = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = o->via.i64;
    else
        return 0;
    return *out >= lo && *out <= hi;
}

static enum hs_err decode_map(const msgpack_object_map *m,
                              struct hs_webhook *wh)
{
    char type[32] = "";
    int64_t n;
    unsigned seen = 0;

    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        int ok;
        unsigned bit;

        if (key_is(k, "v"))
            bit = 1, ok = get_int(v, VERSION, VERSION, &n);
        else if (key_is(k, "id"))
            bit = 2, ok = get_str(v, wh->id, sizeof(wh->id));
        else if (key_is(k, "type"))
            bit = 4, ok = get_str(v, type, sizeof(type));
        else if (key_is(k, "ts"))
            bit = 8, ok = get_int(v, 0, INT64_MAX, &wh->ts);
        else if (key_is(k, "env"))
            bit = 16, ok = get_str(v, wh->env, sizeof(wh->env));
        else if (key_is(k, "provider"))
            bit = 32, ok = get_str(v, wh->provider, sizeof(wh->provider));
        else if (key_is(k, "sealed"))
            bit = 64, ok = v->type == MSGPACK_OBJECT_BIN &&
                           v->via.bin.size > 0 &&
                           v->via.bin.size <= HS_WEBHOOK_SEALED_MAX &&
                           !wh->sealed;
        else if (key_is(k, "ref"))
            bit = 128, ok = get_str(v, wh->ref, sizeof(wh->ref));
        else if (key_is(k, "status"))
            bit = 256, ok = get_int(v, 0, 999, &n);
        else if (key_is(k, "error"))
            bit = 512, ok = get_str(v, wh->error, sizeof(wh->error));
        else
            return HS_ERR_DECODE; /* unknown key */
        if (!ok || (seen & bit))
            return HS_ERR_DECODE;
        seen |= bit;
        if (bit == 1)
            wh->v = (int)n;
        else if (bit == 256)
            wh->status = (int)n;
        else if (bit == 64) {
            wh->sealed = malloc(v->via.bin.size);
            if (!wh->sealed)
                return HS_ERR_NOMEM;
            memcpy(wh->sealed, v->via.bin.ptr, v->via.bin.size);
            wh->sealed_len = v->via.bin.size;
        }
    }
    if (strcmp(type, "webhook.received") == 0 && seen == 0x7f)
        wh->type = HS_WH_RECEIVED;
    else if (strcmp(type, "webhook.relayed") == 0 && seen == 0x3bf)
        wh->type = HS_WH_RELAYED;
    else
        return HS_ERR_DECODE;
    return wh->id[0] && wh->env[0] && wh->provider[0] ? HS_OK
                                                     : HS_ERR_DECODE;
}

enum hs_err hs_webhook_decode(const void *buf, size_t len,
                              struct hs_webhook *out)
{
    msgpack_unpacked u;
    size_t off = 0;
    enum hs_err rc = HS_ERR_DECODE;

    memset(out, 0, sizeof(*out));
    /* Bounds what msgpack-c reserves by len (a 5-byte map header may
     * declare 2^32-1 entries). */
    if (!buf || !hs__msgpack_shape_ok(buf, len))
        return HS_ERR_DECODE;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == len && u.data.type == MSGPACK_OBJECT_MAP)
        rc = decode_map(&u.data.via.map, out);
    msgpack_unpacked_destroy(&u);
    if (rc != HS_OK)
        hs_webhook_free(out);
    return rc;
}

void hs_webhook_free(struct hs_webhook *wh)
{
    if (wh->sealed) {
        hs_wipe(wh->sealed, wh->sealed_len);
        free(wh->sealed);
    }
    wh->sealed = NULL;
    wh->sealed_len = 0;
}
