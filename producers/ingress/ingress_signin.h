/*
 * ingress_signin: the browser side of the sign-in flows (SPEC §2 rows
 * signup and session; README "Sign-in flows").
 *
 *   GET|POST /web/provider-auth/{p}?signup_id=   the agent's signup
 *   GET|POST /addons/transit/?token=             an add-in session
 *
 * Neither the user nor the result is known yet, so the first-party page
 * says "an app is asking to sign you in" with the short code the agent or
 * add-in shows (remote phishing, SPEC §2), and only its CSRF-checked POST
 * binds the poll to a new handshake and leaves for the provider. That
 * binding happens once: a second start with the same signup_id or transit
 * token is refused. The transit token lives 120 s. The provider must be
 * marked "signin" in the catalog; sessions use HS_SIGNIN_PROVIDER.
 */
#ifndef INGRESS_SIGNIN_H
#define INGRESS_SIGNIN_H

#include "ingress_http.h"

enum MHD_Result ingress_signin_signup(const struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r,
                                      const struct hs_provider *prov,
                                      const char *signup_id, int is_post);
enum MHD_Result ingress_signin_transit(const struct ingress *in,
                                       struct MHD_Connection *conn,
                                       struct ingress_req *r, int is_post);

#endif
