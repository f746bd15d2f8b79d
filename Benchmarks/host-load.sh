# Benchmarks/host-load.sh — sourced by the benchmark scripts: how much of the machine's CPU time
# the hypervisor gave to other guests ("steal" in /proc/stat). The load average does not show it,
# and on a shared host it can slow a run by half.

# Prints "STEAL TOTAL": cumulative steal and total CPU ticks of all cores.
cpu_counters() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t; exit }' /proc/stat; }

# steal_since "STEAL TOTAL": the share of CPU time stolen since those counters, e.g. "8%".
steal_since() {
  local s0 t0 s1 t1
  read -r s0 t0 <<<"$1"
  read -r s1 t1 < <(cpu_counters)
  awk -v s="$((s1 - s0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.0f%%", (t > 0 ? 100 * s / t : 0) }'
}
