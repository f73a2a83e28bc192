// Renders the HTML report of a real study (written through the StudyStore API, exported by the
// `effitune report` binary) in headless Chromium (Debian's `chromium`, from scripts/install_deps.sh).
// A JavaScript error fails the test; the trial table must sort; the browser must see every chart point;
// a screenshot is saved as <build>/report_browser/report.png for a person to look at.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "report_test_study.h"
#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

namespace fs = std::filesystem;

constexpr const char* kChromiumFlags =
    " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    " --disable-component-update --disable-sync --enable-logging=stderr --v=0";

// Collects uncaught errors from the first line of the page on.
constexpr const char* kHeadProbe =
    "<script>window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message));});"
    "</script>";

// Runs after the report's own script: sorts the trial table by E both ways, checks the order, and
// writes what it found into the DOM for --dump-dom.
constexpr const char* kTailProbe = R"JS(<script>(function(){
var out={errors:window.__errors,sortable:null,ascending:false,descending:false,marks:0};
try{
 var t=document.getElementById('trial-table');out.sortable=t.getAttribute('data-sortable');
 var col=-1;Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){if(th.textContent==='E')col=i;});
 function vals(){return Array.prototype.map.call(t.tBodies[0].rows,function(r){return r.cells[col].getAttribute('data-v');})
   .filter(function(v){return v!=='';}).map(Number);}
 function sorted(v,dir){for(var i=1;i<v.length;i++){if((v[i]-v[i-1])*dir<0)return false;}return v.length>1;}
 t.tHead.rows[0].cells[col].click();out.ascending=sorted(vals(),1);
 t.tHead.rows[0].cells[col].click();out.descending=sorted(vals(),-1);
 out.marks=document.querySelectorAll('svg [data-trial]').length;
}catch(e){out.errors.push('probe: '+e.message);}
var pre=document.createElement('pre');pre.id='probe';pre.textContent=JSON.stringify(out);document.body.appendChild(pre);
})();</script>)JS";

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

int run(const std::string& cmd) { return std::system(("timeout 180 " + cmd).c_str()); }

TEST(ReportBrowser, RealStudyRendersInChromiumWithoutScriptErrors) {
  ASSERT_TRUE(fs::exists("/usr/bin/chromium")) << "install chromium (scripts/install_deps.sh)";
  const std::string cli = testing::binary_dir() + "/cli/effitune";
  ASSERT_TRUE(fs::exists(cli)) << "build the effitune binary first: " << cli;
  const std::string dir = testing::make_temp_dir("report_browser");
  const std::string out_dir = testing::binary_dir() + "/report_browser";
  fs::create_directories(out_dir);
  {
    auto s = testing::build_report_study(dir + "/study.db", 12, {4, 9}, /*drift=*/true);
  }
  const std::string html_path = out_dir + "/report.html";
  ASSERT_EQ(run(cli + " report --db " + dir + "/study.db --format html --out " + html_path + " > " + dir + "/cli.log 2>&1"), 0)
      << slurp(dir + "/cli.log");
  const std::string html = slurp(html_path);
  const std::regex mark("data-trial=\"");
  const auto expected_marks = std::distance(std::sregex_iterator(html.begin(), html.end(), mark), std::sregex_iterator());
  ASSERT_GT(expected_marks, 20);

  std::string probed = html;
  probed.insert(probed.find("<head>") + 6, kHeadProbe);
  probed.insert(probed.rfind("</body>"), kTailProbe);
  std::ofstream(dir + "/probed.html") << probed;

  const std::string flags = std::string(kChromiumFlags) + " --user-data-dir=" + dir + "/profile";
  ASSERT_EQ(run("/usr/bin/chromium" + flags + " --dump-dom file://" + dir + "/probed.html > " + dir + "/dom.html 2> " + dir +
                "/dom.log"),
            0)
      << slurp(dir + "/dom.log");
  const std::string png = out_dir + "/report.png";
  fs::remove(png);
  ASSERT_EQ(run("/usr/bin/chromium" + flags + " --hide-scrollbars --window-size=1400,3000 --screenshot=" + png + " file://" +
                html_path + " > " + dir + "/shot.log 2>&1"),
            0)
      << slurp(dir + "/shot.log");

  for (const char* log : {"/dom.log", "/shot.log"}) {
    const std::string text = slurp(dir + log);
    EXPECT_EQ(text.find("Uncaught"), std::string::npos) << log << ":\n" << text;
  }
  const std::string dom = slurp(dir + "/dom.html");
  const size_t at = dom.find("<pre id=\"probe\">");
  ASSERT_NE(at, std::string::npos) << "the probe did not run; DOM:\n" << dom.substr(0, 2000);
  const size_t begin = at + 16, end = dom.find("</pre>", begin);
  std::string text = dom.substr(begin, end - begin);
  for (auto [from, to] : {std::pair{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}}) {
    text = std::regex_replace(text, std::regex(from), to);
  }
  const auto probe = nlohmann::json::parse(text);
  EXPECT_TRUE(probe["errors"].empty()) << probe["errors"].dump();
  EXPECT_EQ(probe["sortable"], "ready");
  EXPECT_TRUE(probe["ascending"].get<bool>());
  EXPECT_TRUE(probe["descending"].get<bool>());
  EXPECT_EQ(probe["marks"].get<int64_t>(), expected_marks);  // the browser parsed every SVG point
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 20'000u);
  std::cout << "screenshot: " << png << "\n";
}

}  // namespace
}  // namespace effitune::orchestrator
