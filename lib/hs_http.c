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
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return HS_ERR_TRANSIENT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        return HS_ERR_CRYPTO;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return HS_ERR_INVALID;
    case CURLE_OUT_OF_MEMORY:
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

enum hs_err hs_http_do(const struct hs_http_request *req,
                       struct hs_http_response *res)
{
    CURL *c;
    struct curl_slist *hdrs = NULL;
    struct sink s = {0};
    char line[256];
    char *ctype = NULL;
    long status = 0;
    CURLcode cc;
    enum hs_err rc;
    const char *protos = req->allow_http ? "http,https" : "https";

    memset(res, 0, sizeof(*res));
    if (!req->url || !scheme_allowed(req->url, req->allow_http))
        return HS_ERR_INVALID;
    c = curl_easy_init();
    if (!c)
        return HS_ERR_NOMEM;
    s.max = req->max_body ? req->max_body : DEFAULT_MAX_BODY;
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms ? req->connect_timeout_ms
                                             : (long)DEFAULT_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms ? req->timeout_ms
                                     : (long)DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "handshake/1");
    if (req->method && strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
    } else if (req->method && strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    if (req->basic_user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, req->basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD,
                         req->basic_pass ? req->basic_pass : "");
    }
    rc = HS_ERR_NOMEM;
    if (req->content_type) {
        if (snprintf(line, sizeof(line), "Content-Type: %s",
                     req->content_type) >= (int)sizeof(line))
            goto out;
        hdrs = curl_slist_append(hdrs, line);
    }
    if (req->accept) {
        if (snprintf(line, sizeof(line), "Accept: %s", req->accept) >=
            (int)sizeof(line))
            goto out;
        hdrs = curl_slist_append(hdrs, line);
    }
    if (req->bearer) {
        /* The header holds a secret: built on the heap and wiped. */
        size_t n = strlen(req->bearer) + 32;
        char *h = malloc(n);
        struct curl_slist *nh;

        if (!h)
            goto out;
        snprintf(h, n, "Authorization: Bearer %s", req->bearer);
        nh = curl_slist_append(hdrs, h);
        hs_wipe(h, n);
        free(h);
        if (!nh)
            goto out;
        hdrs = nh;
    }
    /* Expect: 100-continue would add a round trip to every POST. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(c);
    if (s.too_big) {
        rc = HS_ERR_TOOBIG;
        goto out;
    }
    rc = map_curl(cc);
    if (rc != HS_OK)
        goto out;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
    res->status = status;
    if (ctype)
        snprintf(res->content_type, sizeof(res->content_type), "%s", ctype);
    if (!s.buf) {
        s.buf = calloc(1, 1);
        if (!s.buf) {
            rc = HS_ERR_NOMEM;
            goto out;
        }
    }
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
