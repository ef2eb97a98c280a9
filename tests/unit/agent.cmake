# Unit tests of the agent (label unit).
hs_test(test_agent LIBS agent_core)
