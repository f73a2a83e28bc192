// Helpers shared by the CLI commands: engine knobs, argument parsing, error reporting.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/engine.h"

namespace effitune::cli {

namespace po = boost::program_options;

// Adds --model, --backend, --quant, --threads, --device, --gpu-count, --context, --kv-block-size.
void add_engine_options(po::options_description& desc);
// Builds an EngineConfig from parsed options; kInvalidArgument names the bad option.
Result<engine::EngineConfig> engine_config_from(const po::variables_map& vm);

// The study file every study command reads or writes unless --db names another.
constexpr const char* kDefaultStudyDb = "./effitune.db";

// Parses argv with `desc` (and positional arguments `pos`). Returns nullopt after printing help
// (exit 0) or a usage error (exit 2), with the exit code in `exit_code`.
std::optional<po::variables_map> parse_args(int argc, char** argv, const po::options_description& desc,
                                            const po::positional_options_description& pos, const char* usage,
                                            const char* teaching, int& exit_code);
std::optional<po::variables_map> parse_args(int argc, char** argv, const po::options_description& desc,
                                            const char* usage, const char* teaching, int& exit_code);

// "1,2,3" -> ids; kInvalidArgument naming the bad element.
Result<std::vector<int32_t>> parse_id_list(const std::string& text, const std::string& option);
// Prints "effitune <cmd>: <status>" to stderr and returns the exit code for it (1): the command ran
// and failed (a file, the model, the engine, the study).
int report_error(const char* command, const Status& status);
// An option value the command rejects after parsing (out of range, two options that exclude each
// other, a malformed list): prints "effitune <cmd>: <message> (try 'effitune <cmd> --help')" and
// returns the usage exit code (2), as parse_args does for options it cannot parse at all.
int usage_error(const char* command, const std::string& message);
int usage_error(const char* command, const Status& status);
// Reads a whole text file; kNotFound names the path.
Result<std::string> read_text_file(const std::string& path);

}  // namespace effitune::cli
