/*
 * fuzz_params: hostile query strings, Cookie headers and path segments
 * against hs-ingress's checks (producers/ingress/ingress_params.h). The
 * first input byte picks one:
 *   0  a Cookie header: ingress_cookie_get and ingress_binding_get;
 *   1  a query "k=v&k2=v2", split and %-decoded here as libmicrohttpd
 *      does (a %00 shortens strlen below value_len), then
 *      ingress_query_verify and ingress_param_get;
 *   2  a provider path segment: ingress_provider_parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingress_params.h"

#define PARAMS_MAX (INGRESS_PARAMS_MAX + 4) /* a few over the limit */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dup_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

static void cookies(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"hs_bind", "__Host-hs_bind",
                                        "hs_session", "a", ""};
    char *h = dup_str(data, size), out[64];

    if (!h)
        return;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        (void)ingress_cookie_get(h, names[i], out, sizeof(out));
    (void)ingress_binding_get(h, 0, out, sizeof(out));
    (void)ingress_binding_get(h, 1, out, sizeof(out));
    free(h);
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s in place (%XX and '+'); returns the decoded length. */
static size_t unescape(char *s)
{
    size_t r = 0, w = 0;

    while (s[r]) {
        if (s[r] == '%' && hex(s[r + 1]) >= 0 && hex(s[r + 2]) >= 0) {
            s[w++] = (char)(hex(s[r + 1]) * 16 + hex(s[r + 2]));
            r += 3;
        } else {
            s[w++] = s[r] == '+' ? ' ' : s[r];
            r++;
        }
    }
    s[w] = '\0';
    return w;
}

static void query(const uint8_t *data, size_t size)
{
    static const char *const allowed[] = {"code", "state", "error",
                                          "error_description", "iss", NULL};
    struct ingress_param p[PARAMS_MAX];
    char *q = dup_str(data, size), *s;
    const char *reason = NULL;
    size_t n = 0;

    if (!q)
        return;
    for (s = q; *s && n < PARAMS_MAX;) {
        char *amp = strchr(s, '&'), *eq;

        if (amp)
            *amp = '\0';
        eq = strchr(s, '=');
        if (eq)
            *eq = '\0';
        p[n].key = s;
        (void)unescape(s);
        p[n].value = eq ? eq + 1 : NULL;
        p[n].value_len = eq ? unescape(eq + 1) : 0;
        n++;
        if (!amp)
            break;
        s = amp + 1;
    }
    if (ingress_query_verify(p, n, allowed, &reason) == HS_OK) {
        for (size_t i = 0; allowed[i]; i++) {
            const char *v = ingress_param_get(p, n, allowed[i]);

            /* verified values are short and hold no control byte */
            if (v && strlen(v) > INGRESS_PARAM_MAX)
                abort();
        }
    } else if (!reason) {
        abort(); /* a refusal always names its reason */
    }
    free(q);
}

static void provider(const uint8_t *data, size_t size)
{
    char out[32];

    (void)ingress_provider_parse((const char *)data, size, out, sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        cookies(data + 1, size - 1);
        break;
    case 1:
        query(data + 1, size - 1);
        break;
    default:
        provider(data + 1, size - 1);
    }
    return 0;
}
