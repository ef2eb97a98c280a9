/* hs_log: JSON-lines logging over jansson, serialised by one mutex. */
#include "hs_log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *svc_name = "hs";
static enum hs_log_level min_level = HS_LOG_INFO;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int hs_log_level_parse(const char *name, enum hs_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum hs_log_level)i;
            return 0;
        }
    }
    return -1;
}

void hs_log_init(const char *svc, enum hs_log_level min)
{
    svc_name = svc;
    min_level = min;
}

int hs_log_enabled(enum hs_log_level level)
{
    return level >= min_level;
}

int64_t hs_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hs__log(enum hs_log_level level, const char *event, ...)
{
    va_list ap;
    json_t *o = json_object();
    char *line, *more;
    size_t n;

    if (!o)
        return;
    json_object_set_new(o, "ts", json_integer(hs_now_ms()));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "svc", json_string(svc_name));
    json_object_set_new(o, "event", json_string(event));
    va_start(ap, event);
    for (;;) {
        struct hs_kv kv = va_arg(ap, struct hs_kv);

        if (kv.type == HS_KV_T_END)
            break;
        if (kv.type == HS_KV_T_INT)
            json_object_set_new(o, kv.key, json_integer(kv.i));
        else if (kv.s) {
            /* json_string() refuses invalid UTF-8: keep the line, mark it. */
            json_t *v = json_string(kv.s);

            json_object_set_new(o, kv.key, v ? v : json_string("[not utf-8]"));
        } else
            json_object_set_new(o, kv.key, json_null());
    }
    va_end(ap);
    line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line)
        return;
    n = strlen(line);
    more = realloc(line, n + 2);
    if (!more) {
        free(line);
        return;
    }
    line = more;
    line[n++] = '\n';
    /* One write a line: processes sharing the file (hs-dev's children)
     * never split each other's lines. */
    pthread_mutex_lock(&out_lock);
    fflush(stderr);
    for (size_t off = 0; off < n;) {
        ssize_t w = write(STDERR_FILENO, line + off, n - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    pthread_mutex_unlock(&out_lock);
    free(line);
}
