/* The planner's editor: a plan's polygons on a Leaflet map, edited with Leaflet-Geoman (draw, edit,
   cut, remove; split and merge through the server, which does the geometry with shapely). After every
   change the unsaved polygons are sent to the check API: each polygon shows its household count,
   coloured by deviation from the target (Districtr-style), and the findings (gap, overlap, outside
   parent, count out of range) are listed and drawn before anything is saved. Saving sends the revision
   the editor loaded; a 409 (someone saved first) keeps every edit on screen. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("editor-config").textContent);
  const t = cfg.labels;
  const statusEl = document.getElementById("status");
  const messageEl = document.getElementById("message");
  const findingsEl = document.getElementById("findings");
  const areasBody = document.querySelector("#areas tbody");
  let map, plan, planLayer, findingsLayer;
  const info = new Map(); // layer -> {id, code, name}
  let mode = null; // "split" | "merge" | null
  let selected = [];
  let checkTimer = null;
  let checkSeq = 0;
  let dirty = false;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
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

  function colour(n) {
    if (plan.level !== "neighbourhood" || plan.target == null) return "#2563eb";
    if (n >= 25 && n <= 35) return "#16a34a";
    if ((plan.min == null || n >= plan.min) && (plan.max == null || n <= plan.max)) return "#eab308";
    return "#dc2626";
  }
  function styleOf(layer, n) {
    const sel = selected.includes(layer);
    return { color: sel ? "#111827" : "#1f2937", weight: sel ? 4 : 1.5, dashArray: sel ? "6 4" : null,
             fillColor: colour(n), fillOpacity: 0.35 };
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
  function areasPayload() {
    return Array.from(info.entries()).map(([layer, m]) => ({ id: m.id, code: m.code, name: m.name, geom: layer.toGeoJSON(false).geometry }));
  }

  function loadPlan(data) {
    plan = data;
    planLayer.clearLayers();
    info.clear();
    selected = [];
    data.areas.features.forEach((f) => {
      const layer = layerFromGeometry(f.geometry);
      track(layer, { id: f.properties.id, code: f.properties.code, name: f.properties.name, households: f.properties.households });
    });
    document.getElementById("revision").textContent = plan.revision;
    const editable = plan.status === "draft";
    ["btn-split", "btn-merge", "btn-save", "btn-publish"].forEach((id) => { document.getElementById(id).disabled = !editable; });
    if (!editable) planLayer.eachLayer((l) => l.pm && l.pm.setOptions && l.options && (l.options.pmIgnore = true));
    renderReport();
    dirty = false;
  }

  function renderReport() {
    const r = plan.report || {};
    const el = document.getElementById("report");
    if (!r.groups) { el.innerHTML = ""; return; }
    el.innerHTML = "<h3>Proposal</h3><table>" + [
      ["groups", r.groups], ["min / mean / max", r.min + " / " + r.mean + " / " + r.max],
      ["[" + r.range[0] + ", " + r.range[1] + "]", (r.within_range * 100).toFixed(1) + " %"],
      ["[25, 35]", (r.within_25_35 * 100).toFixed(1) + " % (≤ " + ((r.within_25_35_bound || 1) * 100).toFixed(1) + " %)"], ["contiguous", (r.contiguous * 100).toFixed(1) + " %"],
      ["compactness", r.compactness], ["runtime", r.runtime_s + " s"],
    ].map((p) => "<tr><th>" + esc(p[0]) + "</th><td>" + esc(p[1]) + "</td></tr>").join("") + "</table>";
  }

  function changed() {
    dirty = true;
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
        if (!layer || !info.has(layer)) return;
        info.get(layer).households = c.households;
        layer.setStyle(styleOf(layer, c.households));
        layer.setTooltipContent(String(c.households));
      });
      showFindings(res);
      renderAreas(layers, res.counts);
      document.body.dataset.check = res.valid ? "valid" : "invalid";
    } catch (err) {
      if (seq !== checkSeq) return;
      findingsEl.innerHTML = "<li>" + esc(t.failed + ": " + err.message) + "</li>";
      document.body.dataset.check = "failed";
    }
  }

  function showFindings(res) {
    findingsLayer.clearLayers();
    document.getElementById("summary").textContent = res.valid && !res.warnings ? t.valid
      : t.errors.replace("%(n)s", res.errors).replace("%(w)s", res.warnings);
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
      return "<tr><td>" + esc(m.code || "(" + t.new + ")") + "</td><td style='color:" + colour(n) + "'>" + n + " " + esc(t.households) + "</td></tr>";
    }).join("");
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
    for (const [layer, m] of Array.from(info.entries())) {
      if (!layer.getBounds().intersects(lb)) continue;
      try {
        const res = await api("POST", cfg.splitUrl, { polygon: layer.toGeoJSON(false).geometry, line });
        untrack(layer);
        res.pieces.forEach((g, i) => {
          const piece = layerFromGeometry(g);
          track(piece, i === 0 ? { id: m.id, code: m.code, name: m.name, households: 0 } : { id: null, code: "", name: "", households: 0 });
        });
        message("");
        changed();
        return;
      } catch (err) {
        if (err.status !== 400) { message(t.failed + ": " + err.message, "error"); return; }
      }
    }
    message(t.splitHint, "error");
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

  // --- save, publish, propose ------------------------------------------------------------------------
  function conflictMessage(latest) {
    return t.conflict + ": " + t.conflictDetail.replace("%(theirs)s", latest).replace("%(mine)s", plan.revision);
  }

  async function save() {
    try {
      // Ask first whether someone saved since we loaded (the server checks again on PUT, so a race
      // between the two requests still ends in a 409 and nothing is overwritten).
      const meta = await api("GET", cfg.planUrl + "?meta=1");
      if (meta.revision !== plan.revision || meta.status !== plan.status) {
        message(conflictMessage(meta.revision), "error");
        document.body.dataset.saved = "conflict";
        return;
      }
      const res = await api("PUT", cfg.planUrl, { revision: plan.revision, areas: areasPayload() });
      loadPlan(res);
      message(t.saved.replace("%(rev)s", res.revision), "ok");
      document.body.dataset.saved = String(res.revision);
      runCheck();
    } catch (err) {
      // Nothing is lost: the polygons stay on the map as they were, still unsaved.
      message((err.status === 409 ? t.conflict + ": " : t.failed + ": ") + err.message, "error");
      document.body.dataset.saved = err.status === 409 ? "conflict" : "failed";
    }
  }

  async function publish() {
    if (dirty) { await save(); if (dirty) return; }
    try {
      const res = await api("POST", cfg.publishUrl, { revision: plan.revision });
      const d = res.diff;
      message(t.published + ": +" + d.added.length + " −" + d.removed.length + " ~" + d.changed.length + ", " + d.households_moved + " " + t.households, "ok");
      document.getElementById("plan-status").textContent = t.published;
      loadPlan(await api("GET", cfg.planUrl));
    } catch (err) {
      message(t.failed + ": " + err.message, "error");
    }
  }

  async function propose() {
    message(t.proposing);
    try {
      const res = await api("POST", cfg.proposalsUrl, { community: cfg.community });
      location.href = cfg.editorUrl.replace("/0/", "/" + res.id + "/");
    } catch (err) {
      message(t.failed + ": " + err.message, "error");
    }
  }

  window.linliEditorInit = async function (leafletMap) {
    map = leafletMap;
    window.linliEditorMap = map;
    status(t.loading);
    planLayer = L.featureGroup().addTo(map);
    findingsLayer = L.featureGroup().addTo(map);
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
      map.fitBounds(outline.getBounds(), { padding: [10, 10] });
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
    document.getElementById("btn-publish").addEventListener("click", publish);
    document.getElementById("btn-propose").addEventListener("click", propose);
    document.body.dataset.editorReady = "ready";
    runCheck();
  };
})();
