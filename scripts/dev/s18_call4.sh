#!/usr/bin/env bash
# Session 18, call 4 (one GPU): why the quantized GEMV streams more slowly than the bf16 one at batch 1
# (in the step: 8B q4_0 gate|up 2.2 TB/s, bf16 2.9). ncu on one launch each, alone after an L2 flush
# (bench_gemm rows=1, the GEMV path): q4_0 and q8_0 gate|up and down, bf16 gate|up.
source scripts/device_env.sh >/dev/null
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
run() {  # kind shape kernel-regex
  timeout 120 $NCU --clock-control none --kernel-name regex:$3 --launch-skip 2 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section MemoryWorkloadAnalysis --section InstructionStats \
    $C/bench_gemm kinds=$1 rows=1 shapes=$2 reps=3 > $OUT/ncu_$1_$2.txt 2>&1
  grep -E "  Duration|DRAM Throughput|Memory Throughput|Registers Per|Achieved Occupancy|Theoretical Occupancy|Warp Cycles Per Issued|Issued Warp Per|No Eligible|Active Warps Per Scheduler|Eligible Warps|L2 Hit|Mem Busy|Max Bandwidth|Grid Size|Block Size|Executed Ipc A|Dynamic Shared" $OUT/ncu_$1_$2.txt | sed "s/^/$1 $2: /" | head -24
  grep -iE "stall|long scoreboard|est. speedup" $OUT/ncu_$1_$2.txt | head -6 | sed "s/^/$1 $2: /" | cut -c1-220
}
run q4_0 gate_up gemv_quant_kernel
run q4_0 down gemv_quant_kernel
run q8_0 gate_up gemv_quant_kernel
run bf16 gate_up gemv_kernel
cd $OUT && tar czf ncu.tgz ncu_*.txt && rm ncu_*.txt
