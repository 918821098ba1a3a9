"""aiosock inetd: a super-server that starts servers on request."""
