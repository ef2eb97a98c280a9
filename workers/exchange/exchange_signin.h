/*
 * exchange_signin: who signed in, for the flows that start without a user
 * (signup, session, loopback): SPEC §2, SECURITY 6, 16, 17.
 *
 * A provider with an issuer (OpenID Connect) must return an ID token; its
 * iss, aud, azp, exp, iat, nonce and sub are checked (exchange_idtoken.h)
 * before anything of the response is used. Its email and name come from
 * the ID token, else from userinfo (whose sub must be the same). A plain
 * OAuth provider (GitHub) is asked its userinfo_url; its identity is
 * (issuer "oauth:<provider>", the account id). Users are found or created
 * by (issuer, subject), never by email.
 */
#ifndef EXCHANGE_SIGNIN_H
#define EXCHANGE_SIGNIN_H

#include "exchange_idtoken.h"
#include "exchange_token.h"
#include "hs_provider.h"
#include "hs_worker.h"

/* HS_OK fills *id. Otherwise *error is the machine code the flow fails
 * with: invalid_id_token (any claim check; the reason is logged),
 * userinfo_failed, no_identity (neither ID token nor userinfo_url). */
enum hs_err exchange_identify(const struct hs_worker *w,
                              const struct hs_provider *prov,
                              const struct exchange_token *tok,
                              const char *nonce,
                              struct exchange_identity *id,
                              const char **error) HS_MUST_CHECK;

/* In the caller's transaction: finds or creates the user of id, keeping
 * email and name current for display. Writes its id to user_id (cap 32). */
enum hs_err exchange_user_upsert(struct hs_pg *pg,
                                 const struct exchange_identity *id,
                                 char *user_id) HS_MUST_CHECK;

#endif
