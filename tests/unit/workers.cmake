# Unit tests of the workers (label unit).
hs_test(test_exchange_token LIBS exchange_core)
hs_test(test_hs_worker LIBS hs_worker)
hs_test(test_exchange_idtoken LIBS exchange_core)
hs_test(test_exchange_retry LIBS exchange_core)
hs_test(test_refresher LIBS refresher_core)
hs_test(test_relay LIBS relay_core)
