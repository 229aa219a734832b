"""``python -m bench.router_bench``: route lookup time with 10 routes vs 1,000 routes.

The router issue asks that lookup must not get slower as routes are added. This measures
:meth:`gmp.http.router.Router.lookup` on the same request paths against two routers:

- **10 routes**: ten GET routes of the GitHub REST API (five static, five with
  parameters), the route set httprouter's benchmarks popularised;
- **1,000 routes**: those ten, the rest of a GitHub-API-like GET route set, and
  generated services (static, one-, two- and three-parameter routes, a catch-all) up to
  1,000 GET routes, all in one method's tree, the hardest case for the tree.

It prints ns per lookup (best of several repetitions; the loop's own overhead included)
for static paths, parameter paths and both mixed, the ratio 1,000/10 (close to 1 means
lookup cost does not grow with the route count), and for information the mean over one
path per route of the 1,000-route router and the cost of a miss (a 404).

Then the price of Gin's ``RedirectFixedPath``: the same paths (none needs fixing)
through a whole :class:`gmp.http.Engine` with ``redirect_fixed_path`` off and on, and
the cost of a miss that the case-insensitive lookup fixes (a 301). Fixing runs only on
the miss path, so the target is at most 10% on lookups that need no fixing.

Timed runs should hold the bench lock: ``flock /tmp/gmp-bench.lock python -m
bench.router_bench``. Nothing is asserted; a slow machine prints slow numbers.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from gmp.http.router import Router

# The ten routes of the small router, each with a request path it should answer.
SMALL: list[tuple[str, str]] = [
    ("/user/repos", "/user/repos"),
    ("/authorizations", "/authorizations"),
    ("/gitignore/templates", "/gitignore/templates"),
    ("/search/repositories", "/search/repositories"),
    ("/rate_limit", "/rate_limit"),
    ("/users/:user", "/users/julienschmidt"),
    ("/gists/:id/star", "/gists/12345/star"),
    ("/repos/:owner/:repo/issues/:number", "/repos/gin-gonic/gin/issues/7"),
    ("/repos/:owner/:repo/pulls/:number/files", "/repos/python/cpython/pulls/42/files"),
    ("/teams/:id/repos/:owner/:repo", "/teams/9/repos/trio/trio"),
]

# More GET routes in the shape of the GitHub REST API (v3).
GITHUB_GET: list[str] = [
    "/authorizations/:id",
    "/applications/:client_id/tokens/:access_token",
    "/events",
    "/repos/:owner/:repo/events",
    "/networks/:owner/:repo/events",
    "/orgs/:org/events",
    "/users/:user/received_events",
    "/users/:user/received_events/public",
    "/users/:user/events",
    "/users/:user/events/public",
    "/users/:user/events/orgs/:org",
    "/feeds",
    "/notifications",
    "/repos/:owner/:repo/notifications",
    "/notifications/threads/:id",
    "/notifications/threads/:id/subscription",
    "/repos/:owner/:repo/stargazers",
    "/users/:user/starred",
    "/user/starred",
    "/user/starred/:owner/:repo",
    "/repos/:owner/:repo/subscribers",
    "/users/:user/subscriptions",
    "/user/subscriptions",
    "/repos/:owner/:repo/subscription",
    "/user/subscriptions/:owner/:repo",
    "/users/:user/gists",
    "/gists",
    "/gists/:id",
    "/repos/:owner/:repo/git/blobs/:sha",
    "/repos/:owner/:repo/git/commits/:sha",
    "/repos/:owner/:repo/git/refs",
    "/repos/:owner/:repo/git/tags/:sha",
    "/repos/:owner/:repo/git/trees/:sha",
    "/issues",
    "/user/issues",
    "/orgs/:org/issues",
    "/repos/:owner/:repo/issues",
    "/repos/:owner/:repo/assignees",
    "/repos/:owner/:repo/assignees/:assignee",
    "/repos/:owner/:repo/issues/:number/comments",
    "/repos/:owner/:repo/issues/:number/events",
    "/repos/:owner/:repo/labels",
    "/repos/:owner/:repo/labels/:name",
    "/repos/:owner/:repo/issues/:number/labels",
    "/repos/:owner/:repo/milestones/:number/labels",
    "/repos/:owner/:repo/milestones",
    "/repos/:owner/:repo/milestones/:number",
    "/emojis",
    "/gitignore/templates/:name",
    "/meta",
    "/users/:user/orgs",
    "/user/orgs",
    "/orgs/:org",
    "/orgs/:org/members",
    "/orgs/:org/members/:user",
    "/orgs/:org/public_members",
    "/orgs/:org/public_members/:user",
    "/orgs/:org/teams",
    "/teams/:id",
    "/teams/:id/members",
    "/teams/:id/members/:user",
    "/teams/:id/repos",
    "/user/teams",
    "/repos/:owner/:repo/pulls",
    "/repos/:owner/:repo/pulls/:number",
    "/repos/:owner/:repo/pulls/:number/commits",
    "/repos/:owner/:repo/pulls/:number/merge",
    "/repos/:owner/:repo/pulls/:number/comments",
    "/users/:user/repos",
    "/orgs/:org/repos",
    "/repositories",
    "/repos/:owner/:repo",
    "/repos/:owner/:repo/contributors",
    "/repos/:owner/:repo/languages",
    "/repos/:owner/:repo/teams",
    "/repos/:owner/:repo/tags",
    "/repos/:owner/:repo/branches",
    "/repos/:owner/:repo/branches/:branch",
    "/repos/:owner/:repo/collaborators",
    "/repos/:owner/:repo/collaborators/:user",
    "/repos/:owner/:repo/comments",
    "/repos/:owner/:repo/commits/:sha/comments",
    "/repos/:owner/:repo/comments/:id",
    "/repos/:owner/:repo/commits",
    "/repos/:owner/:repo/commits/:sha",
    "/repos/:owner/:repo/readme",
    "/repos/:owner/:repo/keys",
    "/repos/:owner/:repo/keys/:id",
    "/repos/:owner/:repo/downloads",
    "/repos/:owner/:repo/downloads/:id",
    "/repos/:owner/:repo/forks",
    "/repos/:owner/:repo/hooks",
    "/repos/:owner/:repo/hooks/:id",
    "/repos/:owner/:repo/releases",
    "/repos/:owner/:repo/releases/:id",
    "/repos/:owner/:repo/releases/:id/assets",
    "/repos/:owner/:repo/stats/contributors",
    "/repos/:owner/:repo/stats/commit_activity",
    "/repos/:owner/:repo/stats/code_frequency",
    "/repos/:owner/:repo/stats/participation",
    "/repos/:owner/:repo/stats/punch_card",
    "/repos/:owner/:repo/statuses/:ref",
    "/search/code",
    "/search/issues",
    "/search/users",
    "/legacy/issues/search/:owner/:repository/:state/:keyword",
    "/legacy/repos/search/:keyword",
    "/legacy/user/search/:keyword",
    "/legacy/user/email/:email",
    "/user",
    "/users",
    "/user/emails",
    "/users/:user/followers",
    "/user/followers",
    "/users/:user/following",
    "/user/following",
    "/user/following/:user",
    "/users/:user/following/:target_user",
    "/users/:user/keys",
    "/user/keys",
    "/user/keys/:id",
]

# Shapes of the generated routes; {i} is the service number.
GENERATED_SHAPES: list[str] = [
    "/api/v1/svc{i}/items",
    "/api/v1/svc{i}/items/:item",
    "/api/v1/svc{i}/items/:item/tags/:tag",
    "/api/v1/svc{i}/items/:item/tags/:tag/history/:rev",
    "/svc{i}/status",
    "/svc{i}/static/*filepath",
]


def large_routes(total: int) -> list[str]:
    """The ten small routes, the GitHub-like ones, then generated ones up to ``total``."""
    routes = [pattern for pattern, _ in SMALL] + GITHUB_GET
    i = 0
    while len(routes) < total:
        for shape in GENERATED_SHAPES:
            if len(routes) < total:
                routes.append(shape.format(i=i))
        i += 1
    return routes


def concrete(pattern: str) -> str:
    """A request path for ``pattern``: each wildcard replaced by a plausible value."""
    parts = []
    for segment in pattern.split("/"):
        if segment.startswith(":"):
            parts.append(f"v-{segment[1:]}-42")
        elif segment.startswith("*"):
            parts.append("css/site.css")
        else:
            parts.append(segment)
    return "/".join(parts)


def build(patterns: Sequence[str]) -> Router[str]:
    router: Router[str] = Router()
    for pattern in patterns:
        router.add("GET", pattern, pattern)
    return router


def ns_per_lookup(
    lookup: Callable[[str, str], object], paths: Sequence[str], budget: float, reps: int
) -> float:
    """Best-of-``reps`` mean time of ``lookup("GET", path)`` over ``paths``, in ns."""
    rounds = 1
    while True:  # size the inner loop so one repetition takes about `budget` seconds
        start = time.perf_counter()
        for _ in range(rounds):
            for path in paths:
                lookup("GET", path)
        elapsed = time.perf_counter() - start
        if elapsed >= budget / 4:
            break
        rounds *= 2
    rounds = max(1, int(rounds * budget / max(elapsed, 1e-9)))
    best = float("inf")
    gc.disable()
    try:
        for _ in range(reps):
            start = time.perf_counter()
            for _ in range(rounds):
                for path in paths:
                    lookup("GET", path)
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best / (rounds * len(paths)) * 1e9


def _noop(method: str, path: str) -> None:
    """The loop and call overhead alone, to put the figures in scale on this machine."""


def check(router: Router[str], expected: Sequence[tuple[str, str]]) -> None:
    """Every path must find its own route: a benchmark of wrong answers is worthless."""
    for pattern, path in expected:
        match = router.lookup("GET", path)
        if match is None or match.route != pattern:
            raise SystemExit(f"{path} matched {match} in a router of {len(router)}, not {pattern}")


def engine_with(patterns: Sequence[str], **settings: Any) -> Callable[[str, str], object]:
    """An Engine with ``patterns``, called like a lookup: ``call("GET", path)``."""
    from gmp.http import Context, Engine, Request

    def handler(c: Context) -> None:
        c.string(200, "x")

    engine = Engine(**settings)
    for pattern in patterns:
        engine.get(pattern, handler)
    requests: dict[str, Request] = {}

    def call(method: str, path: str) -> object:
        req = requests.get(path)
        if req is None:
            req = requests[path] = Request(method, path)
        return engine(req)

    return call


def fixing_cost(patterns: Sequence[str], paths: Sequence[str], budget: float, reps: int) -> float:
    """Print the engine's ns per request with ``redirect_fixed_path`` off and on, over
    ``paths`` that need no fixing, interleaved so load from elsewhere hits both; return
    the ratio on/off of the medians."""
    off = engine_with(patterns)
    on = engine_with(patterns, redirect_fixed_path=True)
    t_off: list[float] = []
    t_on: list[float] = []
    for _ in range(reps):
        t_off.append(ns_per_lookup(off, paths, budget, 1))
        t_on.append(ns_per_lookup(on, paths, budget, 1))
    med_off, med_on = sorted(t_off)[reps // 2], sorted(t_on)[reps // 2]
    upper = [p.upper() for p in paths]
    t_fix = ns_per_lookup(on, upper, budget, reps)
    ratio = med_on / med_off
    print(f"engine, {len(patterns)} routes, paths needing no fixing (median of {reps}):")
    print(f"  redirect_fixed_path off: {med_off:.0f} ns/request")
    print(f"  redirect_fixed_path on:  {med_on:.0f} ns/request ({(ratio - 1) * 100:+.1f}%)")
    print(f"  a miss fixed by case (301), for scale: {t_fix:.0f} ns/request")
    print(
        f"fixing enabled costs {(ratio - 1) * 100:+.1f}% on lookups that need none "
        f"(target: at most +10%: {'met' if ratio <= 1.10 else 'NOT met'})"
    )
    return ratio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.router_bench", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--routes", type=int, default=1000, help="size of the large router")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (best is kept)")
    ap.add_argument("--budget", type=float, default=0.2, help="seconds per repetition")
    args = ap.parse_args(argv)

    small = build([pattern for pattern, _ in SMALL])
    patterns = large_routes(args.routes)
    large = build(patterns)
    check(small, SMALL)
    check(large, SMALL)
    every = [(pattern, concrete(pattern)) for pattern in patterns]
    check(large, every)

    static_paths = [path for pattern, path in SMALL if ":" not in pattern]
    param_paths = [path for pattern, path in SMALL if ":" in pattern]
    mixed_paths = [path for _, path in SMALL]

    print(f"route lookup, Python {platform.python_version()} on {platform.machine()}")
    print(f"small router: {len(small)} GET routes; large router: {len(large)} GET routes")
    print(f"best of {args.reps} x ~{args.budget:.2f} s; ns per lookup, loop overhead included")
    print()
    print(f"{'paths':<28}{'10 routes':>12}{f'{len(large)} routes':>14}{'ratio':>9}")
    ratios = []
    for label, paths in [
        (f"static ({len(static_paths)} paths)", static_paths),
        (f"with params ({len(param_paths)} paths)", param_paths),
        (f"mixed ({len(mixed_paths)} paths)", mixed_paths),
    ]:
        t_small = ns_per_lookup(small.lookup, paths, args.budget, args.reps)
        t_large = ns_per_lookup(large.lookup, paths, args.budget, args.reps)
        ratios.append(t_large / t_small)
        print(f"{label:<28}{t_small:>12.0f}{t_large:>14.0f}{t_large / t_small:>8.2f}x")
    print()
    t_every = ns_per_lookup(large.lookup, [path for _, path in every], args.budget, args.reps)
    misses = ["/nope", "/repos/a/b/nothing-here", "/users/x/y/z", "/api/v1/svc3/other"]
    t_miss = ns_per_lookup(large.lookup, misses, args.budget, args.reps)
    t_noop = ns_per_lookup(_noop, mixed_paths, args.budget, args.reps)
    print(f"{len(large)} routes, one path per route: {t_every:.0f} ns/lookup")
    print(f"{len(large)} routes, misses (404):        {t_miss:.0f} ns/lookup")
    print(f"for scale, the same loop calling a no-op: {t_noop:.0f} ns/call")
    print()
    print(
        f"ratio {len(large)}/10 routes, mixed paths: {ratios[2]:.2f}x "
        f"(target: close to 1, well below 10x: {'met' if ratios[2] < 2 else 'NOT met'})"
    )
    print()
    fixing_cost(patterns, mixed_paths, args.budget, max(args.reps, 5))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
