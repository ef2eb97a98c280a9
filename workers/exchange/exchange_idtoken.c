/* exchange_idtoken: ID token and userinfo claims (exchange_idtoken.h). */
#include "exchange_idtoken.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_crypto.h"

static enum hs_err fail(enum hs_err rc, const char *reason, char *why,
                        size_t whylen)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", reason);
    return rc;
}

/* Printable UTF-8 (no byte below 0x20, no DEL). */
static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* Copies an optional display claim; dropped when absent, mistyped, too
 * long or not printable. */
static void display(json_t *o, const char *key, char *dst, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, key));

    if (v && strlen(v) < cap && printable(v))
        memcpy(dst, v, strlen(v) + 1);
}

/* The JSON object in base64url part [s, s + n). NULL when malformed. */
static json_t *part_object(const char *s, size_t n)
{
    char *b64 = malloc(n + 1);
    unsigned char *raw = malloc(n + 1);
    size_t len = 0;
    json_t *o = NULL;

    if (b64 && raw) {
        memcpy(b64, s, n);
        b64[n] = '\0';
        if (n > 0 && hs_b64url_decode(b64, raw, n + 1, &len) == HS_OK)
            o = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES,
                           NULL);
    }
    free(b64);
    free(raw);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static int subject_ok(const char *sub)
{
    return sub && sub[0] && strlen(sub) < 256 && printable(sub);
}

static int aud_ok(json_t *aud, json_t *azp, const char *client_id)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), client_id) == 0;
    if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        int found = 0;

        json_array_foreach(aud, i, v)
        {
            if (json_is_string(v) &&
                strcmp(json_string_value(v), client_id) == 0)
                found = 1;
        }
        return found && (json_array_size(aud) == 1 || azp);
    }
    return 0;
}

static enum hs_err check_claims(json_t *c, const char *issuer,
                                const char *client_id, const char *nonce,
                                int64_t now_s, char *why, size_t whylen)
{
    json_t *iss = json_object_get(c, "iss"), *aud = json_object_get(c, "aud");
    json_t *azp = json_object_get(c, "azp"), *exp = json_object_get(c, "exp");
    json_t *iat = json_object_get(c, "iat");
    const char *got = json_string_value(json_object_get(c, "nonce"));

    if (!json_is_string(iss) || !aud || !json_is_number(exp) ||
        !json_is_number(iat) || !got ||
        !subject_ok(json_string_value(json_object_get(c, "sub"))) ||
        (azp && !json_is_string(azp)))
        return fail(HS_ERR_DECODE, "malformed", why, whylen);
    if (strcmp(json_string_value(iss), issuer) != 0)
        return fail(HS_ERR_DENIED, "wrong_iss", why, whylen);
    if (!aud_ok(aud, azp, client_id))
        return fail(HS_ERR_DENIED, "wrong_aud", why, whylen);
    if (azp && strcmp(json_string_value(azp), client_id) != 0)
        return fail(HS_ERR_DENIED, "wrong_azp", why, whylen);
    if (json_number_value(exp) <=
        (double)(now_s - EXCHANGE_IDTOKEN_SKEW_S))
        return fail(HS_ERR_EXPIRED, "expired", why, whylen);
    if (json_number_value(iat) > (double)(now_s + EXCHANGE_IDTOKEN_SKEW_S) ||
        json_number_value(iat) <
            (double)(now_s - EXCHANGE_IDTOKEN_MAX_AGE_S))
        return fail(HS_ERR_EXPIRED, "bad_iat", why, whylen);
    if (strlen(got) != strlen(nonce) ||
        !hs_memeq(got, nonce, strlen(nonce)))
        return fail(HS_ERR_DENIED, "wrong_nonce", why, whylen);
    return HS_OK;
}

enum hs_err exchange_idtoken_check(const char *jwt, const char *issuer,
                                   const char *client_id, const char *nonce,
                                   int64_t now_s,
                                   struct exchange_identity *out, char *why,
                                   size_t whylen)
{
    const char *d1, *d2, *alg;
    json_t *header = NULL, *claims = NULL;
    struct exchange_identity id;
    enum hs_err rc;

    if (!jwt || !issuer || !client_id || !nonce || !nonce[0])
        return fail(HS_ERR_DECODE, "malformed", why, whylen);
    if (strlen(jwt) > EXCHANGE_IDTOKEN_MAX)
        return fail(HS_ERR_TOOBIG, "too_big", why, whylen);
    d1 = strchr(jwt, '.');
    d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || strchr(d2 + 1, '.') || !d2[1])
        return fail(HS_ERR_DECODE, "malformed", why, whylen);
    header = part_object(jwt, (size_t)(d1 - jwt));
    claims = part_object(d1 + 1, (size_t)(d2 - d1 - 1));
    alg = json_string_value(json_object_get(header, "alg"));
    if (!header || !claims || !alg || strcmp(alg, "none") == 0) {
        rc = fail(HS_ERR_DECODE, "malformed", why, whylen);
        goto out;
    }
    rc = check_claims(claims, issuer, client_id, nonce, now_s, why, whylen);
    if (rc != HS_OK)
        goto out;
    memset(&id, 0, sizeof(id));
    snprintf(id.issuer, sizeof(id.issuer), "%s", issuer);
    snprintf(id.subject, sizeof(id.subject), "%s",
             json_string_value(json_object_get(claims, "sub")));
    display(claims, "email", id.email, sizeof(id.email));
    display(claims, "name", id.name, sizeof(id.name));
    *out = id;
out:
    json_decref(header);
    json_decref(claims);
    return rc;
}

enum hs_err exchange_userinfo_parse(const char *body, size_t len,
                                    const char *issuer, const char *expect_sub,
                                    struct exchange_identity *out, char *why,
                                    size_t whylen)
{
    json_t *o = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL)
                     : NULL;
    json_t *sub, *id_member;
    struct exchange_identity id;
    enum hs_err rc = HS_OK;

    memset(&id, 0, sizeof(id));
    if (!json_is_object(o)) {
        rc = fail(HS_ERR_DECODE, "malformed", why, whylen);
        goto out;
    }
    sub = json_object_get(o, "sub");
    id_member = json_object_get(o, "id");
    if (json_is_string(sub))
        snprintf(id.subject, sizeof(id.subject), "%s", json_string_value(sub));
    else if (!sub && json_is_string(id_member))
        snprintf(id.subject, sizeof(id.subject), "%s",
                 json_string_value(id_member));
    else if (!sub && json_is_integer(id_member))
        snprintf(id.subject, sizeof(id.subject), "%lld",
                 (long long)json_integer_value(id_member));
    if (!subject_ok(id.subject) ||
        (json_is_string(sub) && strlen(json_string_value(sub)) >= 256) ||
        strlen(issuer) >= sizeof(id.issuer)) {
        rc = fail(HS_ERR_DECODE, "malformed", why, whylen);
        goto out;
    }
    if (expect_sub && strcmp(expect_sub, id.subject) != 0) {
        rc = fail(HS_ERR_DENIED, "wrong_sub", why, whylen);
        goto out;
    }
    snprintf(id.issuer, sizeof(id.issuer), "%s", issuer);
    display(o, "email", id.email, sizeof(id.email));
    display(o, "name", id.name, sizeof(id.name));
    if (!id.name[0])
        display(o, "login", id.name, sizeof(id.name));
    *out = id;
out:
    json_decref(o);
    return rc;
}
