/*
 * hs_provider: the provider catalog (SPEC §6), a JSON file.
 *
 * {"providers": {"<name>": {authorize_url, token_url, scopes, client_id,
 * client_secret_env, token_auth, pkce, issuer, userinfo_url, revoke_url,
 * refresh, use_auth_origin, signin}}}, plus three keys of ours:
 *   client_id_env     instead of client_id: the variable holding it. An
 *                     entry whose variable is unset or empty is disabled
 *                     (left out of the catalog), so the shipped catalog
 *                     (schemas/providers.json) is enabled one provider at
 *                     a time by setting HS_<NAME>_CLIENT_ID and
 *                     HS_<NAME>_CLIENT_SECRET.
 *   authorize_params  {"name": "value"}: extra authorize parameters
 *                     (Atlassian's audience, Google's access_type), at
 *                     most HS_AUTH_PARAMS_MAX; the standard ones cannot be
 *                     overridden.
 *   scope_separator   " " (default) or "," (Linear): how scope is joined
 *                     in the authorize request.
 * Names match [A-Za-z0-9]+ and are stored lowercase (URLs are
 * case-insensitive). authorize_url and token_url may be left out when
 * issuer is given: hs_catalog_discover() (hs_discovery.h) then fills
 * them. Unknown keys, wrong types, non-https URLs (unless allow_http) and
 * a client_secret_env naming an unset variable (in an enabled entry) are
 * errors naming the provider and key.
 */
#ifndef HS_PROVIDER_H
#define HS_PROVIDER_H

#include <stddef.h>

#include "hs_err.h"

enum hs_token_auth { HS_AUTH_BASIC = 1, HS_AUTH_POST = 2 };

#define HS_AUTH_PARAMS_MAX 4

struct hs_auth_param {
    char name[33];  /* [a-z_]{1,32} */
    char value[129]; /* printable ASCII, no spaces */
};

/* How a provider signs its server-to-server calls (key "webhook"). */
enum hs_hook_scheme {
    HS_HOOK_NONE = 0,
    HS_HOOK_SLACK, /* X-Slack-Signature v0 over "v0:<ts>:<body>", 5 min */
    HS_HOOK_HMAC   /* <header>: <prefix>hex(HMAC-SHA256(secret, body)) */
};

struct hs_provider {
    char name[32];               /* lowercase */
    char authorize_url[512];
    char token_url[512];
    char userinfo_url[512];      /* "" if none */
    char revoke_url[512];        /* "" if none */
    char issuer[256];            /* "" if not OIDC */
    char scopes[512];            /* space-separated */
    char client_id[256];
    char client_secret[512];     /* value of client_secret_env; secret */
    enum hs_token_auth token_auth;
    int pkce, refresh, use_auth_origin, signin;
    char scope_sep;              /* ' ' or ',' */
    struct hs_auth_param auth_params[HS_AUTH_PARAMS_MAX];
    size_t n_auth_params;
    enum hs_hook_scheme hook;    /* webhook.scheme */
    char hook_secret[256];       /* value of webhook.secret_env; secret */
    char hook_header[64];        /* hmac: the signature header */
    char hook_prefix[32];        /* hmac: before the hex, e.g. "sha256=" */
};

struct hs_catalog {
    struct hs_provider *v;
    size_t n;
};

/* Loads path. HS_OK fills *out (free with hs_catalog_cleanup); otherwise
 * *out untouched, err names the provider and key:
 *   HS_PROVIDERS: provider "acme": unknown key "scope"
 * A catalog in which every entry is disabled is an error too (it names
 * the variables to set). */
enum hs_err hs_catalog_load(const char *path, int allow_http,
                            struct hs_catalog *out, char *err,
                            size_t errlen) HS_MUST_CHECK;
/* Same from a JSON string (tests, fuzzing). */
enum hs_err hs_catalog_parse(const char *json, size_t len, int allow_http,
                             struct hs_catalog *out, char *err,
                             size_t errlen) HS_MUST_CHECK;
/* Case-insensitive lookup; NULL if absent or name is not [A-Za-z0-9]+. */
const struct hs_provider *hs_catalog_find(const struct hs_catalog *cat,
                                          const char *name);
/* 1 when url is https (http too with allow_http), has a host, and holds
 * no userinfo, fragment, space or control character. */
int hs_provider_url_ok(const char *url, int allow_http);

/* Wipes secrets and frees; safe on a zeroed catalog. */
void hs_catalog_cleanup(struct hs_catalog *cat);

#endif
