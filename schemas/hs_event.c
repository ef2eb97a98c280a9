/*
 * hs_event: the msgpack codec of every event (contract in hs_event.h,
 * field list in schemas/events.md).
 *
 * One table describes every field: its key, msgpack kind, place in
 * struct hs_event, and for each event type whether it is required and
 * non-empty (req), always written but possibly empty (always), optional
 * and written only when not empty (opt), or absent. The decoder copies
 * known keys into a heap temporary, refuses wrong kinds, over-long values
 * and duplicate keys, checks every req/always key of the type and the
 * pairing rules (sealed needs kid; box and agent_id go together; a token
 * event has exactly one of sealed and box), and only then copies the
 * temporary to the caller.
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
    unsigned req;   /* types that need it, not empty */
    unsigned always; /* types that always carry it, maybe empty */
    unsigned opt;   /* types that carry it when not empty */
};

#define S(k, f, req, always, opt)                                             \
    {k, K_STR, offsetof(struct hs_event, f),                                  \
     sizeof(((struct hs_event *)0)->f), 0, req, always, opt}
#define I(k, f, req, opt)                                                     \
    {k, K_INT, offsetof(struct hs_event, f), 0, 0, req, 0, opt}
#define B(k, f, req, opt)                                                     \
    {k, K_BIN, offsetof(struct hs_event, f),                                  \
     sizeof(((struct hs_event *)0)->f), offsetof(struct hs_event, f##_len),   \
     req, 0, opt}

/* v and type are handled apart (int / enum), the rest from this table. */
static const struct field fields[] = {
    S("id", id, T_ALL, 0, 0),
    I("ts", ts, T_ALL, 0),
    S("env", env, T_ALL, 0, 0),
    S("handshake_id", handshake_id, T_CB | T_FAIL, 0, T_AUD | T_TOK),
    S("provider", provider, T_CB | T_USER, 0, T_AUD),
    I("flow", flow, T_CB, 0),
    S("subject", subject, 0, T_CB, 0),
    S("error", error, T_FAIL, T_CB, 0),
    S("error_description", error_description, 0, T_CB | T_FAIL, 0),
    S("iss", iss, 0, 0, T_CB),
    S("user_id", user_id, T_USER, 0, T_AUD),
    S("agent_id", agent_id, 0, 0, T_USER),
    I("expires_at", expires_at, T_TOK, 0),
    S("scopes", scopes, 0, T_TOK, 0),
    S("token_type", token_type, T_TOK, 0, 0),
    S("kid", kid, T_CB, 0, T_TOK | T_AUD),
    B("sealed", sealed, T_CB, T_TOK),
    B("box", box, 0, T_USER),
    S("svc", svc, T_AUD, 0, 0),
    S("action", action, T_AUD, 0, 0),
    S("outcome", outcome, T_AUD, 0, 0),
    S("reason", reason, 0, T_AUD, 0),
    S("client_ip", client_ip, 0, 0, T_AUD),
    S("user_agent", user_agent, 0, 0, T_AUD),
    S("fingerprint", fingerprint, 0, 0, T_AUD),
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
    if (!name)
        return HS_ERR_DECODE;
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
    int n;

    memset(ev, 0, sizeof(*ev));
    ev->v = HS_EVENT_VERSION;
    ev->type = type;
    ev->ts = now_ms;
    if (hs_random_token(16, ev->id, sizeof(ev->id)) != HS_OK)
        ev->id[0] = '\0'; /* cannot happen: 23 bytes fit in 48 */
    /* An env that does not fit stays empty, so the encoder refuses the
     * event (env is required) instead of sending a truncated name. */
    n = snprintf(ev->env, sizeof(ev->env), "%s", env ? env : "");
    if (n < 0 || (size_t)n >= sizeof(ev->env))
        ev->env[0] = '\0';
}

/* ---- rules shared by the encoder and the decoder ---------------------- */

static unsigned type_bit(const struct hs_event *ev)
{
    return T(ev->type);
}

static int field_used(const struct field *f, unsigned bit)
{
    return ((f->req | f->always | f->opt) & bit) != 0;
}

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

/* Rules that tie fields together; only the fields of ev's type count. */
static int pairs_ok(const struct hs_event *ev)
{
    unsigned bit = type_bit(ev);
    int sealed = ev->sealed_len > 0, box = ev->box_len > 0;

    /* A sealed blob names its key. */
    if ((bit & (T_CB | T_TOK)) && sealed && !ev->kid[0])
        return 0;
    /* A token travels sealed (hs.tokens) or boxed (hs.me): exactly one. */
    if ((bit & T_TOK) && sealed == box)
        return 0;
    /* A box is for one agent, and an agent_id means a box (hs.me). */
    if ((bit & T_USER) && box != (ev->agent_id[0] != '\0'))
        return 0;
    return 1;
}

/* ---- encode ---------------------------------------------------------- */

static int pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    return msgpack_pack_str(pk, n) | msgpack_pack_str_body(pk, s, n);
}

/* Encoder-side checks of one field: strings terminated inside their
 * buffer, blob lengths within capacity, sig 0 or 64 bytes. */
static int field_sane(const struct hs_event *ev, const struct field *f)
{
    const char *base = (const char *)ev;

    if (f->kind == K_STR)
        return memchr(base + f->off, '\0', f->size) != NULL;
    if (f->kind == K_BIN) {
        size_t len = *(const size_t *)(const void *)(base + f->len_off);

        if (f->off == offsetof(struct hs_event, sig))
            return len == 0 || len == sizeof(ev->sig);
        return len <= f->size;
    }
    return 1;
}

static int field_written(const struct hs_event *ev, const struct field *f,
                         unsigned bit)
{
    return ((f->req | f->always) & bit) ||
           ((f->opt & bit) && field_present(ev, f));
}

enum hs_err hs_event_encode(const struct hs_event *ev, msgpack_sbuffer *out)
{
    const char *base = (const char *)ev;
    const char *tname = hs_event_type_name(ev->type);
    unsigned bit;
    size_t n = 2, start = out->size; /* v, type */
    msgpack_packer pk;
    int bad = 0;

    if (!tname || ev->v != HS_EVENT_VERSION)
        return HS_ERR_INVALID;
    bit = type_bit(ev);
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[i];

        if (!field_used(f, bit))
            continue;
        if (!field_sane(ev, f) || ((f->req & bit) && !field_present(ev, f)))
            return HS_ERR_INVALID;
        n += (size_t)field_written(ev, f, bit);
    }
    if (!pairs_ok(ev))
        return HS_ERR_INVALID;
    /* Everything is checked: from here only memory can fail. */
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    bad |= msgpack_pack_map(&pk, n);
    bad |= pack_str(&pk, "v") | msgpack_pack_int(&pk, ev->v);
    bad |= pack_str(&pk, "type") | pack_str(&pk, tname);
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[i];
        const char *p = base + f->off;

        if (!field_written(ev, f, bit))
            continue;
        bad |= pack_str(&pk, f->key);
        switch (f->kind) {
        case K_STR:
            bad |= pack_str(&pk, p);
            break;
        case K_INT:
            if (f->off == offsetof(struct hs_event, flow))
                bad |= msgpack_pack_int64(&pk, *(const int *)(const void *)p);
            else
                bad |= msgpack_pack_int64(&pk,
                                          *(const int64_t *)(const void *)p);
            break;
        case K_BIN: {
            size_t len = *(const size_t *)(const void *)(base + f->len_off);

            bad |= msgpack_pack_bin(&pk, len);
            bad |= msgpack_pack_bin_body(&pk, p, len);
            break;
        }
        }
    }
    if (bad) {
        out->size = start; /* no half event left in the caller's buffer */
        return HS_ERR_NOMEM;
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

/* Copies one value into ev. 0 on a wrong kind or an over-long value (a
 * string must fit with its NUL: no truncation). */
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
        if (f->off == offsetof(struct hs_event, sig) &&
            val->via.bin.size != sizeof(ev->sig))
            return 0;
        memcpy(p, val->via.bin.ptr, val->via.bin.size);
        *(size_t *)(void *)(base + f->len_off) = val->via.bin.size;
        return 1;
    }
    return 0;
}

/* First pass: v and type, which decide what the other keys mean. Every
 * key must be a string. */
static enum hs_err decode_head(const msgpack_object_map *map,
                               struct hs_event *ev)
{
    int have_v = 0, have_type = 0;
    int64_t v = 0;

    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        const msgpack_object *val = &map->ptr[i].val;

        if (k->type != MSGPACK_OBJECT_STR)
            return HS_ERR_DECODE;
        if (key_is(k, "v")) {
            if (have_v++ || !obj_int(val, &v))
                return HS_ERR_DECODE;
        } else if (key_is(k, "type")) {
            char name[32];

            if (have_type++ || val->type != MSGPACK_OBJECT_STR ||
                val->via.str.size >= sizeof(name))
                return HS_ERR_DECODE;
            memcpy(name, val->via.str.ptr, val->via.str.size);
            name[val->via.str.size] = '\0';
            if (strlen(name) != val->via.str.size ||
                hs_event_type_parse(name, &ev->type) != HS_OK)
                return HS_ERR_DECODE;
        }
    }
    if (!have_v || v != HS_EVENT_VERSION || !have_type)
        return HS_ERR_DECODE;
    ev->v = (int)v;
    return HS_OK;
}

static enum hs_err decode_map(const msgpack_object *root, struct hs_event *ev)
{
    const msgpack_object_map *map;
    unsigned char seen[NFIELDS];
    unsigned bit;

    if (root->type != MSGPACK_OBJECT_MAP)
        return HS_ERR_DECODE;
    map = &root->via.map;
    if (decode_head(map, ev) != HS_OK)
        return HS_ERR_DECODE;
    bit = type_bit(ev);
    memset(seen, 0, sizeof(seen));
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        size_t j;

        if (key_is(k, "v") || key_is(k, "type"))
            continue;
        for (j = 0; j < NFIELDS; j++)
            if (key_is(k, fields[j].key))
                break;
        if (j == NFIELDS)
            continue; /* unknown key: a newer producer, same version */
        if (seen[j]++)
            return HS_ERR_DECODE; /* duplicate key */
        if (!field_used(&fields[j], bit))
            continue; /* a key of another type: not ours to keep */
        if (!set_field(ev, &fields[j], &map->ptr[i].val))
            return HS_ERR_DECODE;
    }
    for (size_t j = 0; j < NFIELDS; j++) {
        const struct field *f = &fields[j];

        if (((f->req | f->always) & bit) && !seen[j])
            return HS_ERR_DECODE;
        if ((f->req & bit) && !field_present(ev, f))
            return HS_ERR_DECODE;
    }
    return pairs_ok(ev) ? HS_OK : HS_ERR_DECODE;
}

/* Big-endian unsigned of n (1, 2 or 4) bytes. */
static size_t be(const unsigned char *p, size_t n)
{
    size_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Walks the msgpack bytes without allocating (contract in hs_event.h).
 * msgpack-c reserves a container's declared size up front, so without this
 * a 5-byte map header claiming 2^32-1 entries would ask malloc for 64 GiB;
 * after it, allocation is bounded by len. */
int hs__msgpack_shape_ok(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t pos = 0, pending = 1;

    while (pending > 0) {
        unsigned c;
        size_t head = 1, body = 0, items = 0;

        if (pos >= len)
            return 0;
        pending--;
        c = p[pos];
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixint, nil, bool */
        } else if (c <= 0x8f) {
            items = 2 * (size_t)(c & 0x0f);
        } else if (c <= 0x9f) {
            items = c & 0x0f;
        } else if (c <= 0xbf) {
            body = c & 0x1f;
        } else {
            /* c in 0xc1..0xdf: sizes of the length field and the rest */
            static const struct {
                unsigned char len_bytes, fixed, kind; /* kind: 0 scalar,
                    1 str/bin, 2 ext, 3 array, 4 map */
            } t[] = {
                /* c1 */ {0, 0, 9}, /* c2 c3 handled */ {0, 0, 0}, {0, 0, 0},
                /* c4 c5 c6 bin */ {1, 0, 1}, {2, 0, 1}, {4, 0, 1},
                /* c7 c8 c9 ext */ {1, 1, 2}, {2, 1, 2}, {4, 1, 2},
                /* ca cb float */ {0, 4, 0}, {0, 8, 0},
                /* cc..cf uint */ {0, 1, 0}, {0, 2, 0}, {0, 4, 0}, {0, 8, 0},
                /* d0..d3 int */ {0, 1, 0}, {0, 2, 0}, {0, 4, 0}, {0, 8, 0},
                /* d4..d8 fixext */ {0, 2, 0}, {0, 3, 0}, {0, 5, 0},
                {0, 9, 0}, {0, 17, 0},
                /* d9 da db str */ {1, 0, 1}, {2, 0, 1}, {4, 0, 1},
                /* dc dd array */ {2, 0, 3}, {4, 0, 3},
                /* de df map */ {2, 0, 4}, {4, 0, 4},
            };
            size_t n;

            if (t[c - 0xc1].kind == 9)
                return 0; /* 0xc1: never used */
            head = 1 + t[c - 0xc1].len_bytes;
            if (len - pos < head)
                return 0;
            n = be(p + pos + 1, t[c - 0xc1].len_bytes);
            switch (t[c - 0xc1].kind) {
            case 1:
                body = n;
                break;
            case 2:
                body = n + 1; /* the ext type byte */
                break;
            case 3:
                items = n;
                break;
            case 4:
                if (n > len) /* 2 * n below cannot overflow */
                    return 0;
                items = 2 * n;
                break;
            default:
                body = t[c - 0xc1].fixed;
            }
        }
        if (len - pos < head || len - pos - head < body)
            return 0;
        pos += head + body;
        /* every pending item needs at least one of the bytes left */
        if (items > len - pos || pending > len - pos - items)
            return 0;
        pending += items;
    }
    return pos == len;
}

enum hs_err hs_event_decode(const void *buf, size_t len, struct hs_event *out)
{
    msgpack_unpacked up;
    size_t off = 0;
    struct hs_event *tmp;
    enum hs_err rc = HS_ERR_DECODE;

    if (!buf || len == 0 || len > HS_EVENT_MAX_BYTES || !hs__msgpack_shape_ok(buf, len))
        return HS_ERR_DECODE;
    /* struct hs_event is ~17 KiB: a heap temporary keeps worker stacks
     * small and *out untouched until the whole map is valid. */
    tmp = calloc(1, sizeof(*tmp));
    if (!tmp)
        return HS_ERR_NOMEM;
    msgpack_unpacked_init(&up);
    /* One object filling the buffer exactly: trailing bytes are refused. */
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
