"""Tests of trnsim's NKI front end (standard library only)."""
