/* Gaps and hotspots map: coverage gaps by kind (each explained), service stations with their 15-minute
   walking circle, suggested new stations, and (once issues exist) H3 Gi* hotspots, grid hotspots and a
   heatmap. Hooked through django-leaflet's callback; marks body[data-map-ready] when loaded. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("gaps-config").textContent);
  const t = cfg.labels;
  const statusEl = document.getElementById("status");
  const within = cfg.within ? "?within=" + encodeURIComponent(cfg.within) : "";
  const GAP_COLORS = {
    building_no_grid: "#dc2626", household_no_neighbourhood: "#f59e0b", grid_no_leader: "#7c3aed",
    compound_no_property: "#0891b2", company_no_party_org: "#db2777", station_far: "#ea580c",
    compound_no_committee: "#0d9488", neighbourhood_no_center: "#65a30d", household_no_center: "#ca8a04",
    household_far_center: "#a16207", center_over_capacity: "#be123c", building_not_patrolled: "#4f46e5",
    compound_head_few_visits: "#9333ea",
  };
  const CLASS_COLORS = { "3": "#b91c1c", "2": "#ef4444", "1": "#fca5a5", "0": "#e5e7eb", "-1": "#93c5fd", "-2": "#3b82f6", "-3": "#1d4ed8" };

  const esc = window.linli.esc;
  function status(text, isError) {
    statusEl.textContent = text;
    statusEl.className = "status" + (isError ? " error" : "") + (text ? "" : " hidden");
  }
  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error || res.status + " " + res.statusText);
    return body;
  }
  // A gap's sentence, and a link to the console on the area it lies in (a grid or neighbourhood grid
  // gap: the area itself, where its staff are assigned; else its grid or community).
  function showGap(p) {
    document.getElementById("gap-detail").innerHTML =
      "<h3>" + esc(p.label) + "</h3><p>" + esc(p.explanation) + "</p>" +
      (p.area_code && cfg.urls.console ? "<p><a class='gap-console' href='" + cfg.urls.console + "?area=" +
        encodeURIComponent(p.area_code) + "'>" + esc(t.openInConsole) + "</a></p>" : "");
  }

  window.linliGapsMapInit = async function (map) {
    window.linliGapsMap = map;
    // collapsed to its icon: its 17 rows covered a corner of the map, and the side panel lists the
    // same gap kinds with their counts; it opens on hover or tap to switch layers
    const control = L.control.layers(null, null, { collapsed: true }).addTo(map);
    let failures = 0;
    status(t.loading);
    try {
      // the outline: the grid when the map is of one grid (a grid leader's), else the communities
      const ofGrid = cfg.within.length >= 15;
      const areaUrl = cfg.urls.areas + "?level=" + (ofGrid ? "grid" : "community") +
        (cfg.within ? "&within=" + encodeURIComponent(ofGrid ? cfg.within.slice(0, 15) : cfg.within.slice(0, 12)) : "");
      // the counts first: more gaps than a browser can draw (a whole city) are shown as counts per
      // community, each a link to that community's map, instead of as GeoJSON
      const [areas, stations, counts] = await Promise.all([
        getJSON(areaUrl), getJSON(cfg.urls.stations + within), getJSON(cfg.urls.counts + within),
      ]);
      const totalGaps = Object.values(counts.total).reduce((a, b) => a + b, 0);
      const tooMany = totalGaps > cfg.maxFeatures;
      const gapsFc = tooMany ? { type: "FeatureCollection", features: [] } : await getJSON(cfg.urls.gaps + within);
      document.body.dataset.gapsDrawn = tooMany ? "no" : "yes";
      const outline = L.geoJSON(areas, { style: { color: "#1d4ed8", weight: 2, fill: false }, interactive: false }).addTo(map);
      // gaps: one layer per kind
      const byKind = {};
      gapsFc.features.forEach((f) => (byKind[f.properties.kind] = byKind[f.properties.kind] || []).push(f));
      const gapLayers = {};
      Object.keys(cfg.kinds).forEach((kind) => {
        const feats = byKind[kind] || [];
        const color = GAP_COLORS[kind] || "#ea580c";
        const layer = L.geoJSON({ type: "FeatureCollection", features: feats.filter((f) => f.geometry) }, {
          style: { color: color, weight: 2, fillColor: color, fillOpacity: 0.35 },
          pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 6, color: color }),
          onEachFeature: (f, l) => {
            l.bindTooltip(f.properties.name, { sticky: true });
            l.on("click", () => showGap(f.properties));
          },
        }).addTo(map);
        gapLayers[kind] = layer;
        const shown = tooMany ? counts.total[kind] || 0 : feats.length;
        control.addOverlay(layer, "<span class='legend-swatch' style='background:" + color + "'></span>" + esc(cfg.kinds[kind]) + " (" + shown + ")");
      });
      // stations and their 15-minute circle (walking radius / detour factor, in straight line)
      const radius = cfg.tiers["15"] / cfg.detour;
      const stationLayer = L.layerGroup();
      stations.features.forEach((f) => {
        const ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
        L.circle(ll, { radius: radius, color: "#15803d", weight: 1, fillOpacity: 0.05, interactive: false }).addTo(stationLayer);
        L.circleMarker(ll, { radius: 7, color: "#fff", weight: 2, fillColor: "#15803d", fillOpacity: 1 })
          .bindTooltip(f.properties.name).addTo(stationLayer);
      });
      stationLayer.addTo(map);
      control.addOverlay(stationLayer, esc(t.stations) + " (" + stations.features.length + ") · " + esc(t.walk));
      // counts table and the list
      const kinds = Object.keys(cfg.kinds);
      // counts per kind: the total, then the areas that have any
      document.getElementById("gap-counts").innerHTML = "<ul class='counts'>" + kinds.map((k) => {
        const areas = counts.areas.filter((a) => a.counts[k]).map((a) => esc(a.name) + " " + a.counts[k]).join(" · ");
        return "<li data-kind='" + esc(k) + "'><span class='legend-swatch' style='background:" + (GAP_COLORS[k] || "#ea580c") + "'></span>" +
          esc(cfg.kinds[k]) + " <b>" + counts.total[k] + "</b>" + (areas ? "<br><small>" + areas + "</small>" : "") + "</li>";
      }).join("") + "</ul>";
      if (tooMany) {
        // communities with the most gaps first, each a link to its own map
        const byArea = counts.areas.filter((a) => a.code)
          .map((a) => ({ a: a, n: Object.values(a.counts).reduce((x, y) => x + y, 0) }))
          .sort((x, y) => y.n - x.n).slice(0, 100);
        document.getElementById("gap-counts").insertAdjacentHTML("afterbegin",
          "<p class='hint' id='too-many'>" + esc(t.tooMany.replace("%(n)s", totalGaps.toLocaleString())) + "</p>" +
          "<h3>" + esc(t.byCommunity) + "</h3><ol class='gap-areas'>" + byArea.map((x) =>
            "<li><a href='" + cfg.page + "?code=" + encodeURIComponent(x.a.code) + "'>" + esc(x.a.name) + "</a> " + x.n + "</li>").join("") + "</ol>");
      }
      const list = document.getElementById("gap-list");
      list.innerHTML = gapsFc.features.slice(0, 300).map((f, i) =>
        "<li data-i='" + i + "' style='border-left-color:" + (GAP_COLORS[f.properties.kind] || "#ea580c") + "'>" + esc(f.properties.explanation) + "</li>").join("");
      list.addEventListener("click", (e) => {
        const li = e.target.closest("li");
        if (!li) return;
        const f = gapsFc.features[Number(li.dataset.i)];
        showGap(f.properties);
        if (f.geometry) map.fitBounds(L.geoJSON(f).getBounds(), { maxZoom: 17 });
      });
      if (outline.getLayers().length) map.fitBounds(outline.getBounds(), { padding: [20, 20], animate: false });
      // hotspots, once issues exist
      if (cfg.urls.h3) {
        const z = map.getZoom();
        const [h3fc, heat, grids] = await Promise.all([
          getJSON(cfg.urls.h3 + "?zoom=" + z + (cfg.within ? "&within=" + encodeURIComponent(cfg.within) : "")),
          getJSON(cfg.urls.heat + "?zoom=" + z + (cfg.within ? "&within=" + encodeURIComponent(cfg.within) : "")),
          getJSON(cfg.urls.grids + within),
        ]);
        const hot = L.geoJSON(h3fc, {
          style: (f) => ({ color: "#fff", weight: 0.5, fillColor: CLASS_COLORS[String(f.properties.class)], fillOpacity: f.properties.class ? 0.6 : 0.15 }),
          onEachFeature: (f, l) => l.bindTooltip(f.properties.count + " · " + t.classes[String(f.properties.class)] + " (z " + f.properties.z + ")"),
        });
        control.addOverlay(hot, esc(t.hotspots) + " (" + h3fc.features.length + ")");
        const gridHot = L.geoJSON(grids, {
          style: (f) => ({ color: "#334155", weight: 1, fillColor: CLASS_COLORS[String(f.properties.class)], fillOpacity: 0.45 }),
          onEachFeature: (f, l) => l.bindTooltip(f.properties.name + ": " + f.properties.count + " · " + t.classes[String(f.properties.class)]),
        });
        control.addOverlay(gridHot, esc(t.gridHot));
        const heatLayer = L.heatLayer(heat.points, { radius: 25, max: Math.max(1, heat.max) });
        control.addOverlay(heatLayer, esc(t.heat));
        hot.addTo(map);
        Object.values(gapLayers).forEach((l) => l.bringToFront());
      }
      status(tooMany ? t.tooMany.replace("%(n)s", totalGaps.toLocaleString()) : "");
    } catch (err) {
      failures += 1;
      status(t.failed + ": " + err.message, true);
    }
    // suggestions on request
    const suggested = L.layerGroup().addTo(map);
    document.getElementById("suggest-button").addEventListener("click", async () => {
      status(t.loading);
      try {
        const s = await getJSON(cfg.urls.suggest + "?count=3&tier=" + document.getElementById("suggest-tier").value + (cfg.within ? "&within=" + encodeURIComponent(cfg.within) : ""));
        suggested.clearLayers();
        s.geojson.features.forEach((f) => {
          const ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
          L.circle(ll, { radius: f.properties.straight_radius_m, color: "#b91c1c", dashArray: "4 4", weight: 2, fillOpacity: 0.05 }).addTo(suggested);
          L.marker(ll).bindTooltip(t.suggested + " #" + f.properties.rank + ": " + t.reaches.replace("%(n)s", f.properties.households_reached), { permanent: true }).addTo(suggested);
        });
        document.body.dataset.suggested = String(s.sites.length);
        status(s.sites.length ? "" : t.allCovered);
      } catch (err) {
        status(t.failed + ": " + err.message, true);
      }
    });
    document.body.dataset.mapReady = failures ? "error" : "ready";
  };
})();
