"""The same three endpoints on every Python rival: /ping, /json and /block (50 ms sleep)."""
