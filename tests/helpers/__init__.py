"""Test helpers shared by every suite: a real server on loopback and checks of the README error body."""
