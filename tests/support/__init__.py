"""Test support: real servers the tests start for themselves."""
