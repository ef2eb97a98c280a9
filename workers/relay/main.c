/*
 * hs-relay: inside an environment the internet cannot reach, delivers the
 * third-party webhooks hs-ingress published for it on hs.webhooks to a
 * local server (relay_deliver.c). Consumer group "hs-relay.<HS_ENV>", so
 * every environment's relay reads the whole topic; no PostgreSQL and no
 * inbound connection are needed.
 */
#include "relay_deliver.h"

int main(int argc, char **argv)
{
    static const struct hs_worker_def def = {
        .svc = "hs-relay",
        .group = "hs-relay",
        .topic = HS_TOPIC_WEBHOOKS,
        .need = HS_NEED_RELAY_URL,
        .no_db = 1,
        .group_per_env = 1,
        .handle = relay_handle,
    };

    return hs_worker_main(argc, argv, &def);
}
