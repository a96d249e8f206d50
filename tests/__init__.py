"""The test suite, one package per folder: a test module's import name is its dotted path
(tests.harness.test_cluster, tests.trainer.test_cluster), so basenames may repeat across
folders. tests/harness/ and tests/trainer/ mirror harness/ and im2txt/im2txt/ module by
module; tests/project/ holds what proves the repository as a whole (README and docs walks,
CI entry, the suite's scheduling); tests/support/ holds every shared helper."""
