/*
 * hs-refresher: refreshes provider tokens before they expire and revokes
 * the tokens of disconnected providers (refresher_cycle.c); any number of
 * replicas share the work through leases in PostgreSQL.
 */
#include "refresher_cycle.h"

int main(int argc, char **argv)
{
    static const struct hs_worker_def def = {
        .svc = "hs-refresher",
        .group = "Refreshes provider tokens ahead of expiry and revokes "
                 "disconnected ones",
        .topic = NULL,
        .need = HS_NEED_PROVIDERS,
        .init = refresher_init,
        .idle = refresher_idle,
        .cleanup = refresher_cleanup,
    };

    return hs_worker_main(argc, argv, &def);
}
