/*
 * ingress_params: query, cookie and path checks (see ingress_params.h).
 *
 * These run on bytes an attacker chooses, before anything else looks at
 * them; each returns an error for anything it does not expect rather than
 * guessing (SECURITY 10: malformed input is a 4xx, never a 5xx).
 */
#include "ingress_params.h"

#include <stdio.h>
#include <string.h>

#include "hs_crypto.h"

static int is_allowed(const char *key, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp(key, *allowed) == 0)
            return 1;
    return 0;
}

static int has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

enum hs_err ingress_query_verify(const struct ingress_param *p, size_t n,
                                 const char *const *allowed,
                                 const char **reason)
{
    const char *why = NULL;

    if (n > INGRESS_PARAMS_MAX)
        why = "too_many_params";
    for (size_t i = 0; i < n && !why; i++) {
        size_t klen = p[i].key ? strlen(p[i].key) : 0;

        if (klen == 0 || klen > INGRESS_KEY_MAX ||
            !is_allowed(p[i].key, allowed)) {
            why = "unknown_param";
            break;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p[i].key, p[j].key) == 0) {
                why = "duplicate_param";
                break;
            }
        }
        if (why || !p[i].value)
            continue;
        if (p[i].value_len > INGRESS_PARAM_MAX)
            why = "oversized_param";
        /* A decoded %00 makes strlen() shorter than value_len: the rest
         * would be silently cut off by every C string function after us. */
        else if (strlen(p[i].value) != p[i].value_len ||
                 has_control(p[i].value, p[i].value_len))
            why = "control_character";
    }
    if (!why)
        return HS_OK;
    if (reason)
        *reason = why;
    return HS_ERR_INVALID;
}

const char *ingress_param_get(const struct ingress_param *p, size_t n,
                              const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].key && strcmp(p[i].key, key) == 0)
            return p[i].value ? p[i].value : "";
    return NULL;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

enum hs_err ingress_cookie_get(const char *header, const char *name,
                               char *out, size_t cap)
{
    const char *found = NULL, *s = header;
    size_t found_len = 0, nlen = strlen(name);

    if (!header)
        return HS_ERR_NOTFOUND;
    while (*s) {
        const char *end = strchr(s, ';'), *eq, *k, *v, *ve;

        if (!end)
            end = s + strlen(s);
        k = s;
        while (k < end && is_space(*k))
            k++;
        eq = memchr(k, '=', (size_t)(end - k));
        if (eq) {
            const char *ke = eq;

            while (ke > k && is_space(ke[-1]))
                ke--;
            v = eq + 1;
            ve = end;
            while (v < ve && is_space(*v))
                v++;
            while (ve > v && is_space(ve[-1]))
                ve--;
            if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
                v++;
                ve--;
            }
            if ((size_t)(ke - k) == nlen && memcmp(k, name, nlen) == 0) {
                if (found)
                    return HS_ERR_INVALID;
                found = v;
                found_len = (size_t)(ve - v);
            }
        }
        s = *end ? end + 1 : end;
    }
    if (!found)
        return HS_ERR_NOTFOUND;
    if (found_len >= cap)
        return HS_ERR_TOOBIG;
    memcpy(out, found, found_len);
    out[found_len] = '\0';
    return HS_OK;
}

const char *ingress_cookie_name(int https, const char *base, char *out,
                                size_t cap)
{
    int n = snprintf(out, cap, "%s%s", https ? "__Host-" : "", base);

    return n < 0 || (size_t)n >= cap ? NULL : out;
}

enum hs_err ingress_binding_get(const char *header, int https, char *out,
                                size_t cap)
{
    char name[32], v[INGRESS_BIND_LEN + 2];
    unsigned char raw[32];
    size_t n;
    enum hs_err rc;

    if (cap < INGRESS_BIND_LEN + 1 ||
        !ingress_cookie_name(https, "hs_bind", name, sizeof(name)))
        return HS_ERR_TOOBIG;
    rc = ingress_cookie_get(header, name, v, sizeof(v));
    if (rc == HS_ERR_TOOBIG)
        return HS_ERR_INVALID;
    if (rc != HS_OK)
        return rc;
    if (strlen(v) != INGRESS_BIND_LEN ||
        hs_b64url_decode(v, raw, sizeof(raw), &n) != HS_OK || n != 32)
        return HS_ERR_INVALID;
    memcpy(out, v, INGRESS_BIND_LEN + 1);
    return HS_OK;
}

enum hs_err ingress_provider_parse(const char *s, size_t n, char *out,
                                   size_t cap)
{
    if (n == 0 || n >= cap)
        return HS_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return HS_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    out[n] = '\0';
    return HS_OK;
}
