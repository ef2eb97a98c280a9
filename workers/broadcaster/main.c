/*
 * hs-broadcaster: consumer group "hs-broadcaster" on hs.tokens; fans each
 * event out to the user's agents on hs.me (broadcaster_fanout.c), on the
 * shared worker loop (lib/hs_worker).
 */
#include "broadcaster_fanout.h"

int main(int argc, char **argv)
{
    static const struct hs_worker_def def = {
        .svc = "hs-broadcaster",
        .group = "hs-broadcaster",
        .topic = HS_TOPIC_TOKENS,
        .handle_batch = broadcaster_handle_batch,
    };

    return hs_worker_main(argc, argv, &def);
}
