#include "bench/sweep_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>

namespace kiln::bench {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string cell(const std::optional<double>& v, double scale = 1.0) {
  return v ? fmt("%.6g", *v * scale) : std::string();
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A 1-2-5 tick step giving about `target` ticks over [0, max].
double tick_step(double max, int target) {
  if (max <= 0) return 1;
  const double raw = max / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10 * mag;
}

struct Series {
  const char* name;
  const char* color;
  bool dashed;
  std::function<std::optional<double>(const LoadReport&)> y;  // seconds
};

// One panel at (x0, y0) of size w x h; latencies drawn in ms.
void panel(std::string& svg, const std::vector<SweepPoint>& points, const std::vector<Series>& series,
           const std::string& y_title, double x0, double y0, double w, double h) {
  double max_x = 0, max_y = 0;
  for (const auto& p : points) {
    max_x = std::max(max_x, p.report->output_throughput);
    for (const auto& s : series) {
      if (auto v = s.y(*p.report)) max_y = std::max(max_y, *v * 1000.0);
    }
  }
  const double step_x = tick_step(max_x, 5), step_y = tick_step(max_y, 5);
  const double top_x = std::max(step_x, std::ceil(max_x / step_x) * step_x);
  const double top_y = std::max(step_y, std::ceil(max_y / step_y) * step_y);
  auto px = [&](double x) { return x0 + x / top_x * w; };
  auto py = [&](double y) { return y0 + h - y / top_y * h; };
  svg += "<rect x=\"" + fmt("%.1f", x0) + "\" y=\"" + fmt("%.1f", y0) + "\" width=\"" + fmt("%.1f", w) +
         "\" height=\"" + fmt("%.1f", h) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (double t = 0; t <= top_x + step_x / 2; t += step_x) {
    svg += "<line x1=\"" + fmt("%.1f", px(t)) + "\" y1=\"" + fmt("%.1f", y0 + h) + "\" x2=\"" +
           fmt("%.1f", px(t)) + "\" y2=\"" + fmt("%.1f", y0 + h + 5) + "\" stroke=\"#333\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", px(t)) + "\" y=\"" + fmt("%.1f", y0 + h + 18) +
           "\" text-anchor=\"middle\">" + fmt("%g", t) + "</text>\n";
  }
  for (double t = 0; t <= top_y + step_y / 2; t += step_y) {
    svg += "<line x1=\"" + fmt("%.1f", x0 - 5) + "\" y1=\"" + fmt("%.1f", py(t)) + "\" x2=\"" +
           fmt("%.1f", x0 + w) + "\" y2=\"" + fmt("%.1f", py(t)) + "\" stroke=\"#ddd\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", x0 - 8) + "\" y=\"" + fmt("%.1f", py(t) + 4) +
           "\" text-anchor=\"end\">" + fmt("%g", t) + "</text>\n";
  }
  svg += "<text x=\"" + fmt("%.1f", x0 + w / 2) + "\" y=\"" + fmt("%.1f", y0 + h + 40) +
         "\" text-anchor=\"middle\">output tokens/s</text>\n";
  svg += "<text transform=\"translate(" + fmt("%.1f", x0 - 55) + "," + fmt("%.1f", y0 + h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(y_title) + "</text>\n";
  double legend_y = y0 + 16;
  for (const auto& s : series) {
    std::string path;
    for (const auto& p : points) {
      auto v = s.y(*p.report);
      if (!v) continue;
      const double x = px(p.report->output_throughput), y = py(*v * 1000.0);
      path += (path.empty() ? "M" : " L") + fmt("%.1f", x) + "," + fmt("%.1f", y);
      svg += "<circle cx=\"" + fmt("%.1f", x) + "\" cy=\"" + fmt("%.1f", y) + "\" r=\"3.5\" fill=\"" +
             s.color + "\"/>\n";
      svg += "<text x=\"" + fmt("%.1f", x + 5) + "\" y=\"" + fmt("%.1f", y - 6) +
             "\" font-size=\"10\" fill=\"" + s.color + "\">" + fmt("%g", p.value) + "</text>\n";
    }
    if (!path.empty()) {
      svg += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"1.5\"" +
             (s.dashed ? " stroke-dasharray=\"5,3\"" : "") + "/>\n";
    }
    svg += "<line x1=\"" + fmt("%.1f", x0 + 10) + "\" y1=\"" + fmt("%.1f", legend_y) + "\" x2=\"" +
           fmt("%.1f", x0 + 30) + "\" y2=\"" + fmt("%.1f", legend_y) + "\" stroke=\"" + s.color +
           "\" stroke-width=\"1.5\"" + (s.dashed ? " stroke-dasharray=\"5,3\"" : "") + "/>\n";
    svg += "<text x=\"" + fmt("%.1f", x0 + 35) + "\" y=\"" + fmt("%.1f", legend_y + 4) + "\">" + s.name +
           "</text>\n";
    legend_y += 16;
  }
}

}  // namespace

std::string sweep_csv(const std::vector<SweepPoint>& points) {
  std::string csv =
      "setting,value,request_throughput,output_throughput,total_token_throughput,ttft_mean_ms,"
      "ttft_p50_ms,ttft_p99_ms,tpot_mean_ms,tpot_p50_ms,tpot_p99_ms,itl_p50_ms,itl_p99_ms,"
      "e2e_p50_ms,e2e_p99_ms,goodput_request_rate,completed,failed\n";
  for (const auto& p : points) {
    const LoadReport& r = *p.report;
    csv += p.setting + "," + fmt("%g", p.value) + "," + fmt("%.6g", r.request_throughput) + "," +
           fmt("%.6g", r.output_throughput) + "," + fmt("%.6g", r.total_token_throughput) + "," +
           cell(r.ttft_s.mean, 1e3) + "," + cell(r.ttft_s.median, 1e3) + "," + cell(r.ttft_s.p99, 1e3) +
           "," + cell(r.tpot_s.mean, 1e3) + "," + cell(r.tpot_s.median, 1e3) + "," +
           cell(r.tpot_s.p99, 1e3) + "," + cell(r.itl_s.median, 1e3) + "," + cell(r.itl_s.p99, 1e3) +
           "," + cell(r.e2e_s.median, 1e3) + "," + cell(r.e2e_s.p99, 1e3) + "," +
           (r.goodput ? fmt("%.6g", r.goodput->request_rate) : std::string()) + "," +
           std::to_string(r.completed) + "," + std::to_string(r.failed) + "\n";
  }
  return csv;
}

std::string sweep_svg(const std::vector<SweepPoint>& points, const std::string& title) {
  const double width = 1000, height = 460;
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%g", width) + "\" height=\"" +
         fmt("%g", height) + "\" viewBox=\"0 0 " + fmt("%g", width) + " " + fmt("%g", height) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + fmt("%g", width / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" +
         xml_escape(title) + "</text>\n";
  const std::string by = points.empty() ? "" : points.front().setting == "concurrency" ? "concurrency" : "request rate";
  svg += "<text x=\"" + fmt("%g", width / 2) + "\" y=\"42\" text-anchor=\"middle\" fill=\"#555\">points labelled with the " +
         by + "</text>\n";
  const std::vector<Series> tpot = {
      {"median TPOT", "#1f77b4", false, [](const LoadReport& r) { return r.tpot_s.median; }},
      {"p99 TPOT", "#1f77b4", true, [](const LoadReport& r) { return r.tpot_s.p99; }}};
  const std::vector<Series> ttft = {
      {"median TTFT", "#d62728", false, [](const LoadReport& r) { return r.ttft_s.median; }},
      {"p99 TTFT", "#d62728", true, [](const LoadReport& r) { return r.ttft_s.p99; }}};
  panel(svg, points, tpot, "TPOT (ms)", 90, 70, 360, 320);
  panel(svg, points, ttft, "TTFT (ms)", 590, 70, 360, 320);
  svg += "</svg>\n";
  return svg;
}

}  // namespace kiln::bench
