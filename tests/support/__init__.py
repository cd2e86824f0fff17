"""Test support: helpers the tests and the benchmark scripts share (the app server, measurements)."""
