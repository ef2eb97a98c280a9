# Unit tests of schemas/ (the event codec), the provider catalog and the
# HTTP seam (label unit).
hs_test(test_hs_event LIBS hs_core)
hs_test(test_hs_webhook LIBS hs_core)
hs_test(test_hs_provider LIBS hs_core)
hs_test(test_hs_http LIBS hs_http PkgConfig::MHD)
hs_test(test_hs_discovery LIBS hs_http PkgConfig::MHD)
