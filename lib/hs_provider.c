/*
 * hs_provider: the provider catalog (contract in hs_provider.h). Strict:
 * every key is known, every value has its type, URLs are https (or http
 * with allow_http), the client secret comes from the named variable.
 *
 * Errors are one line that starts with "HS_PROVIDERS: " and names the
 * provider and key. Anything taken from the file that appears in an error
 * (a name, a key, a variable name) goes through shown(): printable ASCII
 * only, so a crafted catalog cannot forge log lines. The value of a
 * client secret never appears.
 */
#include "hs_provider.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hs_crypto.h"

#define MAX_PROVIDERS 64

static enum hs_err fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "HS_PROVIDERS: " + the message to err (truncated to errlen). */
static enum hs_err fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (err && errlen) {
        n = snprintf(err, errlen, "HS_PROVIDERS: ");
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < errlen)
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return HS_ERR_CONFIG;
}

/* A catalog string made fit for an error line: at most 40 bytes of
 * printable ASCII, others replaced by '?', quotes and backslashes too. */
struct shown {
    char s[48];
};

static struct shown shown(const char *in)
{
    struct shown o;
    size_t i;

    for (i = 0; in[i] && i < 40; i++) {
        unsigned char c = (unsigned char)in[i];

        o.s[i] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
                     ? '?' : (char)c;
    }
    if (in[i]) {
        memcpy(o.s + i, "...", 4);
        return o;
    }
    o.s[i] = '\0';
    return o;
}

/* Environment variable names: [A-Za-z_][A-Za-z0-9_]*, at most 64. */
static int var_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E. */
static int scope_valid(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* Printable ASCII without spaces: client ids go into URLs and forms. */
static int token_valid(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static int name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= sizeof(((struct hs_provider *)0)->name))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

int hs_provider_url_ok(const char *s, int allow_http)
{
    const char *host;

    if (strncmp(s, "https://", 8) == 0)
        host = s + 8;
    else if (allow_http && strncmp(s, "http://", 7) == 0)
        host = s + 7;
    else
        return 0;
    if (!*host || *host == '/' || strchr(s, '#') || strchr(host, '@'))
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

enum kind { STR_URL, STR, BOOL, SCOPES, AUTH, SECRET_ENV, ID_ENV, PARAMS,
            SEPARATOR, WEBHOOK };

struct key {
    const char *name;
    enum kind kind;
    size_t off, size;
    int required;
};

#define K(n, kind, f, req)                                                    \
    {n, kind, offsetof(struct hs_provider, f),                                \
     sizeof(((struct hs_provider *)0)->f), req}

static const struct key keys[] = {
    /* 2: required unless an issuer lets discovery find it. */
    K("authorize_url", STR_URL, authorize_url, 2),
    K("token_url", STR_URL, token_url, 2),
    K("userinfo_url", STR_URL, userinfo_url, 0),
    K("revoke_url", STR_URL, revoke_url, 0),
    K("issuer", STR_URL, issuer, 0),
    K("scopes", SCOPES, scopes, 1),
    /* 3: exactly one of the two. */
    K("client_id", STR, client_id, 3),
    K("client_id_env", ID_ENV, client_id, 3),
    K("client_secret_env", SECRET_ENV, client_secret, 1),
    K("token_auth", AUTH, token_auth, 0),
    K("pkce", BOOL, pkce, 0),
    K("refresh", BOOL, refresh, 0),
    K("use_auth_origin", BOOL, use_auth_origin, 0),
    K("signin", BOOL, signin, 0),
    K("authorize_params", PARAMS, auth_params, 0),
    K("scope_separator", SEPARATOR, scope_sep, 0),
    K("webhook", WEBHOOK, hook, 0),
};

/* "webhook": {"scheme": "slack" | "hmac-sha256", "secret_env": VAR,
 * "header": H, "prefix": P} (header and prefix for hmac-sha256 only; the
 * header defaults to X-Signature-256). The secret is read at once: a
 * provider whose webhooks cannot be verified does not start. */
static enum hs_err set_webhook(struct hs_provider *p, json_t *v, char *err,
                               size_t errlen)
{
    const char *k, *scheme, *var, *val;
    json_t *e;

    if (!json_is_object(v))
        return fail(err, errlen, "provider \"%s\": \"webhook\" must be an "
                    "object", p->name);
    json_object_foreach(v, k, e) {
        if (strcmp(k, "scheme") && strcmp(k, "secret_env") &&
            strcmp(k, "header") && strcmp(k, "prefix"))
            return fail(err, errlen, "provider \"%s\": unknown webhook key "
                        "\"%s\"", p->name, shown(k).s);
        if (!json_is_string(e))
            return fail(err, errlen, "provider \"%s\": webhook \"%s\" must "
                        "be a string", p->name, k);
    }
    scheme = json_string_value(json_object_get(v, "scheme"));
    var = json_string_value(json_object_get(v, "secret_env"));
    if (scheme && strcmp(scheme, "slack") == 0)
        p->hook = HS_HOOK_SLACK;
    else if (scheme && strcmp(scheme, "hmac-sha256") == 0)
        p->hook = HS_HOOK_HMAC;
    else
        return fail(err, errlen, "provider \"%s\": webhook \"scheme\" must "
                    "be slack or hmac-sha256", p->name);
    if (p->hook == HS_HOOK_SLACK && (json_object_get(v, "header") ||
                                     json_object_get(v, "prefix")))
        return fail(err, errlen, "provider \"%s\": the slack webhook "
                    "scheme takes no header or prefix", p->name);
    if (!var || !var_valid(var))
        return fail(err, errlen, "provider \"%s\": webhook \"secret_env\" "
                    "must name a variable", p->name);
    val = getenv(var);
    if (!val || !*val || strlen(val) >= sizeof(p->hook_secret))
        return fail(err, errlen, "provider \"%s\": %s (its webhook "
                    "secret_env) is not set or too long", p->name, var);
    memcpy(p->hook_secret, val, strlen(val) + 1);
    val = json_string_value(json_object_get(v, "header"));
    if (!val)
        val = "X-Signature-256";
    if (!*val || strlen(val) >= sizeof(p->hook_header) || !token_valid(val) ||
        strchr(val, ':'))
        return fail(err, errlen, "provider \"%s\": webhook \"header\" "
                    "must be a header name", p->name);
    snprintf(p->hook_header, sizeof(p->hook_header), "%s", val);
    val = json_string_value(json_object_get(v, "prefix"));
    if (val && (strlen(val) >= sizeof(p->hook_prefix) || !token_valid(val)))
        return fail(err, errlen, "provider \"%s\": webhook \"prefix\" "
                    "must be printable ASCII without spaces", p->name);
    snprintf(p->hook_prefix, sizeof(p->hook_prefix), "%s", val ? val : "");
    return HS_OK;
}

/* Parameters of the authorize request that a catalog may not set. */
static const char *const reserved_params[] = {
    "response_type", "client_id", "redirect_uri", "scope", "state",
    "code_challenge", "code_challenge_method", "nonce", NULL};

static enum hs_err set_params(struct hs_provider *p, json_t *v, char *err,
                              size_t errlen)
{
    const char *name;
    json_t *val;

    if (!json_is_object(v) || json_object_size(v) > HS_AUTH_PARAMS_MAX)
        return fail(err, errlen, "provider \"%s\": \"authorize_params\" "
                    "must be an object of at most %d strings", p->name,
                    HS_AUTH_PARAMS_MAX);
    json_object_foreach(v, name, val) {
        struct hs_auth_param *ap = &p->auth_params[p->n_auth_params];
        const char *s = json_string_value(val);
        size_t n = strlen(name);

        for (size_t i = 0; reserved_params[i]; i++)
            if (strcmp(name, reserved_params[i]) == 0)
                return fail(err, errlen, "provider \"%s\": "
                            "\"authorize_params\" cannot set \"%s\"",
                            p->name, name);
        if (n == 0 || n >= sizeof(ap->name) ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz_") != n)
            return fail(err, errlen, "provider \"%s\": "
                        "\"authorize_params\": a name must be 1 to 32 of "
                        "[a-z_], got \"%s\"", p->name, shown(name).s);
        if (!s || !*s || strlen(s) >= sizeof(ap->value) || !token_valid(s))
            return fail(err, errlen, "provider \"%s\": "
                        "\"authorize_params\": \"%s\" must be 1 to 128 "
                        "printable characters without spaces", p->name,
                        name);
        memcpy(ap->name, name, n + 1);
        memcpy(ap->value, s, strlen(s) + 1);
        p->n_auth_params++;
    }
    return HS_OK;
}

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static enum hs_err set_key(struct hs_provider *p, const struct key *k,
                           json_t *v, int allow_http, char *err, size_t errlen)
{
    char *dst = (char *)p + k->off;
    const char *s;

    switch (k->kind) {
    case BOOL:
        if (!json_is_boolean(v))
            return fail(err, errlen, "provider \"%s\": \"%s\" must be true "
                        "or false", p->name, k->name);
        *(int *)(void *)dst = json_is_true(v);
        return HS_OK;
    case SCOPES: {
        size_t i, len = 0;
        json_t *e;

        if (!json_is_array(v))
            return fail(err, errlen, "provider \"%s\": \"scopes\" must be "
                        "an array of strings", p->name);
        dst[0] = '\0';
        json_array_foreach(v, i, e) {
            size_t n;

            s = json_string_value(e);
            if (!s || !scope_valid(s) || (n = strlen(s)) + len + 2 > k->size)
                return fail(err, errlen, "provider \"%s\": bad scope %zu",
                            p->name, i + 1);
            if (len)
                dst[len++] = ' ';
            memcpy(dst + len, s, n + 1);
            len += n;
        }
        return HS_OK;
    }
    case AUTH:
        s = json_string_value(v);
        if (s && strcmp(s, "client_secret_basic") == 0)
            p->token_auth = HS_AUTH_BASIC;
        else if (s && strcmp(s, "client_secret_post") == 0)
            p->token_auth = HS_AUTH_POST;
        else
            return fail(err, errlen, "provider \"%s\": \"token_auth\" must "
                        "be client_secret_basic or client_secret_post",
                        p->name);
        return HS_OK;
    case SECRET_ENV:
    case ID_ENV: /* the name only: parse_one() reads the variables */
        s = json_string_value(v);
        if (!s || !var_valid(s))
            return fail(err, errlen, "provider \"%s\": \"%s\" must name "
                        "a variable ([A-Za-z_][A-Za-z0-9_]*)", p->name,
                        k->name);
        return HS_OK;
    case PARAMS:
        return set_params(p, v, err, errlen);
    case WEBHOOK:
        return set_webhook(p, v, err, errlen);
    case SEPARATOR:
        s = json_string_value(v);
        if (!s || (strcmp(s, " ") != 0 && strcmp(s, ",") != 0))
            return fail(err, errlen, "provider \"%s\": \"scope_separator\""
                        " must be \" \" or \",\"", p->name);
        p->scope_sep = s[0];
        return HS_OK;
    case STR_URL:
    case STR:
        s = json_string_value(v);
        if (!s || strlen(s) >= k->size || !*s)
            return fail(err, errlen, "provider \"%s\": \"%s\" must be a "
                        "non-empty string", p->name, k->name);
        if (k->kind == STR_URL && !hs_provider_url_ok(s, allow_http))
            return fail(err, errlen, "provider \"%s\": \"%s\" must be an "
                        "https URL", p->name, k->name);
        if (k->kind == STR && !token_valid(s))
            return fail(err, errlen, "provider \"%s\": \"%s\" must be "
                        "printable ASCII without spaces", p->name, k->name);
        memcpy(dst, s, strlen(s) + 1);
        return HS_OK;
    }
    return HS_ERR_INTERNAL;
}

/* The client id (client_id_env) and secret (client_secret_env) from the
 * environment, once the entry is otherwise valid. HS_ERR_NOTFOUND: the
 * entry is disabled (its client_id_env is unset or empty). */
static enum hs_err read_variables(json_t *obj, struct hs_provider *p,
                                  char *err, size_t errlen)
{
    const char *id_var =
        json_string_value(json_object_get(obj, "client_id_env"));
    const char *secret_var =
        json_string_value(json_object_get(obj, "client_secret_env"));
    const char *val;

    if (!id_var == !json_object_get(obj, "client_id"))
        return fail(err, errlen, "provider \"%s\": give \"client_id\" or "
                    "\"client_id_env\" (one of them)", p->name);
    if (id_var) {
        val = getenv(id_var);
        if (!val || !*val)
            return HS_ERR_NOTFOUND;
        if (strlen(val) >= sizeof(p->client_id) || !token_valid(val))
            return fail(err, errlen, "provider \"%s\": %s (its "
                        "client_id_env) must be printable ASCII without "
                        "spaces", p->name, id_var);
        memcpy(p->client_id, val, strlen(val) + 1);
    }
    val = getenv(secret_var);
    if (!val || !*val)
        return fail(err, errlen, "provider \"%s\": %s (its "
                    "client_secret_env) is not set", p->name, secret_var);
    if (strlen(val) >= sizeof(p->client_secret))
        return fail(err, errlen, "provider \"%s\": %s is too long",
                    p->name, secret_var);
    memcpy(p->client_secret, val, strlen(val) + 1);
    return HS_OK;
}

static enum hs_err parse_one(const char *name, json_t *obj, int allow_http,
                             struct hs_provider *p, char *err, size_t errlen)
{
    const char *kname;
    json_t *v;
    unsigned char seen[NKEYS] = {0};
    enum hs_err rc;

    if (!name_valid(name))
        return fail(err, errlen, "provider name \"%s\" must match "
                    "[A-Za-z0-9]+ (at most 31)", shown(name).s);
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; name[i]; i++)
        p->name[i] = (char)((name[i] >= 'A' && name[i] <= 'Z')
                                ? name[i] + 32 : name[i]);
    p->pkce = 1;
    p->token_auth = HS_AUTH_BASIC;
    if (!json_is_object(obj))
        return fail(err, errlen, "provider \"%s\" must be an object",
                    p->name);
    json_object_foreach(obj, kname, v) {
        size_t i;

        for (i = 0; i < NKEYS; i++)
            if (strcmp(kname, keys[i].name) == 0)
                break;
        if (i == NKEYS)
            return fail(err, errlen, "provider \"%s\": unknown key \"%s\"",
                        p->name, shown(kname).s);
        rc = set_key(p, &keys[i], v, allow_http, err, errlen);
        if (rc != HS_OK)
            return rc;
        seen[i] = 1;
    }
    for (size_t i = 0; i < NKEYS; i++)
        if ((keys[i].required == 1 || keys[i].required == 2) && !seen[i] &&
            !(keys[i].required == 2 && p->issuer[0]))
            return fail(err, errlen,
                        keys[i].required == 2
                            ? "provider \"%s\": \"%s\" is required (or "
                              "an \"issuer\" to discover it)"
                            : "provider \"%s\": \"%s\" is required",
                        p->name, keys[i].name);
    if (!p->scope_sep)
        p->scope_sep = ' ';
    return read_variables(obj, p, err, errlen);
}

enum hs_err hs_catalog_parse(const char *json, size_t len, int allow_http,
                             struct hs_catalog *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *provs, *v;
    const char *name, *k;
    struct hs_catalog cat = {0};
    enum hs_err rc = HS_ERR_CONFIG;
    size_t disabled = 0;

    if (!root)
        return fail(err, errlen, "not valid JSON (line %d: %s)", jerr.line,
                    shown(jerr.text).s);
    if (!json_is_object(root))
        goto bad_root;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "providers") != 0) {
            rc = fail(err, errlen, "unknown top-level key \"%s\"",
                      shown(k).s);
            goto out;
        }
    }
    provs = json_object_get(root, "providers");
    if (!json_is_object(provs))
        goto bad_root;
    if (json_object_size(provs) > MAX_PROVIDERS) {
        rc = fail(err, errlen, "more than %d providers", MAX_PROVIDERS);
        goto out;
    }
    cat.v = calloc(json_object_size(provs) + 1, sizeof(*cat.v));
    if (!cat.v) {
        rc = HS_ERR_NOMEM;
        goto out;
    }
    json_object_foreach(provs, name, v) {
        rc = parse_one(name, v, allow_http, &cat.v[cat.n], err, errlen);
        if (rc == HS_ERR_NOTFOUND) { /* disabled: its client id is unset */
            hs_wipe(&cat.v[cat.n], sizeof(cat.v[cat.n]));
            disabled++;
            continue;
        }
        if (rc != HS_OK)
            goto out;
        if (hs_catalog_find(&cat, cat.v[cat.n].name)) {
            rc = fail(err, errlen, "provider \"%s\" is listed twice",
                      cat.v[cat.n].name);
            goto out;
        }
        cat.n++;
    }
    if (cat.n == 0 && disabled) {
        rc = fail(err, errlen, "every provider is disabled: set the "
                  "variables named by the client_id_env and "
                  "client_secret_env of one (HS_GITHUB_CLIENT_ID and "
                  "HS_GITHUB_CLIENT_SECRET for github)");
        goto out;
    }
    *out = cat;
    cat.v = NULL;
    rc = HS_OK;
    goto out;
bad_root:
    rc = fail(err, errlen, "expected {\"providers\": {...}}");
out:
    if (cat.v) /* the entry being parsed may hold a client secret */
        hs_wipe(&cat.v[cat.n], sizeof(cat.v[cat.n]));
    hs_catalog_cleanup(&cat);
    json_decref(root);
    return rc;
}

enum hs_err hs_catalog_load(const char *path, int allow_http,
                            struct hs_catalog *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t len;
    enum hs_err rc;

    if (!f)
        return fail(err, errlen, "cannot open the catalog file");
    buf = malloc(1024 * 1024);
    if (!buf) {
        fclose(f);
        return HS_ERR_NOMEM;
    }
    len = fread(buf, 1, 1024 * 1024, f);
    if (!feof(f)) {
        fclose(f);
        free(buf);
        return fail(err, errlen, "the catalog file is over 1 MiB or "
                    "unreadable");
    }
    fclose(f);
    rc = hs_catalog_parse(buf, len, allow_http, out, err, errlen);
    free(buf);
    return rc;
}

const struct hs_provider *hs_catalog_find(const struct hs_catalog *cat,
                                          const char *name)
{
    if (!cat->v || !name_valid(name))
        return NULL;
    for (size_t i = 0; i < cat->n; i++)
        if (strcasecmp(cat->v[i].name, name) == 0)
            return &cat->v[i];
    return NULL;
}

void hs_catalog_cleanup(struct hs_catalog *cat)
{
    if (cat->v) {
        hs_wipe(cat->v, cat->n * sizeof(*cat->v));
        free(cat->v);
    }
    cat->v = NULL;
    cat->n = 0;
}
