"""The batch oracle: a plain-Python reference for every metric view, and the streams that test it."""
