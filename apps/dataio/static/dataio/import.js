/* The import page: upload → choose layer, level and fields → dry run shown on the map (repaired features
   amber, rejected red) with the report → commit. Hooked through django-leaflet's callback. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("import-config").textContent);
  const t = cfg.labels;
  const $ = (sel) => document.querySelector(sel);
  const statusEl = $("#status");
  const reportEl = $("#report");
  const optionsForm = $("#options-form");
  const STYLE = {
    ok: { color: "#2563eb", weight: 1, fillOpacity: 0.15 },
    repaired: { color: "#d97706", weight: 3, fillOpacity: 0.35 },
    rejected: { color: "#dc2626", weight: 3, fillOpacity: 0.45, dashArray: "4 3" },
  };
  let map = null;
  let upload = null;
  let layer = null;
  let legendAdd = null;

  const esc = window.linli.esc;
  function status(text, isError) {
    statusEl.textContent = text || "";
    statusEl.className = "status" + (isError ? " error" : "") + (text ? "" : " hidden");
  }
  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : (document.querySelector("[name=csrfmiddlewaretoken]") || {}).value;
  }
  async function send(url, body, isJson) {
    const res = await fetch(url, {
      method: "POST",
      headers: Object.assign({ "X-CSRFToken": csrf(), Accept: "application/json" },
                             isJson ? { "Content-Type": "application/json" } : {}),
      body: isJson ? JSON.stringify(body) : body,
      credentials: "same-origin",
    });
    const data = await res.json().catch(() => ({ error: res.status + " " + res.statusText }));
    if (!res.ok) { const e = new Error(data.error || res.statusText); e.data = data; throw e; }
    return data;
  }

  function fillFields() {
    const spec = upload.layers.find((l) => l.name === $("#layer").value) || upload.layers[0];
    document.querySelectorAll("select.field").forEach((sel) => {
      const keep = sel.value;
      sel.innerHTML = "<option value=''>" + esc(t.none) + "</option>" +
        spec.fields.map((f) => "<option>" + esc(f) + "</option>").join("");
      if (spec.fields.includes(keep)) sel.value = keep;
      else if (sel.name === "name_field" && spec.fields.includes("name")) sel.value = "name";
    });
  }
  function toggleKind() {
    const areas = $("#kind").value === "areas";
    document.querySelectorAll(".areas-only").forEach((el) => { el.hidden = !areas; });
    document.querySelectorAll(".buildings-only").forEach((el) => { el.hidden = areas; });
  }
  function options() {
    const fd = new FormData(optionsForm);
    const out = {};
    for (const [k, v] of fd.entries()) out[k] = v;
    out.strict = $("[name=strict]").checked;
    out.skip_bad = $("[name=skip_bad]").checked;
    if (out.kind === "buildings") delete out.level;
    return out;
  }

  function renderReport(rep, committed) {
    const s = rep.summary;
    const keys = ["read", "ok", "repaired", "rejected", "duplicated_codes"].concat(
      rep.kind === "areas" ? ["parents_matched", "new", "new_version", "unchanged", "not_in_file"] : ["existing", "households"]);
    let html = "<table class='summary'>" + keys.map((k) =>
      "<tr class='" + k + "'><th>" + esc(t[k]) + "</th><td data-key='" + k + "'>" + esc(s[k]) + "</td></tr>").join("") + "</table>";
    if (committed) html = "<p class='done'>" + esc(t.committed.replace("%(n)s", s.written)) + "</p>" + html;
    const bad = (rep.rows || []).filter((r) => r.status !== "ok");
    if (bad.length) {
      html += "<table class='rows'><tr><th>" + esc(t.row) + "</th><th>" + esc(t.name) + "</th><th>" + esc(t.reason) + "</th></tr>" +
        bad.slice(0, 300).map((r) => "<tr class='" + r.status + "'><td>" + r.row + "</td><td>" + esc(r.name) +
          "</td><td>" + esc(r.reason) + "</td></tr>").join("") + "</table>";
    }
    const missing = rep.not_in_file || [];
    if (missing.length) {
      // current areas under the same parents that no row matches: listed, never retired by an import
      html += "<p class='not-in-file-title'>" + esc(t.not_in_file_title) + "</p>" +
        "<table class='rows not-in-file'><tr><th>" + esc(t.code) + "</th><th>" + esc(t.name) + "</th></tr>" +
        missing.slice(0, 300).map((a) => "<tr><td>" + esc(a.code) + "</td><td>" + esc(a.name) + "</td></tr>").join("") +
        "</table>";
    }
    reportEl.innerHTML = html;
  }

  function showFeatures(gj) {
    if (layer) map.removeLayer(layer);
    layer = L.geoJSON(gj, {
      style: (f) => STYLE[f.properties.status] || STYLE.ok,
      onEachFeature: (f, l) => l.bindTooltip(
        "#" + f.properties.row + " " + esc(f.properties.name) + (f.properties.reason ? "<br>" + esc(f.properties.reason) : ""),
        { sticky: true }),
    }).addTo(map);
    layer.eachLayer((l) => { if (l.feature.properties.status !== "ok") l.bringToFront(); });
    if (layer.getLayers().length) map.fitBounds(layer.getBounds(), { padding: [20, 20] });
  }

  $("#upload-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = $("#file").files[0];
    if (!file) return;
    const fd = new FormData();
    fd.append("file", file);
    status(t.uploading);
    reportEl.innerHTML = "";
    try {
      upload = await send(cfg.uploadUrl, fd, false);
      $("#layer").innerHTML = upload.layers.map((l) => "<option>" + esc(l.name) + "</option>").join("");
      const mp = upload.layers.find((l) => l.name === "multipolygons");
      if (mp) $("#layer").value = mp.name;
      fillFields();
      toggleKind();
      optionsForm.hidden = false;
      $("#commit").disabled = true;
      status("");
    } catch (err) {
      status(t.failed + ": " + err.message, true);
      reportEl.innerHTML = "<p class='error'>" + esc(err.message) + "</p>";
    }
  });
  $("#layer").addEventListener("change", fillFields);
  $("#kind").addEventListener("change", toggleKind);
  optionsForm.addEventListener("change", () => { $("#commit").disabled = true; });

  optionsForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    status(t.checking);
    try {
      const rep = await send(cfg.previewUrl.replace("UPLOAD", upload.id), options(), true);
      renderReport(rep, false);
      reportEl.scrollIntoView({ block: "start" });
      showFeatures(rep.geojson);
      $("#commit").disabled = false;
      status("");
      document.body.dataset.preview = "ready";
    } catch (err) {
      status(t.failed + ": " + err.message, true);
      reportEl.innerHTML = "<p class='error'>" + esc(err.message) + "</p>";
      document.body.dataset.preview = "error";
    }
  });

  $("#commit").addEventListener("click", async () => {
    status(t.committing);
    $("#commit").disabled = true;
    try {
      const rep = await send(cfg.commitUrl.replace("UPLOAD", upload.id), options(), true);
      renderReport(rep, true);
      status("");
      document.body.dataset.committed = "yes";
    } catch (err) {
      status(t.failed + ": " + err.message, true);
      reportEl.insertAdjacentHTML("afterbegin", "<p class='error'>" + esc(err.message) + "</p>");
      document.body.dataset.committed = "error";
    }
  });

  window.linliImportInit = function (m) {
    map = m;
    const legend = L.control({ position: "bottomright" });
    legend.onAdd = () => {
      const div = L.DomUtil.create("div", "legend");
      div.innerHTML = ["ok", "repaired", "rejected"].map((k) =>
        "<div><i style='background:" + STYLE[k].color + "'></i>" + esc(t[k]) + "</div>").join("");
      return div;
    };
    legendAdd = (key, color) => legend.getContainer().insertAdjacentHTML("beforeend",
      "<div><i style='border:2px dashed " + color + "'></i>" + esc(t[key]) + "</div>");
    legend.addTo(map);
    if (cfg.streetsUrl) drawStreets();
    else document.body.dataset.importReady = "ready";
  };

  // The territory as it is, under the file's features: grey outlines, not clickable.
  async function drawStreets() {
    try {
      const res = await fetch(cfg.streetsUrl, { credentials: "same-origin" });
      const gj = await res.json();
      const streets = L.geoJSON(gj, { style: { color: "#64748b", weight: 2, dashArray: "6 4", fill: false }, interactive: false });
      if (streets.getLayers().length) {
        streets.addTo(map);
        streets.eachLayer((l) => { l.getElement().dataset.street = l.feature.properties.code; });
        legendAdd("territory", "#64748b");
        if (!layer) map.fitBounds(streets.getBounds(), { padding: [20, 20], animate: false });
      }
    } catch (err) {
      status(t.failed + ": " + err.message, true);
    }
    document.body.dataset.importReady = "ready";
  }
})();
