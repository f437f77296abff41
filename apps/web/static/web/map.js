/* The territory map: one layer per level, a layer switcher, and a side panel that shows the clicked
   area or building with its chain (from /api/locate). Hooked through django-leaflet's callback.
   Small layers are one GeoJSON download; layers too big for that (a city's buildings) come as vector
   tiles from /tiles/{layer}/{z}/{x}/{y}.mvt, drawn on canvas by protomaps-leaflet. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("map-config").textContent);
  const t = cfg.labels;
  const statusEl = document.getElementById("status");
  const panel = document.getElementById("panel");

  const STYLES = {
    street: { color: "#7f1d1d", weight: 4, fill: false },
    community: { color: "#1d4ed8", weight: 3, fill: false },
    grid: { color: "#ea580c", weight: 2, fillOpacity: 0.04 },
    neighbourhood: { color: "#15803d", weight: 1, dashArray: "3 3", fillOpacity: 0.06 },
    compound: { color: "#7c3aed", weight: 1, dashArray: "6 4", fillOpacity: 0.05 },
    buildings: { color: "#475569", weight: 1, fillColor: "#94a3b8", fillOpacity: 0.7 },
  };

  function status(text, isError) {
    statusEl.textContent = text;
    statusEl.className = "status" + (isError ? " error" : "") + (text ? "" : " hidden");
  }

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    if (!res.ok) {
      let msg = res.status + " " + res.statusText;
      try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return res.json();
  }

  function rows(pairs) {
    return "<table>" + pairs.filter((p) => p[1] !== null && p[1] !== undefined && p[1] !== "")
      .map((p) => "<tr><th>" + esc(p[0]) + "</th><td>" + esc(p[1]) + "</td></tr>").join("") + "</table>";
  }

  function chainHtml(chain) {
    if (!chain.length) return "<p class='hint'>" + esc(t.outside) + "</p>";
    return "<ul class='chain'>" + chain.map((a) =>
      "<li><span class='lvl'>" + esc(t.levels[a.level]) + "</span>" + esc(a.name) +
      (a.code ? " <code>" + esc(a.code) + "</code>" : "") + "</li>").join("") + "</ul>";
  }

  async function showAt(latlng, feature, kind) {
    const p = feature ? feature.properties : null;
    let head = "<h2>" + esc(p ? p.name : t.point) + "</h2>";
    if (p && kind === "buildings") {
      head += rows([[t.address, p.address], [t.floors, p.floors], [t.units, p.units], [t.households, p.households]]);
    } else if (p) {
      head += rows([[t.level, t.levels[p.level]], [t.code, p.code], [t.households, p.households],
                    [t.buildings, p.buildings], [t.mgmt, p.management_type ? t.mgmtTypes[p.management_type] : null],
                    [t.version, p.version]]);
    }
    panel.innerHTML = head + "<p class='hint'>" + esc(t.loading) + "</p>";
    try {
      const loc = await getJSON(cfg.locateUrl + "?lon=" + latlng.lng.toFixed(7) + "&lat=" + latlng.lat.toFixed(7));
      panel.innerHTML = head + "<h3>" + esc(t.chain) + "</h3>" + chainHtml(loc.chain);
    } catch (err) {
      panel.innerHTML = head + "<p class='status error'>" + esc(t.failed) + ": " + esc(err.message) + "</p>";
    }
  }

  // A vector tile layer: fills and outlines on canvas, tiles fetched at the map's own zoom (levelDiff 0)
  // so the server's minimum zoom per layer is the map's. Clicks fall through to the map (locate).
  function tileLayer(map, spec) {
    if (!map.getPane("linliTiles")) {
      map.createPane("linliTiles").style.zIndex = 450;  // above GeoJSON fills, below tooltips
    }
    const st = STYLES[spec.key];
    const rules = [];
    if (st.fill !== false) {
      rules.push({ dataLayer: spec.tiles.layer, symbolizer: new protomapsL.PolygonSymbolizer({
        fill: st.fillColor || st.color, opacity: st.fillOpacity, width: 0 }) });
    }
    rules.push({ dataLayer: spec.tiles.layer, symbolizer: new protomapsL.LineSymbolizer({
      color: st.color, width: st.weight, dash: st.dashArray ? st.dashArray.split(" ").map(Number) : undefined }) });
    const layer = protomapsL.leafletLayer({
      url: spec.tiles.url, levelDiff: 0, maxDataZoom: 16, pane: "linliTiles", attribution: "",
      paintRules: rules, labelRules: [],
    });
    layer.linliLabel = spec.label + " (" + spec.tiles.count + ")";
    layer.linliTiles = true;
    return layer;
  }

  window.linliMapInit = async function (map) {
    window.linliMap = map;
    const control = L.control.layers(null, null, { collapsed: false }).addTo(map);
    const layers = {};
    let failures = 0;
    status(t.loading);
    const jobs = cfg.layers.map(async (spec) => {
      if (spec.tiles) {
        layers[spec.key] = tileLayer(map, spec);
        return;
      }
      try {
        const data = await getJSON(spec.url);
        const layer = L.geoJSON(data, {
          style: STYLES[spec.key],
          onEachFeature: (f, l) => {
            l.on("click", (e) => { L.DomEvent.stopPropagation(e); showAt(e.latlng, f, spec.key); });
            if (spec.key !== "buildings" && spec.key !== "neighbourhood") {
              l.bindTooltip(f.properties.name, { sticky: true });
            }
          },
        });
        layers[spec.key] = layer;
        layer.linliLabel = spec.label + " (" + data.features.length + ")";
      } catch (err) {
        failures += 1;
        status(t.failed + " " + spec.label + ": " + err.message, true);
      }
    });
    await Promise.all(jobs);
    cfg.layers.forEach((spec) => {  // in the configured order, whatever order the fetches finished in
      const layer = layers[spec.key];
      if (!layer) return;
      control.addOverlay(layer, layer.linliLabel);
      if (spec.visible) layer.addTo(map);
    });
    // Keep the finer layers on top so they receive clicks.
    ["compound", "neighbourhood", "buildings"].forEach((k) => layers[k] && !layers[k].linliTiles && map.hasLayer(layers[k]) && layers[k].bringToFront());
    map.on("overlayadd", () => layers.buildings && !layers.buildings.linliTiles && map.hasLayer(layers.buildings) && layers.buildings.bringToFront());
    const extent = layers.street || layers.community;
    if (extent && extent.getLayers().length) {
      map.fitBounds(extent.getBounds(), { padding: [20, 20] });
      if (!failures) status("");
    } else if (!failures) {
      status(t.empty, true);
    }
    map.on("click", (e) => showAt(e.latlng, null, null));
    document.body.dataset.mapReady = failures ? "error" : "ready";
  };
})();
