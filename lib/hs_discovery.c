/* hs_discovery: OpenID discovery for the catalog (see hs_discovery.h). */
#include "hs_discovery.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "hs_http.h"

#define DISCOVERY_MAX_BODY (64 * 1024)

static enum hs_err fail(char *err, size_t errlen, const char *name,
                        const char *what)
{
    snprintf(err, errlen, "HS_PROVIDERS: provider \"%s\": discovery: %s",
             name, what);
    return HS_ERR_CONFIG;
}

/* Copies doc[member] into dst (cap) when dst is empty. 0 ok (also when
 * absent), -1 when present but unusable. */
static int take(json_t *doc, const char *member, char *dst, size_t cap,
                int allow_http)
{
    json_t *v = json_object_get(doc, member);
    const char *s = json_string_value(v);

    if (dst[0] || !v)
        return 0;
    if (!s || strlen(s) >= cap || !hs_provider_url_ok(s, allow_http))
        return -1;
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static enum hs_err discover_one(struct hs_provider *p, int allow_http,
                                long timeout_ms, char *err, size_t errlen)
{
    char url[320];
    size_t n = strlen(p->issuer);
    struct hs_http_request req;
    struct hs_http_response res;
    json_t *doc;
    enum hs_err rc;

    /* §4: the path is appended to the issuer, without a doubled '/'. */
    if (snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration",
                 (int)(n && p->issuer[n - 1] == '/' ? n - 1 : n),
                 p->issuer) >= (int)sizeof(url))
        return fail(err, errlen, p->name, "issuer too long");
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.accept = "application/json";
    req.timeout_ms = timeout_ms;
    req.max_body = DISCOVERY_MAX_BODY;
    req.allow_http = allow_http;
    rc = hs_http_do(&req, &res);
    if (rc != HS_OK)
        return fail(err, errlen, p->name, "the issuer cannot be reached");
    if (res.status != 200) {
        hs_http_response_cleanup(&res);
        return fail(err, errlen, p->name, "the issuer answered an error");
    }
    doc = json_loadb(res.body, res.len, JSON_REJECT_DUPLICATES, NULL);
    hs_http_response_cleanup(&res);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return fail(err, errlen, p->name, "not a JSON object");
    }
    if (!json_is_string(json_object_get(doc, "issuer")) ||
        strcmp(json_string_value(json_object_get(doc, "issuer")),
               p->issuer) != 0)
        rc = fail(err, errlen, p->name, "issuer mismatch");
    else if (take(doc, "authorization_endpoint", p->authorize_url,
                  sizeof(p->authorize_url), allow_http) ||
             take(doc, "token_endpoint", p->token_url, sizeof(p->token_url),
                  allow_http) ||
             take(doc, "userinfo_endpoint", p->userinfo_url,
                  sizeof(p->userinfo_url), allow_http) ||
             take(doc, "revocation_endpoint", p->revoke_url,
                  sizeof(p->revoke_url), allow_http))
        rc = fail(err, errlen, p->name, "an endpoint URL is not usable");
    else if (!p->authorize_url[0] || !p->token_url[0])
        rc = fail(err, errlen, p->name,
                  "no authorization_endpoint or token_endpoint");
    json_decref(doc);
    return rc;
}

enum hs_err hs_catalog_discover(struct hs_catalog *cat, int allow_http,
                                long timeout_ms, char *err, size_t errlen)
{
    for (size_t i = 0; i < cat->n; i++) {
        struct hs_provider *p = &cat->v[i];
        enum hs_err rc;

        if (!p->issuer[0] || (p->authorize_url[0] && p->token_url[0]))
            continue;
        rc = discover_one(p, allow_http, timeout_ms, err, errlen);
        if (rc != HS_OK)
            return rc;
    }
    return HS_OK;
}
