# Unit tests of hs-ingress (label unit: no Kafka, no PostgreSQL). Each links
# the fake Kafka seam instead of hs_kafka (ingress_core does not link it).
set(HS_FAKE_KAFKA_INGRESS ${CMAKE_SOURCE_DIR}/tests/fakes/fake_kafka_ingress.c)
foreach(t test_ingress_params test_ingress_pages test_ingress_connect
          test_ingress_callback test_ingress_webhook)
  hs_test(${t} LIBS ingress_core SOURCES ${HS_FAKE_KAFKA_INGRESS})
endforeach()
