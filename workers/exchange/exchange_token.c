/*
 * exchange_token: strict token response validation (contract in
 * exchange_token.h). Every member is checked for its JSON type before its
 * value is read, so a provider cannot smuggle a number where a string is
 * expected or a NUL inside a token (jansson refuses \u0000 by default).
 */
#include "exchange_token.h"

#include <jansson.h>
#include <string.h>

#include <sodium.h>

/* RFC 6749 §5.2: error codes are %x20-21 / %x23-5B / %x5D-7E. We also
 * refuse the space so the code stays one word in logs and pages. */
static int error_code_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= sizeof(((struct exchange_token *)0)->error))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* Visible ASCII, optionally with spaces. */
static int visible_ascii(const char *s, int allow_space)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == ' ' && allow_space)
            continue;
        if (c < 0x21 || c > 0x7e)
            return 0;
    }
    return 1;
}

/* Copies s into dst (cap bytes), replacing control and non-ASCII bytes by
 * '?' and truncating: the description is shown on pages and in events. */
static void copy_sanitised(char *dst, size_t cap, const char *s)
{
    size_t i = 0;

    for (; s[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        dst[i] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

/* An optional string member: 1 present (in *v), 0 absent, -1 mistyped. */
static int opt_string(json_t *o, const char *key, const char **v)
{
    json_t *m = json_object_get(o, key);

    if (!m)
        return 0;
    if (!json_is_string(m))
        return -1;
    *v = json_string_value(m);
    return 1;
}

static enum hs_err parse_error(json_t *root, struct exchange_token *out)
{
    const char *code = NULL, *desc = NULL;

    if (opt_string(root, "error", &code) != 1 || !error_code_ok(code))
        return HS_ERR_DECODE;
    if (opt_string(root, "error_description", &desc) < 0)
        return HS_ERR_DECODE;
    memset(out, 0, sizeof(*out));
    copy_sanitised(out->error, sizeof(out->error), code);
    if (desc)
        copy_sanitised(out->error_description,
                       sizeof(out->error_description), desc);
    return HS_ERR_PROVIDER;
}

static enum hs_err parse_token(json_t *root, struct exchange_token *tmp)
{
    const char *s = NULL;
    json_t *m;
    size_t n;
    int r;

    if (opt_string(root, "access_token", &s) != 1)
        return HS_ERR_DECODE;
    n = strlen(s);
    if (n == 0 || !visible_ascii(s, 0))
        return HS_ERR_DECODE;
    if (n > EXCHANGE_TOKEN_MAX)
        return HS_ERR_TOOBIG;
    memcpy(tmp->access_token, s, n + 1);

    if (opt_string(root, "token_type", &s) != 1 || strlen(s) != 6)
        return HS_ERR_DECODE;
    for (size_t i = 0; i < 6; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != "bearer"[i])
            return HS_ERR_DECODE;
    }
    memcpy(tmp->token_type, "Bearer", 7);

    m = json_object_get(root, "expires_in");
    if (m) {
        if (!json_is_integer(m) || json_integer_value(m) <= 0 ||
            json_integer_value(m) > INT32_MAX)
            return HS_ERR_DECODE;
        tmp->expires_in = (int64_t)json_integer_value(m);
    }

    r = opt_string(root, "refresh_token", &s);
    if (r < 0)
        return HS_ERR_DECODE;
    if (r == 1) {
        n = strlen(s);
        if (n == 0 || !visible_ascii(s, 0))
            return HS_ERR_DECODE;
        if (n > EXCHANGE_TOKEN_MAX)
            return HS_ERR_TOOBIG;
        memcpy(tmp->refresh_token, s, n + 1);
    }

    r = opt_string(root, "scope", &s);
    if (r < 0)
        return HS_ERR_DECODE;
    if (r == 1) {
        n = strlen(s);
        if (!visible_ascii(s, 1))
            return HS_ERR_DECODE;
        if (n >= sizeof(tmp->scope))
            return HS_ERR_TOOBIG;
        memcpy(tmp->scope, s, n + 1);
    }

    /* id_token: kept for the OIDC checks (exchange_idtoken.h). */
    r = opt_string(root, "id_token", &s);
    if (r < 0)
        return HS_ERR_DECODE;
    if (r == 1) {
        n = strlen(s);
        if (n == 0 || !visible_ascii(s, 0))
            return HS_ERR_DECODE;
        if (n >= sizeof(tmp->id_token))
            return HS_ERR_TOOBIG;
        memcpy(tmp->id_token, s, n + 1);
    }
    return HS_OK;
}

enum hs_err exchange_token_parse(const char *body, size_t len,
                                 struct exchange_token *out)
{
    struct exchange_token tmp;
    json_error_t jerr;
    json_t *root;
    enum hs_err rc;

    if (len > EXCHANGE_TOKEN_MAX_BODY)
        return HS_ERR_TOOBIG;
    if (!body)
        return HS_ERR_DECODE;
    /* json_loadb refuses trailing garbage (no JSON_DISABLE_EOF_CHECK) and
     * top-level scalars (no JSON_DECODE_ANY). */
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return HS_ERR_DECODE;
    if (!json_is_object(root)) {
        rc = HS_ERR_DECODE;
        goto out;
    }
    if (json_object_get(root, "error")) {
        rc = parse_error(root, out);
        goto out;
    }
    memset(&tmp, 0, sizeof(tmp));
    rc = parse_token(root, &tmp);
    if (rc == HS_OK)
        *out = tmp;
    sodium_memzero(&tmp, sizeof(tmp));
out:
    json_decref(root);
    return rc;
}

void exchange_token_wipe(struct exchange_token *tok)
{
    sodium_memzero(tok, sizeof(*tok));
}
