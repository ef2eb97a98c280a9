/*
 * ingress_wait: long polls without a thread per request (SPEC §3; README
 * "Long polling").
 *
 * A poll route that finds its result pending suspends the libmicrohttpd
 * connection (no thread is held) and parks a waiter under the poll's key
 * hash. One thread per ingress holds a PostgreSQL connection that LISTENs
 * on the channel hs_poll; hs-exchange notifies it, with the key hash as
 * payload, in the transaction that finishes the poll, so the notification
 * reaches every replica at commit. The thread resumes the waiters of that
 * key; the handler runs again, reads the result and answers. The same
 * thread resumes a waiter at its deadline and at once when the client
 * hangs up (its socket, watched for EPOLLRDHUP), so a slot is never held
 * for a client that left. The database is never polled in a loop.
 *
 * Protocol for a handler (one waiter per request, inside ingress_req):
 *   1. ingress_wait_arm     before reading the result, so a notification
 *                           that lands during the read is not lost;
 *   2. read the result;
 *   3a. ready: ingress_wait_disarm, answer;
 *   3b. pending: ingress_wait_suspend: 1 = suspended (return MHD_YES; the
 *       handler is called again once resumed, with w->woke saying why);
 *       0 = a notification came in between: read again.
 * Only this module's thread resumes a suspended waiter, and it unlinks it
 * first, so a request never ends while a waiter of it is parked.
 */
#ifndef INGRESS_WAIT_H
#define INGRESS_WAIT_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_err.h"

#define INGRESS_WAIT_CHANNEL "hs_poll"

enum ingress_woke {
    INGRESS_WOKE_NONE = 0,
    INGRESS_WOKE_NOTIFY,   /* the result may be there */
    INGRESS_WOKE_DEADLINE, /* the wait is over: answer pending */
    INGRESS_WOKE_HANGUP,   /* the client left */
    INGRESS_WOKE_SHUTDOWN  /* the ingress stops: answer pending */
};

struct ingress_waiter {
    char key[48];
    struct MHD_Connection *conn;
    int64_t deadline_ms;
    int state;               /* private */
    int fd;                  /* private: the client socket */
    enum ingress_woke woke;  /* why the handler runs again */
    struct ingress_waiter *prev, *next;
};

struct ingress_waits;

/* Connects to pg_url, LISTENs and starts the thread; at most max waiters
 * are parked at once. HS_ERR_TRANSIENT (err filled) when PostgreSQL cannot
 * be reached. */
enum hs_err ingress_waits_start(const char *pg_url, size_t max,
                                struct ingress_waits **out, char *err,
                                size_t errlen) HS_MUST_CHECK;
/* Refuses new waiters, stops the thread and resumes every parked one
 * (INGRESS_WOKE_SHUTDOWN). Call after the daemon stopped accepting and
 * before MHD_stop_daemon (which refuses to run with suspended
 * connections); free after MHD_stop_daemon, when no handler can touch ws.
 * NULL is fine for both. */
void ingress_waits_stop(struct ingress_waits *ws);
void ingress_waits_free(struct ingress_waits *ws);

/* Step 1. HS_ERR_TOOBIG when max waiters are parked or armed,
 * HS_ERR_TRANSIENT while stopping: answer without waiting then. */
enum hs_err ingress_wait_arm(struct ingress_waits *ws,
                             struct ingress_waiter *w, const char *key,
                             struct MHD_Connection *conn,
                             int64_t deadline_ms) HS_MUST_CHECK;
/* Step 3b. 1 suspended; 0 notified since arm (w is disarmed; read again). */
int ingress_wait_suspend(struct ingress_waits *ws, struct ingress_waiter *w);
/* Step 3a, and at request end. No effect unless w is armed. */
void ingress_wait_disarm(struct ingress_waits *ws, struct ingress_waiter *w);

/* Waiters armed or parked now (for /metrics and tests). */
size_t ingress_waits_count(struct ingress_waits *ws);

#endif
