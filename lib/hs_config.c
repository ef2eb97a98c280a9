/*
 * hs_config: the table of settings and its loader (contract in
 * hs_config.h). Each row names a variable, its type, bounds, default, the
 * need bit that makes it required and whether it is secret. Loading checks
 * each field (whole-string parse, bounds, syntax), then cross-field rules.
 */
#include "hs_config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hs_crypto.h"
#include "hs_requesters.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL, CFG_LEVEL };
enum cfg_check { CHK_NONE, CHK_ENV, CHK_URL, CHK_LOCAL_URL, CHK_LISTEN,
                 CHK_KEYS, CHK_OPTS, CHK_NAME, CHK_REQUESTERS,
                 CHK_ENV_ROUTES };

#define SECRET 0x1u

struct cfg_var {
    const char *name;
    enum cfg_type type;
    size_t off;
    size_t size;      /* CFG_STR: buffer size */
    unsigned need;    /* HS_NEED_* bit that makes it required, or 0 */
    unsigned flags;
    const char *def;  /* default, NULL = none */
    long min, max;    /* CFG_INT bounds */
    enum cfg_check check;
    const char *help;
};

#define OFF(f) offsetof(struct hs_config, f)
#define SZ(f) sizeof(((struct hs_config *)0)->f)
#define STR(n, f, need, fl, def, chk, help)                                   \
    {n, CFG_STR, OFF(f), SZ(f), need, fl, def, 0, 0, chk, help}
#define INT(n, f, def, lo, hi, help)                                          \
    {n, CFG_INT, OFF(f), 0, 0, 0, def, lo, hi, CHK_NONE, help}

static const struct cfg_var vars[] = {
    STR("HS_ENV", env, 0, 0, "dev", CHK_ENV,
        "name of this environment ([a-z0-9-]); prefixes every state"),
    STR("HS_PUBLIC_URL", public_url, HS_NEED_PUBLIC_URL, 0, NULL, CHK_URL,
        "public base URL of the ingress, https://host[:port]"),
    STR("HS_LISTEN", listen, 0, 0, "127.0.0.1:8080", CHK_LISTEN,
        "address the ingress listens on, host:port (port 0 = any)"),
    STR("HS_KAFKA_BROKERS", brokers, HS_NEED_KAFKA, 0, NULL, CHK_NONE,
        "Kafka bootstrap list"),
    STR("HS_KAFKA_OPTS", kafka_opts, 0, SECRET, "", CHK_OPTS,
        "extra librdkafka properties, k=v,k=v (may hold sasl.password)"),
    STR("HS_TOPIC_PREFIX", topic_prefix, 0, 0, "", CHK_NONE,
        "prefix of every topic name"),
    STR("HS_PG_URL", pg_url, HS_NEED_PG, SECRET, NULL, CHK_NONE,
        "PostgreSQL URL or conninfo (secret)"),
    STR("HS_SECRET_KEYS", secret_keys, HS_NEED_KEYS, SECRET, NULL, CHK_KEYS,
        "kid:base64url(32 bytes)[,kid:...]; first is active (secret)"),
    STR("HS_PROVIDERS", providers, HS_NEED_PROVIDERS, 0, NULL, CHK_NONE,
        "path of the provider catalog (JSON)"),
    STR("HS_REQUESTERS", requesters, 0, 0, "", CHK_REQUESTERS,
        "loopback requesters: name=redirect,... (see README)"),
    STR("HS_ENV_ROUTES", env_routes, 0, 0, "", CHK_ENV_ROUTES,
        "where callbacks of other environments go: env=https://base,..."),
    STR("HS_METRICS_LISTEN", metrics_listen, 0, 0, "", CHK_LISTEN,
        "workers: host:port of /metrics (port 0: any, logged); off if unset"),
    STR("HS_RELAY_URL", relay_url, HS_NEED_RELAY_URL, 0, NULL,
        CHK_LOCAL_URL,
        "hs-relay: base URL of the local server webhooks go to (http ok)"),
    STR("HS_AUTH_ORIGIN", auth_origin, 0, 0, "", CHK_URL,
        "base URL of the callbacks of providers marked use_auth_origin"),
    STR("HS_SIGNIN_PROVIDER", signin_provider, 0, 0, "", CHK_NAME,
        "provider used for sign-in flows"),
    INT("HS_STATE_TTL", state_ttl_s, "600", 1, 600,
        "seconds a started handshake stays valid"),
    INT("HS_AUTH_CODE_TTL", code_ttl_s, "600", 1, 600,
        "seconds a provider-auth code stays valid"),
    INT("HS_HTTP_TIMEOUT_MS", http_timeout_ms, "10000", 100, 60000,
        "total time-out of a provider call, ms"),
    INT("HS_EXCHANGE_ATTEMPTS", exchange_attempts, "3", 1, 10,
        "token calls per code exchange when the provider fails (retries)"),
    INT("HS_EXCHANGE_STALE", exchange_stale_s, "120", 10, 3600,
        "seconds after which a claim a worker left open fails as "
        "interrupted; retries fit inside it"),
    INT("HS_REFRESH_AHEAD", refresh_ahead_s, "300", 1, 86400,
        "refresh a token this many seconds before it expires (jittered)"),
    INT("HS_REFRESH_RETRY", refresh_retry_s, "10", 1, 3600,
        "first back-off after a failed refresh, seconds (doubles)"),
    INT("HS_REFRESH_ATTEMPTS", refresh_attempts, "8", 1, 100,
        "failed refreshes in a row before re-authorization is asked"),
    INT("HS_KAFKA_TIMEOUT_MS", kafka_timeout_ms, "5000", 100, 60000,
        "how long a produce waits for acks=all, ms"),
    INT("HS_THREADS", threads, "4", 1, 64,
        "HTTP worker threads (ingress; 4 PostgreSQL connections each)"),
    INT("HS_LONGPOLL_MAX", longpoll_max, "20000", 1, 100000,
        "long polls one ingress holds at once; more are answered at once"),
    {"HS_INSECURE_HTTP", CFG_BOOL, OFF(insecure_http), 0, 0, 0, "0", 0, 1,
     CHK_NONE, "1 allows plain-http provider and public URLs (dev only)"},
    {"HS_LOG_LEVEL", CFG_LEVEL, OFF(log_level), 0, 0, 0, "info", 0, 0,
     CHK_NONE, "debug, info, warn or error"},
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

static enum hs_err fail(char *err, size_t errlen, const struct cfg_var *v,
                        const char *what, const char *val)
{
    if (err && errlen) {
        if (val && !(v->flags & SECRET)) {
            char shown[65];
            size_t i;

            /* One line, always: control characters are not echoed. */
            for (i = 0; val[i] && i < sizeof(shown) - 1; i++)
                shown[i] = ((unsigned char)val[i] < 0x20 || val[i] == 0x7f)
                               ? '?' : val[i];
            shown[i] = '\0';
            snprintf(err, errlen, "%s: %s, got \"%s\"", v->name, what, shown);
        } else {
            snprintf(err, errlen, "%s: %s", v->name, what);
        }
    }
    return HS_ERR_CONFIG;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

static int check_env(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 31)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return 0;
    return 1;
}

static int check_port(const char *s, int allow_zero)
{
    char *end;
    long port;

    if (!*s || strlen(s) > 5)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    errno = 0;
    port = strtol(s, &end, 10);
    return errno == 0 && *end == '\0' && port >= (allow_zero ? 0 : 1) &&
           port <= 65535;
}

/* host[:port] where host is a DNS name, IPv4 or [IPv6]. */
static int check_hostport(const char *s, int need_port, int *loopback)
{
    const char *colon;
    size_t hostlen;

    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1)
            return 0;
        for (const char *p = s + 1; p < close; p++)
            if (!(is_name_char(*p) || *p == ':' || *p == '.'))
                return 0;
        hostlen = (size_t)(close - s) + 1;
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] && !colon)
            return 0;
    } else {
        colon = strchr(s, ':');
        hostlen = colon ? (size_t)(colon - s) : strlen(s);
        if (hostlen == 0)
            return 0;
        for (size_t i = 0; i < hostlen; i++)
            if (!(is_name_char(s[i]) || s[i] == '.' || s[i] == '-'))
                return 0;
    }
    if (loopback)
        *loopback = (hostlen == 9 && strncmp(s, "127.0.0.1", 9) == 0) ||
                    (hostlen == 9 && strncmp(s, "localhost", 9) == 0) ||
                    (hostlen == 5 && strncmp(s, "[::1]", 5) == 0);
    if (colon)
        return check_port(colon + 1, need_port);
    return !need_port;
}

static int check_url(const char *s, int insecure)
{
    const char *rest;
    int loop = 0;

    if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else
        return 0;
    /* No path, query, fragment or userinfo: the host check refuses them. */
    if (!check_hostport(rest, 0, &loop))
        return 0;
    if (rest == s + 7 && !insecure && !loop)
        return 0;
    return 1;
}

/* Finds env in "env=url,env=url"; 1 with its URL in out (when out is not
 * NULL), 0 when absent. */
static int route_find(const char *routes, const char *env, char *out,
                      size_t cap)
{
    size_t elen = strlen(env);

    for (const char *p = routes; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len > elen && p[elen] == '=' && strncmp(p, env, elen) == 0) {
            if (out && snprintf(out, cap, "%.*s", (int)(len - elen - 1),
                                p + elen + 1) >= (int)cap)
                return 0;
            return 1;
        }
        p += len + (end ? 1 : 0);
    }
    return 0;
}

/* "env=url,..." with each env [a-z0-9-]{1,31}, given once, and each url
 * as HS_PUBLIC_URL. */
static int check_env_routes(const char *s, int insecure)
{
    for (const char *p = s;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        char env[32], url[256];

        if (!eq || (size_t)(eq - p) >= sizeof(env) ||
            len - (size_t)(eq - p) - 1 >= sizeof(url))
            return 0;
        snprintf(env, sizeof(env), "%.*s", (int)(eq - p), p);
        snprintf(url, sizeof(url), "%.*s", (int)(len - (size_t)(eq - p) - 1),
                 eq + 1);
        if (!check_env(env) || !check_url(url, insecure) ||
            route_find(end ? end + 1 : "", env, NULL, 0))
            return 0;
        if (!end)
            return 1;
        p = end + 1;
    }
}

int hs_config_env_route(const struct hs_config *cfg, const char *env,
                        char *url, size_t cap)
{
    return route_find(cfg->env_routes, env, url, cap);
}

static int check_opts(const char *s)
{
    const char *p = s;

    if (!*s)
        return 1;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);

        if (!eq || eq == p || eq == p + len - 1)
            return 0;
        if (!end)
            return 1;
        p = end + 1;
    }
}

static int check_name(const char *s)
{
    for (; *s; s++)
        if (!is_name_char(*s))
            return 0;
    return 1;
}

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static enum hs_err load_var(struct hs_config *cfg, const struct cfg_var *v,
                            unsigned need, char *err, size_t errlen)
{
    const char *val = getenv(v->name);
    char *dst = (char *)cfg + v->off;

    if (!val || !*val)
        val = v->def;
    if (!val) {
        if (need & v->need)
            return fail(err, errlen, v, "required but not set", NULL);
        return HS_OK;
    }
    switch (v->type) {
    case CFG_STR:
        if (strlen(val) >= v->size)
            return fail(err, errlen, v, "too long", NULL);
        if (has_ctl(val))
            return fail(err, errlen, v, "contains control characters", NULL);
        memcpy(dst, val, strlen(val) + 1);
        return HS_OK;
    case CFG_INT: {
        char *end;
        long n;
        char what[80];

        errno = 0;
        n = strtol(val, &end, 10);
        snprintf(what, sizeof(what), "expected an integer from %ld to %ld",
                 v->min, v->max);
        /* strtol skips leading blanks and takes a sign: we do not. */
        if ((val[0] < '0' || val[0] > '9') || errno || *end || n < v->min ||
            n > v->max)
            return fail(err, errlen, v, what, val);
        *(int *)(void *)dst = (int)n;
        return HS_OK;
    }
    case CFG_BOOL:
        if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
            return fail(err, errlen, v, "expected 0 or 1", val);
        *(int *)(void *)dst = val[0] == '1';
        return HS_OK;
    case CFG_LEVEL: {
        enum hs_log_level lv;

        if (hs_log_level_parse(val, &lv) != 0)
            return fail(err, errlen, v,
                        "expected debug, info, warn or error", val);
        *(enum hs_log_level *)(void *)dst = lv;
        return HS_OK;
    }
    }
    return HS_ERR_INTERNAL;
}

static enum hs_err check_var(const struct hs_config *cfg,
                             const struct cfg_var *v, char *err, size_t errlen)
{
    const char *s = (const char *)cfg + v->off;

    if (v->type != CFG_STR || !*s)
        return HS_OK;
    switch (v->check) {
    case CHK_NONE:
        return HS_OK;
    case CHK_ENV:
        return check_env(s) ? HS_OK
                            : fail(err, errlen, v,
                                   "expected 1 to 31 of [a-z0-9-]", s);
    case CHK_URL:
        return check_url(s, cfg->insecure_http)
                   ? HS_OK
                   : fail(err, errlen, v,
                          "expected https://host[:port] with no path (plain "
                          "http only for loopback or HS_INSECURE_HTTP=1)",
                          s);
    case CHK_LOCAL_URL: /* inside a private network: plain http is fine */
        return check_url(s, 1) ? HS_OK
                               : fail(err, errlen, v,
                                      "expected http(s)://host[:port] with "
                                      "no path", s);
    case CHK_LISTEN:
        return check_hostport(s, 1, NULL)
                   ? HS_OK
                   : fail(err, errlen, v, "expected host:port", s);
    case CHK_ENV_ROUTES:
        return check_env_routes(s, cfg->insecure_http)
                   ? HS_OK
                   : fail(err, errlen, v,
                          "expected env=https://host[:port],... (env as "
                          "HS_ENV, each once; the URL as HS_PUBLIC_URL)",
                          s);
    case CHK_OPTS:
        return check_opts(s) ? HS_OK
                             : fail(err, errlen, v, "expected k=v,k=v", s);
    case CHK_NAME:
        return check_name(s) ? HS_OK
                             : fail(err, errlen, v,
                                    "expected a provider name [A-Za-z0-9]", s);
    case CHK_REQUESTERS: {
        struct hs_requesters *rs = malloc(sizeof(*rs));
        enum hs_err rc;

        if (!rs)
            return HS_ERR_NOMEM;
        rc = hs_requesters_parse(s, rs, err, errlen);
        free(rs);
        return rc;
    }
    case CHK_KEYS: {
        struct hs_keyring *kr = NULL;
        enum hs_err rc = hs_keyring_new(s, &kr, err, errlen);

        hs_keyring_free(kr);
        return rc == HS_OK ? HS_OK : HS_ERR_CONFIG;
    }
    }
    return HS_OK;
}

enum hs_err hs_config_load(struct hs_config *cfg, unsigned need, char *err,
                           size_t errlen)
{
    struct hs_config *tmp = calloc(1, sizeof(*tmp));
    enum hs_err rc = HS_OK;

    if (!tmp)
        return HS_ERR_NOMEM;
    /* Fields first (HS_INSECURE_HTTP must be known before URLs are
     * checked), then the checks that depend on other fields. */
    for (size_t i = 0; i < NVARS && rc == HS_OK; i++)
        rc = load_var(tmp, &vars[i], need, err, errlen);
    for (size_t i = 0; i < NVARS && rc == HS_OK; i++)
        rc = check_var(tmp, &vars[i], err, errlen);
    if (rc == HS_OK)
        *cfg = *tmp;
    hs_wipe(tmp, sizeof(*tmp));
    free(tmp);
    return rc;
}

const char *hs_config_topic(const struct hs_config *cfg, const char *base,
                            char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s%s", cfg->topic_prefix, base);

    if (n < 0 || (size_t)n >= cap)
        return NULL;
    return buf;
}

void hs_config_print_help(FILE *out)
{
    fprintf(out, "Environment:\n");
    for (size_t i = 0; i < NVARS; i++)
        fprintf(out, "  %-20s %-16s %s\n", vars[i].name,
                vars[i].def && *vars[i].def ? vars[i].def : "-",
                vars[i].help);
}
