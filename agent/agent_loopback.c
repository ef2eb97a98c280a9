/*
 * agent_loopback: the local listener of `hs-agent login <p> --loopback`
 * (contract in agent.h). libmicrohttpd with its own thread; the handle
 * crosses to the waiting thread under a mutex and a condition variable.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "hs_log.h"

#define CALLBACK_PATH "/callback"

struct agent_loopback {
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char code[44]; /* secret until redeemed; "" until it came */
    int answered;  /* the browser got its page: the daemon may stop */
};

/* *req of the request that brought the handle (others: the daemon). */
static char took_marker;

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status,
                              const char *html)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(html), (void *)html, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **req)
{
    struct agent_loopback *lb = cls;
    const char *code;
    int took = 0;

    (void)version, (void)data, (void)data_size;
    if (!*req) { /* answer on the second call (keeps keep-alive working) */
        *req = lb;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 || strcmp(url, CALLBACK_PATH) != 0)
        return answer(conn, MHD_HTTP_NOT_FOUND,
                      "<!doctype html><title>Not found</title><p>Not "
                      "found.</p>");
    code = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "code");
    if (!hs_b64url_is32(code))
        return answer(conn, MHD_HTTP_BAD_REQUEST,
                      "<!doctype html><title>Sign-in failed</title><p>This "
                      "address did not bring a valid code. Start the "
                      "sign-in again from hs-agent.</p>");
    pthread_mutex_lock(&lb->mu);
    if (!lb->code[0]) {
        memcpy(lb->code, code, 44);
        took = 1;
        *req = &took_marker; /* completed() wakes the waiter */
    }
    pthread_mutex_unlock(&lb->mu);
    return answer(conn, took ? MHD_HTTP_OK : MHD_HTTP_CONFLICT,
                  took ? "<!doctype html><title>Signed in</title><p>hs-agent "
                         "received the sign-in. You can close this tab.</p>"
                       : "<!doctype html><title>Already signed in</title>"
                         "<p>hs-agent has a sign-in already.</p>");
}

/* The page went out: only now may agent_loopback_take() return and the
 * daemon stop, or the browser would see a reset connection. */
static void completed(void *cls, struct MHD_Connection *conn, void **req,
                      enum MHD_RequestTerminationCode toe)
{
    struct agent_loopback *lb = cls;

    (void)conn, (void)toe;
    if (*req != &took_marker)
        return;
    pthread_mutex_lock(&lb->mu);
    lb->answered = 1;
    pthread_cond_signal(&lb->cv);
    pthread_mutex_unlock(&lb->mu);
}

enum hs_err agent_loopback_start(struct agent_loopback **out, uint16_t *port)
{
    struct agent_loopback *lb = calloc(1, sizeof(*lb));
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    if (!lb)
        return HS_ERR_NOMEM;
    pthread_mutex_init(&lb->mu, NULL);
    pthread_cond_init(&lb->cv, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    lb->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, lb, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
        MHD_OPTION_NOTIFY_COMPLETED, completed, lb, MHD_OPTION_END);
    info = lb->daemon ? MHD_get_daemon_info(lb->daemon,
                                            MHD_DAEMON_INFO_BIND_PORT)
                      : NULL;
    if (!info || info->port == 0) {
        agent_loopback_free(lb);
        return HS_ERR_TRANSIENT;
    }
    *port = info->port;
    *out = lb;
    return HS_OK;
}

enum hs_err agent_loopback_take(struct agent_loopback *lb, char *code,
                                size_t cap, int64_t timeout_ms,
                                volatile const sig_atomic_t *stop)
{
    int64_t deadline = hs_now_ms() + timeout_ms;
    enum hs_err rc = HS_ERR_TIMEOUT;

    if (cap < sizeof(lb->code))
        return HS_ERR_TOOBIG;
    pthread_mutex_lock(&lb->mu);
    while (!lb->answered && !*stop && hs_now_ms() < deadline) {
        /* Short waits: a signal sets *stop without waking us. */
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&lb->cv, &lb->mu, &ts);
    }
    if (lb->code[0]) {
        memcpy(code, lb->code, sizeof(lb->code));
        rc = HS_OK;
    }
    pthread_mutex_unlock(&lb->mu);
    return rc;
}

void agent_loopback_free(struct agent_loopback *lb)
{
    if (!lb)
        return;
    if (lb->daemon)
        MHD_stop_daemon(lb->daemon);
    hs_wipe(lb->code, sizeof(lb->code));
    pthread_cond_destroy(&lb->cv);
    pthread_mutex_destroy(&lb->mu);
    free(lb);
}
