/*
 * hs_discovery: OpenID Connect Discovery 1.0 for the provider catalog.
 *
 * hs_catalog_discover() fetches <issuer>/.well-known/openid-configuration
 * for every provider that has an issuer and lacks authorize_url or
 * token_url, and fills only what the catalog left out
 * (authorization_endpoint, token_endpoint, userinfo_endpoint,
 * revocation_endpoint). The document's issuer must equal the configured
 * one exactly (§4.3), each URL must pass hs_provider_url_ok, and the
 * provider must end with both an authorize and a token URL. One GET per
 * provider (timeout_ms, no redirects, 64 KiB cap). Programs call it once
 * at start: a provider that cannot be discovered is a configuration
 * error naming it, e.g.
 *   HS_PROVIDERS: provider "acme": discovery: issuer mismatch
 */
#ifndef HS_DISCOVERY_H
#define HS_DISCOVERY_H

#include <stddef.h>

#include "hs_err.h"
#include "hs_provider.h"

enum hs_err hs_catalog_discover(struct hs_catalog *cat, int allow_http,
                                long timeout_ms, char *err,
                                size_t errlen) HS_MUST_CHECK;

#endif
