/*
 * hs_state: the sealed OAuth state (contract in hs_state.h).
 *
 * Plaintext layout (before sealing with HS_KEY_STATE, ad = env):
 *   version (1) | flow (1) | issued_ms (8, big-endian) | binding (32)
 *   then five length-prefixed strings (1 byte length each):
 *   handshake_id, provider, subject, verifier, nonce.
 * Parsing is strict: every length is bounded by its field, no byte may
 * be left over, and strings may not hold NUL or control characters.
 */
#include "hs_state.h"

#include <string.h>

#define STATE_VERSION 1
#define PT_MAX 256
#define FUTURE_SKEW_MS 60000

static const char *const flow_names[] = {NULL, "connect", "signup",
                                         "session", "loopback"};

const char *hs_flow_name(enum hs_flow flow)
{
    if (flow >= HS_FLOW_CONNECT && flow <= HS_FLOW_LOOPBACK)
        return flow_names[flow];
    return "unknown";
}

enum hs_err hs_flow_parse(const char *name, enum hs_flow *out)
{
    for (int f = HS_FLOW_CONNECT; f <= HS_FLOW_LOOPBACK; f++) {
        if (strcmp(name, flow_names[f]) == 0) {
            *out = (enum hs_flow)f;
            return HS_OK;
        }
    }
    return HS_ERR_INVALID;
}

static int env_valid(const char *s, size_t len)
{
    if (len == 0 || len >= sizeof(((struct hs_state *)0)->env))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

static int text_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* Appends a length-prefixed string; 0 when it does not fit its field. */
static int put_str(unsigned char *buf, size_t *pos, const char *s,
                   size_t field, int may_be_empty)
{
    size_t len = strnlen(s, field);

    if (len >= field || (!may_be_empty && len == 0) || !text_valid(s, len))
        return 0;
    buf[(*pos)++] = (unsigned char)len;
    memcpy(buf + *pos, s, len);
    *pos += len;
    return 1;
}

static int get_str(const unsigned char *buf, size_t len, size_t *pos,
                   char *out, size_t field, int may_be_empty)
{
    size_t n;

    if (*pos >= len)
        return 0;
    n = buf[(*pos)++];
    if (n >= field || (!may_be_empty && n == 0) || len - *pos < n ||
        !text_valid((const char *)buf + *pos, n) ||
        memchr(buf + *pos, '\0', n))
        return 0;
    memcpy(out, buf + *pos, n);
    out[n] = '\0';
    *pos += n;
    return 1;
}

enum hs_err hs_state_mint(const struct hs_keyring *kr, const struct hs_state *st,
                          char *out, size_t cap)
{
    unsigned char pt[PT_MAX];
    unsigned char blob[PT_MAX + HS_AEAD_OVERHEAD];
    size_t pos = 0, bloblen, envlen = strnlen(st->env, sizeof(st->env));
    uint64_t t = (uint64_t)st->issued_ms;
    enum hs_err rc = HS_ERR_INVALID;

    if (!env_valid(st->env, envlen) || st->flow < HS_FLOW_CONNECT ||
        st->flow > HS_FLOW_LOOPBACK)
        return HS_ERR_INVALID;
    pt[pos++] = STATE_VERSION;
    pt[pos++] = (unsigned char)st->flow;
    for (int i = 7; i >= 0; i--)
        pt[pos++] = (unsigned char)(t >> (i * 8));
    memcpy(pt + pos, st->binding, sizeof(st->binding));
    pos += sizeof(st->binding);
    if (!put_str(pt, &pos, st->handshake_id, sizeof(st->handshake_id), 0) ||
        !put_str(pt, &pos, st->provider, sizeof(st->provider), 0) ||
        !put_str(pt, &pos, st->subject, sizeof(st->subject), 1) ||
        !put_str(pt, &pos, st->verifier, sizeof(st->verifier), 0) ||
        !put_str(pt, &pos, st->nonce, sizeof(st->nonce), 0))
        goto out;
    rc = hs_aead_seal(kr, HS_KEY_STATE, pt, pos, st->env, envlen, blob,
                      sizeof(blob), &bloblen);
    if (rc != HS_OK)
        goto out;
    if (cap < envlen + 2) {
        rc = HS_ERR_TOOBIG;
        goto out;
    }
    memcpy(out, st->env, envlen);
    out[envlen] = '.';
    rc = hs_b64url_encode(blob, bloblen, out + envlen + 1, cap - envlen - 1);
out:
    hs_wipe(pt, sizeof(pt));
    return rc;
}

enum hs_err hs_state_env(const char *state, char *env, size_t cap)
{
    const char *dot = strchr(state, '.');
    size_t len;

    if (!dot)
        return HS_ERR_INVALID;
    len = (size_t)(dot - state);
    if (!env_valid(state, len) || cap < len + 1)
        return HS_ERR_INVALID;
    memcpy(env, state, len);
    env[len] = '\0';
    return HS_OK;
}

enum hs_err hs_state_verify(const struct hs_keyring *kr, const char *state,
                            int64_t now_ms, int64_t ttl_ms,
                            struct hs_state *out)
{
    struct hs_state tmp;
    unsigned char blob[PT_MAX + HS_AEAD_OVERHEAD];
    unsigned char pt[PT_MAX + HS_AEAD_OVERHEAD];
    size_t bloblen, ptlen, pos = 0;
    uint64_t t = 0;
    enum hs_err rc = HS_ERR_INVALID;

    memset(&tmp, 0, sizeof(tmp));
    if (strnlen(state, HS_STATE_MAX) >= HS_STATE_MAX ||
        hs_state_env(state, tmp.env, sizeof(tmp.env)) != HS_OK)
        return HS_ERR_INVALID;
    if (hs_b64url_decode(state + strlen(tmp.env) + 1, blob, sizeof(blob),
                         &bloblen) != HS_OK)
        return HS_ERR_INVALID;
    if (hs_aead_open(kr, HS_KEY_STATE, blob, bloblen, tmp.env,
                     strlen(tmp.env), pt, sizeof(pt), &ptlen) != HS_OK)
        return HS_ERR_INVALID;
    if (ptlen < 2 + 8 + 32 || pt[0] != STATE_VERSION || pt[1] < HS_FLOW_CONNECT ||
        pt[1] > HS_FLOW_LOOPBACK)
        goto out;
    pos = 2;
    tmp.flow = (enum hs_flow)pt[1];
    for (int i = 0; i < 8; i++)
        t = (t << 8) | pt[pos++];
    /* Only our key seals, but a negative time would overflow the age
     * arithmetic below: refuse it as malformed. */
    if (t > (uint64_t)INT64_MAX)
        goto out;
    tmp.issued_ms = (int64_t)t;
    memcpy(tmp.binding, pt + pos, sizeof(tmp.binding));
    pos += sizeof(tmp.binding);
    if (!get_str(pt, ptlen, &pos, tmp.handshake_id, sizeof(tmp.handshake_id), 0) ||
        !get_str(pt, ptlen, &pos, tmp.provider, sizeof(tmp.provider), 0) ||
        !get_str(pt, ptlen, &pos, tmp.subject, sizeof(tmp.subject), 1) ||
        !get_str(pt, ptlen, &pos, tmp.verifier, sizeof(tmp.verifier), 0) ||
        !get_str(pt, ptlen, &pos, tmp.nonce, sizeof(tmp.nonce), 0) ||
        pos != ptlen)
        goto out;
    if (now_ms - tmp.issued_ms > ttl_ms ||
        tmp.issued_ms - now_ms > FUTURE_SKEW_MS) {
        rc = HS_ERR_EXPIRED;
        goto out;
    }
    *out = tmp;
    rc = HS_OK;
out:
    hs_wipe(pt, sizeof(pt));
    hs_wipe(&tmp, sizeof(tmp));
    return rc;
}
