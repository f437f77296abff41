/* The plan list: create a plan from the current areas or propose one, then open it in the editor;
   below, the community's neighbourhood grids as they are now, checked against the range typed in the
   proposal's Min and Max (re-checked as they change). */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("planning-config").textContent);
  const msg = document.getElementById("msg");
  function csrf() { const m = document.cookie.match(/csrftoken=([^;]+)/); return m ? m[1] : ""; }
  async function post(url, body) {
    msg.textContent = cfg.labels.working; msg.className = "msg";
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, body: JSON.stringify(body) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { msg.textContent = cfg.labels.failed + ": " + (data.error || res.status); msg.className = "msg error"; return; }
    location.href = cfg.editorUrl.replace("/0/", "/" + data.id + "/");
  }
  document.querySelectorAll("[data-new]").forEach((b) => b.addEventListener("click", () => post(cfg.plansUrl, { community: cfg.community, level: b.dataset.new })));
  const v = (id) => document.getElementById(id).value;
  document.getElementById("propose").addEventListener("click", () => post(cfg.proposalsUrl, { community: cfg.community, target: v("target"), min: v("min"), max: v("max") }));

  const esc = window.linli.esc;
  function span(counts) { return counts.length ? counts[0] + "–" + counts[counts.length - 1] : "–"; }
  function outside(counts, lo, hi) { return counts.filter((h) => h < lo || h > hi).length; }
  function stateRow(name, code, households, counts, gap, lo, hi, cls) {
    const bad = outside(counts, lo, hi);
    return "<tr class='" + cls + (bad || gap ? " warn" : "") + "'" + (code ? " data-code='" + esc(code) + "'" : "") + "><td>" + esc(name) +
      (code ? " <code>" + esc(code) + "</code>" : "") + "</td><td class='num'>" + households + "</td><td class='num'>" + counts.length +
      "</td><td class='num" + (bad ? " bad" : "") + "'>" + bad + "</td><td class='num'>" + span(counts) +
      "</td><td class='num" + (gap ? " bad" : "") + "'>" + gap + "</td></tr>";
  }
  function renderState() {
    const lo = Number(v("min")), hi = Number(v("max"));
    const all = [];
    let households = 0, gap = 0;
    const rows = cfg.state.map((g) => {
      all.push(...g.neighbourhoods);
      households += g.households;
      gap += g.unassigned;
      return stateRow(g.name, g.code, g.households, g.neighbourhoods, g.unassigned, lo, hi, "");
    });
    all.sort((a, b) => a - b);
    rows.push(stateRow(cfg.labels.total, "", households, all, gap, lo, hi, "total"));
    document.getElementById("state-rows").innerHTML = rows.join("");
    document.getElementById("state-summary").textContent = cfg.labels.stateSummary
      .replace("{bad}", outside(all, lo, hi)).replace("{n}", all.length)
      .replace("{min}", lo).replace("{max}", hi).replace("{gap}", gap);
  }
  ["min", "max"].forEach((id) => document.getElementById(id).addEventListener("input", renderState));
  renderState();
})();
