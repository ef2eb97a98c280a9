# Integration tests: the real programs on hs-dev (mock Kafka cluster, real
# PostgreSQL, demo provider). They need kcat, psql and python3.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  add_test(NAME integration_connect
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_connect.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_connect PROPERTIES LABELS integration
    TIMEOUT 600 RUN_SERIAL TRUE)
  add_test(NAME integration_signin
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_signin.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_signin PROPERTIES LABELS integration
    TIMEOUT 600 RUN_SERIAL TRUE)
  add_test(NAME integration_loopback
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_loopback.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_loopback PROPERTIES LABELS integration
    TIMEOUT 600 RUN_SERIAL TRUE)
  add_test(NAME integration_refresh
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_refresh.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_refresh PROPERTIES LABELS integration
    TIMEOUT 600 RUN_SERIAL TRUE)
  add_test(NAME integration_exchange_batch
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_exchange_batch.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_exchange_batch PROPERTIES
    LABELS integration TIMEOUT 600 RUN_SERIAL TRUE)
  add_test(NAME integration_audit
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_audit.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_audit PROPERTIES LABELS integration
    TIMEOUT 600 RUN_SERIAL TRUE)
  add_test(NAME integration_ops
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_ops.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_ops PROPERTIES LABELS integration
    TIMEOUT 600 RUN_SERIAL TRUE)
  add_test(NAME integration_envs
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_envs.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_envs PROPERTIES LABELS integration
    TIMEOUT 600 RUN_SERIAL TRUE)
  add_test(NAME integration_faults
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_faults.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_faults PROPERTIES
    LABELS "integration;faults" TIMEOUT 900 RUN_SERIAL TRUE)
  add_test(NAME integration_provider_faults
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_provider_faults.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_provider_faults PROPERTIES
    LABELS "integration;faults" TIMEOUT 600 RUN_SERIAL TRUE)
  add_test(NAME integration_hostile
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_hostile.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_hostile PROPERTIES
    LABELS "integration;faults" TIMEOUT 600 RUN_SERIAL TRUE)
  # Chromium + oidc-provider (scripts/setup installs both).
  add_test(NAME integration_browser
    COMMAND ${Python3_EXECUTABLE}
            ${CMAKE_SOURCE_DIR}/tests/integration/test_browser.py
            ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(integration_browser PROPERTIES LABELS integration
    TIMEOUT 600 RUN_SERIAL TRUE)
endif()
