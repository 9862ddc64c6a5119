"""Every threshold the advice uses, in one place, each with the reason for its value.

Advice is only as good as the evidence behind it: each rule in ``pipeline.advise`` names the
figures it needs and reads its limits from here (docs/advice.md explains them for users).
"""

from __future__ import annotations

# Lambda's pricing month (AWS quotes 730 hours): its home is the cold-start analysis, which
# projects provisioned concurrency over it; a run's observed rate is projected over the same.
from pipeline.report.coldstarts import HOURS_PER_MONTH  # noqa: F401  (re-exported)

# -- projections --------------------------------------------------------------------------------
# A run shorter than a minute still projects from a minute: a burst of ten invocations in one
# second would otherwise read as 26 million a month.
MIN_SPAN_HOURS = 1 / 60.0
# Below ten cents a month an operator's time costs more than the change saves.
MIN_MONTHLY_SAVINGS_USD = 0.10

# -- memory -------------------------------------------------------------------------------------
# Sizes we advise (Lambda allows any MB from 128 to 10,240; these are the steps people use, and
# 1,769 MB is where a function gets one full vCPU).
MEMORY_LADDER_MB = (128, 192, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1769, 2048, 2560,
                    3008, 3584, 4096, 5120, 6144, 8192, 10240)
MIN_MEMORY_MB = 128
ONE_VCPU_MB = 1769
# Headroom above the largest Max Memory Used ever seen: inputs vary, and the run saw only part of
# them; 30 % keeps an occasional larger payload from becoming an out-of-memory kill.
MEMORY_HEADROOM = 0.30
# Invocations at one memory size before its figures are trusted (the max used of 50 runs bounds
# the 95th percentile of usage with ~92 % confidence; fewer is guesswork).
MIN_MEMORY_SAMPLES = 50
# Out-of-memory kills worth raising memory for: 1 % of invocations and at least 3 of them (one
# or two can be a single poisoned input, which more memory may not fix).
OOM_MIN_RATE = 0.01
OOM_MIN_COUNT = 3
# Raise by at least half: an out-of-memory kill says the need is above the limit, not by how much.
OOM_RAISE_FACTOR = 1.5
# A memory change must save at least this share of the function's cost: mean billed durations of
# the same code differ by a few percent between runs (other tenants, payloads), so a smaller gap
# between two measured sizes is noise, not a finding.
MEMORY_MIN_SAVING_SHARE = 0.10
# A cut below one vCPU on a function whose p50 is at least this long may slow it: CPU share
# scales with memory, so a CPU-bound function runs up to current/recommended times longer.
CPU_BOUND_MIN_P50_MS = 50.0

# -- regressions ----------------------------------------------------------------------------------
# Samples on each side of a change before comparing: below 30 a proportion or a p95 is noise.
MIN_SAMPLES_EACH_SIDE = 30
# Cold starts on each side before comparing init durations (rarer than invocations).
MIN_COLD_STARTS_EACH_SIDE = 10
# One-sided z score a change must reach: z >= 3 is p < 0.0014, so a fleet of a hundred functions
# compared once each raises a false alarm about once in seven runs.
MIN_Z = 3.0
# Error rate: at least doubled and up by at least 2 percentage points (a 0.1 % -> 0.3 % change is
# significant on a busy function but nobody's incident).
ERROR_RATE_MIN_RATIO = 2.0
ERROR_RATE_MIN_DELTA = 0.02
# Percentiles: p95 up by at least half (duration, init) or a quarter (memory used, which is far
# less noisy); the exceedance test below decides whether the rise is more than chance.
DURATION_P95_MIN_RATIO = 1.5
INIT_P95_MIN_RATIO = 1.5
MEMORY_P95_MIN_RATIO = 1.25
# The exceedance test: before the change, 5 % of invocations were above the p95; after it, if the
# share above that old p95 is more than 5 % by MIN_Z standard errors, the distribution moved.
EXCEEDANCE_Q = 0.95
# Time buckets for before/after splits of one function version (runtime updates): one minute, the
# metrics' window, so a finding's time matches the metrics index.
BUCKET_MS = 60_000

# -- alarms ---------------------------------------------------------------------------------------
# Regression findings become alarms in streaming (an operator wants to hear at once) but not in a
# batch backfill (a month of history would page someone for last month's deploys).
ALARMS_BY_DEFAULT = {"batch": False, "streaming": True}
# The endless graph re-evaluates each function's aggregate this often (processing time): the
# metrics' window, so a regression is heard about as soon as a minute's alarm would be.
STREAMING_EVALUATION_S = 60
