/* Indicators dashboard: cards for the latest month, ECharts trend charts, a table; data from
   /api/analytics/indicators. Marks body[data-dashboard-ready] when drawn (for tests and people). */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("an-config").textContent);
  const t = cfg.labels;
  const statusEl = document.getElementById("an-status");
  const params = new URLSearchParams(window.location.search);
  const query = new URLSearchParams({ code: cfg.code });
  if (params.get("month")) query.set("month", params.get("month"));
  document.getElementById("an-xlsx").href = cfg.xlsx + "?" + query;
  document.getElementById("an-print").href = cfg.print + "?" + query;

  const esc = window.linli.esc;
  function fmt(cell, unit) {
    if (!cell || cell.value === null || cell.value === undefined) return "—";
    if (unit === "ratio") return (cell.value * 100).toFixed(1) + "%";
    if (unit === "per1000") return cell.value.toFixed(2);
    // a count per something (patrols per grid: 2.3333): one decimal, whole numbers as they are
    return Number.isInteger(cell.value) ? String(cell.value) : cell.value.toFixed(1);
  }
  function tip(cell) {
    return cell && cell.den !== null && cell.den !== undefined ? cell.num + " / " + cell.den : "";
  }

  function draw(data) {
    document.getElementById("an-title").textContent = data.area.name + " · " + data.month;
    const avail = data.indicators.filter((i) => i.available);
    document.getElementById("an-cards").innerHTML = data.indicators.map((i) =>
      "<div class='an-card" + (i.available ? "" : " muted") + "' data-key='" + esc(i.key) + "'>" +
      "<div class='an-card-label'>" + esc(i.label) + "</div>" +
      "<div class='an-card-value' title='" + esc(tip(data.latest[i.key])) + "'>" +
      esc(i.available ? fmt(data.latest[i.key], i.unit) : t.missing) + "</div></div>").join("");

    const months = data.trend.map((r) => r.month);
    const rates = avail.filter((i) => i.unit === "ratio");
    const rateChart = echarts.init(document.getElementById("chart-rates"));
    rateChart.setOption({
      title: { text: t.trend + " · " + t.rates, textStyle: { fontSize: 14 } },
      tooltip: { trigger: "axis", valueFormatter: (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%") },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 60 },
      xAxis: { type: "category", data: months },
      yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => Math.round(v * 100) + "%" } },
      series: rates.map((i) => ({ name: i.label, type: "line", connectNulls: false,
                                   data: data.trend.map((r) => r[i.key].value) })),
    });
    const complaints = avail.find((i) => i.key === "complaints_per_1000");
    const cChart = echarts.init(document.getElementById("chart-complaints"));
    cChart.setOption({
      title: { text: t.complaints, textStyle: { fontSize: 14 } },
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 20, top: 40, bottom: 40 },
      xAxis: { type: "category", data: months },
      yAxis: { type: "value" },
      series: [{ name: t.complaints, type: "bar", itemStyle: { color: "#b91c1c" },
                 data: complaints ? data.trend.map((r) => r.complaints_per_1000.value) : [] }],
    });
    const childEl = document.getElementById("chart-children");
    if (data.children.length) {
      const kids = echarts.init(childEl);
      kids.setOption({
        title: { text: t.communities, textStyle: { fontSize: 14 } },
        tooltip: { trigger: "axis", valueFormatter: (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%") },
        legend: { type: "scroll", bottom: 0 },
        grid: { left: 50, right: 20, top: 40, bottom: 60 },
        xAxis: { type: "category", data: data.children.map((c) => c.name) },
        yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => Math.round(v * 100) + "%" } },
        series: rates.map((i) => ({ name: i.label, type: "bar", data: data.children.map((c) => c[i.key].value) })),
      });
    } else {
      childEl.remove();
    }
    const head = "<thead><tr><th>" + esc(t.month) + "</th>" + data.indicators.map((i) => "<th>" + esc(i.label) + "</th>").join("") + "</tr></thead>";
    const body = data.trend.map((r) => "<tr><th>" + esc(r.month) + "</th>" + data.indicators.map((i) =>
      "<td title='" + esc(tip(r[i.key])) + "'>" + esc(fmt(r[i.key], i.unit)) + "</td>").join("") + "</tr>").join("");
    document.getElementById("an-table").innerHTML = head + "<tbody>" + body + "</tbody>";
    document.getElementById("an-notes").innerHTML = data.notes.map((n) => "<li>" + esc(n) + "</li>").join("");
    window.addEventListener("resize", () => document.querySelectorAll(".an-chart").forEach((el) => echarts.getInstanceByDom(el)?.resize()));
  }

  fetch(cfg.api + "?" + query, { headers: { Accept: "application/json" } })
    .then(async (res) => {
      const body = await res.json();
      if (!res.ok) throw new Error(body.error || res.statusText);
      return body;
    })
    .then((data) => { draw(data); statusEl.textContent = ""; statusEl.hidden = true; document.body.dataset.dashboardReady = "ready"; })
    .catch((err) => { statusEl.textContent = t.failed + ": " + err.message; statusEl.classList.add("error"); document.body.dataset.dashboardReady = "error"; });
})();
