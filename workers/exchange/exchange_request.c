/*
 * exchange_request: sealed callback payload and token request body
 * (contract in exchange_request.h). Form encoding is written here rather
 * than taken from hs_http_urlencode because RFC 6749 Appendix B wants
 * application/x-www-form-urlencoded (space as '+', only ALPHA / DIGIT /
 * "*-._" kept), which differs from RFC 3986 percent-encoding.
 */
#include "exchange_request.h"

#include "hs_http.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

/* Copies member key of o into dst (cap bytes). 1 copied, 0 absent,
 * -1 mistyped, too long or holding control characters. */
static int copy_member(json_t *o, const char *key, char *dst, size_t cap)
{
    json_t *m = json_object_get(o, key);
    const char *s;
    size_t n;

    if (!m)
        return 0;
    if (!json_is_string(m))
        return -1;
    s = json_string_value(m);
    n = json_string_length(m);
    if (n >= cap || strlen(s) != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f)
            return -1;
    }
    memcpy(dst, s, n + 1);
    return 1;
}

enum hs_err exchange_secret_parse(const void *json, size_t len, int need_code,
                                  struct exchange_secret *out)
{
    struct exchange_secret tmp;
    json_error_t jerr;
    json_t *root;
    enum hs_err rc = HS_ERR_DECODE;
    int r;

    memset(&tmp, 0, sizeof(tmp));
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return HS_ERR_DECODE;
    if (!json_is_object(root))
        goto out;
    r = copy_member(root, "code", tmp.code, sizeof(tmp.code));
    if (r < 0 || (need_code && (r == 0 || tmp.code[0] == '\0')))
        goto out;
    /* PKCE on every flow (RFC 7636 §4.1: 43 to 128 characters). */
    if (copy_member(root, "verifier", tmp.verifier, sizeof(tmp.verifier)) != 1 ||
        strlen(tmp.verifier) < 43)
        goto out;
    if (copy_member(root, "nonce", tmp.nonce, sizeof(tmp.nonce)) < 0)
        goto out;
    r = copy_member(root, "redirect_uri", tmp.redirect_uri,
                    sizeof(tmp.redirect_uri));
    if (r < 0 || (need_code && tmp.redirect_uri[0] == '\0'))
        goto out;
    *out = tmp;
    rc = HS_OK;
out:
    sodium_memzero(&tmp, sizeof(tmp));
    json_decref(root);
    return rc;
}

void exchange_secret_wipe(struct exchange_secret *s)
{
    sodium_memzero(s, sizeof(*s));
}

enum hs_err exchange_request_build(const struct hs_provider *p,
                                   const struct exchange_secret *s,
                                   struct exchange_request *out)
{
    struct exchange_request tmp;
    enum hs_err rc;

    if (s->code[0] == '\0')
        return HS_ERR_INVALID;
    memset(&tmp, 0, sizeof(tmp));
    rc = hs_http_form_add(tmp.body, sizeof(tmp.body), "grant_type",
                           "authorization_code");
    if (rc == HS_OK)
        rc = hs_http_form_add(tmp.body, sizeof(tmp.body), "code",
                               s->code);
    if (rc == HS_OK)
        rc = hs_http_form_add(tmp.body, sizeof(tmp.body), "redirect_uri", s->redirect_uri);
    if (rc == HS_OK && s->verifier[0])
        rc = hs_http_form_add(tmp.body, sizeof(tmp.body), "code_verifier", s->verifier);
    if (rc == HS_OK && p->token_auth == HS_AUTH_POST) {
        rc = hs_http_form_add(tmp.body, sizeof(tmp.body), "client_id", p->client_id);
        if (rc == HS_OK)
            rc = hs_http_form_add(tmp.body, sizeof(tmp.body), "client_secret", p->client_secret);
    } else if (rc == HS_OK) {
        /* RFC 6749 §2.3.1: both are form-encoded, then joined by Basic. */
        tmp.basic = 1;
        rc = hs_http_urlencode(p->client_id, tmp.basic_user,
                                  sizeof(tmp.basic_user));
        if (rc == HS_OK)
            rc = hs_http_urlencode(p->client_secret, tmp.basic_pass,
                                      sizeof(tmp.basic_pass));
    }
    if (rc == HS_OK)
        *out = tmp;
    sodium_memzero(&tmp, sizeof(tmp));
    return rc;
}

void exchange_request_wipe(struct exchange_request *r)
{
    sodium_memzero(r, sizeof(*r));
}
