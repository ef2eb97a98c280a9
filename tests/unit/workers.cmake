# Unit tests of the workers (label unit).
hs_test(test_exchange_token LIBS exchange_core)
