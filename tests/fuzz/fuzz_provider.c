/*
 * fuzz_provider: hostile catalog JSON against hs_catalog_parse
 * (lib/hs_provider.h), the buffer twin of hs_catalog_load. The first
 * input byte sets allow_http; HS_FUZZ_ID and HS_FUZZ_SECRET are set so
 * entries naming them (client_id_env, client_secret_env,
 * webhook.secret_env) can be enabled. A parsed catalog is looked up by
 * every one of its names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs_provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    struct hs_catalog cat;
    char err[256];

    if (!once) {
        setenv("HS_FUZZ_ID", "client-1", 1);
        setenv("HS_FUZZ_SECRET", "s3cret", 1);
        once = 1;
    }
    if (size == 0)
        return 0;
    memset(&cat, 0, sizeof(cat));
    if (hs_catalog_parse((const char *)data + 1, size - 1, data[0] & 1, &cat,
                         err, sizeof(err)) != HS_OK)
        return 0;
    for (size_t i = 0; i < cat.n; i++)
        if (hs_catalog_find(&cat, cat.v[i].name) != &cat.v[i])
            abort(); /* names are unique and found case-insensitively */
    (void)hs_catalog_find(&cat, "GitHub");
    hs_catalog_cleanup(&cat);
    return 0;
}
