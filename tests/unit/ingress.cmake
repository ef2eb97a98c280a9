# Unit tests of hs-ingress (label unit).
hs_test(test_ingress LIBS ingress_core)
