// steady_now_s, names, and the null target.
#include "effitune/probes/target.h"

#include <chrono>

namespace effitune::probes {

double steady_now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kError: return "error";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

namespace {

class NullTarget : public Target {
 public:
  std::string name() const override { return "null"; }
  void submit(const TargetRequest& request, std::shared_ptr<StreamSink> sink) override {
    const double t = steady_now_s();
    TargetFinish finish;
    finish.reason = FinishReason::kLength;
    finish.output_tokens = request.max_tokens > 0 ? request.max_tokens : 1;
    sink->on_tokens(finish.output_tokens, t);
    sink->on_finish(finish, t);
  }
};

}  // namespace

std::unique_ptr<Target> make_null_target() { return std::make_unique<NullTarget>(); }

}  // namespace effitune::probes
