/*
 * ingress_api: the JSON routes of hs-ingress, each behind Bearer auth.
 *
 *   POST /api/provider-auth-code  201 {"code","expires_in","user_code"}
 *   POST /api/agents              201 {"agent_id"}
 *   GET  /api/me                  200 {"user":{…},"providers":[…]}
 *   GET  /api/providers/{p}/token 200 {"access_token","token_type",
 *                                 "expires_at","scopes"}: the stored token
 *                                 (the refresher keeps it fresh); 404
 *                                 not_connected; 409 reauth_required (also
 *                                 an expired token that cannot be
 *                                 refreshed); 503 refreshing + Retry-After
 *                                 when it is about to expire and a refresh
 *                                 was just asked for
 *   DELETE /api/providers/{p}     204: the tokens are deleted, queued for
 *                                 revocation at the provider (RFC 7009,
 *                                 where it has a revoke_url; hs-refresher
 *                                 does it) and provider.disconnected goes
 *                                 to the user's agents, all in one
 *                                 transaction; 404 not_connected
 *
 * The caller (ingress_http.c) has checked the method; these check the
 * token and the body.
 */
#ifndef INGRESS_API_H
#define INGRESS_API_H

#include "ingress_http.h"

enum MHD_Result ingress_api_auth_code(const struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r);
enum MHD_Result ingress_api_agents(const struct ingress *in,
                                   struct MHD_Connection *conn,
                                   struct ingress_req *r);
enum MHD_Result ingress_api_me(const struct ingress *in,
                               struct MHD_Connection *conn,
                               struct ingress_req *r);
/* provider: lowercase, [a-z0-9]+. */
enum MHD_Result ingress_api_provider_token(const struct ingress *in,
                                           struct MHD_Connection *conn,
                                           struct ingress_req *r,
                                           const char *provider);
/* DELETE /api/token (Bearer): revokes the API token the request carries
 * (hs-agent logout): 204, or 401 for a token that is unknown or revoked
 * already. Recorded as api_token.revoked (held). */
enum MHD_Result ingress_api_token_revoke(const struct ingress *in,
                                         struct MHD_Connection *conn,
                                         struct ingress_req *r);
enum MHD_Result ingress_api_disconnect(const struct ingress *in,
                                       struct MHD_Connection *conn,
                                       struct ingress_req *r,
                                       const char *provider);

#endif
