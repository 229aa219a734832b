"""Observability: structlog loggers and the Go-style schedtrace line."""
