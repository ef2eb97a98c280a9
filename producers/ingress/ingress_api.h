/*
 * ingress_api: the JSON routes of hs-ingress, each behind Bearer auth.
 *
 *   POST /api/provider-auth-code  201 {"code","expires_in","user_code"}
 *   POST /api/agents              201 {"agent_id"}
 *   GET  /api/me                  200 {"user":{…},"providers":[…]}
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

#endif
