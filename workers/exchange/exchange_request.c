/*
 * exchange_request: sealed callback payload and token request body
 * (contract in exchange_request.h). Form encoding is written here rather
 * than taken from hs_http_urlencode because RFC 6749 Appendix B wants
 * application/x-www-form-urlencoded (space as '+', only ALPHA / DIGIT /
 * "*-._" kept), which differs from RFC 3986 percent-encoding.
 */
#include "exchange_request.h"
#include "exchange_token.h"

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

/* Adds the client authentication of p to tmp (RFC 6749 §2.3.1). */
static enum hs_err client_auth(const struct hs_provider *p,
                               struct exchange_request *tmp)
{
    enum hs_err rc = HS_OK;

    if (p->token_auth == HS_AUTH_POST) {
        rc = hs_http_form_add(tmp->body, sizeof(tmp->body), "client_id", p->client_id);
        if (rc == HS_OK)
            rc = hs_http_form_add(tmp->body, sizeof(tmp->body), "client_secret", p->client_secret);
    } else {
        /* Both are form-encoded, then joined by Basic. */
        tmp->basic = 1;
        rc = hs_http_urlencode(p->client_id, tmp->basic_user,
                               sizeof(tmp->basic_user));
        if (rc == HS_OK)
            rc = hs_http_urlencode(p->client_secret, tmp->basic_pass,
                                   sizeof(tmp->basic_pass));
    }
    return rc;
}

/* Builds a request of n name/value pairs plus p's client authentication
 * into *out (untouched on failure). */
static enum hs_err build(const struct hs_provider *p, const char *const *kv,
                         size_t n, struct exchange_request *out)
{
    struct exchange_request tmp;
    enum hs_err rc = HS_OK;

    memset(&tmp, 0, sizeof(tmp));
    for (size_t i = 0; rc == HS_OK && i + 1 < 2 * n; i += 2)
        if (kv[i + 1] && kv[i + 1][0])
            rc = hs_http_form_add(tmp.body, sizeof(tmp.body), kv[i],
                                  kv[i + 1]);
    if (rc == HS_OK)
        rc = client_auth(p, &tmp);
    if (rc == HS_OK)
        *out = tmp;
    sodium_memzero(&tmp, sizeof(tmp));
    return rc;
}

enum hs_err exchange_request_build(const struct hs_provider *p,
                                   const struct exchange_secret *s,
                                   struct exchange_request *out)
{
    const char *kv[8] = {"grant_type", "authorization_code", "code", s->code,
                         "redirect_uri", s->redirect_uri, "code_verifier",
                         s->verifier};

    if (s->code[0] == '\0' || s->redirect_uri[0] == '\0')
        return HS_ERR_INVALID;
    return build(p, kv, 4, out);
}

enum hs_err exchange_refresh_build(const struct hs_provider *p,
                                   const char *refresh_token,
                                   struct exchange_request *out)
{
    const char *kv[4] = {"grant_type", "refresh_token", "refresh_token",
                         refresh_token};

    if (!refresh_token[0])
        return HS_ERR_INVALID;
    return build(p, kv, 2, out);
}

enum hs_err exchange_revoke_build(const struct hs_provider *p,
                                  const char *token, const char *hint,
                                  struct exchange_request *out)
{
    const char *kv[4] = {"token", token, "token_type_hint", hint};

    if (!token[0])
        return HS_ERR_INVALID;
    return build(p, kv, 2, out);
}

enum hs_err exchange_post(const struct hs_config *cfg, const char *url,
                          const struct exchange_request *req,
                          struct hs_http_response *res)
{
    struct hs_http_request hr;

    memset(&hr, 0, sizeof(hr));
    hr.method = "POST";
    hr.url = url;
    hr.body = req->body;
    hr.body_len = strlen(req->body);
    hr.content_type = "application/x-www-form-urlencoded";
    hr.accept = "application/json";
    hr.timeout_ms = cfg->http_timeout_ms;
    hr.max_body = EXCHANGE_TOKEN_MAX_BODY;
    hr.allow_http = cfg->insecure_http;
    if (req->basic) {
        hr.basic_user = req->basic_user;
        hr.basic_pass = req->basic_pass;
    }
    return hs_http_do(&hr, res);
}

void exchange_request_wipe(struct exchange_request *r)
{
    sodium_memzero(r, sizeof(*r));
}
