/*
 * ingress_http: libmicrohttpd glue for hs-ingress: the daemon, the
 * request lifecycle, routing, response helpers and security headers.
 *
 * libmicrohttpd 0.9.75 closes keep-alive connections when a handler queues
 * its response on the first call for a request, so the first call only
 * allocates the request context; responses are queued on a later call.
 */
#include "ingress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "hs_log.h"

static const char csp[] =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

static void add_common(struct MHD_Response *resp, struct ingress_req *r)
{
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    for (int i = 0; i < 2; i++)
        if (r->set_cookie[i])
            MHD_add_response_header(resp, "Set-Cookie", r->set_cookie[i]);
}

static void add_page_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *resp)
{
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

void ingress_req_set_cookie(struct ingress_req *r, const char *value)
{
    for (int i = 0; i < 2; i++) {
        if (!r->set_cookie[i]) {
            snprintf(r->cookie_buf[i], sizeof(r->cookie_buf[i]), "%s", value);
            r->set_cookie[i] = r->cookie_buf[i];
            return;
        }
    }
}

/* Queues body (stolen) as JSON, with one optional extra header. */
static enum MHD_Result respond_json(struct MHD_Connection *conn,
                                    struct ingress_req *r, unsigned status,
                                    json_t *body, const char *hname,
                                    const char *hvalue)
{
    char *text = json_dumps(body, JSON_COMPACT);
    struct MHD_Response *resp;

    json_decref(body);
    if (!text)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(strlen(text), text,
                                           MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (hname)
        MHD_add_response_header(resp, hname, hvalue);
    add_common(resp, r);
    return queue(conn, status, resp);
}

enum MHD_Result ingress_respond_json(struct MHD_Connection *conn,
                                     struct ingress_req *r, unsigned status,
                                     json_t *body)
{
    return respond_json(conn, r, status, body, NULL, NULL);
}

enum MHD_Result ingress_respond_error(struct MHD_Connection *conn,
                                      struct ingress_req *r, unsigned status,
                                      const char *code, const char *message)
{
    json_t *o = json_pack("{s:s,s:s}", "error", code, "message", message);

    return respond_json(conn, r, status, o,
                        status == 401 ? "WWW-Authenticate" : NULL, "Bearer");
}

enum MHD_Result ingress_respond_page(struct MHD_Connection *conn,
                                     struct ingress_req *r, unsigned status,
                                     const char *title, const char *html,
                                     int refresh_s)
{
    static const char head[] =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\">%s"
        "<title>%s</title><style>body{font-family:system-ui,sans-serif;"
        "max-width:36em;margin:4em auto;padding:0 1em;line-height:1.5}"
        "code{font-size:1.3em;letter-spacing:.1em}button{font-size:1em;"
        "padding:.5em 1.5em}</style></head><body><h1>%s</h1>%s"
        "<p><small>handshake</small></p></body></html>";
    char refresh[64] = "";
    size_t cap = sizeof(head) + 2 * strlen(title) + strlen(html) + 64;
    char *page = malloc(cap);
    struct MHD_Response *resp;

    if (!page)
        return MHD_NO;
    if (refresh_s > 0)
        snprintf(refresh, sizeof(refresh),
                 "<meta http-equiv=\"refresh\" content=\"%d\">", refresh_s);
    snprintf(page, cap, head, refresh, title, title, html);
    resp = MHD_create_response_from_buffer(strlen(page), page,
                                           MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(page);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    add_common(resp, r);
    add_page_headers(resp);
    return queue(conn, status, resp);
}

enum MHD_Result ingress_respond_redirect(struct MHD_Connection *conn,
                                         struct ingress_req *r,
                                         const char *location)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Location", location);
    add_common(resp, r);
    add_page_headers(resp);
    return queue(conn, MHD_HTTP_FOUND, resp);
}

enum MHD_Result ingress_respond_empty(struct MHD_Connection *conn,
                                      struct ingress_req *r, unsigned status)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

    if (!resp)
        return MHD_NO;
    add_common(resp, r);
    return queue(conn, status, resp);
}

void ingress_html_escape(const char *s, char *out, size_t cap)
{
    size_t j = 0;

    if (cap == 0)
        return;
    for (; *s; s++) {
        const char *rep = NULL;
        size_t n;

        switch (*s) {
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '&': rep = "&amp;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        n = rep ? strlen(rep) : 1;
        if (j + n >= cap)
            break;
        if (rep)
            memcpy(out + j, rep, n);
        else
            out[j] = *s;
        j += n;
    }
    out[j] = '\0';
}

struct qcheck {
    char keys[16][32];
    int n;
    int bad;
};

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value)
{
    struct qcheck *q = cls;

    (void)kind;
    if (strlen(key) >= sizeof(q->keys[0]) || q->n == 16) {
        q->bad = 1;
        return MHD_NO;
    }
    for (int i = 0; i < q->n; i++) {
        if (strcmp(q->keys[i], key) == 0) {
            q->bad = 1; /* duplicate */
            return MHD_NO;
        }
    }
    snprintf(q->keys[q->n++], sizeof(q->keys[0]), "%s", key);
    if (value) {
        if (strlen(value) > INGRESS_PARAM_MAX) {
            q->bad = 1;
            return MHD_NO;
        }
        for (const char *p = value; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                q->bad = 1;
                return MHD_NO;
            }
        }
    }
    return MHD_YES;
}

int ingress_query_valid(struct MHD_Connection *conn)
{
    struct qcheck q;

    memset(&q, 0, sizeof(q));
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, check_arg, &q);
    return q.bad ? -1 : 0;
}

const char *ingress_cookie_name(const struct ingress *in, const char *base,
                                char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s", in->https ? "__Host-" : "", base);
    return buf;
}

enum hs_err ingress_bearer_user(struct ingress *in,
                                struct MHD_Connection *conn, char *user_id,
                                size_t cap)
{
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                   "Authorization");
    char hash[44];
    const char *params[1] = {hash};
    struct hs_pg *pg;
    PGresult *res = NULL;
    enum hs_err rc;

    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || strlen(auth) > 600)
        return HS_ERR_DENIED;
    hs_sha256_b64url(auth + 7, strlen(auth + 7), hash);
    rc = hs_pg_pool_get(in->pool, 2000, &pg);
    if (rc != HS_OK)
        return HS_ERR_TRANSIENT;
    rc = hs_pg_query(pg, "SELECT user_id FROM api_tokens WHERE token_hash=$1"
                         " AND revoked_at IS NULL", 1, params, &res);
    hs_pg_pool_put(in->pool, pg);
    if (rc != HS_OK)
        return HS_ERR_TRANSIENT;
    if (PQntuples(res) != 1 || strlen(PQgetvalue(res, 0, 0)) >= cap) {
        PQclear(res);
        return HS_ERR_DENIED;
    }
    snprintf(user_id, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return HS_OK;
}

/* ---- routing --------------------------------------------------------- */

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* Matches url against prefix + one [A-Za-z0-9]+ segment + suffix; copies
 * the segment (lowercased) into seg. */
static int match_seg(const char *url, const char *prefix, const char *suffix,
                     char *seg, size_t cap)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), n;
    const char *start;

    if (strncmp(url, prefix, pl) != 0)
        return 0;
    start = url + pl;
    n = strlen(start);
    if (n <= sl || strcmp(start + n - sl, suffix) != 0)
        return 0;
    n -= sl;
    if (!name_ok(start, n) || n >= cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        seg[i] = (char)((start[i] >= 'A' && start[i] <= 'Z') ? start[i] + 32
                                                              : start[i]);
    seg[n] = '\0';
    return 1;
}

static enum MHD_Result not_found(struct MHD_Connection *conn,
                                 struct ingress_req *r)
{
    r->route = "unknown";
    return ingress_respond_error(conn, r, MHD_HTTP_NOT_FOUND, "not_found",
                                 "There is no such route.");
}

static enum MHD_Result wrong_method(struct MHD_Connection *conn,
                                    struct ingress_req *r)
{
    return ingress_respond_error(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED,
                                 "method_not_allowed",
                                 "This route does not take that method.");
}

static enum MHD_Result dispatch(struct ingress *in,
                                struct MHD_Connection *conn,
                                struct ingress_req *r, const char *method,
                                const char *url)
{
    char seg[32];
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;

    if (match_seg(url, "/web/provider-auth/", "", seg, sizeof(seg)) ||
        match_seg(url, "/integration/", "/login", seg, sizeof(seg))) {
        r->route = "/web/provider-auth/{p}";
        if (!get && !post)
            return wrong_method(conn, r);
        return ingress_connect_start(in, conn, r, seg, post);
    }
    if (match_seg(url, "/no-auth/provider-token/", "", seg, sizeof(seg)) ||
        match_seg(url, "/integration/", "/callback", seg, sizeof(seg))) {
        r->route = "/no-auth/provider-token/{p}";
        if (!get)
            return wrong_method(conn, r);
        return ingress_callback(in, conn, r, seg);
    }
    if (strncmp(url, "/web/handshake/", 15) == 0) {
        r->route = "/web/handshake/{id}";
        if (!get)
            return wrong_method(conn, r);
        return ingress_status_page(in, conn, r, url + 15);
    }
    if (strncmp(url, "/api/", 5) == 0 || strcmp(url, "/healthz") == 0 ||
        strcmp(url, "/readyz") == 0)
        return ingress_api(in, conn, r, method, url);
    return not_found(conn, r);
}

static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *filename,
                                  const char *content_type,
                                  const char *transfer_encoding,
                                  const char *data, uint64_t off, size_t size)
{
    struct ingress_req *r = cls;

    (void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
    if (strcmp(key, "csrf") == 0) {
        if (off + size >= sizeof(r->csrf))
            return MHD_NO;
        memcpy(r->csrf + off, data, size);
        r->csrf[off + size] = '\0';
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct ingress *in = cls;
    struct ingress_req *r = *con_cls;

    (void)version;
    if (!r) {
        const char *ctype;

        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->start_ms = hs_now_ms();
        r->route = "unknown";
        if (hs_random_token(12, r->request_id, sizeof(r->request_id)) !=
            HS_OK) {
            free(r);
            return MHD_NO;
        }
        ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                            "Content-Type");
        if (strcmp(method, "POST") == 0 && ctype &&
            strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0)
            r->pp = MHD_create_post_processor(conn, 1024, post_field, r);
        *con_cls = r;
        return MHD_YES; /* respond on a later call (keep-alive, see top) */
    }
    if (*upload_size) {
        if (r->pp) {
            if (MHD_post_process(r->pp, upload, *upload_size) != MHD_YES)
                r->body_too_big = 1;
        } else if (!r->body_too_big) {
            if (r->body_len + *upload_size > INGRESS_BODY_MAX) {
                r->body_too_big = 1;
            } else {
                char *nb = realloc(r->body, r->body_len + *upload_size + 1);

                if (!nb)
                    return MHD_NO;
                r->body = nb;
                memcpy(r->body + r->body_len, upload, *upload_size);
                r->body_len += *upload_size;
                r->body[r->body_len] = '\0';
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->first_call_done++)
        return MHD_YES;
    if (r->body_too_big)
        return ingress_respond_error(conn, r, MHD_HTTP_CONTENT_TOO_LARGE,
                                     "too_large",
                                     "The request body is too large.");
    if (strlen(url) > 512)
        return ingress_respond_error(conn, r, MHD_HTTP_URI_TOO_LONG,
                                     "uri_too_long", "The path is too long.");
    return dispatch(in, conn, r, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct ingress_req *r = *con_cls;
    const union MHD_ConnectionInfo *ci;
    unsigned status = 0;

    (void)cls;
    if (!r)
        return;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
    if (ci)
        status = ci->http_status;
    hs_log(HS_LOG_INFO, "http.request", HS_KV_STR("route", r->route),
           HS_KV_INT("status", status),
           HS_KV_INT("ms", hs_now_ms() - r->start_ms),
           HS_KV_STR("request_id", r->request_id),
           HS_KV_INT("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    if (r->body) {
        hs_wipe(r->body, r->body_len);
        free(r->body);
    }
    hs_wipe(r, sizeof(*r));
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[256];

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    hs_log(HS_LOG_WARN, "http.daemon", HS_KV_STR("message", buf));
}

enum hs_err ingress_http_start(struct ingress *in, uint16_t *port, char *err,
                               size_t errlen)
{
    struct sockaddr_in sa4;
    struct sockaddr_in6 sa6;
    struct sockaddr *sa;
    char host[64];
    const char *colon = strrchr(in->cfg->listen, ':');
    const union MHD_DaemonInfo *di;
    long p;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

    if (!colon || (size_t)(colon - in->cfg->listen) >= sizeof(host)) {
        snprintf(err, errlen, "HS_LISTEN: expected host:port");
        return HS_ERR_CONFIG;
    }
    memcpy(host, in->cfg->listen, (size_t)(colon - in->cfg->listen));
    host[colon - in->cfg->listen] = '\0';
    p = strtol(colon + 1, NULL, 10);
    memset(&sa4, 0, sizeof(sa4));
    memset(&sa6, 0, sizeof(sa6));
    if (host[0] == '[') {
        host[strlen(host) - 1] = '\0';
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, host + 1, &sa6.sin6_addr) != 1) {
            snprintf(err, errlen, "HS_LISTEN: not an IPv6 address");
            return HS_ERR_CONFIG;
        }
        sa = (struct sockaddr *)&sa6;
        flags |= MHD_USE_IPv6;
    } else {
        sa4.sin_family = AF_INET;
        sa4.sin_port = htons((uint16_t)p);
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof(host), "127.0.0.1");
        if (inet_pton(AF_INET, host, &sa4.sin_addr) != 1) {
            snprintf(err, errlen, "HS_LISTEN: host must be an IP address");
            return HS_ERR_CONFIG;
        }
        sa = (struct sockaddr *)&sa4;
    }
    in->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, in,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)in->cfg->threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, in,
        MHD_OPTION_CONNECTION_TIMEOUT, 30U,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
        MHD_OPTION_CONNECTION_LIMIT, 20000U, MHD_OPTION_END);
    if (!in->daemon) {
        snprintf(err, errlen, "HS_LISTEN: cannot listen on %s",
                 in->cfg->listen);
        return HS_ERR_CONFIG;
    }
    di = MHD_get_daemon_info(in->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : (uint16_t)p;
    return HS_OK;
}

void ingress_http_stop(struct ingress *in)
{
    if (!in->daemon)
        return;
    MHD_quiesce_daemon(in->daemon);
    MHD_stop_daemon(in->daemon); /* waits for in-flight requests */
    in->daemon = NULL;
}
