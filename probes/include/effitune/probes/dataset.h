// Reader for evaluation sets in JSONL (experiments/*/*.jsonl). One JSON object per line:
//
//   {"id": "test-000001",                      required, non-empty, unique in the file
//    "system": "You are ...",                  optional string
//    "turns": [{"role": "user" | "assistant", "content": "..."}, ...],   required, may be empty
//    "question": "...",                        required: the final user message
//    "answer": "...",                          required: the reference answer
//    "key_points": ["...", ...],               required array of strings (may be empty)
//    "answer_type": "short" | "long",          required
//    "depends_on_history": true | false,       required
//    "fact_turn": 3}                           optional index into turns of the turn holding the
//                                              fact; null or -1 mean "none"
//
// Unknown fields are ignored so the generator can add metadata. Empty (or all-whitespace) lines are
// skipped; "\r\n" line ends are accepted. Every line must be valid UTF-8 and at most
// max_line_bytes long: a longer line is rejected without being read into memory whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::probes {

enum class Role : uint8_t { kUser, kAssistant };
enum class AnswerType : uint8_t { kShort, kLong };

struct Turn {
  Role role = Role::kUser;
  std::string content;
};

struct EvalItem {
  std::string id;
  std::optional<std::string> system;
  std::vector<Turn> turns;
  std::string question;
  std::string answer;
  std::vector<std::string> key_points;
  AnswerType answer_type = AnswerType::kShort;
  bool depends_on_history = false;
  std::optional<size_t> fact_turn;
  size_t line = 0;  // 1-based line in the source file, for messages
};

struct DatasetOptions {
  size_t max_line_bytes = size_t{1} << 20;  // 1 MiB
  size_t max_items = 1'000'000;
};

// Parses a whole evaluation set from `in`; `source` names it in messages (a path or "<stdin>").
// Returns kInvalidArgument on the first bad line, with a message of the form
//   "<source>:<line>: field 'turns[2].role': expected \"user\" or \"assistant\", got \"bot\""
// (also for bad UTF-8 with its byte column, bad JSON, a duplicate id naming the earlier line, a
// line over max_line_bytes, or more than max_items items). An empty set is valid.
Result<std::vector<EvalItem>> parse_dataset(std::istream& in, std::string_view source,
                                            const DatasetOptions& options = {});

// Opens and parses `path`. Returns kNotFound if it cannot be opened, else as parse_dataset.
Result<std::vector<EvalItem>> read_dataset(const std::string& path, const DatasetOptions& options = {});

const char* role_name(Role role);
const char* answer_type_name(AnswerType type);

}  // namespace effitune::probes
