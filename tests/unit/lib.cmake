# Unit tests of the pure lib/ modules and schemas/ (label unit).
hs_test(test_hs_crypto LIBS hs_core)
hs_test(test_hs_state LIBS hs_core)
hs_test(test_hs_config LIBS hs_core)
hs_test(test_hs_requesters LIBS hs_core)
hs_test(test_hs_audit LIBS hs_audit hs_kafka)
hs_test(test_hs_log LIBS hs_core)
hs_test(test_hs_err LIBS hs_core)
hs_test(test_hs_metrics LIBS hs_metrics)
