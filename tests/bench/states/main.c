/*
 * hs-bench-states: request paths for the HTTP benchmark (tests/bench/routes.py),
 * valid for the hs-ingress that shares this environment (HS_SECRET_KEYS,
 * HS_ENV, HS_STATE_TTL).
 *
 *   hs-bench-states callback N OUT   N callback paths, each with a distinct
 *       sealed state bound to one browser, to OUT; prints the Cookie header
 *   hs-bench-states start N USER OUT CODES   N start-route paths, each with
 *       a distinct one-time code of USER, to OUT and "<code hash>" lines to
 *       CODES (for auth_codes); prints the Cookie header (binding and a
 *       remember cookie for USER, so the route answers 302 at once)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_config.h"
#include "hs_crypto.h"
#include "hs_state.h"
#include "ingress_connect.h"
#include "ingress_params.h"

static int usage(void)
{
    fprintf(stderr, "usage: hs-bench-states callback N OUT\n"
                    "       hs-bench-states start N USER OUT CODES\n");
    return 2;
}

static FILE *open_out(const char *path)
{
    FILE *f = fopen(path, "w");

    if (!f)
        perror(path);
    return f;
}

static int callbacks(const struct hs_config *cfg, const struct hs_keyring *kr,
                     long n, const char *bind, FILE *out)
{
    struct hs_state st;
    char state[HS_STATE_MAX], code[48];

    memset(&st, 0, sizeof(st));
    snprintf(st.env, sizeof(st.env), "%s", cfg->env);
    snprintf(st.provider, sizeof(st.provider), "demo");
    snprintf(st.subject, sizeof(st.subject), "benchuser");
    st.flow = HS_FLOW_CONNECT;
    hs_sha256(bind, strlen(bind), st.binding);
    st.issued_ms = hs_now_ms();
    for (long i = 0; i < n; i++) {
        if (hs_random_token(16, st.handshake_id, sizeof(st.handshake_id)) ||
            hs_random_token(32, st.verifier, sizeof(st.verifier)) ||
            hs_random_token(16, st.nonce, sizeof(st.nonce)) ||
            hs_random_token(24, code, sizeof(code)) ||
            hs_state_mint(kr, &st, state, sizeof(state)) != HS_OK)
            return 1;
        /* A sealed state is base64url with a "env." prefix: no escaping. */
        fprintf(out, "/no-auth/provider-token/demo?code=%s&state=%s\n", code,
                state);
    }
    return 0;
}

static int starts(const struct hs_keyring *kr, long n, const char *user,
                  const char *bind, FILE *out, FILE *codes)
{
    char code[48], hash[44];

    for (long i = 0; i < n; i++) {
        if (hs_random_token(32, code, sizeof(code)))
            return 1;
        hs_sha256_b64url(code, strlen(code), hash);
        fprintf(out, "/web/provider-auth/demo?code=%s\n", code);
        fprintf(codes, "%s\n", hash);
    }
    (void)kr;
    return 0;
}

int main(int argc, char **argv)
{
    static struct hs_config cfg;
    struct hs_keyring *kr = NULL;
    char err[512], bind[INGRESS_BIND_LEN + 1], bname[32];
    FILE *out = NULL, *codes = NULL;
    long n;
    int rc = 1;

    if (argc < 4 || hs_crypto_init() != 0)
        return usage();
    n = strtol(argv[2], NULL, 10);
    if (n <= 0)
        return usage();
    if (hs_config_load(&cfg, HS_NEED_KEYS, err, sizeof(err)) != HS_OK ||
        hs_keyring_new(cfg.secret_keys, &kr, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-bench-states: %s\n", err);
        return 1;
    }
    if (hs_random_token(32, bind, sizeof(bind)) ||
        !ingress_cookie_name(0, "hs_bind", bname, sizeof(bname)))
        goto out;
    if (strcmp(argv[1], "callback") == 0 && argc == 4) {
        out = open_out(argv[3]);
        if (out && callbacks(&cfg, kr, n, bind, out) == 0) {
            printf("%s=%s\n", bname, bind);
            rc = 0;
        }
    } else if (strcmp(argv[1], "start") == 0 && argc == 6) {
        char rname[32], remember[200];

        out = open_out(argv[4]);
        codes = open_out(argv[5]);
        if (out && codes && starts(kr, n, argv[3], bind, out, codes) == 0 &&
            ingress_cookie_name(0, "hs_remember", rname, sizeof(rname)) &&
            ingress_remember_make(kr, argv[3],
                                  hs_now_ms() + INGRESS_REMEMBER_MS, bind,
                                  remember, sizeof(remember)) == HS_OK) {
            printf("%s=%s; %s=%s\n", bname, bind, rname, remember);
            rc = 0;
        }
    } else {
        rc = usage();
    }
out:
    if (out && fclose(out) != 0)
        rc = 1;
    if (codes && fclose(codes) != 0)
        rc = 1;
    hs_keyring_free(kr);
    return rc;
}
