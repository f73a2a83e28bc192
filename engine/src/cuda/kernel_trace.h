// A kernel timeline without Nsight Systems (not on the device machines) and without ncu's
// serialization (which deadlocks a tensor-parallel step, whose exchange kernels wait for each other):
// CUPTI's activity records of every kernel on every GPU of the process, with their real start and
// end times on one clock. EFFITUNE_CUDA_TRACE=PATH turns it on; at exit PATH gets a summary (JSON
// lines: per GPU and kernel name, launches and time; per GPU, busy time and the idle gaps between
// kernels, short ones and long ones apart) and PATH.csv the last EFFITUNE_CUDA_TRACE_TAIL (default
// 4000) kernels of each GPU (device, start and end in us on the shared clock, name), so that the
// ranks of a step can be lined up; under TP the summary also says how far apart the ranks' starts
// and ends of each residual exchange were, on average. libcupti is opened at run time; without it, or in a build whose
// toolkit has no cupti.h, the variable only gets a line on stderr.
#pragma once

namespace effitune::engine::cuda {

// Starts tracing if EFFITUNE_CUDA_TRACE is set; once per process, later calls do nothing. Call it
// after the CUDA runtime is initialised (its exit handlers must run after this one's).
void start_kernel_trace_from_env();

}  // namespace effitune::engine::cuda
