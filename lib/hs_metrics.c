/* hs_metrics: registry and Prometheus text exposition (hs_metrics.h). */
#include "hs_metrics.h"

#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hs_log.h"

#define FAMILIES_MAX 64
#define LABELS_MAX 160

/* Latency buckets, seconds. */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1,    2.5,   5,
                                 10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct family {
    char name[64];
    enum hs_metric_type type;
    char help[160];
};

struct series {
    int family;
    char labels[LABELS_MAX];
    double value;            /* counter, gauge; histogram: sum */
    unsigned long long count; /* histogram */
    unsigned long long le[NBUCKETS];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct family families[FAMILIES_MAX];
static int nfamilies;
static struct series *series;
static size_t nseries;

void hs_metrics_family(const char *name, enum hs_metric_type type,
                       const char *help)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nfamilies; i++)
        if (strcmp(families[i].name, name) == 0)
            goto out;
    if (nfamilies < FAMILIES_MAX) {
        snprintf(families[nfamilies].name, sizeof(families[0].name), "%s",
                 name);
        snprintf(families[nfamilies].help, sizeof(families[0].help), "%s",
                 help);
        families[nfamilies++].type = type;
    }
out:
    pthread_mutex_unlock(&lock);
}

const char *hs_metrics_labels(char *buf, size_t cap, const char *k1,
                              const char *v1, const char *k2,
                              const char *v2)
{
    const char *k[2] = {k1, k2}, *v[2] = {v1, v2};
    size_t n = 0;

    buf[0] = '\0';
    for (int i = 0; i < 2 && k[i]; i++) {
        const char *s = v[i] ? v[i] : "";
        int w = snprintf(buf + n, cap - n, "%s%s=\"", i ? "," : "", k[i]);

        if (w < 0 || (size_t)w >= cap - n)
            goto too_long;
        n += (size_t)w;
        for (; *s; s++) {
            /* The format escapes backslash, quote and newline. */
            const char *e = *s == '\\' ? "\\\\" : *s == '"' ? "\\\""
                            : *s == '\n' ? "\\n" : NULL;
            size_t len = e ? 2 : 1;

            if (n + len + 2 > cap)
                goto too_long;
            memcpy(buf + n, e ? e : s, len);
            n += len;
        }
        buf[n++] = '"';
        buf[n] = '\0';
    }
    return buf;
too_long:
    buf[0] = '\0';
    return buf;
}

/* The series of (name, labels), made when absent; NULL when the family is
 * unknown or the cap is reached. Called with the lock held. */
static struct series *find(const char *name, const char *labels,
                           enum hs_metric_type type)
{
    int f = -1;

    for (int i = 0; i < nfamilies; i++)
        if (strcmp(families[i].name, name) == 0)
            f = i;
    if (f < 0 || families[f].type != type || strlen(labels) >= LABELS_MAX)
        return NULL;
    for (size_t i = 0; i < nseries; i++)
        if (series[i].family == f && strcmp(series[i].labels, labels) == 0)
            return &series[i];
    if (nseries == HS_METRICS_SERIES_MAX)
        return NULL;
    if (!series) {
        series = calloc(HS_METRICS_SERIES_MAX, sizeof(*series));
        if (!series)
            return NULL;
    }
    series[nseries].family = f;
    memcpy(series[nseries].labels, labels, strlen(labels) + 1);
    return &series[nseries++];
}

void hs_metrics_add(const char *name, const char *labels, double v)
{
    struct series *s;

    pthread_mutex_lock(&lock);
    if ((s = find(name, labels, HS_COUNTER)))
        s->value += v;
    pthread_mutex_unlock(&lock);
}

void hs_metrics_set(const char *name, const char *labels, double v)
{
    struct series *s;

    pthread_mutex_lock(&lock);
    if ((s = find(name, labels, HS_GAUGE)))
        s->value = v;
    pthread_mutex_unlock(&lock);
}

void hs_metrics_observe(const char *name, const char *labels, double v)
{
    struct series *s;

    pthread_mutex_lock(&lock);
    if ((s = find(name, labels, HS_HISTOGRAM))) {
        s->value += v;
        s->count++;
        for (size_t i = 0; i < NBUCKETS; i++)
            if (v <= buckets[i])
                s->le[i]++;
    }
    pthread_mutex_unlock(&lock);
}

struct out {
    char *buf;
    size_t len, cap;
    int failed;
};

static void put(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (o->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        w = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (w < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)w < o->cap - o->len) {
            o->len += (size_t)w;
            return;
        }
        char *nb = realloc(o->buf, o->cap * 2 + (size_t)w);
        if (!nb) {
            o->failed = 1;
            return;
        }
        o->buf = nb;
        o->cap = o->cap * 2 + (size_t)w;
    }
}

/* `name{labels,extra}` or `name{extra}` or `name`. */
static void put_name(struct out *o, const char *name, const char *suffix,
                     const char *labels, const char *extra)
{
    put(o, "%s%s", name, suffix);
    if (labels[0] || extra)
        put(o, "{%s%s%s}", labels, labels[0] && extra ? "," : "",
            extra ? extra : "");
}

char *hs_metrics_render(void)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    struct out o = {malloc(4096), 0, 4096, 0};

    if (!o.buf)
        return NULL;
    o.buf[0] = '\0';
    pthread_mutex_lock(&lock);
    for (int f = 0; f < nfamilies; f++) {
        const struct family *fam = &families[f];

        put(&o, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help,
            fam->name, types[fam->type]);
        for (size_t i = 0; i < nseries; i++) {
            const struct series *s = &series[i];
            char le[32];

            if (s->family != f)
                continue;
            if (fam->type != HS_HISTOGRAM) {
                put_name(&o, fam->name, "", s->labels, NULL);
                put(&o, " %.17g\n", s->value);
                continue;
            }
            for (size_t b = 0; b < NBUCKETS; b++) {
                snprintf(le, sizeof(le), "le=\"%g\"", buckets[b]);
                put_name(&o, fam->name, "_bucket", s->labels, le);
                put(&o, " %llu\n", s->le[b]);
            }
            put_name(&o, fam->name, "_bucket", s->labels, "le=\"+Inf\"");
            put(&o, " %llu\n", s->count);
            put_name(&o, fam->name, "_sum", s->labels, NULL);
            put(&o, " %.17g\n", s->value);
            put_name(&o, fam->name, "_count", s->labels, NULL);
            put(&o, " %llu\n", s->count);
        }
    }
    pthread_mutex_unlock(&lock);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}

/* ---- the workers' HTTP port ------------------------------------------ */

struct hs_metrics_server {
    struct MHD_Daemon *d;
};

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn,
                             const char *url, const char *method,
                             const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    struct MHD_Response *resp;
    char *text = NULL;
    unsigned status = MHD_HTTP_OK;
    enum MHD_Result ret;

    (void)cls, (void)version, (void)upload, (void)upload_size;
    if (!*con_cls) { /* answer on the second call (keep-alive) */
        *con_cls = conn;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    else if (strcmp(url, "/metrics") == 0)
        text = hs_metrics_render();
    else if (strcmp(url, "/healthz") == 0)
        text = strdup("ok\n");
    else
        status = MHD_HTTP_NOT_FOUND;
    if (status == MHD_HTTP_OK && !text)
        return MHD_NO;
    resp = text ? MHD_create_response_from_buffer(strlen(text), text,
                                                  MHD_RESPMEM_MUST_FREE)
                : MHD_create_response_from_buffer(0, NULL,
                                                  MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            "text/plain; version=0.0.4; charset=utf-8");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int hs_metrics_serve(const char *listen, struct hs_metrics_server **out)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char host[128];
    const char *colon = strrchr(listen, ':');
    struct hs_metrics_server *s;

    *out = NULL;
    if (!*listen)
        return 0;
    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    s = calloc(1, sizeof(*s));
    if (s)
        s->d = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
            0, NULL, NULL, serve, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s || !s->d) {
        free(s);
        return -1;
    }
    {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);

        hs_log(HS_LOG_INFO, "metrics.listening",
               HS_KV_INT("port", di ? di->port : 0));
    }
    *out = s;
    return 0;
}

void hs_metrics_server_stop(struct hs_metrics_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}
