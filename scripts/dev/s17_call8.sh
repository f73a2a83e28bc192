#!/usr/bin/env bash
# Session 17, call 8 (one GPU): where the quantized streaming GEMM's time goes, ncu on one launch each:
# q4_0 8B gate|up at 64 rows (two CTAs an SM, no split) and q4_0 8B qkv at 64 rows (one CTA, split K),
# wgmma path (the default). Sections: speed of light, occupancy, warp states, scheduler, memory.
source scripts/device_env.sh >/dev/null
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
echo "ncu: $NCU"
for sh in gate_up qkv; do
  timeout 200 $NCU --clock-control none --kernel-name regex:gemm_stream_kernel --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section MemoryWorkloadAnalysis \
    $C/bench_gemm kinds=q4_0 rows=64 shapes=$sh reps=1 > $OUT/ncu_$sh.txt 2>&1
  grep -E "Duration|Throughput|Registers|Achieved Occupancy|Theoretical Occupancy|Block Limit|Warp Cycles Per Issued|Issued Warp|No Eligible|Active Warps Per|Eligible Warps|Stall|L1/TEX Hit|L2 Hit|Mem Busy|Max Bandwidth|Grid Size|Dynamic Shared|Waves" $OUT/ncu_$sh.txt | sed "s/^/$sh: /" | head -45
done
