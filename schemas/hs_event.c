/*
 * hs_event: the msgpack codec of every event (contract in hs_event.h,
 * field list in schemas/events.md).
 *
 * One table describes every field: its key, msgpack kind, place in
 * struct hs_event, and for each event type whether it is required (R),
 * optional (O) or absent. The encoder writes the required fields and the
 * non-empty optional ones; the decoder copies known keys into a temporary
 * event, refuses wrong kinds, over-long values and duplicate keys, then
 * checks that every required field of the type is present.
 */
#include "hs_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_crypto.h"

enum kind { K_STR, K_INT, K_BIN };

/* Bit per type: required and optional masks. */
#define T(t) (1u << (t))
#define T_CB T(HS_EV_CALLBACK_RECEIVED)
#define T_TOK (T(HS_EV_TOKEN_ISSUED) | T(HS_EV_TOKEN_REFRESHED))
#define T_NOTE (T(HS_EV_PROVIDER_DISCONNECTED) | T(HS_EV_REAUTH_REQUIRED))
#define T_FAIL T(HS_EV_CONNECT_FAILED)
#define T_AUD T(HS_EV_AUDIT)
#define T_ALL (T_CB | T_TOK | T_NOTE | T_FAIL | T_AUD)
#define T_USER (T_TOK | T_NOTE | T_FAIL)

struct field {
    const char *key;
    enum kind kind;
    size_t off;
    size_t size;    /* K_STR: buffer size; K_BIN: capacity */
    size_t len_off; /* K_BIN: offset of the size_t length */
    unsigned req, opt;
};

#define S(k, f, req, opt)                                                     \
    {k, K_STR, offsetof(struct hs_event, f),                                  \
     sizeof(((struct hs_event *)0)->f), 0, req, opt}
#define I(k, f, req, opt)                                                     \
    {k, K_INT, offsetof(struct hs_event, f), 0, 0, req, opt}
#define B(k, f, req, opt)                                                     \
    {k, K_BIN, offsetof(struct hs_event, f),                                  \
     sizeof(((struct hs_event *)0)->f), offsetof(struct hs_event, f##_len),   \
     req, opt}

/* v and type are handled apart (int / enum), the rest from this table. */
static const struct field fields[] = {
    S("id", id, T_ALL, 0),
    I("ts", ts, T_ALL, 0),
    S("env", env, T_ALL, 0),
    S("handshake_id", handshake_id, T_CB | T_FAIL, T_AUD | T_TOK),
    S("provider", provider, T_CB | T_USER, T_AUD),
    I("flow", flow, T_CB, 0),
    S("subject", subject, 0, T_CB),
    S("error", error, T_FAIL, T_CB),
    S("error_description", error_description, 0, T_CB | T_FAIL),
    S("iss", iss, 0, T_CB),
    S("user_id", user_id, T_USER, T_AUD),
    S("agent_id", agent_id, 0, T_USER),
    I("expires_at", expires_at, T_TOK, 0),
    S("scopes", scopes, 0, T_TOK),
    S("token_type", token_type, T_TOK, 0),
    S("kid", kid, T_CB, T_TOK),
    B("sealed", sealed, T_CB, T_TOK),
    B("box", box, 0, T_USER),
    S("svc", svc, T_AUD, 0),
    S("action", action, T_AUD, 0),
    S("outcome", outcome, T_AUD, 0),
    S("reason", reason, 0, T_AUD),
    S("client_ip", client_ip, 0, T_AUD),
    S("user_agent", user_agent, 0, T_AUD),
    S("fingerprint", fingerprint, 0, T_AUD),
    I("seq", seq, T_AUD, 0),
    B("sig", sig, 0, T_AUD),
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *const type_names[] = {
    NULL,
    "callback.received",
    "token.issued",
    "token.refreshed",
    "provider.disconnected",
    "reauth.required",
    "connect.failed",
    "audit",
};

#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

const char *hs_event_type_name(enum hs_event_type type)
{
    if ((size_t)type >= 1 && (size_t)type < NTYPES)
        return type_names[type];
    return NULL;
}

enum hs_err hs_event_type_parse(const char *name, enum hs_event_type *out)
{
    for (size_t i = 1; i < NTYPES; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *out = (enum hs_event_type)i;
            return HS_OK;
        }
    }
    return HS_ERR_DECODE;
}

void hs_event_init(struct hs_event *ev, enum hs_event_type type,
                   const char *env, int64_t now_ms)
{
    memset(ev, 0, sizeof(*ev));
    ev->v = HS_EVENT_VERSION;
    ev->type = type;
    ev->ts = now_ms;
    if (hs_random_token(16, ev->id, sizeof(ev->id)) != HS_OK)
        ev->id[0] = '\0'; /* cannot happen: 23 bytes fit in 48 */
    snprintf(ev->env, sizeof(ev->env), "%s", env);
}

/* ---- encode ---------------------------------------------------------- */

static int field_present(const struct hs_event *ev, const struct field *f)
{
    const char *base = (const char *)ev;

    switch (f->kind) {
    case K_STR:
        return base[f->off] != '\0';
    case K_INT:
        return 1;
    case K_BIN:
        return *(const size_t *)(const void *)(base + f->len_off) > 0;
    }
    return 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

enum hs_err hs_event_encode(const struct hs_event *ev, msgpack_sbuffer *out)
{
    const char *base = (const char *)ev;
    const char *tname = hs_event_type_name(ev->type);
    unsigned bit;
    size_t n = 2; /* v, type */
    msgpack_packer pk;

    if (!tname)
        return HS_ERR_INVALID;
    bit = T(ev->type);
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[i];

        if (f->req & bit) {
            if (!field_present(ev, f))
                return HS_ERR_INVALID;
            n++;
        } else if ((f->opt & bit) && field_present(ev, f)) {
            n++;
        }
    }
    /* A token event carries the token either sealed (hs.tokens) or boxed
     * (hs.me), never both and never neither. */
    if ((bit & T_TOK) && (ev->sealed_len > 0) == (ev->box_len > 0))
        return HS_ERR_INVALID;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    pack_str(&pk, "v");
    msgpack_pack_int(&pk, ev->v);
    pack_str(&pk, "type");
    pack_str(&pk, tname);
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[i];
        const char *p = base + f->off;

        if (!((f->req & bit) || ((f->opt & bit) && field_present(ev, f))))
            continue;
        pack_str(&pk, f->key);
        switch (f->kind) {
        case K_STR:
            pack_str(&pk, p);
            break;
        case K_INT:
            if (f->off == offsetof(struct hs_event, flow))
                msgpack_pack_int64(&pk, *(const int *)(const void *)p);
            else
                msgpack_pack_int64(&pk, *(const int64_t *)(const void *)p);
            break;
        case K_BIN: {
            size_t len = *(const size_t *)(const void *)(base + f->len_off);

            msgpack_pack_bin(&pk, len);
            msgpack_pack_bin_body(&pk, p, len);
            break;
        }
        }
    }
    return HS_OK;
}

/* ---- decode ---------------------------------------------------------- */

static int key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);

    return k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}

static int obj_int(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)o->via.u64;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 1;
    }
    return 0;
}

/* Copies one value into ev. 0 on a wrong kind or an over-long value. */
static int set_field(struct hs_event *ev, const struct field *f,
                     const msgpack_object *val)
{
    char *base = (char *)ev;
    char *p = base + f->off;

    switch (f->kind) {
    case K_STR:
        if (val->type != MSGPACK_OBJECT_STR || val->via.str.size >= f->size ||
            memchr(val->via.str.ptr, '\0', val->via.str.size))
            return 0;
        memcpy(p, val->via.str.ptr, val->via.str.size);
        p[val->via.str.size] = '\0';
        return 1;
    case K_INT: {
        int64_t n;

        if (!obj_int(val, &n))
            return 0;
        if (f->off == offsetof(struct hs_event, flow)) {
            if (n < 0 || n > 1000)
                return 0;
            *(int *)(void *)p = (int)n;
        } else {
            *(int64_t *)(void *)p = n;
        }
        return 1;
    }
    case K_BIN:
        if (val->type != MSGPACK_OBJECT_BIN || val->via.bin.size > f->size ||
            val->via.bin.size == 0)
            return 0;
        memcpy(p, val->via.bin.ptr, val->via.bin.size);
        *(size_t *)(void *)(base + f->len_off) = val->via.bin.size;
        return 1;
    }
    return 0;
}

static enum hs_err decode_map(const msgpack_object *root, struct hs_event *ev)
{
    const msgpack_object_map *map;
    unsigned char seen[NFIELDS];
    int have_v = 0, have_type = 0;
    int64_t v = 0;

    if (root->type != MSGPACK_OBJECT_MAP)
        return HS_ERR_DECODE;
    map = &root->via.map;
    memset(seen, 0, sizeof(seen));
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        const msgpack_object *val = &map->ptr[i].val;
        size_t j;

        if (k->type != MSGPACK_OBJECT_STR)
            return HS_ERR_DECODE;
        if (key_is(k, "v")) {
            if (have_v++ || !obj_int(val, &v))
                return HS_ERR_DECODE;
            continue;
        }
        if (key_is(k, "type")) {
            char name[32];

            if (have_type++ || val->type != MSGPACK_OBJECT_STR ||
                val->via.str.size >= sizeof(name))
                return HS_ERR_DECODE;
            memcpy(name, val->via.str.ptr, val->via.str.size);
            name[val->via.str.size] = '\0';
            if (hs_event_type_parse(name, &ev->type) != HS_OK)
                return HS_ERR_DECODE;
            continue;
        }
        for (j = 0; j < NFIELDS; j++)
            if (key_is(k, fields[j].key))
                break;
        if (j == NFIELDS)
            continue; /* unknown key: a newer producer, same version */
        if (seen[j]++ || !set_field(ev, &fields[j], val))
            return HS_ERR_DECODE;
    }
    if (!have_v || v != HS_EVENT_VERSION || !have_type)
        return HS_ERR_DECODE;
    ev->v = (int)v;
    for (size_t j = 0; j < NFIELDS; j++)
        if ((fields[j].req & T(ev->type)) && !seen[j])
            return HS_ERR_DECODE;
    if ((T(ev->type) & T_TOK) && (ev->sealed_len > 0) == (ev->box_len > 0))
        return HS_ERR_DECODE;
    return HS_OK;
}

enum hs_err hs_event_decode(const void *buf, size_t len, struct hs_event *out)
{
    msgpack_unpacked up;
    size_t off = 0;
    struct hs_event *tmp;
    enum hs_err rc = HS_ERR_DECODE;

    if (!buf || len == 0 || len > HS_EVENT_MAX_BYTES)
        return HS_ERR_DECODE;
    tmp = calloc(1, sizeof(*tmp));
    if (!tmp)
        return HS_ERR_NOMEM;
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, buf, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == len)
        rc = decode_map(&up.data, tmp);
    msgpack_unpacked_destroy(&up);
    if (rc == HS_OK)
        *out = *tmp;
    hs_wipe(tmp, sizeof(*tmp));
    free(tmp);
    return rc;
}

void hs_event_wipe(struct hs_event *ev)
{
    hs_wipe(ev->sealed, sizeof(ev->sealed));
    hs_wipe(ev->box, sizeof(ev->box));
    ev->sealed_len = 0;
    ev->box_len = 0;
}
