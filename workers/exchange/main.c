/*
 * hs-exchange: consumer group "hs-exchange" on hs.callbacks; performs the
 * server-to-server code exchange (exchange_flow.c) on the shared worker
 * loop (lib/hs_worker).
 */
#include "exchange_flow.h"

int main(int argc, char **argv)
{
    static const struct hs_worker_def def = {
        .svc = "hs-exchange",
        .group = "hs-exchange",
        .topic = HS_TOPIC_CALLBACKS,
        .need = HS_NEED_PROVIDERS,
        .init = exchange_init,
        .handle_batch = exchange_handle_batch,
        .idle = exchange_idle,
        .cleanup = exchange_cleanup,
    };

    return hs_worker_main(argc, argv, &def);
}
