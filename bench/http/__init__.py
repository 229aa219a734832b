"""HTTP benchmarks: gmp.http beside uvicorn, hypercorn, gunicorn, Gin and Go net/http."""
