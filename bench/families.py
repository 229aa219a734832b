"""The five benchmark families: which cases each runs, and how each prints its table.

Reference figures ("ref") were measured earlier on this machine (2 cores) and are quoted
beside ours so drift is visible; the Go figures come from Go's own sysmon on the same
workloads. Ratios are always gmp's median divided by the anchor's median, with the better
direction stated in the heading; targets are printed as met / NOT met, never asserted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.report import (
    NA,
    Target,
    errors,
    fmt,
    median,
    print_table,
    print_verdicts,
    ratio,
    spread,
    title,
)
from bench.runner import Case, Result


@dataclass(frozen=True)
class Sizes:
    """Problem sizes: FULL for real figures, QUICK for a smoke test."""

    reps: int
    spawn_n: int
    yield_total: int
    hash_count: int
    hash_size: int
    tick_seconds: float
    memory_n: int
    memory_reps: int
    pingpong_n: int = 100_000
    mutex_n: int = 100_000


FULL = Sizes(
    reps=5,
    spawn_n=100_000,
    yield_total=200_000,
    hash_count=64,
    hash_size=4 << 20,
    tick_seconds=1.0,
    memory_n=100_000,
    memory_reps=3,
)
QUICK = Sizes(
    reps=2,
    spawn_n=10_000,
    yield_total=20_000,
    hash_count=16,
    hash_size=1 << 20,
    tick_seconds=0.4,
    memory_n=10_000,
    memory_reps=1,
    pingpong_n=10_000,
    mutex_n=10_000,
)

Results = dict[str, Result]  # by case label


@dataclass(frozen=True)
class Family:
    name: str
    cases: Callable[[Sizes], list[Case]]
    report: Callable[[Sizes, Results], None]


def _ratio_rows(
    results: Results,
    mine: list[str],
    anchors: list[str],
    metric: str,
    suffix: str = "",
) -> list[list[str]]:
    return [
        [
            f"{m}{suffix}",
            *(fmt(ratio(results.get(m), results.get(a), metric), "x") for a in anchors),
        ]
        for m in mine
    ]


# --- 1. spawn + complete -------------------------------------------------------------------

SPAWN_REF = {"asyncio": 113e3, "uvloop": 143e3, "trio": 86e3, "threads(2)": 53e3}
SPAWN_GMP = ["gmp procs=1", "gmp procs=2", "gmp procs=1 no hog handoff"]
SPAWN_ANCHORS = ["asyncio", "uvloop", "trio", "threads(2)"]


def spawn_cases(s: Sizes) -> list[Case]:
    n, warm = {"n": s.spawn_n}, {"n": max(1, s.spawn_n // 10)}
    return [
        Case("spawn", "gmp procs=1", "gmp", "gmp_side:spawn", n | {"procs": 1}, warm),
        Case("spawn", "gmp procs=2", "gmp", "gmp_side:spawn", n | {"procs": 2}, warm),
        # The spawn loop computes without awaiting for longer than a time slice, so
        # sysmon hands its P to a second M; this row shows what that handoff costs.
        Case(
            "spawn",
            "gmp procs=1 no hog handoff",
            "gmp",
            "gmp_side:spawn",
            n | {"procs": 1, "timeslice": 3600.0},
            warm,
        ),
        Case("spawn", "asyncio", "asyncio", "anchors:spawn_asyncio", n | {"impl": "asyncio"}, warm),
        Case("spawn", "uvloop", "uvloop", "anchors:spawn_asyncio", n | {"impl": "uvloop"}, warm),
        Case("spawn", "trio", "trio", "anchors:spawn_trio", n, warm),
        Case("spawn", "threads(2)", "threads", "anchors:spawn_threads", n | {"workers": 2}, warm),
    ]


def spawn_report(s: Sizes, results: Results) -> None:
    title(f"1. spawn + complete {s.spawn_n:,} trivial tasks (tasks/s, higher is better)")
    print("inside = first spawn to last join, in main; whole = the whole run(...) call")
    rows = []
    for label in SPAWN_GMP + SPAWN_ANCHORS:
        r = results.get(label)
        rows.append(
            [
                label,
                median(r, "inside_per_s", "rate"),
                spread(r, "inside_per_s", "rate"),
                median(r, "whole_per_s", "rate"),
                spread(r, "whole_per_s", "rate"),
                fmt(SPAWN_REF.get(label), "rate"),
            ]
        )
    print_table(["case", "inside", "spread", "whole", "spread", "ref"], rows)
    print()
    print_table(
        ["gmp / anchor (higher is better)", *(f"vs {a}" for a in SPAWN_ANCHORS)],
        _ratio_rows(results, SPAWN_GMP, SPAWN_ANCHORS, "inside_per_s", " inside")
        + _ratio_rows(results, SPAWN_GMP, SPAWN_ANCHORS, "whole_per_s", " whole"),
    )
    verdicts = []
    for g in SPAWN_GMP[:2]:
        for anchor, bound, word in (("asyncio", 1.5, "target"), ("uvloop", 1.0, "goal")):
            t = Target(f"{word} {g} inside / {anchor}", ">=", bound, "x")
            verdicts.append(t.verdict(ratio(results.get(g), results.get(anchor), "inside_per_s")))
    print_verdicts(verdicts)
    errors(list(results.values()))


# --- 2. yield cost -------------------------------------------------------------------------

YIELD_KS = [2, 100]
YIELD_REF = {"asyncio sleep(0)": 2.3, "uvloop sleep(0)": 1.06, "trio checkpoint()": 3.6}
YIELD_GMP = ["gmp gosched() procs=1", "gmp sleep(0) procs=1", "gmp gosched() procs=2"]
YIELD_ANCHORS = list(YIELD_REF)


def yield_cases(s: Sizes) -> list[Case]:
    base = {"ks": YIELD_KS, "total": s.yield_total}
    warm = {"total": max(200, s.yield_total // 10)}

    def gmp_case(label: str, how: str, procs: int) -> Case:
        params = base | {"how": how, "procs": procs}
        return Case("yield", label, "gmp", "gmp_side:yield_", params, warm)

    asyncio_, uvloop_ = base | {"impl": "asyncio"}, base | {"impl": "uvloop"}

    return [
        gmp_case(YIELD_GMP[0], "gosched", 1),
        gmp_case(YIELD_GMP[1], "sleep0", 1),
        gmp_case(YIELD_GMP[2], "gosched", 2),
        Case("yield", YIELD_ANCHORS[0], "asyncio", "anchors:yield_asyncio", asyncio_, warm),
        Case("yield", YIELD_ANCHORS[1], "uvloop", "anchors:yield_asyncio", uvloop_, warm),
        Case("yield", YIELD_ANCHORS[2], "trio", "anchors:yield_trio", base, warm),
    ]


def yield_report(s: Sizes, results: Results) -> None:
    title(f"2. yield cost, {s.yield_total:,} yields split over K tasks (us/yield, lower is better)")
    rows = []
    for label in YIELD_GMP + YIELD_ANCHORS:
        r = results.get(label)
        cells = [label]
        for k in YIELD_KS:
            cells += [median(r, f"us_K{k}", "us"), spread(r, f"us_K{k}", "us")]
        rows.append([*cells, fmt(YIELD_REF.get(label), "us")])
    headers = ["case"]
    for k in YIELD_KS:
        headers += [f"K={k}", "spread"]
    print_table([*headers, "ref"], rows)
    print()
    ratio_rows = []
    for k in YIELD_KS:
        ratio_rows += _ratio_rows(results, YIELD_GMP, YIELD_ANCHORS, f"us_K{k}", f" K={k}")
    print_table(
        ["gmp / anchor (lower is better)", *(f"vs {a.split()[0]}" for a in YIELD_ANCHORS)],
        ratio_rows,
    )
    verdicts = []
    gmp = results.get(YIELD_GMP[0])
    for k in YIELD_KS:
        for anchor, word in ((YIELD_ANCHORS[0], "target"), (YIELD_ANCHORS[1], "goal")):
            t = Target(f"{word} gosched K={k} / {anchor.split()[0]}", "<=", 1.0, "x")
            verdicts.append(t.verdict(ratio(gmp, results.get(anchor), f"us_K{k}")))
    print_verdicts(verdicts)
    errors(list(results.values()))


# --- 3. speedup procs=1 -> procs=2 ---------------------------------------------------------

SPEEDUP_GMP = "gmp procs=1 -> 2"
SPEEDUP_THREADS = "ThreadPoolExecutor 1 -> 2"


def speedup_cases(s: Sizes) -> list[Case]:
    params = {"count": s.hash_count, "size": s.hash_size}
    warm = {"count": 4}
    return [
        Case("speedup", SPEEDUP_GMP, "gmp", "gmp_side:speedup", params, warm),
        Case("speedup", SPEEDUP_THREADS, "threads", "anchors:speedup_threads", params, warm),
    ]


def speedup_report(s: Sizes, results: Results) -> None:
    mib = s.hash_size >> 20
    title(f"3. speedup 1 -> 2 on sha256 of {s.hash_count} x {mib} MiB (GIL released)")
    rows = []
    for label, ref in ((SPEEDUP_GMP, None), (SPEEDUP_THREADS, 1.97)):
        r = results.get(label)
        rows.append(
            [
                label,
                median(r, "t1_ms", "ms"),
                median(r, "t2_ms", "ms"),
                median(r, "speedup", "x"),
                spread(r, "speedup", "x"),
                fmt(ref, "x"),
            ]
        )
    print_table(["case", "t1 ms", "t2 ms", "speedup t1/t2", "spread", "ref"], rows)
    print()
    g, t = results.get(SPEEDUP_GMP), results.get(SPEEDUP_THREADS)
    print_table(
        ["gmp / threads", "ratio", "better"],
        [
            ["speedup", fmt(ratio(g, t, "speedup"), "x"), "higher"],
            ["time at 1", fmt(ratio(g, t, "t1_ms"), "x"), "lower"],
            ["time at 2", fmt(ratio(g, t, "t2_ms"), "x"), "lower"],
        ],
    )
    speed = g.median("speedup") if g is not None else None
    print_verdicts([Target("target gmp speedup", ">=", 1.8, "x").verdict(speed)])
    errors(list(results.values()))


# --- 4. blocking isolation (procs=1) -------------------------------------------------------

# (scenario, gmp labels, anchor labels, ref text per row kind)
BLOCK_SCENARIOS: list[tuple[str, dict[str, str], list[str]]] = [
    ("none", {"gmp no blocker": "none"}, ["asyncio", "uvloop", "trio"]),
    (
        "block",
        {"gmp go(time.sleep)": "callable", "gmp syscall(time.sleep)": "syscall"},
        ["asyncio", "uvloop", "trio"],
    ),
    ("spin", {"gmp spin": "spin"}, ["asyncio", "uvloop", "trio"]),
]
BLOCK_REF = {"block": "Go 16", "spin": "Go 62"}
BLOCK_ANCHOR_NOTE = {"block": "~200", "spin": "~200"}
BLOCK_TARGET = {"block": (20.0, 15.0), "spin": (60.0, None)}


def _anchor_label(anchor: str, scenario: str) -> str:
    return f"{anchor} {'no blocker' if scenario == 'none' else scenario}"


def blocking_cases(s: Sizes) -> list[Case]:
    base = {
        "tickers": 100,
        "interval": 0.001,
        "duration": s.tick_seconds,
        "delay": 0.1,
        "hold": 0.2,
    }
    warm = {"duration": 0.15, "mode": "none"}
    cases = []
    for scenario, gmp_rows, anchors in BLOCK_SCENARIOS:
        for label, mode in gmp_rows.items():
            params = base | {"mode": mode}
            cases.append(Case("blocking", label, "gmp", "gmp_side:blocking", params, warm))
        for anchor in anchors:
            target = "anchors:blocking_trio" if anchor == "trio" else "anchors:blocking_asyncio"
            params = base | {"mode": scenario, "impl": anchor}
            label = _anchor_label(anchor, scenario)
            cases.append(Case("blocking", label, anchor, target, params, warm))
    return cases


def blocking_report(s: Sizes, results: Results) -> None:
    title(
        f"4. blocking isolation, procs=1: 100 tickers sleeping 1 ms for {s.tick_seconds:g} s; "
        "a 200 ms blocker starts at 100 ms (lateness ms, lower is better)"
    )
    rows = []
    for scenario, gmp_rows, anchors in BLOCK_SCENARIOS:
        labels = list(gmp_rows) + [_anchor_label(a, scenario) for a in anchors]
        for label in labels:
            r = results.get(label)
            is_gmp = label.startswith("gmp")
            ref = BLOCK_REF.get(scenario) if is_gmp else BLOCK_ANCHOR_NOTE.get(scenario)
            rows.append(
                [
                    label,
                    median(r, "worst_ms", "ms"),
                    spread(r, "worst_ms", "ms"),
                    median(r, "p99_ms", "ms"),
                    median(r, "p50_ms", "ms"),
                    median(r, "wakeups_per_s", "rate"),
                    median(r, "handoffs", "int") if is_gmp else NA,
                    median(r, "threads", "int") if is_gmp else NA,
                    ref or NA,
                ]
            )
    print_table(
        ["case", "worst", "spread", "p99", "p50", "wakeups/s", "handoffs", "Ms", "ref"],
        rows,
    )
    print("handoffs = P handoffs made by sysmon; Ms = OS threads gmp created to run Gs")
    print()
    ratio_rows = []
    for scenario, gmp_rows, anchors in BLOCK_SCENARIOS:
        for label in gmp_rows:
            ratio_rows.append(
                [
                    f"{label} worst",
                    *(
                        fmt(
                            ratio(
                                results.get(label),
                                results.get(_anchor_label(a, scenario)),
                                "worst_ms",
                            ),
                            "x",
                        )
                        for a in anchors
                    ),
                ]
            )
    print_table(
        ["gmp / same scenario (lower is better)", "vs asyncio", "vs uvloop", "vs trio"], ratio_rows
    )
    verdicts = []
    for scenario, gmp_rows, _ in BLOCK_SCENARIOS:
        if scenario not in BLOCK_TARGET:
            continue
        target, goal = BLOCK_TARGET[scenario]
        for label in gmp_rows:
            r = results.get(label)
            worst = r.median("worst_ms") if r is not None else None
            verdicts.append(Target(f"target {label} worst ms", "<=", target, "ms").verdict(worst))
            if goal is not None:
                verdicts.append(Target(f"goal {label} worst ms", "<=", goal, "ms").verdict(worst))
    print_verdicts(verdicts)
    errors(list(results.values()))


# --- 5. memory per parked task -------------------------------------------------------------

MEMORY_ROWS = {"gmp": "gmp_side:memory", "asyncio": "anchors:memory_asyncio"}


def memory_cases(s: Sizes) -> list[Case]:
    return [
        Case(
            "memory",
            label,
            label,
            target,
            {"n": s.memory_n},
            fresh_per_rep=True,
            reps=s.memory_reps,
        )
        for label, target in MEMORY_ROWS.items()
    ]


def memory_report(s: Sizes, results: Results) -> None:
    title(
        f"5. memory: tracemalloc bytes per parked task, {s.memory_n:,} asleep "
        "(fresh process per repetition, lower is better)"
    )
    rows = []
    for label in MEMORY_ROWS:
        r = results.get(label)
        per_task = median(r, "bytes_per_task", "bytes")
        rows.append([label, per_task, spread(r, "bytes_per_task", "bytes")])
    print_table(["case", "bytes/task", "spread"], rows)
    print()
    g = results.get("gmp")
    print_table(
        ["gmp / anchor (lower is better)", "vs asyncio"],
        [["bytes per task", fmt(ratio(g, results.get("asyncio"), "bytes_per_task"), "x")]],
    )
    target = Target("target gmp / asyncio", "<=", 1.5, "x")
    print_verdicts([target.verdict(ratio(g, results.get("asyncio"), "bytes_per_task"))])
    errors(list(results.values()))


# --- 6. channel ping-pong (issue: channels) -------------------------------------------

PP_REF = {
    "asyncio Queue(1)": 10.2,
    "uvloop Queue(1)": 6.7,
    "trio channel(0)": 22.4,
    "threads queue.Queue": 17.5,
}
PP_GMP = ["gmp Chan() procs=1", "gmp Chan() procs=2", "gmp Chan() TaskGroup p=1"]
PP_ANCHORS = list(PP_REF)


def pingpong_cases(s: Sizes) -> list[Case]:
    n = {"n": s.pingpong_n}
    warm = {"n": max(100, s.pingpong_n // 10)}
    return [
        Case("pingpong", PP_GMP[0], "gmp", "sync_side:pingpong_gmp", n | {"procs": 1}, warm),
        Case("pingpong", PP_GMP[1], "gmp", "sync_side:pingpong_gmp", n | {"procs": 2}, warm),
        Case(
            "pingpong",
            PP_GMP[2],
            "gmp",
            "sync_side:pingpong_gmp",
            n | {"procs": 1, "group": True},
            warm | {"group": True},
        ),
        Case(
            "pingpong",
            PP_ANCHORS[0],
            "asyncio",
            "sync_side:pingpong_asyncio",
            n | {"impl": "asyncio"},
            warm,
        ),
        Case(
            "pingpong",
            PP_ANCHORS[1],
            "uvloop",
            "sync_side:pingpong_asyncio",
            n | {"impl": "uvloop"},
            warm,
        ),
        Case("pingpong", PP_ANCHORS[2], "trio", "sync_side:pingpong_trio", n, warm),
        Case("pingpong", PP_ANCHORS[3], "threads", "sync_side:pingpong_threads", n, warm),
    ]


def pingpong_report(s: Sizes, results: Results) -> None:
    title(f"6. unbuffered ping-pong, {s.pingpong_n:,} round trips (us/round trip, lower is better)")
    rows = []
    for label in PP_GMP + PP_ANCHORS:
        r = results.get(label)
        rows.append(
            [
                label,
                median(r, "us_rt", "us"),
                spread(r, "us_rt", "us"),
                fmt(PP_REF.get(label), "us"),
            ]
        )
    print_table(["case", "median", "spread", "ref"], rows)
    print()
    print_table(
        ["gmp / anchor (lower is better)", *(f"vs {a.split()[0]}" for a in PP_ANCHORS)],
        _ratio_rows(results, PP_GMP, PP_ANCHORS, "us_rt"),
    )
    verdicts = []
    for anchor, word in ((PP_ANCHORS[0], "target"), (PP_ANCHORS[1], "goal")):
        t = Target(f"{word} {PP_GMP[0]} / {anchor}", "<=", 1.0, "x")
        verdicts.append(t.verdict(ratio(results.get(PP_GMP[0]), results.get(anchor), "us_rt")))
    print_verdicts(verdicts)
    errors(list(results.values()))


# --- 7. contended mutex ----------------------------------------------------------------

MU_GMP = ["gmp Mutex procs=1", "gmp Mutex procs=2"]
MU_ANCHORS = ["threading.Lock", "trio.Lock", "asyncio.Lock"]


def mutex_cases(s: Sizes) -> list[Case]:
    n = {"n": s.mutex_n, "tasks": 8}
    warm = {"n": max(100, s.mutex_n // 10)}
    return [
        Case("mutex", MU_GMP[0], "gmp", "sync_side:mutex_gmp", n | {"procs": 1}, warm),
        Case("mutex", MU_GMP[1], "gmp", "sync_side:mutex_gmp", n | {"procs": 2}, warm),
        Case("mutex", MU_ANCHORS[0], "threads", "sync_side:mutex_threads", n, warm),
        Case("mutex", MU_ANCHORS[1], "trio", "sync_side:mutex_trio", n, warm),
        Case("mutex", MU_ANCHORS[2], "asyncio", "sync_side:mutex_asyncio", n, warm),
    ]


def mutex_report(s: Sizes, results: Results) -> None:
    title(f"7. contended mutex, 8 tasks x {s.mutex_n:,} lock/unlock (ns/op, lower is better)")
    rows = []
    for label in MU_GMP + MU_ANCHORS:
        r = results.get(label)
        rows.append(
            [
                label,
                median(r, "ns_op", "int"),
                spread(r, "ns_op", "int"),
                median(r, "ops_per_s", "rate"),
            ]
        )
    print_table(["case", "ns/op", "spread", "ops/s"], rows)
    print()
    print_table(
        ["gmp / anchor (lower is better)", *(f"vs {a}" for a in MU_ANCHORS)],
        _ratio_rows(results, MU_GMP, MU_ANCHORS, "ns_op"),
    )
    errors(list(results.values()))


FAMILIES = [
    Family("spawn", spawn_cases, spawn_report),
    Family("yield", yield_cases, yield_report),
    Family("speedup", speedup_cases, speedup_report),
    Family("blocking", blocking_cases, blocking_report),
    Family("memory", memory_cases, memory_report),
    Family("pingpong", pingpong_cases, pingpong_report),
    Family("mutex", mutex_cases, mutex_report),
]
