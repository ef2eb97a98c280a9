# Tests of the seams (lib/hs_kafka.c, lib/hs_pg.c).

# librdkafka's in-process mock cluster: no external Kafka, so label unit.
hs_test(test_hs_kafka LIBS hs_kafka)

# A throwaway PostgreSQL (unix socket only, in the build tree) as a ctest
# fixture: started before test_hs_pg, stopped after it. The port only names
# the socket file inside that private directory, so a fixed one is free.
set(HS_PGTMP_SEAMS ${CMAKE_BINARY_DIR}/pgtmp-seams)
set(HS_PGTMP_SEAMS_PORT 54329)
add_test(NAME pgtmp_seams_start
  COMMAND ${CMAKE_SOURCE_DIR}/tests/support/pgtmp start ${HS_PGTMP_SEAMS}
          ${HS_PGTMP_SEAMS_PORT})
add_test(NAME pgtmp_seams_stop
  COMMAND ${CMAKE_SOURCE_DIR}/tests/support/pgtmp stop ${HS_PGTMP_SEAMS})
set_tests_properties(pgtmp_seams_start PROPERTIES
  FIXTURES_SETUP pg_seams LABELS integration TIMEOUT 120)
set_tests_properties(pgtmp_seams_stop PROPERTIES
  FIXTURES_CLEANUP pg_seams LABELS integration TIMEOUT 60)

hs_test(test_hs_pg LIBS hs_pg Threads::Threads LABEL integration)
set_tests_properties(test_hs_pg PROPERTIES
  FIXTURES_REQUIRED pg_seams
  ENVIRONMENT "HS_TEST_PG_URL=host=${HS_PGTMP_SEAMS} port=${HS_PGTMP_SEAMS_PORT} dbname=handshake user=postgres")

# The outbox on the same throwaway PostgreSQL and an in-process mock cluster.
hs_test(test_hs_outbox LIBS hs_worker PkgConfig::RDKAFKA LABEL integration)
set_tests_properties(test_hs_outbox PROPERTIES
  FIXTURES_REQUIRED pg_seams
  ENVIRONMENT "HS_TEST_PG_URL=host=${HS_PGTMP_SEAMS} port=${HS_PGTMP_SEAMS_PORT} dbname=handshake user=postgres")
