// effitune report: the recommendation report of a study as HTML, Markdown or JSON.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli_util.h"
#include "commands.h"
#include "effitune/orchestrator/report.h"
#include "effitune/orchestrator/study_store.h"

namespace effitune::cli {

int run_report(int argc, char** argv) {
  namespace orch = effitune::orchestrator;
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help")(
      "db", po::value<std::string>()->default_value(kDefaultStudyDb), "the study file (SQLite)")(
      "experiment", po::value<std::string>(), "the experiment's name (default: the study's latest experiment)")(
      "format", po::value<std::string>()->default_value("html"), "html | md | json")(
      "out", po::value<std::string>(), "the report file to write (replaced)");
  int code = 0;
  auto vm = parse_args(argc, argv, desc, "effitune report [--db FILE] [--experiment NAME] --format html|md|json --out FILE",
                       "The recommendation first (configuration, GPUs and replicas for the volumetry goal, R vs R0, E vs\n"
                       "E0, Q and its parts with 95% intervals, SLO margins, whether spending more pays back (E1), ties\n"
                       "within noise); then charts with a one-line reading each, the trial table and what is needed to\n"
                       "reproduce it. HTML is one self-contained file (inline SVG, no network); JSON follows\n"
                       "experiments/report.schema.json.",
                       code);
  if (!vm) return code;
  const auto format = orch::parse_report_format((*vm)["format"].as<std::string>());
  if (!format) return usage_error("report", "--format '" + (*vm)["format"].as<std::string>() + "' is unknown; use html, md or json");
  if (!vm->count("out")) return usage_error("report", "--out FILE is required (where to write the report)");
  const std::string db = (*vm)["db"].as<std::string>();
  std::error_code ec;
  // Never create a study here: a typo in --db must not leave an empty file behind.
  if (!std::filesystem::is_regular_file(db, ec)) {
    return report_error("report", not_found("no study at " + db + "; run `effitune run EXPERIMENT.yaml --db " + db +
                                            "` first, or pass --db"));
  }
  auto store = orch::StudyStore::open(db);
  if (!store.ok()) return report_error("report", store.status());
  const std::string name = vm->count("experiment") ? (*vm)["experiment"].as<std::string>() : "";
  auto model = orch::build_report_model(**store, name);
  if (!model.ok()) return report_error("report", model.status());
  const std::string out = (*vm)["out"].as<std::string>();
  if (Status s = orch::write_report(*model, *format, out); !s.ok()) return report_error("report", s);
  std::cout << "wrote " << out << ": " << model->recommendation.headline << "\n";
  return kExitOk;
}

}  // namespace effitune::cli
