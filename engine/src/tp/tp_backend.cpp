#include "tp/tp_backend.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cpu/cpu_backend.h"
#include "effitune/engine/communicator.h"
#include "tp/rank_threads.h"
#include "tp/shard.h"
#include "tp/step_gate.h"

namespace effitune::engine::tp {
namespace {

class TensorParallelBackend final : public Backend, public DeviceSampler {
 public:
  TensorParallelBackend(std::vector<std::unique_ptr<Communicator>> comms, std::vector<std::unique_ptr<Backend>> shards)
      : comms_(std::move(comms)), shards_(std::move(shards)), threads_(static_cast<int32_t>(shards_.size())) {
    for (auto& s : shards_) {
      greedy_.push_back(dynamic_cast<DeviceGreedy*>(s.get()));
      sampler_.push_back(dynamic_cast<DeviceSampler*>(s.get()));
      replay_.push_back(dynamic_cast<GraphReplayShard*>(s.get()));
    }
    const char* v = std::getenv("EFFITUNE_TP_ONE_THREAD");
    one_thread_ = (v == nullptr || std::string(v) != "0") &&
                  std::all_of(replay_.begin(), replay_.end(), [](GraphReplayShard* g) { return g != nullptr; });
  }

  std::string name() const override { return shards_[0]->name(); }
  std::string accelerator_model() const override { return shards_[0]->accelerator_model(); }
  std::string device_name() const override {
    return std::to_string(shards_.size()) + " x " + shards_[0]->device_name() + " (tensor-parallel, " +
           comms_[0]->name() + ")";
  }

  // Every rank gets the same steps, so every rank's validation takes the same branch: either all
  // return the error before their first collective, or none does.
  Status forward(std::span<const SequenceStep> steps, std::vector<float>& logits) override {
    return step([&](int32_t r) {
      return shards_[r]->forward(steps, r == 0 ? logits : scratch_[static_cast<size_t>(r)]);
    });
  }

  Status forward_greedy(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) override {
    if (greedy_[0] == nullptr) return unimplemented("forward_greedy: the " + name() + " backend has no device sampler");
    bool replayed = false;
    const Status st = replay_greedy(steps, tokens, replayed);
    if (replayed || !st.ok()) return st;
    return step([&](int32_t r) {
      if (r == 0) return greedy_[0]->forward_greedy(steps, tokens);
      std::vector<int32_t> ignored;
      return greedy_[r]->forward_greedy(steps, ignored);
    });
  }

  bool samples_on_device() const override { return sampler_[0] != nullptr; }

  // Every rank samples its own copy of the (all-reduced, identical) logits; rank 0's ids are returned.
  Status forward_sample(std::span<const SequenceStep> steps, std::span<const RowSampling> params,
                        std::vector<int32_t>& tokens) override {
    if (sampler_[0] == nullptr) return unimplemented("forward_sample: the " + name() + " backend has no device sampler");
    // Every row argmax: the ranks would each take their greedy path (CudaBackend::forward_sample);
    // taking it here lets its graph replays run from this thread (replay_greedy).
    if (one_thread_ && replay_[0]->routes_argmax_to_greedy() && params.size() == steps.size() &&
        std::all_of(params.begin(), params.end(), [](const RowSampling& p) { return validate(p).ok() && is_argmax(p); }))
      return forward_greedy(steps, tokens);
    return step([&](int32_t r) {
      if (r == 0) return sampler_[0]->forward_sample(steps, params, tokens);
      std::vector<int32_t> ignored;
      return sampler_[r]->forward_sample(steps, params, ignored);
    });
  }

  Status forward_topk(std::span<const SequenceStep> steps, int32_t k, std::vector<int32_t>& ids,
                      std::vector<float>& logprobs) override {
    if (sampler_[0] == nullptr) return unimplemented("forward_topk: the " + name() + " backend has no device sampler");
    return step([&](int32_t r) {
      if (r == 0) return sampler_[0]->forward_topk(steps, k, ids, logprobs);
      std::vector<int32_t> ignored_ids;
      std::vector<float> ignored_lp;
      return sampler_[r]->forward_topk(steps, k, ignored_ids, ignored_lp);
    });
  }

  void synchronize() override {
    for (DeviceGreedy* g : greedy_)
      if (g != nullptr) g->synchronize();
  }

  void start_collective_timing() override {
    for (auto& c : comms_) c->start_timing();
  }
  CollectiveTime collective_timing() const override { return comms_[0]->timing(); }

  void copy_block(int32_t src, int32_t dst) override {
    for (auto& s : shards_) s->copy_block(src, dst);
  }
  int64_t kv_bytes_per_block() const override {
    int64_t total = 0;
    for (const auto& s : shards_) total += s->kv_bytes_per_block();
    return total;
  }
  int64_t weight_bytes() const override {
    int64_t total = 0;
    for (const auto& s : shards_) total += s->weight_bytes();
    return total;
  }

 private:
  // Runs one step on every rank. A step that failed after its launches (a rank's launch error, an
  // exchange that gave up waiting: kInternal, kDeadlineExceeded) leaves the ranks' exchanges out of
  // step, so every later step fails at once instead of computing wrong sums. Errors before any
  // launch (bad steps, memory; kInvalidArgument, kResourceExhausted, kCancelled) leave it usable.
  Status step(const std::function<Status(int32_t)>& fn) {
    if (!broken_.ok())
      return failed_precondition("tensor-parallel group stopped after an earlier step failed (" + broken_.to_string() +
                                 "); create the backend again");
    Status st = threads_.run(fn);
    if (st.code() == StatusCode::kInternal || st.code() == StatusCode::kDeadlineExceeded) broken_ = st;
    return st;
  }

  // A greedy step whose graph every rank has captured, from this thread: stage every rank, launch
  // every rank, then finish every rank (GraphReplayShard). `replayed` false: nothing was launched,
  // and the step runs on the rank threads (a capture, a workspace growth, a prefill). On 2 x H100
  // (8B bf16, session 10) the rank threads' meetings cost a TP=2 decode step ~60 us of host time.
  // EFFITUNE_TP_ONE_THREAD=0: every step on the rank threads.
  Status replay_greedy(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens, bool& replayed) {
    replayed = false;
    if (!one_thread_ || !broken_.ok()) return {};
    for (GraphReplayShard* g : replay_) {
      bool replay = false;
      EFFITUNE_RETURN_IF_ERROR(g->stage_greedy(steps, replay));  // nothing launched yet: usable
      if (!replay) return {};
    }
    replayed = true;
    ++replayed_steps_;
    // A rank whose launch failed leaves the others' exchanges waiting for it until their watchdog
    // gives up; finishing every rank reports that (as the threaded path does).
    Status st;
    for (GraphReplayShard* g : replay_) {
      const Status launched = g->launch_staged();
      if (st.ok()) st = launched;
    }
    std::vector<int32_t> ignored;
    for (size_t r = 0; r < replay_.size(); ++r) {
      const Status finished = replay_[r]->finish_greedy(steps, r == 0 ? tokens : ignored);
      if (st.ok()) st = finished;
    }
    if (st.code() == StatusCode::kInternal || st.code() == StatusCode::kDeadlineExceeded) broken_ = st;
    return st;
  }

  Status broken_;
  // Declared before the shards, so destroyed after them: a CUDA shard may have collectives queued.
  std::vector<std::unique_ptr<Communicator>> comms_;
  std::vector<std::unique_ptr<Backend>> shards_;
  std::vector<DeviceGreedy*> greedy_;
  std::vector<DeviceSampler*> sampler_;
  std::vector<GraphReplayShard*> replay_;  // all non-null: CUDA ranks
  bool one_thread_ = false;

 public:
  int64_t replayed_steps_ = 0;  // steps replay_greedy ran (tp::replayed_steps)
  std::vector<std::vector<float>> scratch_ = std::vector<std::vector<float>>(shards_.size());  // ranks > 0's logits
  RankThreads threads_;
};

}  // namespace

int64_t replayed_steps(const Backend& b) {
  const auto* tp = dynamic_cast<const TensorParallelBackend*>(&b);
  return tp != nullptr ? tp->replayed_steps_ : 0;
}

Result<std::unique_ptr<Backend>> make_tensor_parallel_backend(std::shared_ptr<const ModelWeights> weights,
                                                              const BackendOptions& options,
                                                              const CudaBackendExtras& cuda) {
  if (!weights) return invalid_argument("tensor parallel: no model weights");
  const int32_t n = options.gpu_count;
  EFFITUNE_RETURN_IF_ERROR(check_degree(*weights, n));
  std::vector<std::unique_ptr<Communicator>> comms;
  if (options.kind == "cuda") {
    const int32_t visible = cuda_device_count();
    if (options.device < 0 || options.device + n > visible)
      return invalid_argument("gpu_count " + std::to_string(n) + " from device " + std::to_string(options.device) +
                              " needs " + std::to_string(options.device + n) + " GPUs, but " + std::to_string(visible) +
                              " are visible; lower gpu_count or use more replicas");
    EFFITUNE_ASSIGN_OR_RETURN(comms, make_cuda_tp_group(options.device, n));
  } else if (options.kind == "cpu") {
    comms = make_in_process_group(n);
  } else {
    return invalid_argument("tensor parallel: unknown backend kind '" + options.kind + "'");
  }

  std::vector<std::unique_ptr<Backend>> shards;
  auto gate = std::make_shared<StepGate>(n);  // the shards' step_gate keeps it alive
  for (int32_t r = 0; r < n; ++r) {
    // CUDA ranks split the LM head by vocabulary and all-reduce the logits (one 0.5 MB message per
    // token against 1 GB of head weights per rank for the 8B shape); the CPU keeps it replicated.
    EFFITUNE_ASSIGN_OR_RETURN(auto shard_w, shard_weights(weights, r, n, options.kind == "cuda"));
    BackendOptions o = options;
    o.gpu_count = 1;
    if (options.kind == "cuda") {
      o.device = options.device + r;
      CudaBackendExtras x = cuda;
      x.seed = cuda.seed + static_cast<uint64_t>(r);
      x.comm = comms[static_cast<size_t>(r)].get();
      x.step_gate = [gate](bool ready) { return gate->arrive(ready); };
      auto made = make_cuda_backend(std::move(shard_w), o, x);
      if (!made.ok()) return Status(made.status().code(), "rank " + std::to_string(r) + ": " + made.status().message());
      shards.push_back(std::move(made).value());
    } else {
      // The ranks share the cores: each gets its part of the thread budget.
      const int32_t total = options.threads > 0 ? options.threads
                                                : std::max(1, static_cast<int32_t>(std::thread::hardware_concurrency()));
      o.threads = std::max(1, total / n);
      EFFITUNE_ASSIGN_OR_RETURN(auto cpu, cpu::CpuBackend::create(std::move(shard_w), o, comms[static_cast<size_t>(r)].get()));
      shards.push_back(std::move(cpu));
    }
  }
  return std::unique_ptr<Backend>(new TensorParallelBackend(std::move(comms), std::move(shards)));
}

}  // namespace effitune::engine::tp
