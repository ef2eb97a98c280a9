/* ingress_wait: parked long polls (contract in ingress_wait.h). */
#include "ingress_wait.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "hs_log.h"
#include "hs_pg.h"

#define NBUCKETS 4096u
#define TICK_MS 20          /* deadline resolution */
#define RECONNECT_MS 1000

enum { W_IDLE = 0, W_ARMED, W_NOTIFIED, W_PARKED };

struct ingress_waits {
    pthread_mutex_t lock;
    struct ingress_waiter *buckets[NBUCKETS];
    size_t count, max;
    int closing;
    int epfd, evfd;
    char *pg_url;
    struct hs_pg *pg;
    int pg_fd;               /* registered in epfd, -1 when none */
    pthread_t thread;
};

/* epoll data for the two fds that are not client sockets. */
static char mark_pg, mark_stop;

static unsigned bucket_of(const char *key)
{
    unsigned h = 2166136261u; /* FNV-1a: keys are uniform hashes anyway */

    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % NBUCKETS;
}

static void link_w(struct ingress_waits *ws, struct ingress_waiter *w)
{
    unsigned b = bucket_of(w->key);

    w->prev = NULL;
    w->next = ws->buckets[b];
    if (w->next)
        w->next->prev = w;
    ws->buckets[b] = w;
    ws->count++;
}

static void unlink_w(struct ingress_waits *ws, struct ingress_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        ws->buckets[bucket_of(w->key)] = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    ws->count--;
}

/* Under the lock, on a parked waiter: unpark and resume. The request may
 * end (and w be freed) as soon as MHD_resume_connection returns. */
static void wake(struct ingress_waits *ws, struct ingress_waiter *w,
                 enum ingress_woke why)
{
    struct MHD_Connection *conn = w->conn;

    unlink_w(ws, w);
    epoll_ctl(ws->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->state = W_IDLE;
    w->woke = why;
    MHD_resume_connection(conn);
}

/* Under the lock: wakes every waiter of key (NULL: every waiter). */
static void wake_key(struct ingress_waits *ws, const char *key,
                     enum ingress_woke why)
{
    for (unsigned b = key ? bucket_of(key) : 0; b < NBUCKETS; b++) {
        struct ingress_waiter *w = ws->buckets[b], *next;

        for (; w; w = next) {
            next = w->next;
            if (key && strcmp(w->key, key) != 0)
                continue;
            if (w->state == W_PARKED)
                wake(ws, w, why);
            else if (w->state == W_ARMED)
                w->state = W_NOTIFIED;
        }
        if (key)
            break;
    }
}

static void on_notify(void *arg, const char *payload)
{
    struct ingress_waits *ws = arg;

    pthread_mutex_lock(&ws->lock);
    wake_key(ws, payload, INGRESS_WOKE_NOTIFY);
    pthread_mutex_unlock(&ws->lock);
}

static void wake_expired(struct ingress_waits *ws, int64_t now)
{
    pthread_mutex_lock(&ws->lock);
    for (unsigned b = 0; b < NBUCKETS && ws->count; b++) {
        struct ingress_waiter *w = ws->buckets[b], *next;

        for (; w; w = next) {
            next = w->next;
            if (w->state == W_PARKED && w->deadline_ms <= now)
                wake(ws, w, INGRESS_WOKE_DEADLINE);
        }
    }
    pthread_mutex_unlock(&ws->lock);
}

static void pg_drop(struct ingress_waits *ws)
{
    if (ws->pg_fd >= 0)
        epoll_ctl(ws->epfd, EPOLL_CTL_DEL, ws->pg_fd, NULL);
    ws->pg_fd = -1;
    hs_pg_free(ws->pg);
    ws->pg = NULL;
}

/* Connects and LISTENs; 0 on success. */
static int pg_connect(struct ingress_waits *ws, char *err, size_t errlen)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &mark_pg};
    char e[256];

    if (hs_pg_new(ws->pg_url, &ws->pg, err ? err : e,
                  err ? errlen : sizeof(e)) != HS_OK) {
        ws->pg = NULL;
        return -1;
    }
    ws->pg_fd = hs_pg_socket(ws->pg);
    if (hs_pg_listen(ws->pg, INGRESS_WAIT_CHANNEL) != HS_OK ||
        ws->pg_fd < 0 || epoll_ctl(ws->epfd, EPOLL_CTL_ADD, ws->pg_fd, &ev)) {
        if (err)
            snprintf(err, errlen, "HS_PG_URL: cannot LISTEN for long polls");
        ws->pg_fd = -1;
        hs_pg_free(ws->pg);
        ws->pg = NULL;
        return -1;
    }
    return 0;
}

static void *run(void *arg)
{
    struct ingress_waits *ws = arg;
    struct epoll_event evs[64];
    int64_t next_tick = 0, retry_at = 0;

    for (;;) {
        int n = epoll_wait(ws->epfd, evs, 64, TICK_MS), stop = 0, pg_ready = 0;
        int64_t now;

        /* Hang-ups first: their waiters are still parked (only this thread
         * unparks), so the pointers in this batch are valid until then. */
        for (int i = 0; i < n; i++) {
            struct ingress_waiter *w = evs[i].data.ptr;

            if (evs[i].data.ptr == &mark_stop) {
                stop = 1;
            } else if (evs[i].data.ptr == &mark_pg) {
                pg_ready = 1;
            } else {
                pthread_mutex_lock(&ws->lock);
                if (w->state == W_PARKED)
                    wake(ws, w, INGRESS_WOKE_HANGUP);
                pthread_mutex_unlock(&ws->lock);
            }
        }
        if (stop)
            break;
        if (pg_ready && ws->pg &&
            hs_pg_notifies(ws->pg, on_notify, ws) != HS_OK) {
            /* Notifications may be lost: every waiter reads again. */
            hs_log(HS_LOG_WARN, "ingress.listen_lost");
            pg_drop(ws);
            pthread_mutex_lock(&ws->lock);
            wake_key(ws, NULL, INGRESS_WOKE_NOTIFY);
            pthread_mutex_unlock(&ws->lock);
        }
        now = hs_now_ms();
        if (!ws->pg && now >= retry_at) {
            if (pg_connect(ws, NULL, 0) == 0) {
                hs_log(HS_LOG_INFO, "ingress.listen_restored");
                pthread_mutex_lock(&ws->lock);
                wake_key(ws, NULL, INGRESS_WOKE_NOTIFY);
                pthread_mutex_unlock(&ws->lock);
            } else {
                retry_at = now + RECONNECT_MS;
            }
        }
        if (now >= next_tick) {
            wake_expired(ws, now);
            next_tick = now + TICK_MS;
        }
    }
    return NULL;
}

enum hs_err ingress_waits_start(const char *pg_url, size_t max,
                                struct ingress_waits **out, char *err,
                                size_t errlen)
{
    struct ingress_waits *ws = calloc(1, sizeof(*ws));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &mark_stop};

    if (!ws || !(ws->pg_url = strdup(pg_url))) {
        free(ws);
        return HS_ERR_NOMEM;
    }
    ws->max = max;
    ws->pg_fd = -1;
    ws->epfd = epoll_create1(EPOLL_CLOEXEC);
    ws->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&ws->lock, NULL);
    if (ws->epfd < 0 || ws->evfd < 0 ||
        epoll_ctl(ws->epfd, EPOLL_CTL_ADD, ws->evfd, &ev) != 0) {
        snprintf(err, errlen, "long polls: cannot create an epoll set");
        goto fail;
    }
    if (pg_connect(ws, err, errlen) != 0)
        goto fail;
    if (pthread_create(&ws->thread, NULL, run, ws) != 0) {
        snprintf(err, errlen, "long polls: cannot start the thread");
        pg_drop(ws);
        goto fail;
    }
    *out = ws;
    return HS_OK;
fail:
    if (ws->epfd >= 0)
        close(ws->epfd);
    if (ws->evfd >= 0)
        close(ws->evfd);
    pthread_mutex_destroy(&ws->lock);
    free(ws->pg_url);
    free(ws);
    return HS_ERR_TRANSIENT;
}

void ingress_waits_stop(struct ingress_waits *ws)
{
    uint64_t one = 1;

    if (!ws || ws->closing)
        return;
    pthread_mutex_lock(&ws->lock);
    ws->closing = 1;
    pthread_mutex_unlock(&ws->lock);
    if (write(ws->evfd, &one, sizeof(one)) != sizeof(one))
        hs_log(HS_LOG_WARN, "ingress.wait_stop_signal_failed");
    pthread_join(ws->thread, NULL);
    /* The thread is gone, so this is the only unparker now. */
    pthread_mutex_lock(&ws->lock);
    for (unsigned b = 0; b < NBUCKETS; b++) {
        struct ingress_waiter *w = ws->buckets[b], *next;

        for (; w; w = next) {
            next = w->next;
            if (w->state == W_PARKED)
                wake(ws, w, INGRESS_WOKE_SHUTDOWN);
        }
    }
    pthread_mutex_unlock(&ws->lock);
    pg_drop(ws);
}

void ingress_waits_free(struct ingress_waits *ws)
{
    if (!ws)
        return;
    close(ws->epfd);
    close(ws->evfd);
    pthread_mutex_destroy(&ws->lock);
    free(ws->pg_url);
    free(ws);
}

enum hs_err ingress_wait_arm(struct ingress_waits *ws,
                             struct ingress_waiter *w, const char *key,
                             struct MHD_Connection *conn, int64_t deadline_ms)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    size_t n = strlen(key);
    enum hs_err rc = HS_OK;

    if (!ws)
        return HS_ERR_TRANSIENT; /* unit tests run without long polls */
    if (!ci || n >= sizeof(w->key))
        return HS_ERR_INVALID;
    memcpy(w->key, key, n + 1);
    w->conn = conn;
    w->fd = ci->connect_fd;
    w->deadline_ms = deadline_ms;
    w->woke = INGRESS_WOKE_NONE;
    pthread_mutex_lock(&ws->lock);
    if (ws->closing)
        rc = HS_ERR_TRANSIENT;
    else if (ws->count >= ws->max)
        rc = HS_ERR_TOOBIG;
    else {
        w->state = W_ARMED;
        link_w(ws, w);
    }
    pthread_mutex_unlock(&ws->lock);
    return rc;
}

int ingress_wait_suspend(struct ingress_waits *ws, struct ingress_waiter *w)
{
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = w};
    int parked = 0;

    pthread_mutex_lock(&ws->lock);
    if (w->state == W_ARMED && !ws->closing) {
        /* Suspended before it can be resumed: both under the lock. */
        MHD_suspend_connection(w->conn);
        if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0)
            hs_log(HS_LOG_WARN, "ingress.wait_watch_failed",
                   HS_KV_INT("errno", errno));
        w->state = W_PARKED;
        parked = 1;
    } else if (w->state != W_IDLE) {
        unlink_w(ws, w);
        w->state = W_IDLE;
    }
    pthread_mutex_unlock(&ws->lock);
    return parked;
}

void ingress_wait_disarm(struct ingress_waits *ws, struct ingress_waiter *w)
{
    pthread_mutex_lock(&ws->lock);
    if (w->state == W_ARMED || w->state == W_NOTIFIED) {
        unlink_w(ws, w);
        w->state = W_IDLE;
    }
    pthread_mutex_unlock(&ws->lock);
}

size_t ingress_waits_count(struct ingress_waits *ws)
{
    size_t n;

    pthread_mutex_lock(&ws->lock);
    n = ws->count;
    pthread_mutex_unlock(&ws->lock);
    return n;
}
