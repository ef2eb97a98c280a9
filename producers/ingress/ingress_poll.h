/*
 * ingress_poll: the routes a client polls while the user signs in in a
 * browser (SPEC §2 rows signup and session, §3; README "Sign-in flows").
 *
 *   POST /no-auth/check-signup {"token"} [?wait=S]   the agent's signup
 *   POST /addons/sessions                            an add-in session
 *   GET  /addons/sessions/{id} [?wait=S]             its long poll
 *
 * A poll is keyed by the SHA-256 of the secret that redeems it (the
 * signup_token, the session_id); neither secret is stored or logged. The
 * result is released once: the database function hs_poll_take marks it
 * consumed and creates the API token (hash only) in one transaction. With
 * wait=S (1..30) a pending poll is parked without a thread
 * (ingress_wait.h) and answered when its result is committed, on any
 * replica, or after S seconds. Without wait, a client polling a pending
 * result more than once a second gets 429 with Retry-After.
 */
#ifndef INGRESS_POLL_H
#define INGRESS_POLL_H

#include "ingress_http.h"

#define INGRESS_WAIT_MAX_S 30
#define INGRESS_POLL_TTL_S 600          /* a signup or session lives 10 min */
#define INGRESS_TRANSIT_TTL_S 120       /* a transit URL lives 2 min */
#define INGRESS_SESSION_TOKEN_TTL_S (30 * 24 * 3600) /* in hs_poll_take */

enum MHD_Result ingress_poll_check_signup(const struct ingress *in,
                                          struct MHD_Connection *conn,
                                          struct ingress_req *r);
enum MHD_Result ingress_poll_session_new(const struct ingress *in,
                                         struct MHD_Connection *conn,
                                         struct ingress_req *r);
enum MHD_Result ingress_poll_session_get(const struct ingress *in,
                                         struct MHD_Connection *conn,
                                         struct ingress_req *r,
                                         const char *session_id);

#endif
