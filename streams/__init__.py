"""Faust stream processing: validate, dead-letter, de-duplicate, follow up, write facts."""
