"""Paths the tests share: the repository root and the test data tree (one for unit and integration tests)."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDATA = os.path.join(ROOT, "tests", "testdata")
