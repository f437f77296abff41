/* Center households on the map: each center (red) with lines to the households it looks after; click a
   center to select it, click a building to list its households and link/unlink them; overload and
   distance warnings update after every change and before a link is made. Auto-suggest makes a draft
   proposal that is edited the same way, then accepted. Hooked through django-leaflet's callback. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("centers-config").textContent);
  const t = cfg.labels;
  const $ = (id) => document.getElementById(id);
  const state = { map: null, community: null, proposal: null, data: null, selected: null, building: null };
  let buildingsLayer = null;
  const centerLayer = L.layerGroup();
  const MARKER_GAP = 18;  // px between the middles of two markers of one building (radius 6-8 + rim)

  const esc = window.linli.esc;
  function status(text, isError) {
    $("status").textContent = text || "";
    $("status").className = "status" + (isError ? " error" : "") + (text ? "" : " hidden");
  }
  function csrf() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  async function api(url, options) {
    const res = await fetch(url, Object.assign({ headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrf() }, credentials: "same-origin" }, options || {}));
    if (res.status === 204) return null;
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) throw new Error((body && body.error) || res.status + " " + res.statusText);
    return body;
  }
  function metres(a, b) {  // haversine, for the live warning before a click (the server decides)
    const R = 6371008, r = Math.PI / 180;
    const dLat = (b.lat - a.lat) * r, dLon = (b.lng - a.lng) * r;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(dLon / 2) ** 2;
    return 2 * R * Math.asin(Math.sqrt(h));
  }

  function warnings(c) {
    return c.warnings.map((w) => "<span class='warn" + (w === "underload" ? " soft" : "") + "' data-warning='" + w + "'>" + esc(t[w]) + "</span>").join("");
  }

  // Several centers can live in one building: spread their markers on a ring in screen pixels, wide
  // enough that no two markers overlap at the map's zoom (redrawn on zoom), so each can be clicked;
  // lines start at the marker.
  function spread(centers) {
    const groups = {};
    for (const c of centers) (groups[c.lat + "," + c.lon] = groups[c.lat + "," + c.lon] || []).push(c);
    const at = {};
    for (const list of Object.values(groups)) {
      const n = list.length;
      const middle = state.map.latLngToLayerPoint([list[0].lat, list[0].lon]);
      const r = n > 1 ? Math.max(10, (MARKER_GAP / 2) / Math.sin(Math.PI / n)) : 0;  // px
      list.forEach((c, i) => {
        const a = (2 * Math.PI * i) / n - Math.PI / 2;
        at[c.household] = n > 1 ? state.map.layerPointToLatLng(middle.add([r * Math.cos(a), r * Math.sin(a)])) : [c.lat, c.lon];
      });
    }
    return at;
  }

  function drawCenters() {
    centerLayer.clearLayers();
    const pos = spread(state.data.centers);
    // the selected center last, so it is drawn on top
    const order = state.data.centers.filter((c) => c.household !== state.selected).concat(state.data.centers.filter((c) => c.household === state.selected));
    for (const c of order) {
      const at = pos[c.household];
      const selected = c.household === state.selected;
      for (const l of c.links) {
        L.polyline([at, [l.lat, l.lon]], { color: l.far ? "#d97706" : selected ? "#1d4ed8" : "#dc2626", weight: selected ? 3 : 1.5, opacity: selected ? 0.9 : 0.5, dashArray: l.far ? "4 4" : null, interactive: false }).addTo(centerLayer);
      }
      const bad = c.warnings.includes("overload") || c.warnings.includes("distance");
      const marker = L.circleMarker(at, { radius: selected ? 8 : 6, color: selected ? "#1d4ed8" : "#7f1d1d", weight: 2, fillColor: bad ? "#f59e0b" : "#dc2626", fillOpacity: 0.9, className: "center-marker" });
      marker.bindTooltip(esc(c.member) + " · " + c.count + "/" + state.data.policy.max_links);
      marker.on("click", (e) => { L.DomEvent.stopPropagation(e); state.selected = c.household; drawCenters(); renderMode(); renderSelection(); });
      marker.addTo(centerLayer);
      marker.getElement().dataset.household = c.household;
    }
    document.body.dataset.centers = String(state.data.centers.length);
  }

  function selectedCenter() {
    return state.data && state.data.centers.find((c) => c.household === state.selected);
  }

  function renderCoverage() {
    const rows = state.data.coverage.map((g) =>
      "<tr class='" + (g.coverage < 1 ? "low" : "") + "'><td>" + esc(g.name) + "</td><td class='num'>" + g.households + "</td><td class='num'>" + g.centers + "</td><td class='num'>" + (g.coverage * 100).toFixed(1) + "%</td></tr>").join("");
    $("coverage").innerHTML = "<h3>" + esc(t.coverage) + "</h3><table><tr><th>" + esc(t.grid) + "</th><th class='num'>" + esc(t.households) + "</th><th class='num'>" + esc(t.centers) + "</th><th class='num'>" + esc(t.covered) + "</th></tr>" + rows + "</table>";
  }

  function renderMode() {
    $("lasso").disabled = !selectedCenter() || !!state.proposal;
    $("mode").textContent = state.proposal ? t.proposal + " #" + state.proposal : t.live;
    $("mode").className = "mode" + (state.proposal ? " draft" : "");
    $("accept").hidden = !state.proposal;
  }

  async function renderSelection() {
    const c = selectedCenter();
    const p = state.data.policy;
    let html = "";
    if (c) {
      html += "<h2>" + esc(t.center) + "</h2><table><tr><th>" + esc(t.member) + "</th><td>" + esc(c.member) + "</td></tr>" +
        "<tr><th>" + esc(t.linked) + "</th><td id='center-count'>" + c.count + "</td></tr>" +
        "<tr><th>" + esc(t.limits) + "</th><td>" + p.min_links + "–" + p.max_links + (p.rule === "distance" ? ", ≤ " + p.max_distance_m + " m" : "") + "</td></tr></table>" +
        "<div id='center-warnings'>" + warnings(c) + "</div>";
    } else {
      html += "<p class='hint'>" + esc(t.pickCenter) + "</p>";
    }
    if (state.building) {
      const b = state.building;
      html += "<h3>" + esc(b.props.address || b.props.name) + "</h3>";
      if (c) {
        const d = metres(L.latLng(c.lat, c.lon), b.center);
        if (p.rule === "distance" && d > p.max_distance_m) html += "<span class='warn' data-warning='far'>" + esc(t.wouldBeFar) + " (" + d.toFixed(0) + " m)</span>";
        if (c.count >= p.max_links) html += "<span class='warn' data-warning='full'>" + esc(t.wouldOverload) + "</span>";
      }
      html += "<ul class='hh-list'>" + b.households.map((h) => {
        let action = "";
        if (h.is_center) action = "<strong>" + esc(t.center) + "</strong>";
        else if (h.has_party_member && !h.center_household && !state.proposal) action = "<button data-make-center='" + h.id + "'>" + esc(t.makeCenter) + "</button>" + (c ? " <button data-link='" + h.id + "'>" + esc(t.link) + "</button>" : "");
        else if (c && h.center_household === c.household) action = "<button data-unlink='" + h.id + "'>" + esc(t.unlink) + "</button>";
        else if (c && h.center_household) {
          // who looks after it now: the member's name (masked as the centers API gives it), not an id
          const other = state.data.centers.find((x) => x.household === h.center_household);
          action = "<small>→ " + esc(other ? other.member : "#" + h.center_household) + "</small> <button data-link='" + h.id + "' data-move='1'>" + esc(t.move) + "</button>";
        }
        else if (c) action = "<button data-link='" + h.id + "'>" + esc(t.link) + "</button>";
        return "<li data-household='" + h.id + "'><span>" + esc(h.unit ? h.unit + "-" : "") + esc(h.room) + "</span><span>" + action + "</span></li>";
      }).join("") + "</ul>";
    }
    $("selection").innerHTML = html;
  }

  async function loadBuilding(props, center) {
    const data = await api(cfg.urls.households + "?building=" + props.id);
    state.building = { props: props, center: center, households: data.results };
    renderSelection();
  }

  async function change(method, householdId, move) {
    const body = { household: householdId, center_household: state.selected, move: !!move };
    if (state.proposal) body.proposal = state.proposal;
    try {
      await api(cfg.urls.links, { method: method, body: JSON.stringify(body) });
      status("");
    } catch (err) {
      status(err.message, true);
    }
    await refresh();
    if (state.building) await loadBuilding(state.building.props, state.building.center);
  }

  async function makeCenter(householdId) {
    try {
      await api(cfg.urls.centers, { method: "POST", body: JSON.stringify({ household: householdId }) });
      state.selected = householdId;
      status("");
    } catch (err) {
      status(err.message, true);
    }
    await refresh();
    if (state.building) await loadBuilding(state.building.props, state.building.center);
  }

  async function refresh() {
    let url = cfg.urls.centers + "?area=" + state.community;
    if (state.proposal) url += "&proposal=" + state.proposal;
    state.data = await api(url);
    if (state.proposal) {  // coverage of the draft, computed from its links
      const perGrid = {};
      for (const c of state.data.centers) perGrid[c.grid_id] = (perGrid[c.grid_id] || 0) + 1 + c.count;
      state.data.coverage = state.data.coverage.map((g) => Object.assign({}, g, { centers: state.data.centers.filter((c) => c.grid_id === g.grid_id).length, coverage: (perGrid[g.grid_id] || 0) / g.households }));
    }
    drawCenters();
    renderCoverage();
    renderMode();
    renderSelection();
  }

  async function loadCommunity(id) {
    state.community = id; state.proposal = null; state.selected = null; state.building = null;
    status(t.loading);
    const community = cfg.communities.find((c) => c.id === id);
    const geo = await api(cfg.urls.buildings + "?within=" + encodeURIComponent(community.code));
    if (buildingsLayer) state.map.removeLayer(buildingsLayer);
    buildingsLayer = L.geoJSON(geo, {
      style: { color: "#475569", weight: 1, fillColor: "#94a3b8", fillOpacity: 0.6 },
      onEachFeature: (f, layer) => {
        layer.on("add", () => { layer.getElement().dataset.building = f.properties.id; });
        layer.on("click", (e) => { L.DomEvent.stopPropagation(e); loadBuilding(f.properties, layer.getBounds().getCenter()); });
      },
    }).addTo(state.map);
    centerLayer.addTo(state.map);
    // no zoom animation: its zoomend redraws the centers, so a marker clicked while it ran was
    // replaced between mousedown and mouseup and the click was lost; the page is ready once still
    if (geo.features.length) state.map.fitBounds(buildingsLayer.getBounds(), { padding: [20, 20], animate: false });
    await refresh();
    status("");
  }

  window.linliCentersInit = async function (map) {
    state.map = map;
    window.linliCentersMap = map;
    map.on("zoomend", () => { if (state.data) drawCenters(); });
    const select = $("community");
    select.innerHTML = cfg.communities.map((c) => "<option value='" + c.id + "'>" + esc(c.name) + "</option>").join("");
    select.addEventListener("change", () => loadCommunity(Number(select.value)));
    $("suggest").addEventListener("click", async () => {
      status(t.loading);
      try {
        const p = await api(cfg.urls.proposals, { method: "POST", body: JSON.stringify({ area: state.community }) });
        state.proposal = p.id;
        await refresh();
        status("");
      } catch (err) { status(err.message, true); }
    });
    $("lasso").addEventListener("click", () => {
      status(t.lassoHint);
      map.pm.enableDraw("Polygon", { snappable: false, continueDrawing: false });
    });
    map.on("pm:create", async (e) => {
      const polygon = e.layer.toGeoJSON().geometry;
      map.removeLayer(e.layer);
      try {
        const res = await api(cfg.urls.lasso, { method: "POST", body: JSON.stringify({ center_household: state.selected, polygon: polygon }) });
        status(t.lassoDone + " " + res.linked);
      } catch (err) {
        status(err.message, true);
      }
      await refresh();
    });
    $("accept").addEventListener("click", async () => {
      try {
        await api(cfg.urls.accept.replace("/0/", "/" + state.proposal + "/"), { method: "POST" });
        state.proposal = null;
        await refresh();
        status(t.accepted);
      } catch (err) { status(err.message, true); }
    });
    $("selection").addEventListener("click", (e) => {
      const link = e.target.closest("[data-link]"), unlink = e.target.closest("[data-unlink]");
      if (link) change("POST", Number(link.dataset.link), link.dataset.move);
      if (unlink) change("DELETE", Number(unlink.dataset.unlink));
      const make = e.target.closest("[data-make-center]");
      if (make) makeCenter(Number(make.dataset.makeCenter));
    });
    if (!cfg.communities.length) { status(t.failed, true); return; }
    try {
      await loadCommunity(cfg.communities[0].id);
      document.body.dataset.mapReady = "ready";
    } catch (err) {
      status(t.failed + ": " + err.message, true);
      document.body.dataset.mapReady = "error";
    }
  };
})();
