/* The planner's editor: a plan's polygons on a Leaflet map, edited with Leaflet-Geoman (draw, edit,
   cut, remove; split and merge through the server, which does the geometry with shapely). After every
   change the unsaved polygons are sent to the check API: each polygon shows its household count,
   coloured by its deviation from the plan's target on a diverging scale bounded by the plan's min and
   max (Districtr-style), and the findings (gap, overlap, outside parent, count out of range) are
   listed and drawn before anything is saved.

   Diff: a toggle that shows what publishing changes (draft, unsaved edits included) or changed
   (published): areas added (green), removed (red, dashed), changed (amber), with households before
   and after and households moved.

   Saving sends the revision the editor loaded. If someone saved first the save is refused (409 or the
   pre-check); the editor keeps every edit and offers to load the latest revision and re-apply the
   areas this planner changed (drew, split, merged, edited, removed) on top of it, so the next save
   can succeed. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("editor-config").textContent);
  const t = cfg.labels;
  const statusEl = document.getElementById("status");
  const messageEl = document.getElementById("message");
  const findingsEl = document.getElementById("findings");
  const areasBody = document.querySelector("#areas tbody");
  const conflictEl = document.getElementById("conflict");
  const diffEl = document.getElementById("diff");
  let map, plan, planLayer, findingsLayer, diffLayer;
  const info = new Map(); // layer -> {id, code, name, households}
  let base = new Map(); // plan area id -> {code, name, geom}: the revision the edits are based on
  let mode = null; // "split" | "merge" | null
  let selected = [];
  let checkTimer = null;
  let checkSeq = 0;
  let diffSeq = 0;
  let diffOn = false;
  let dirty = false;
  let scale = null; // {target, lo, hi, own}

  const { esc, plural } = window.linli;
  function fmt(s, values) {
    return String(s).replace(/%\((\w+)\)s/g, (m, k) => (k in values ? String(values[k]) : m));
  }
  function status(text, isError) {
    statusEl.textContent = text || "";
    statusEl.className = "status" + (isError ? " error" : "") + (text ? "" : " hidden");
  }
  function message(text, kind) {
    messageEl.textContent = text || "";
    messageEl.className = "msg" + (kind ? " " + kind : "");
  }
  function csrf() { const m = document.cookie.match(/csrftoken=([^;]+)/); return m ? decodeURIComponent(m[1]) : ""; }
  async function api(method, url, body) {
    const res = await fetch(url, {
      method,
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(data.error || res.status + " " + res.statusText);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // --- colours: deviation from the target, Districtr-style diverging scale ------------------------
  // Seven classes: below min, three steps from min to the target, three from the target to max,
  // above max. Purple: too few households; orange: too many; green: near the target.
  const CLASSES = [
    { key: "farUnder", colour: "#542788" },
    { key: "under", colour: "#998ec3" },
    { key: "under", colour: "#d8daeb" },
    { key: "near", colour: "#5aae61" },
    { key: "over", colour: "#fee0b6" },
    { key: "over", colour: "#f1a340" },
    { key: "farOver", colour: "#b35806" },
  ];
  const NO_SCALE = "#2563eb";

  function makeScale(counts) {
    // The plan's own target, min and max; a plan without a target (grid plans) is measured against
    // the mean households per area of the revision loaded, within ±25 % unless it has min / max.
    let target = plan.target;
    const own = target != null;
    if (!own) {
      const ns = counts.filter((n) => n > 0);
      if (!ns.length) return null;
      target = Math.round(ns.reduce((a, b) => a + b, 0) / ns.length);
    }
    let lo = plan.min != null ? plan.min : Math.round(target * 0.75);
    let hi = plan.max != null ? plan.max : Math.round(target * 1.25);
    lo = Math.min(lo, target - 1);
    hi = Math.max(hi, target + 1);
    return { target, lo, hi, own };
  }
  function classOf(n) {
    const s = scale;
    if (n < s.lo) return 0;
    if (n > s.hi) return 6;
    if (n === s.target) return 3;
    if (n < s.target) {
      const r = (s.target - n) / (s.target - s.lo);
      return r > 2 / 3 ? 1 : r > 1 / 3 ? 2 : 3;
    }
    const r = (n - s.target) / (s.hi - s.target);
    return r > 2 / 3 ? 5 : r > 1 / 3 ? 4 : 3;
  }
  function colour(n) {
    return scale ? CLASSES[classOf(n)].colour : NO_SCALE;
  }
  function renderLegend() {
    const el = document.getElementById("legend");
    if (!scale) { el.innerHTML = ""; return; }
    // the household counts each class covers
    const span = CLASSES.map(() => [null, null]);
    for (let n = scale.lo; n <= scale.hi; n++) {
      const c = classOf(n);
      if (span[c][0] == null) span[c][0] = n;
      span[c][1] = n;
    }
    const title = fmt(scale.own ? t.legend.title : t.legend.titleMean, { t: scale.target, lo: scale.lo, hi: scale.hi });
    // a class's words; without a target the middle one is near the mean
    const word = (key) => (key === "near" && !scale.own ? t.legend.nearMean : t.legend[key]);
    const items = CLASSES.map((c, i) => {
      let range;
      if (i === 0) range = "< " + scale.lo;
      else if (i === 6) range = "> " + scale.hi;
      else if (span[i][0] == null) return "";
      else range = span[i][0] === span[i][1] ? String(span[i][0]) : span[i][0] + "–" + span[i][1];
      return "<li class='legend-" + i + "' data-class='" + i + "' data-colour='" + c.colour + "' title='" + esc(word(c.key)) + "'>" +
        "<span class='sw' style='background:" + c.colour + "'></span>" + esc(range) + "</li>";
    }).join("");
    el.innerHTML = "<div class='legend-title'>" + esc(title) + "</div><ul class='legend-scale'>" + items + "</ul>" +
      "<div class='legend-ends'><span>" + esc(t.legend.farUnder) + "</span><span>" + esc(word("near")) + "</span><span>" + esc(t.legend.farOver) + "</span></div>";
  }

  function styleOf(layer, n) {
    const sel = selected.includes(layer);
    return { color: sel ? "#111827" : "#1f2937", weight: sel ? 4 : 1.5, dashArray: sel ? "6 4" : null,
             fillColor: colour(n), fillOpacity: diffOn ? 0.12 : 0.55 };
  }
  function restyle() {
    info.forEach((m, layer) => layer.setStyle(styleOf(layer, m.households || 0)));
  }

  function track(layer, meta) {
    info.set(layer, meta);
    planLayer.addLayer(layer);
    layer.setStyle(styleOf(layer, meta.households || 0));
    layer.bindTooltip(String(meta.households || 0), { permanent: true, direction: "center", className: "count-label" });
    layer.on("pm:edit pm:update pm:dragend", changed);
    layer.on("click", (e) => {
      if (mode !== "merge") return;
      L.DomEvent.stopPropagation(e);
      selected = selected.includes(layer) ? selected.filter((l) => l !== layer) : selected.concat([layer]);
      layer.setStyle(styleOf(layer, info.get(layer).households || 0));
    });
  }
  function untrack(layer) {
    info.delete(layer);
    planLayer.removeLayer(layer);
    if (map.hasLayer(layer)) map.removeLayer(layer);
  }
  function layerFromGeometry(geometry) {
    return L.geoJSON({ type: "Feature", geometry, properties: {} }).getLayers()[0];
  }
  function geomKey(geometry) {
    // the geometry as the editor would send it back (Leaflet's round trip), to compare edits
    return JSON.stringify(layerFromGeometry(geometry).toGeoJSON(false).geometry);
  }
  function areasPayload() {
    return Array.from(info.entries()).map(([layer, m]) => ({ id: m.id, code: m.code, name: m.name, geom: layer.toGeoJSON(false).geometry }));
  }

  function setBase(data) {
    base = new Map(data.areas.features.map((f) => [f.properties.id, { code: f.properties.code, name: f.properties.name, geom: geomKey(f.geometry) }]));
  }

  function showAreas(areas) {
    planLayer.clearLayers();
    info.clear();
    selected = [];
    areas.forEach((a) => {
      track(layerFromGeometry(a.geom), { id: a.id, code: a.code, name: a.name, households: a.households || 0 });
    });
  }

  function loadPlan(data) {
    plan = data;
    showAreas(data.areas.features.map((f) => ({ id: f.properties.id, code: f.properties.code, name: f.properties.name, geom: f.geometry, households: f.properties.households })));
    setBase(data);
    showRevision();
    scale = plan.target != null ? makeScale([]) : null; // without a target: set by the first check
    renderLegend();
    renderReport();
    hideConflict();
    dirty = false;
  }
  // The households an area should hold: the plan's target (colours) and min / max (the count check)
  function showRange() {
    const form = document.getElementById("range-form");
    form.target.value = plan.target == null ? "" : plan.target;
    form.min.value = plan.min == null ? "" : plan.min;
    form.max.value = plan.max == null ? "" : plan.max;
    Array.from(form.elements).forEach((el) => { el.disabled = plan.status !== "draft"; });
  }
  async function saveRange(ev) {
    ev.preventDefault();
    const form = ev.target;
    const value = (el) => (el.value.trim() === "" ? null : el.value.trim());
    try {
      const res = await api("PUT", cfg.rangeUrl, { target: value(form.target), min: value(form.min), max: value(form.max) });
      Object.assign(plan, { target: res.target, min: res.min, max: res.max });
      scale = null; // remade from the plan's new range by the check
      showRange();
      message(t.rangeSaved, "ok");
      runCheck();
    } catch (err) {
      message(err.message, "error");
    }
  }

  function showRevision() {
    document.getElementById("revision").textContent = plan.revision;
    const editable = plan.status === "draft";
    ["btn-split", "btn-merge", "btn-save", "btn-publish"].forEach((id) => { document.getElementById(id).disabled = !editable; });
    showRange();
    if (!editable) planLayer.eachLayer((l) => l.options && (l.options.pmIgnore = true));
  }

  function renderReport() {
    const r = plan.report || {};
    const el = document.getElementById("report");
    if (!r.groups) { el.innerHTML = ""; return; }
    const R = t.report;
    const pct = (v) => ((v || 0) * 100).toFixed(1) + " %";
    const rows = [
      [R.groups, r.groups],
      [R.households, r.min + " / " + r.mean + " / " + r.max],
      [fmt(R.within, { range: "[" + r.range[0] + ", " + r.range[1] + "]" }), pct(r.within_range)],
      [fmt(R.within, { range: "[25, 35]" }), pct(r.within_25_35) + (r.within_25_35_bound != null ? " (" + fmt(R.bound, { v: pct(r.within_25_35_bound) }) + ")" : "")],
      [R.contiguous, pct(r.contiguous)],
      [R.compactness, r.compactness],
      [R.runtime, fmt(R.seconds, { v: r.runtime_s })],
    ];
    if (r.out_of_range) rows.push([R.outOfRange, r.out_of_range.length]);
    el.innerHTML = "<h3>" + esc(R.title) + "</h3><table>" +
      rows.map((p) => "<tr><th>" + esc(p[0]) + "</th><td>" + esc(p[1]) + "</td></tr>").join("") + "</table>";
  }

  function changed() {
    dirty = true;
    document.body.dataset.check = "pending"; // until the check of this change answers
    message(t.unsaved);
    clearTimeout(checkTimer);
    checkTimer = setTimeout(runCheck, 400);
  }

  async function runCheck() {
    const seq = ++checkSeq;
    document.body.dataset.check = "running";
    const layers = Array.from(info.keys());
    try {
      const res = await api("POST", cfg.checkUrl, { areas: areasPayload() });
      if (seq !== checkSeq) return; // a newer check is on its way
      res.counts.forEach((c, i) => {
        const layer = layers[i];
        if (layer && info.has(layer)) info.get(layer).households = c.households;
      });
      if (!scale) { scale = makeScale(res.counts.map((c) => c.households)); renderLegend(); }
      layers.forEach((layer) => {
        if (!info.has(layer)) return;
        const n = info.get(layer).households || 0;
        layer.setStyle(styleOf(layer, n));
        layer.setTooltipContent(String(n));
      });
      showFindings(res);
      renderAreas(layers, res.counts);
      document.body.dataset.check = res.valid ? "valid" : "invalid";
    } catch (err) {
      if (seq !== checkSeq) return;
      findingsEl.innerHTML = "<li>" + esc(t.failed + ": " + err.message) + "</li>";
      document.body.dataset.check = "failed";
    }
    if (diffOn) refreshDiff();
  }

  function showFindings(res) {
    findingsLayer.clearLayers();
    document.getElementById("summary").textContent = res.valid && !res.warnings ? t.valid
      : fmt(plural(t.errors, res.errors), { n: res.errors }) + t.countsSep + fmt(plural(t.warnings, res.warnings), { n: res.warnings });
    if (!res.findings.length) {
      findingsEl.innerHTML = "<li class='none'>" + esc(t.valid) + "</li>";
      return;
    }
    findingsEl.innerHTML = "";
    res.findings.forEach((f) => {
      const li = document.createElement("li");
      li.className = f.severity + " finding-" + f.kind;
      li.innerHTML = "<span class='kind'>" + esc(t.kinds[f.kind] || f.kind) + "</span>" + esc(f.message);
      let shape = null;
      if (f.geometry) {
        shape = L.geoJSON(f.geometry, { pmIgnore: true, interactive: false,
          style: { color: f.severity === "error" ? "#b91c1c" : "#b45309", weight: 2, dashArray: "4 3", fillOpacity: 0.25 } });
        if (f.kind !== "count" && f.kind !== "contiguity") findingsLayer.addLayer(shape);
        li.addEventListener("click", () => map.fitBounds(shape.getBounds(), { maxZoom: 18, padding: [40, 40] }));
      }
      findingsEl.appendChild(li);
    });
  }

  function renderAreas(layers, counts) {
    areasBody.innerHTML = layers.map((layer, i) => {
      const m = info.get(layer) || {};
      const n = counts[i] ? counts[i].households : 0;
      return "<tr><td>" + esc(m.code || "(" + t.new + ")") + "</td><td><span class='sw' style='background:" + colour(n) + "'></span>" + esc(fmt(t.nHouseholds, { n })) + "</td></tr>";
    }).join("");
  }

  // --- diff view ---------------------------------------------------------------------------------------
  const DIFF_STYLE = {
    added: { color: "#15803d", weight: 2.5, fillColor: "#22c55e", fillOpacity: 0.45 },
    removed: { color: "#dc2626", weight: 2.5, dashArray: "8 6", fillColor: "#dc2626", fillOpacity: 0.12 },
    changed: { color: "#b45309", weight: 2.5, fillColor: "#f59e0b", fillOpacity: 0.4 },
    changedBefore: { color: "#b45309", weight: 1.5, dashArray: "3 4", fill: false },
  };

  function toggleDiff() {
    diffOn = !diffOn;
    const btn = document.getElementById("btn-diff");
    btn.classList.toggle("active", diffOn);
    btn.setAttribute("aria-pressed", String(diffOn));
    diffEl.hidden = !diffOn;
    restyle();
    if (diffOn) {
      refreshDiff();
    } else {
      diffSeq++;
      diffLayer.clearLayers();
      delete document.body.dataset.diff;
    }
  }

  async function refreshDiff() {
    const seq = ++diffSeq;
    document.body.dataset.diff = "loading";
    try {
      // a draft: what publishing the polygons on screen would change; published: what it changed
      const res = plan.status === "draft"
        ? await api("POST", cfg.diffUrl, { areas: areasPayload() })
        : await api("GET", cfg.diffUrl);
      if (seq !== diffSeq || !diffOn) return;
      renderDiff(res);
      document.body.dataset.diff = "shown";
    } catch (err) {
      if (seq !== diffSeq) return;
      document.getElementById("diff-summary").textContent = t.failed + ": " + err.message;
      document.body.dataset.diff = "failed";
    }
  }

  function diffLabel(row) {
    return row.code || "(" + t.diff.new + ")";
  }

  function renderDiff(res) {
    const D = t.diff;
    diffLayer.clearLayers();
    const shapes = new Map(); // row index -> leaflet layers, to zoom to
    // a plan published before per-area rows were recorded: its codes, without counts
    const rows = res.areas || ["added", "changed", "removed"].flatMap((st) =>
      (res[st] || []).map((code) => ({ status: st, code, label: code, name: "", before: null, after: null })));
    const key = (p) => p.status + "|" + p.label;
    const rowIndex = new Map(rows.map((r, i) => [key(r), i]));
    // after-polygons first, then the outlines of what was there, so the outlines stay visible
    const features = ((res.features || {}).features || []).slice().sort((a, b) => (a.properties.side === "before") - (b.properties.side === "before"));
    features.forEach((f) => {
      const p = f.properties;
      const style = p.status === "changed" && p.side === "before" ? DIFF_STYLE.changedBefore : DIFF_STYLE[p.status];
      const layer = L.geoJSON(f, { pmIgnore: true, snapIgnore: true, interactive: false,
        className: "diff-shape diff-" + p.status + " diff-" + p.side, style });
      diffLayer.addLayer(layer);
      const i = rowIndex.get(key(p));
      if (i != null) shapes.set(i, (shapes.get(i) || []).concat([layer]));
    });
    diffLayer.bringToFront();
    const published = plan.status === "published";
    document.getElementById("diff-title").textContent = published
      ? fmt(D.published, { date: (res.published_at || plan.published_at || "").slice(0, 10) })
      : D.draft + (dirty ? " " + D.unsaved : "");
    document.getElementById("diff-summary").innerHTML =
      "<span class='d-added'>+" + res.added.length + " " + esc(D.added) + "</span> " +
      "<span class='d-removed'>−" + res.removed.length + " " + esc(D.removed) + "</span> " +
      "<span class='d-changed'>~" + res.changed.length + " " + esc(D.changed) + "</span> " +
      "<span>" + res.unchanged + " " + esc(D.unchanged) + "</span> · " +
      "<strong class='d-moved'>" + res.households_moved + "</strong> " + esc(D.moved);
    const table = document.getElementById("diff-list");
    table.querySelector("thead").innerHTML = rows.length
      ? "<tr><th>" + esc(D.area) + "</th><th>" + esc(D.households) + "</th><th>" + esc(D.movedInOut) + "</th></tr>" : "";
    const body = table.querySelector("tbody");
    if (!rows.length) {
      body.innerHTML = "<tr><td colspan='3' class='none'>" + esc(D.none) + "</td></tr>";
      return;
    }
    body.innerHTML = "";
    rows.forEach((r, i) => {
      const tr = document.createElement("tr");
      tr.className = "diff-row diff-" + r.status;
      tr.dataset.code = r.code || "";
      tr.dataset.status = r.status;
      const fmtN = (v) => (v == null ? "—" : String(v));
      tr.innerHTML = "<td><span class='badge " + r.status + "'>" + esc(D[r.status]) + "</span> " + esc(diffLabel(r)) +
        (r.name ? "<span class='sub'>" + esc(r.name) + "</span>" : "") + "</td>" +
        "<td class='num'>" + fmtN(r.before) + " → " + fmtN(r.after) + "</td>" +
        "<td class='num'>" + (r.moved_in == null ? "—" : "+" + r.moved_in + " / −" + r.moved_out) + "</td>";
      const ls = shapes.get(i);
      if (ls) {
        tr.addEventListener("click", () => {
          const b = L.featureGroup(ls).getBounds();
          if (b.isValid()) map.fitBounds(b, { maxZoom: 18, padding: [40, 40] });
        });
      }
      body.appendChild(tr);
    });
  }

  // --- split and merge (the server cuts and unites; Geoman free has no split tool) -----------------
  function setMode(m) {
    mode = m;
    document.getElementById("btn-split").classList.toggle("active", m === "split");
    document.getElementById("btn-merge").classList.toggle("active", m === "merge");
    if (m === "split") {
      message(t.splitHint);
      map.pm.enableDraw("Line", { snappable: true });
    } else if (map.pm.globalDrawModeEnabled()) {
      map.pm.disableDraw();
    }
    if (m !== "merge") {
      const was = selected;
      selected = [];
      was.forEach((l) => info.has(l) && l.setStyle(styleOf(l, info.get(l).households || 0)));
    }
  }

  async function splitWith(lineLayer) {
    const line = lineLayer.toGeoJSON(false).geometry;
    const lb = lineLayer.getBounds();
    map.removeLayer(lineLayer);
    setMode(null);
    // the polygons near the line; the server cuts the one the line crosses
    const candidates = Array.from(info.entries()).filter(([layer]) => layer.getBounds().intersects(lb));
    if (!candidates.length) { message(t.splitHint, "error"); return; }
    try {
      const res = await api("POST", cfg.splitUrl, { polygons: candidates.map(([layer]) => layer.toGeoJSON(false).geometry), line });
      const [layer, m] = candidates[res.index];
      untrack(layer);
      res.pieces.forEach((g, i) => {
        const piece = layerFromGeometry(g);
        track(piece, i === 0 ? { id: m.id, code: m.code, name: m.name, households: 0 } : { id: null, code: "", name: "", households: 0 });
      });
      message("");
      changed();
    } catch (err) {
      message(err.status === 400 ? t.splitHint : t.failed + ": " + err.message, "error");
    }
  }

  async function mergeSelected() {
    if (selected.length < 2) { message(t.selectTwo, "error"); return; }
    try {
      const res = await api("POST", cfg.mergeUrl, { polygons: selected.map((l) => l.toGeoJSON(false).geometry) });
      const keep = info.get(selected[0]);
      const total = selected.reduce((s, l) => s + (info.get(l).households || 0), 0);
      selected.slice().forEach(untrack);
      selected = [];
      track(layerFromGeometry(res.geometry), { id: keep.id, code: keep.code, name: keep.name, households: total });
      setMode(null);
      message("");
      changed();
    } catch (err) {
      message(t.failed + ": " + err.message, "error");
    }
  }

  // --- save, conflicts, publish, propose ---------------------------------------------------------------
  function showConflict(latestRevision) {
    message(t.conflict, "error");
    document.getElementById("conflict-text").textContent =
      fmt(t.conflictDetail, { theirs: latestRevision == null ? "?" : latestRevision, mine: plan.revision });
    conflictEl.hidden = false;
    document.body.dataset.saved = "conflict";
  }
  function hideConflict() {
    conflictEl.hidden = true;
  }

  async function save() {
    try {
      // Ask first whether someone saved since we loaded (the server checks again on PUT, so a race
      // between the two requests still ends in a 409 and nothing is overwritten).
      const meta = await api("GET", cfg.planUrl + "?meta=1");
      if (meta.revision !== plan.revision || meta.status !== plan.status) {
        showConflict(meta.revision);
        return;
      }
      const res = await api("PUT", cfg.planUrl, { revision: plan.revision, areas: areasPayload() });
      loadPlan(res);
      message(fmt(t.saved, { rev: res.revision }), "ok");
      document.body.dataset.saved = String(res.revision);
      runCheck();
    } catch (err) {
      // Nothing is lost: the polygons stay on the map as they were, still unsaved.
      if (err.status === 409) {
        let latest = null;
        try { latest = (await api("GET", cfg.planUrl + "?meta=1")).revision; } catch (e) { /* shown as ? */ }
        showConflict(latest);
        return;
      }
      message(t.failed + ": " + err.message, "error");
      document.body.dataset.saved = "failed";
    }
  }

  // Load the latest revision and put this planner's changes on top of it. "Changed" is measured
  // against the revision the edits were based on (`base`): an area whose polygon, code or name
  // differs, a new one (drawn, or a piece of a split) and one that is gone (removed, merged away).
  // Areas only the other planner changed keep their version; an area both changed takes ours.
  function reapplyPlan(latest) {
    const mine = areasPayload();
    const onScreen = new Set(mine.filter((a) => a.id != null).map((a) => a.id));
    const edited = mine.filter((a) => {
      const b = a.id != null ? base.get(a.id) : null;
      return !b || b.geom !== JSON.stringify(a.geom) || b.code !== a.code || b.name !== a.name;
    });
    const removed = new Set(Array.from(base.keys()).filter((id) => !onScreen.has(id)));
    const editedById = new Map(edited.filter((a) => a.id != null).map((a) => [a.id, a]));
    const merged = [];
    const placed = new Set();
    let gone = 0;
    latest.areas.features.forEach((f) => {
      const p = f.properties;
      if (removed.has(p.id)) { gone++; return; }
      const a = editedById.get(p.id);
      if (a) { merged.push(Object.assign({}, a, { mine: true })); placed.add(p.id); return; }
      merged.push({ id: p.id, code: p.code, name: p.name, geom: f.geometry, households: p.households });
    });
    edited.forEach((a) => {
      if (a.id != null && placed.has(a.id)) return;
      // new, or an area the other planner removed: ours again, as a new row
      merged.push(Object.assign({}, a, { id: null, mine: true }));
    });
    // a code may be used once: if the other planner's areas hold it, ours becomes a new area
    const theirs = new Set(merged.filter((a) => !a.mine && a.code).map((a) => a.code));
    merged.forEach((a) => { if (a.mine && a.code && theirs.has(a.code)) { a.code = ""; a.id = null; } });
    return { areas: merged, edited: edited.length, removed: gone };
  }

  async function reapply() {
    const btn = document.getElementById("btn-reapply");
    btn.disabled = true;
    try {
      const latest = await api("GET", cfg.planUrl);
      if (latest.status !== "draft") {
        message(fmt(t.notDraft, { status: latest.status }), "error");
        return;
      }
      const result = reapplyPlan(latest);
      plan = latest;
      showAreas(result.areas);
      setBase(latest); // the next conflict is judged against this revision
      showRevision();
      if (plan.target == null) scale = null;
      renderLegend();
      renderReport();
      hideConflict();
      dirty = true;
      message(fmt(t.reapplied, { rev: latest.revision, n: result.edited, d: result.removed }), "ok");
      document.body.dataset.saved = "reapplied";
      runCheck();
    } catch (err) {
      message(t.failed + ": " + err.message, "error");
    } finally {
      btn.disabled = false;
    }
  }

  async function publish() {
    // publishing replaces the current areas for everyone (their old versions are kept): ask first,
    // and say that unsaved edits are saved as a new revision on the way
    if (!window.confirm(dirty ? t.confirmPublishUnsaved : t.confirmPublish)) return;
    if (dirty) { await save(); if (dirty) return; }
    try {
      const res = await api("POST", cfg.publishUrl, { revision: plan.revision });
      const d = res.diff;
      const D = t.diff;
      message(t.published + ": +" + d.added.length + " " + D.added + " −" + d.removed.length + " " + D.removed +
        " ~" + d.changed.length + " " + D.changed + ", " + d.households_moved + " " + D.moved, "ok");
      document.getElementById("plan-status").textContent = t.published;
      loadPlan(await api("GET", cfg.planUrl));
      document.body.dataset.published = "yes";
      runCheck();
    } catch (err) {
      if (err.status === 409) { showConflict(null); return; }
      message(t.failed + ": " + err.message, "error");
    }
  }

  async function propose() {
    message(t.proposing);
    try {
      const body = { community: cfg.community };
      // a neighbourhood-grid plan's own households per area steer the proposal (a grid plan's are
      // about grids, hundreds of households: the proposal keeps its defaults then)
      if (plan.level === "neighbourhood") {
        ["target", "min", "max"].forEach((k) => { if (plan[k] != null) body[k] = plan[k]; });
      }
      const res = await api("POST", cfg.proposalsUrl, body);
      location.href = cfg.editorUrl.replace("/0/", "/" + res.id + "/");
    } catch (err) {
      message(t.failed + ": " + err.message, "error");
    }
  }

  window.linliEditorInit = async function (leafletMap) {
    map = leafletMap;
    window.linliEditorMap = map;
    // read-only view of the plan's polygons (browser tests and the console use it)
    window.linliEditor = {
      areas: () => Array.from(info.entries()).map(([layer, m]) => ({ layer, id: m.id, code: m.code, households: m.households || 0, fill: layer.options.fillColor })),
      colour,
    };
    status(t.loading);
    planLayer = L.featureGroup().addTo(map);
    findingsLayer = L.featureGroup().addTo(map);
    diffLayer = L.featureGroup().addTo(map);
    map.pm.setGlobalOptions({ snappable: true, snapDistance: 15, layerGroup: planLayer });
    map.pm.addControls({
      position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false, drawCircle: false,
      drawText: false, rotateMode: false, dragMode: false, drawRectangle: true, drawPolygon: true,
      editMode: true, cutPolygon: true, removalMode: true,
    });
    try {
      const [community, grids, buildings, data] = await Promise.all([
        api("GET", cfg.communityUrl), api("GET", cfg.gridsUrl), api("GET", cfg.buildingsUrl), api("GET", cfg.planUrl),
      ]);
      // Outlines and footprints: not editable, but snapping targets (snapIgnore: false).
      const ref = { pmIgnore: true, snapIgnore: false, interactive: false };
      const outline = L.geoJSON(community, Object.assign({ style: { color: "#1d4ed8", weight: 3, fill: false } }, ref)).addTo(map);
      if (data.level === "neighbourhood") {
        L.geoJSON(grids, Object.assign({ style: { color: "#ea580c", weight: 2, fill: false } }, ref)).addTo(map);
      }
      L.geoJSON(buildings, Object.assign({ style: { color: "#475569", weight: 1, fillColor: "#94a3b8", fillOpacity: 0.8 } }, ref)).addTo(map);
      loadPlan(data);
      planLayer.bringToFront();
      findingsLayer.bringToFront();
      map.fitBounds(outline.getBounds(), { padding: [10, 10], animate: false });
      status("");
    } catch (err) {
      status(t.failed + ": " + err.message, true);
      document.body.dataset.editorReady = "error";
      return;
    }
    map.on("pm:create", (e) => {
      if (e.shape === "Line") { splitWith(e.layer); return; }
      planLayer.removeLayer(e.layer);
      track(e.layer, { id: null, code: "", name: "", households: 0 });
      changed();
    });
    map.on("pm:cut", (e) => {
      const m = info.get(e.originalLayer) || { id: null, code: "", name: "" };
      info.delete(e.originalLayer);
      planLayer.removeLayer(e.originalLayer);
      if (e.layer) { planLayer.removeLayer(e.layer); track(e.layer, Object.assign({}, m)); }
      changed();
    });
    map.on("pm:remove", (e) => { if (info.has(e.layer)) { info.delete(e.layer); changed(); } });
    document.getElementById("btn-split").addEventListener("click", () => setMode(mode === "split" ? null : "split"));
    document.getElementById("btn-merge").addEventListener("click", () => (mode === "merge" ? mergeSelected() : (setMode("merge"), message(t.mergeHint))));
    document.getElementById("btn-check").addEventListener("click", runCheck);
    document.getElementById("btn-save").addEventListener("click", save);
    document.getElementById("btn-diff").addEventListener("click", toggleDiff);
    document.getElementById("btn-reapply").addEventListener("click", reapply);
    document.getElementById("btn-publish").addEventListener("click", publish);
    document.getElementById("btn-propose").addEventListener("click", propose);
    document.getElementById("range-form").addEventListener("submit", saveRange);
    document.body.dataset.editorReady = "ready";
    runCheck();
  };
})();
