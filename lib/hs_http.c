/*
 * hs_http: outbound HTTP over libcurl's easy API (contract in hs_http.h).
 * One easy handle per request: provider calls are rare next to the cost of
 * a TLS handshake, and a fresh handle shares no state between threads.
 */
#include "hs_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_crypto.h"

#define DEFAULT_CONNECT_MS 5000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BODY (1024 * 1024)

struct sink {
    char *buf;
    size_t len, cap, max;
    int too_big;
};

enum hs_err hs_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK
               ? HS_OK
               : HS_ERR_INTERNAL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct sink *s = userp;
    size_t n = size * nmemb;

    if (s->len + n > s->max) {
        s->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *nb;

        while (cap < s->len + n + 1)
            cap *= 2;
        nb = malloc(cap);
        if (!nb)
            return 0;
        if (s->buf) {
            memcpy(nb, s->buf, s->len);
            hs_wipe(s->buf, s->cap);
            free(s->buf);
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static enum hs_err map_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_OK:
        return HS_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return HS_ERR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return HS_ERR_TRANSIENT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return HS_ERR_CRYPTO;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return HS_ERR_INVALID;
    case CURLE_FILESIZE_EXCEEDED:
        return HS_ERR_TOOBIG;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR: /* the sink could not grow (too_big is apart) */
        return HS_ERR_NOMEM;
    default:
        return HS_ERR_TRANSIENT;
    }
}

static int scheme_allowed(const char *url, int allow_http)
{
    if (strncmp(url, "https://", 8) == 0)
        return 1;
    return allow_http && strncmp(url, "http://", 7) == 0;
}

/* A header value must not end the header early (CR, LF) or carry other
 * control bytes: no request smuggling through a caller's string. */
static int header_value_ok(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
            return 0;
    return 1;
}

/* Appends "<name>: <value>" to *hdrs. The line is built on the heap and
 * wiped, since a value may be a secret (Authorization). */
static enum hs_err add_header(struct curl_slist **hdrs, const char *name,
                              const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *h;
    struct curl_slist *nh;
    int w;

    if (!header_value_ok(value))
        return HS_ERR_INVALID;
    h = malloc(n);
    if (!h)
        return HS_ERR_NOMEM;
    w = snprintf(h, n, "%s: %s", name, value);
    nh = (w > 0 && (size_t)w < n) ? curl_slist_append(*hdrs, h) : NULL;
    hs_wipe(h, n);
    free(h);
    if (!nh)
        return HS_ERR_NOMEM;
    *hdrs = nh;
    return HS_OK;
}

/* The options that make a request safe; any failure here (an old libcurl
 * without CURLOPT_PROTOCOLS_STR, say) refuses the request rather than
 * sending it with weaker settings. */
static enum hs_err set_safety(CURL *c, const struct hs_http_request *req,
                              struct sink *s)
{
    const char *protos = req->allow_http ? "http,https" : "https";
    long connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                                  : DEFAULT_CONNECT_MS;
    long total_ms = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    CURLcode bad = CURLE_OK;

    bad |= curl_easy_setopt(c, CURLOPT_URL, req->url);
    bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
    bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms);
    /* A Content-Length over the cap fails before any byte of body. */
    bad |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                            (curl_off_t)s->max);
    bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "handshake/1");
    return bad == CURLE_OK ? HS_OK : HS_ERR_INTERNAL;
}

/* Method, body and credentials. */
static enum hs_err set_request(CURL *c, const struct hs_http_request *req)
{
    CURLcode bad = CURLE_OK;
    const char *m = req->method ? req->method : "GET";

    if (strcmp(m, "POST") == 0) {
        bad |= curl_easy_setopt(c, CURLOPT_POST, 1L);
        bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                                req->body ? req->body : "");
        bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t)(req->body ? req->body_len : 0));
    } else if (strcmp(m, "DELETE") == 0) {
        bad |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else if (strcmp(m, "GET") != 0) {
        return HS_ERR_INVALID;
    }
    if (req->basic_user) {
        bad |= curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        bad |= curl_easy_setopt(c, CURLOPT_USERNAME, req->basic_user);
        bad |= curl_easy_setopt(c, CURLOPT_PASSWORD,
                                req->basic_pass ? req->basic_pass : "");
    }
    return bad == CURLE_OK ? HS_OK : HS_ERR_INTERNAL;
}

static enum hs_err build_headers(const struct hs_http_request *req,
                                 struct curl_slist **out)
{
    struct curl_slist *hdrs = NULL, *nh;
    enum hs_err rc = HS_OK;

    if (req->content_type)
        rc = add_header(&hdrs, "Content-Type", req->content_type);
    if (rc == HS_OK && req->accept)
        rc = add_header(&hdrs, "Accept", req->accept);
    if (rc == HS_OK && req->bearer) {
        char *v;
        size_t n = strlen(req->bearer) + 8;

        v = malloc(n);
        if (!v) {
            rc = HS_ERR_NOMEM;
        } else {
            int w = snprintf(v, n, "Bearer %s", req->bearer);

            rc = (w > 0 && (size_t)w < n)
                     ? add_header(&hdrs, "Authorization", v)
                     : HS_ERR_INTERNAL;
            hs_wipe(v, n);
            free(v);
        }
    }
    for (size_t i = 0; rc == HS_OK && req->headers && req->headers[i]; i++) {
        if (!header_value_ok(req->headers[i]) ||
            !strchr(req->headers[i], ':')) {
            rc = HS_ERR_INVALID;
        } else {
            nh = curl_slist_append(hdrs, req->headers[i]);
            if (nh)
                hdrs = nh;
            else
                rc = HS_ERR_NOMEM;
        }
    }
    if (rc == HS_OK) {
        /* Expect: 100-continue would add a round trip to every POST. */
        nh = curl_slist_append(hdrs, "Expect:");
        if (nh)
            hdrs = nh;
        else
            rc = HS_ERR_NOMEM;
    }
    if (rc != HS_OK) {
        curl_slist_free_all(hdrs);
        return rc;
    }
    *out = hdrs;
    return HS_OK;
}

enum hs_err hs_http_do(const struct hs_http_request *req,
                       struct hs_http_response *res)
{
    CURL *c = NULL;
    struct curl_slist *hdrs = NULL;
    struct sink s = {0};
    char *ctype = NULL;
    long status = 0;
    CURLcode cc;
    enum hs_err rc;

    memset(res, 0, sizeof(*res));
    /* Checked here as well as by CURLOPT_PROTOCOLS_STR: a refused scheme
     * never reaches libcurl, not even its URL parser. */
    if (!req->url || !scheme_allowed(req->url, req->allow_http))
        return HS_ERR_INVALID;
    rc = build_headers(req, &hdrs);
    if (rc != HS_OK)
        return rc;
    c = curl_easy_init();
    if (!c) {
        rc = HS_ERR_NOMEM;
        goto out;
    }
    s.max = req->max_body ? req->max_body : DEFAULT_MAX_BODY;
    rc = set_safety(c, req, &s);
    if (rc == HS_OK)
        rc = set_request(c, req);
    if (rc == HS_OK &&
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK)
        rc = HS_ERR_INTERNAL;
    if (rc != HS_OK)
        goto out;
    cc = curl_easy_perform(c);
    rc = s.too_big ? HS_ERR_TOOBIG : map_curl(cc);
    if (rc != HS_OK)
        goto out;
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype) != CURLE_OK) {
        rc = HS_ERR_INTERNAL;
        goto out;
    }
    /* A longer Content-Type is cut: its start, the media type, is what
     * callers compare. */
    if (ctype)
        snprintf(res->content_type, sizeof(res->content_type), "%.*s",
                 (int)sizeof(res->content_type) - 1, ctype);
    if (!s.buf) {
        s.buf = calloc(1, 1);
        if (!s.buf) {
            rc = HS_ERR_NOMEM;
            goto out;
        }
    }
    res->status = status;
    res->body = s.buf;
    res->len = s.len;
    s.buf = NULL;
out:
    if (s.buf) {
        hs_wipe(s.buf, s.cap);
        free(s.buf);
    }
    if (rc != HS_OK)
        memset(res, 0, sizeof(*res));
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}

void hs_http_response_cleanup(struct hs_http_response *res)
{
    if (res->body) {
        hs_wipe(res->body, res->len);
        free(res->body);
    }
    memset(res, 0, sizeof(*res));
}

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

enum hs_err hs_http_urlencode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0, need = 1;

    /* Measure first: out is written only when everything fits. */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        need += (unreserved(*p) || *p == ' ') ? 1 : 3;
    if (need > cap)
        return HS_ERR_TOOBIG;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || *p == ' ') {
            if (j + 1 >= cap)
                return HS_ERR_TOOBIG;
            out[j++] = *p == ' ' ? '+' : (char)*p;
        } else {
            if (j + 3 >= cap)
                return HS_ERR_TOOBIG;
            out[j++] = '%';
            out[j++] = hex[*p >> 4];
            out[j++] = hex[*p & 15];
        }
    }
    if (j >= cap)
        return HS_ERR_TOOBIG;
    out[j] = '\0';
    return HS_OK;
}

enum hs_err hs_http_form_add(char *buf, size_t cap, const char *name,
                             const char *value)
{
    size_t len = strlen(buf);
    size_t start = len;
    enum hs_err rc;

    if (len > 0) {
        if (len + 1 >= cap)
            return HS_ERR_TOOBIG;
        buf[len++] = '&';
    }
    rc = hs_http_urlencode(name, buf + len, cap - len);
    if (rc == HS_OK) {
        len += strlen(buf + len);
        if (len + 1 >= cap) {
            rc = HS_ERR_TOOBIG;
        } else {
            buf[len++] = '=';
            rc = hs_http_urlencode(value, buf + len, cap - len);
        }
    }
    if (rc != HS_OK)
        buf[start] = '\0'; /* buf unchanged on failure */
    return rc;
}
