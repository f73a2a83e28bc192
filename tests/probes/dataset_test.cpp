// Evaluation-set reader: good input round-trips every field; each kind of bad input fails with a
// message naming the source, the line and the field.
#include "effitune/probes/dataset.h"

#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "support/paths.h"

namespace effitune::probes {
namespace {

const char* kGood =
    R"({"id": "a-1", "system": "Be brief.", "turns": [{"role": "user", "content": "Order 54526."}, )"
    R"({"role": "assistant", "content": "Noted."}], "question": "Which order?", "answer": "54526", )"
    R"("key_points": ["54526"], "answer_type": "short", "depends_on_history": true, "fact_turn": 0, "extra": 1})";
const char* kGood2 =
    R"({"id": "a-2", "turns": [], "question": "Hours?", "answer": "10 am to 8 pm.", "key_points": [], )"
    R"("answer_type": "long", "depends_on_history": false, "fact_turn": -1})";

Result<std::vector<EvalItem>> parse(const std::string& text, DatasetOptions options = {}) {
  std::istringstream in(text);
  return parse_dataset(in, "set.jsonl", options);
}

// Expects an error whose message contains every fragment.
void expect_error(const std::string& text, const std::vector<std::string>& fragments, DatasetOptions options = {}) {
  const auto r = parse(text, options);
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  for (const auto& f : fragments) EXPECT_NE(r.status().message().find(f), std::string::npos) << r.status().message();
}

TEST(Dataset, ParsesEveryField) {
  const auto r = parse(std::string(kGood) + "\n\n   \r\n" + kGood2 + "\r\n");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 2u);
  const auto& a = (*r)[0];
  EXPECT_EQ(a.id, "a-1");
  EXPECT_EQ(a.system, "Be brief.");
  ASSERT_EQ(a.turns.size(), 2u);
  EXPECT_EQ(a.turns[1].role, Role::kAssistant);
  EXPECT_EQ(a.turns[0].content, "Order 54526.");
  EXPECT_EQ(a.question, "Which order?");
  EXPECT_EQ(a.key_points, std::vector<std::string>{"54526"});
  EXPECT_EQ(a.answer_type, AnswerType::kShort);
  EXPECT_TRUE(a.depends_on_history);
  EXPECT_EQ(a.fact_turn, 0u);
  EXPECT_EQ(a.line, 1u);
  const auto& b = (*r)[1];
  EXPECT_FALSE(b.system.has_value());
  EXPECT_FALSE(b.fact_turn.has_value());  // -1 means none
  EXPECT_EQ(b.answer_type, AnswerType::kLong);
  EXPECT_EQ(b.line, 4u);
  EXPECT_TRUE(parse("").ok());
}

TEST(Dataset, MissingAndMistypedFields) {
  std::string no_answer = kGood2;
  no_answer.replace(no_answer.find(R"("answer": "10 am to 8 pm.", )"), 28, "");
  expect_error(std::string(kGood) + "\n" + no_answer, {"set.jsonl:2:", "field 'answer'", "missing"});
  std::string bad_role = kGood;
  bad_role.replace(bad_role.find("\"assistant\""), 11, "\"bot\"");
  expect_error(bad_role, {"set.jsonl:1:", "turns[1].role", "\"user\" or \"assistant\"", "\"bot\""});
  std::string bad_type = kGood2;
  bad_type.replace(bad_type.find("\"long\""), 6, "\"medium\"");
  expect_error(bad_type, {":1:", "answer_type", "\"short\" or \"long\""});
  std::string bad_bool = kGood2;
  bad_bool.replace(bad_bool.find("false"), 5, "\"no\"");
  expect_error(bad_bool, {"depends_on_history", "true or false"});
  std::string bad_kp = kGood;
  bad_kp.replace(bad_kp.find(R"(["54526"])"), 9, "[54526]");
  expect_error(bad_kp, {"key_points[0]", "expected a string", "number"});
  std::string bad_fact = kGood;
  bad_fact.replace(bad_fact.find("\"fact_turn\": 0"), 14, "\"fact_turn\": 2");
  expect_error(bad_fact, {"fact_turn", "outside turns (2 turns)"});
  expect_error(R"({"id": 5})", {"field 'id'", "expected a string"});
  expect_error("[1, 2]", {":1:", "expected a JSON object", "array"});
}

TEST(Dataset, BadJsonUtf8AndDuplicates) {
  expect_error(std::string(kGood) + "\n{\"id\": \"x\",", {"set.jsonl:2:", "not valid JSON"});
  std::string bad_utf8 = kGood2;
  bad_utf8.insert(bad_utf8.find("Hours"), "\xC3\x28");
  expect_error(std::string(kGood) + "\n" + bad_utf8, {"set.jsonl:2:", "invalid UTF-8 at byte"});
  expect_error(std::string(kGood) + "\n" + kGood, {"set.jsonl:2:", "duplicate id \"a-1\"", "line 1"});
  expect_error(std::string(40, '[') + std::string(40, ']'), {"nests deeper"});
}

TEST(Dataset, LongLineIsRejectedWithItsNumber) {
  DatasetOptions small;
  small.max_line_bytes = 512;
  std::string long_line = R"({"id": "x", "question": ")" + std::string(100000, 'q') + "\"}";
  expect_error(std::string(kGood) + "\n" + long_line + "\n" + kGood2, {"set.jsonl:2:", "longer than 512 bytes"}, small);
  // A line of exactly the limit is fine.
  std::string exact = kGood2;
  small.max_line_bytes = exact.size();
  EXPECT_TRUE(parse(exact + "\r\n", small).ok());
  DatasetOptions one;
  one.max_items = 1;
  expect_error(std::string(kGood) + "\n" + kGood2, {":2:", "more than 1 items"}, one);
}

TEST(Dataset, MissingFileIsNotFound) {
  EXPECT_EQ(read_dataset("/nonexistent/x.jsonl").status().code(), StatusCode::kNotFound);
}

TEST(Dataset, ShippedSupportDeskSplitsParse) {
  const std::string dir = effitune::testing::source_dir() + "/experiments/support-desk";
  bool any = false;
  for (const char* split : {"train.jsonl", "dev.jsonl", "test.jsonl"}) {
    const std::string path = dir + "/" + split;
    if (!std::filesystem::exists(path)) continue;
    any = true;
    const auto r = read_dataset(path);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_FALSE(r->empty()) << path;
  }
  if (!any) GTEST_SKIP() << "experiments/support-desk has no JSONL splits yet";
}

}  // namespace
}  // namespace effitune::probes
