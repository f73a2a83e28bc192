// Evaluation-set JSONL reader: validates every field and names the line and field of any error.
#include "effitune/probes/dataset.h"

#include <fstream>
#include <unordered_map>

#include "json_line.h"
#include "line_reader.h"

namespace effitune::probes {
namespace {

using nlohmann::json;

// Validation context for one line: every error it produces starts with "<source>:<line>: field 'x'".
class Fields {
 public:
  Fields(const json& obj, std::string_view source, size_t line) : obj_(obj), source_(source), line_(line) {}

  Status error(const std::string& field, const std::string& what) const {
    return invalid_argument(detail::where(source_, line_) + "field '" + field + "': " + what);
  }

  // The member `name`, or nullptr when absent.
  const json* find(const char* name) const {
    const auto it = obj_.find(name);
    return it == obj_.end() ? nullptr : &*it;
  }

  Result<std::string> string(const json* v, const std::string& field) const {
    if (v == nullptr) return error(field, "missing; expected a string");
    if (!v->is_string()) return error(field, "expected a string, got " + std::string(v->type_name()) + " " + detail::describe(*v));
    return v->get<std::string>();
  }
  Result<std::string> required_string(const char* name) const { return string(find(name), name); }

 private:
  const json& obj_;
  std::string_view source_;
  size_t line_;
};

Status parse_turns(const Fields& f, EvalItem& item) {
  const json* turns = f.find("turns");
  if (turns == nullptr) return f.error("turns", "missing; expected an array of {\"role\", \"content\"} objects");
  if (!turns->is_array()) return f.error("turns", "expected an array, got " + std::string(turns->type_name()));
  for (size_t i = 0; i < turns->size(); ++i) {
    const json& t = (*turns)[i];
    const std::string field = "turns[" + std::to_string(i) + "]";
    if (!t.is_object()) return f.error(field, "expected an object with \"role\" and \"content\"");
    const auto role_it = t.find("role");
    EFFITUNE_ASSIGN_OR_RETURN(std::string role, f.string(role_it == t.end() ? nullptr : &*role_it, field + ".role"));
    Turn turn;
    if (role == "user") {
      turn.role = Role::kUser;
    } else if (role == "assistant") {
      turn.role = Role::kAssistant;
    } else {
      return f.error(field + ".role", "expected \"user\" or \"assistant\", got " + detail::describe(json(role)));
    }
    const auto content_it = t.find("content");
    EFFITUNE_ASSIGN_OR_RETURN(turn.content, f.string(content_it == t.end() ? nullptr : &*content_it, field + ".content"));
    item.turns.push_back(std::move(turn));
  }
  return Status::ok_status();
}

Status parse_rest(const Fields& f, EvalItem& item) {
  const json* kps = f.find("key_points");
  if (kps == nullptr) return f.error("key_points", "missing; expected an array of strings (may be empty)");
  if (!kps->is_array()) return f.error("key_points", "expected an array of strings, got " + std::string(kps->type_name()));
  for (size_t i = 0; i < kps->size(); ++i) {
    EFFITUNE_ASSIGN_OR_RETURN(std::string kp, f.string(&(*kps)[i], "key_points[" + std::to_string(i) + "]"));
    item.key_points.push_back(std::move(kp));
  }
  EFFITUNE_ASSIGN_OR_RETURN(std::string type, f.required_string("answer_type"));
  if (type == "short") {
    item.answer_type = AnswerType::kShort;
  } else if (type == "long") {
    item.answer_type = AnswerType::kLong;
  } else {
    return f.error("answer_type", "expected \"short\" or \"long\", got " + detail::describe(json(type)));
  }
  const json* dep = f.find("depends_on_history");
  if (dep == nullptr || !dep->is_boolean()) {
    return f.error("depends_on_history", dep == nullptr ? "missing; expected true or false"
                                                        : "expected true or false, got " + detail::describe(*dep));
  }
  item.depends_on_history = dep->get<bool>();
  if (const json* ft = f.find("fact_turn"); ft != nullptr && !ft->is_null()) {
    if (!ft->is_number_integer()) return f.error("fact_turn", "expected an integer turn index, got " + detail::describe(*ft));
    const auto idx = ft->get<int64_t>();
    if (idx != -1) {  // -1 is the generator's "no fact turn"
      if (idx < 0 || static_cast<uint64_t>(idx) >= item.turns.size()) {
        return f.error("fact_turn", "index " + std::to_string(idx) + " is outside turns (" +
                                        std::to_string(item.turns.size()) + " turns); use -1 or null for none");
      }
      item.fact_turn = static_cast<size_t>(idx);
    }
  }
  if (const json* sys = f.find("system"); sys != nullptr && !sys->is_null()) {
    EFFITUNE_ASSIGN_OR_RETURN(std::string s, f.string(sys, "system"));
    item.system = std::move(s);
  }
  return Status::ok_status();
}

Result<EvalItem> parse_item(const json& obj, std::string_view source, size_t line) {
  const Fields f(obj, source, line);
  EvalItem item;
  item.line = line;
  EFFITUNE_ASSIGN_OR_RETURN(item.id, f.required_string("id"));
  if (item.id.empty()) return f.error("id", "must not be empty");
  EFFITUNE_RETURN_IF_ERROR(parse_turns(f, item));
  EFFITUNE_ASSIGN_OR_RETURN(item.question, f.required_string("question"));
  EFFITUNE_ASSIGN_OR_RETURN(item.answer, f.required_string("answer"));
  EFFITUNE_RETURN_IF_ERROR(parse_rest(f, item));
  return item;
}

}  // namespace

const char* role_name(Role role) { return role == Role::kUser ? "user" : "assistant"; }
const char* answer_type_name(AnswerType type) { return type == AnswerType::kShort ? "short" : "long"; }

Result<std::vector<EvalItem>> parse_dataset(std::istream& in, std::string_view source, const DatasetOptions& options) {
  std::vector<EvalItem> items;
  std::unordered_map<std::string, size_t> id_lines;
  detail::LineReader reader(in, options.max_line_bytes);
  std::string line;
  for (;;) {
    const auto next = reader.next(line);
    if (next == detail::LineReader::Next::kEof) break;
    const size_t line_no = reader.line_number();
    if (next == detail::LineReader::Next::kTooLong) {
      return invalid_argument(detail::where(source, line_no) + "line is longer than " +
                              std::to_string(options.max_line_bytes) + " bytes; split the record or raise max_line_bytes");
    }
    if (detail::is_blank(line)) continue;
    if (items.size() >= options.max_items) {
      return invalid_argument(detail::where(source, line_no) + "more than " + std::to_string(options.max_items) +
                              " items; split the evaluation set");
    }
    EFFITUNE_ASSIGN_OR_RETURN(json obj, detail::parse_json_object_line(line, source, line_no));
    EFFITUNE_ASSIGN_OR_RETURN(EvalItem item, parse_item(obj, source, line_no));
    const auto [it, inserted] = id_lines.emplace(item.id, line_no);
    if (!inserted) {
      return invalid_argument(detail::where(source, line_no) + "field 'id': duplicate id \"" + item.id +
                              "\", first used on line " + std::to_string(it->second));
    }
    items.push_back(std::move(item));
  }
  if (in.bad()) return data_loss(std::string(source) + ": read error after line " + std::to_string(reader.line_number()));
  return items;
}

Result<std::vector<EvalItem>> read_dataset(const std::string& path, const DatasetOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open the evaluation set; check the path");
  return parse_dataset(in, path, options);
}

}  // namespace effitune::probes
