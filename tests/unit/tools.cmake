# Unit tests of the tools (label unit).
hs_test(test_replay LIBS replay_core)
