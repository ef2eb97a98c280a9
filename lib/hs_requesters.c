/*
 * hs_requesters: the loopback allow list (contract in hs_requesters.h).
 * Strict by construction: each part of a redirect is matched against the
 * few characters it may hold, so nothing a parser elsewhere could read
 * differently (a backslash, an '@', a '%', a second '//') gets through.
 */
#include "hs_requesters.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static enum hs_err fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum hs_err fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return HS_ERR_CONFIG;
}

static int in_set(char c, const char *set)
{
    return c && strchr(set, c) != NULL;
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

static int all_in(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!in_set(s[i], set))
            return 0;
    return 1;
}

static int name_valid(const char *s, size_t n)
{
    return n >= 1 && n <= 31 && all_in(s, n, ALNUM "_-");
}

/* A decimal 1..65535: no sign, no leading zero, at most 5 digits. */
static int port_parse(const char *s, size_t n, int *out)
{
    long v = 0;

    if (n == 0 || n > 5 || s[0] == '0' || !all_in(s, n, "0123456789"))
        return 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    if (v > 65535)
        return 0;
    *out = (int)v;
    return 1;
}

/* "" or "/..." of [A-Za-z0-9._~/-], no "//" and no "..". */
static int path_valid(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    if (s[0] != '/' || !all_in(s, n, ALNUM "._~/-"))
        return 0;
    for (size_t i = 0; i + 1 < n; i++)
        if ((s[i] == '/' && s[i + 1] == '/') ||
            (s[i] == '.' && s[i + 1] == '.'))
            return 0;
    return 1;
}

/* Schemes a browser would fetch, run or hand to another site. */
static int scheme_refused(const char *s, size_t n)
{
    static const char *const refused[] = {
        "http", "https", "javascript", "data", "file", "vbscript", "about",
        "blob", "filesystem", "ftp", "ws", "wss", "mailto", "tel", "sms",
        "chrome", "view-source", "intent", "jar", NULL};

    for (size_t i = 0; refused[i]; i++)
        if (strlen(refused[i]) == n && strncasecmp(s, refused[i], n) == 0)
            return 1;
    return 0;
}

/* Parses one "name=redirect" entry (len n) into *rq. */
static enum hs_err parse_entry(const char *e, size_t n, size_t idx,
                               struct hs_requester *rq, char *err,
                               size_t errlen)
{
    const char *eq = memchr(e, '=', n), *u, *end = e + n, *colon, *p;
    size_t nl, sl;

    memset(rq, 0, sizeof(*rq));
    if (!eq || !name_valid(e, (size_t)(eq - e)))
        return fail(err, errlen, "HS_REQUESTERS: entry %zu: expected "
                    "NAME=REDIRECT with NAME 1 to 31 of [A-Za-z0-9_-]", idx);
    nl = (size_t)(eq - e);
    memcpy(rq->name, e, nl);
    u = eq + 1;
    colon = memchr(u, ':', (size_t)(end - u));
    sl = colon ? (size_t)(colon - u) : 0;
    if (!colon || sl == 0 || !in_set(u[0], ALNUM) ||
        !all_in(u, sl, ALNUM "+.-") || (u[0] >= '0' && u[0] <= '9'))
        return fail(err, errlen, "HS_REQUESTERS: \"%s\": the redirect must "
                    "start with a scheme (http: or a private-use scheme)",
                    rq->name);
    if (sl == 4 && strncasecmp(u, "http", 4) == 0) {
        static const char *const hosts[] = {"127.0.0.1", "[::1]",
                                            "localhost"};
        const char *h = colon + 1, *hend;
        size_t i;

        if (end - h < 2 || strncmp(h, "//", 2) != 0)
            goto bad_loopback;
        h += 2;
        for (i = 0; i < 3; i++)
            if ((size_t)(end - h) >= strlen(hosts[i]) &&
                strncmp(h, hosts[i], strlen(hosts[i])) == 0)
                break;
        if (i == 3)
            goto bad_loopback;
        hend = h + strlen(hosts[i]);
        p = hend;
        if (p < end && *p == ':') {
            const char *ps = ++p;

            while (p < end && *p != '/')
                p++;
            if (p - ps == 1 && *ps == '*')
                rq->port = HS_REQUESTER_PORT_ANY;
            else if (!port_parse(ps, (size_t)(p - ps), &rq->port))
                return fail(err, errlen, "HS_REQUESTERS: \"%s\": the port "
                            "must be 1 to 65535 or *", rq->name);
        }
        if (p < end && *p != '/')
            goto bad_loopback; /* 127.0.0.1.evil, 127.0.0.1@evil */
        snprintf(rq->prefix, sizeof(rq->prefix), "http://%s", hosts[i]);
    } else {
        const char *a;

        if (scheme_refused(u, sl))
            return fail(err, errlen, "HS_REQUESTERS: \"%s\": the scheme "
                        "%.*s: is not allowed (http only on 127.0.0.1, "
                        "[::1] or localhost; otherwise a private-use "
                        "scheme)", rq->name, (int)(sl > 20 ? 20 : sl), u);
        p = colon + 1;
        if (end - p >= 2 && strncmp(p, "//", 2) == 0) {
            a = p += 2;
            while (p < end && *p != '/')
                p++;
            if (p == a || !all_in(a, (size_t)(p - a), ALNUM "._-"))
                return fail(err, errlen, "HS_REQUESTERS: \"%s\": the "
                            "authority of a private-use redirect is 1 or "
                            "more of [A-Za-z0-9._-] (no userinfo, no port)",
                            rq->name);
        }
        if ((size_t)(p - u) >= sizeof(rq->prefix))
            goto too_long;
        memcpy(rq->prefix, u, (size_t)(p - u));
        for (size_t i = 0; i < sl; i++) /* schemes are case-insensitive */
            if (rq->prefix[i] >= 'A' && rq->prefix[i] <= 'Z')
                rq->prefix[i] = (char)(rq->prefix[i] + 32);
    }
    if (!path_valid(p, (size_t)(end - p)))
        return fail(err, errlen, "HS_REQUESTERS: \"%s\": the path must be "
                    "empty or /... of [A-Za-z0-9._~/-], without // or .. "
                    "(no query, fragment or escapes)", rq->name);
    if ((size_t)(end - p) >= sizeof(rq->path))
        goto too_long;
    memcpy(rq->path, p, (size_t)(end - p));
    if (!rq->path[0] && strncmp(rq->prefix, "http://", 7) == 0)
        rq->path[0] = '/';
    return HS_OK;
bad_loopback:
    return fail(err, errlen, "HS_REQUESTERS: \"%s\": an http redirect must "
                "be http://127.0.0.1, http://[::1] or http://localhost "
                "with an optional :port or :* and a path", rq->name);
too_long:
    return fail(err, errlen, "HS_REQUESTERS: \"%s\": the redirect is too "
                "long", rq->name);
}

enum hs_err hs_requesters_parse(const char *spec, struct hs_requesters *out,
                                char *err, size_t errlen)
{
    struct hs_requesters *tmp = calloc(1, sizeof(*tmp));
    const char *e = spec;
    enum hs_err rc = HS_OK;

    if (!tmp)
        return HS_ERR_NOMEM;
    while (*spec && rc == HS_OK) {
        const char *comma = strchr(e, ',');
        size_t n = comma ? (size_t)(comma - e) : strlen(e);

        if (tmp->n == HS_REQUESTERS_MAX)
            rc = fail(err, errlen, "HS_REQUESTERS: more than %d entries",
                      HS_REQUESTERS_MAX);
        else
            rc = parse_entry(e, n, tmp->n + 1, &tmp->v[tmp->n], err, errlen);
        if (rc == HS_OK && hs_requesters_find(tmp, tmp->v[tmp->n].name))
            rc = fail(err, errlen, "HS_REQUESTERS: \"%s\" is listed twice",
                      tmp->v[tmp->n].name);
        if (rc == HS_OK)
            tmp->n++;
        if (!comma)
            break;
        e = comma + 1;
    }
    if (rc == HS_OK)
        *out = *tmp;
    free(tmp);
    return rc;
}

const struct hs_requester *hs_requesters_find(const struct hs_requesters *rs,
                                              const char *name)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].name, name) == 0)
            return &rs->v[i];
    return NULL;
}

enum hs_err hs_requester_port(const struct hs_requester *rq, const char *port,
                              int *out)
{
    int v;

    if (rq->port != HS_REQUESTER_PORT_ANY) {
        if (port)
            return HS_ERR_INVALID;
        *out = rq->port;
        return HS_OK;
    }
    if (!port || !port_parse(port, strlen(port), &v))
        return HS_ERR_INVALID;
    *out = v;
    return HS_OK;
}

/* ":port", or "" for port 0; -1 for a port outside 0..65535. */
static int write_port(int port, char *buf, size_t cap)
{
    int n = port > 0 ? snprintf(buf, cap, ":%d", port)
                     : snprintf(buf, cap, "%s", "");

    if (port < 0 || port > 65535)
        return -1;
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

enum hs_err hs_requester_redirect(const struct hs_requester *rq, int port,
                                  const char *code, char *out, size_t cap)
{
    char pbuf[8];
    int n;

    if (!*code || !all_in(code, strlen(code), ALNUM "_-"))
        return HS_ERR_INVALID;
    if (write_port(port, pbuf, sizeof(pbuf)) != 0)
        return HS_ERR_INVALID;
    n = snprintf(out, cap, "%s%s%s?code=%s", rq->prefix, pbuf, rq->path,
                 code);
    return n < 0 || (size_t)n >= cap ? HS_ERR_TOOBIG : HS_OK;
}

enum hs_err hs_requester_origin(const struct hs_requester *rq, int port,
                                char *out, size_t cap)
{
    char pbuf[8];
    int n;

    if (write_port(port, pbuf, sizeof(pbuf)) != 0)
        return HS_ERR_INVALID;
    if (strncmp(rq->prefix, "http://", 7) == 0)
        n = snprintf(out, cap, "%s%s", rq->prefix, pbuf);
    else
        n = snprintf(out, cap, "%.*s:", (int)strcspn(rq->prefix, ":"),
                     rq->prefix);
    return n < 0 || (size_t)n >= cap ? HS_ERR_TOOBIG : HS_OK;
}
