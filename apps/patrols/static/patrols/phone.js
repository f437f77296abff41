/* The grid leader's phone page: my grids and buildings on a map, patrols recorded with
   navigator.geolocation.watchPosition, an outbox in localStorage that survives reloads and offline periods,
   check-ins at buildings, and my patrol history. Hooked to Leaflet through django-leaflet's callback.

   Every point, check-in and start carries an id made here (a UUID), so sending twice is harmless: the
   server recognises what it already has. Nothing is removed from the outbox until the server answered. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("phone-config").textContent);
  const t = cfg.labels;
  const KEY = "linli.patrol.v1." + cfg.user;
  const CACHE = "linli-phone-v2";  // the service worker's (sw.js)
  const BATCH = 200;
  const $ = (id) => document.getElementById(id);
  const statusEl = $("status");
  const LOCALE = document.documentElement.lang === "zh-hans" ? "zh-CN" : document.documentElement.lang || undefined;

  let map = null;
  let myMarker = null;
  let trackLine = null;
  let buildingsLayer = null;
  let historyLayer = null;
  let buildings = [];
  let grids = [];
  let heads = {};  // building id → its building and compound heads (my-map)
  let issues = [];
  let awaitingIds = new Set();
  let issuesLayer = null;
  let position = null;
  let flushing = false;
  let geoMessage = null;

  // ------------------------------------------------------------------------------------------ state
  function fresh() {
    return { patrol: null, pendingStart: null, queue: [], track: [], last: null, rejected: 0,
             checkins: [], checkedIn: [], stop: null };
  }
  function load() {
    try {
      return Object.assign(fresh(), JSON.parse(localStorage.getItem(KEY)) || {});
    } catch (e) {
      return fresh();
    }
  }
  let state = load();
  function save() { localStorage.setItem(KEY, JSON.stringify(state)); }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  const { esc, plural, byFlat, flatName } = window.linli;

  function status(text, kind) {
    statusEl.textContent = text || "";
    statusEl.className = "status" + (kind ? " " + kind : "") + (text ? "" : " hidden");
  }

  // ---------------------------------------------------------------------------------------- network
  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  class Offline extends Error {}

  // A request the page makes only when the browser says it is online (so an offline period produces no
  // failed network requests at all); a request that fails anyway becomes an Offline error for the caller.
  async function api(method, url, body) {
    if (!navigator.onLine && method !== "GET") throw new Offline(t.offline);
    let res;
    const form = body instanceof FormData;
    const headers = { Accept: "application/json", "X-CSRFToken": csrf() };
    if (!form) headers["Content-Type"] = "application/json";
    try {
      res = await fetch(url, {
        method,
        credentials: "same-origin",
        headers,
        body: body === undefined ? undefined : form ? body : JSON.stringify(body),
      });
    } catch (e) {
      throw new Offline(t.offline);
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.error) || res.status + " " + res.statusText);
      err.status = res.status;
      err.field = data && data.field;
      throw err;
    }
    return data;
  }

  function patrolUrl(suffix) { return cfg.urls.patrols + "/" + state.patrol.id + (suffix || ""); }

  // Send the outbox: points in batches, then check-ins, then a pending stop. One flush at a time.
  async function flush() {
    if (flushing || !state.patrol || !navigator.onLine) return;
    flushing = true;
    try {
      while (state.queue.length) {
        const batch = state.queue.slice(0, BATCH);
        const res = await api("POST", patrolUrl("/points"), { points: batch });
        const sent = new Set(batch.map((p) => p.id));
        state.queue = state.queue.filter((p) => !sent.has(p.id));
        state.rejected += res.rejected.length;
        save();
        renderPatrol();
      }
      while (state.checkins.length) {
        const c = state.checkins[0];
        try {
          await api("POST", patrolUrl("/checkins"), c);
          markChecked(c.building_id);
        } catch (e) {
          if (e instanceof Offline) throw e;
          status(t.error + ": " + e.message, "error");  // refused (too far, ended): tell, then drop it
        }
        state.checkins.shift();
        save();
      }
      if (state.stop) {
        const done = await api("POST", patrolUrl("/stop"), { ended_at: state.stop.ended_at });
        finished(done);
      }
      setNet();
    } catch (e) {
      if (e instanceof Offline) setNet();
      else status(t.sendFailed + ": " + e.message, "error");
    } finally {
      flushing = false;
      renderPatrol();
    }
  }

  function setNet() {
    const el = $("net");
    const waiting = state.queue.length + state.checkins.length;
    if (!navigator.onLine) {
      el.textContent = t.offline + (waiting ? " (" + waiting + ")" : "");
      el.className = "net offline";
    } else {
      el.textContent = t.online;
      el.className = "net online";
    }
    document.body.dataset.net = navigator.onLine ? "online" : "offline";
  }

  // ----------------------------------------------------------------------------------- geolocation
  function onFix(pos) {
    const c = pos.coords;
    position = { lon: c.longitude, lat: c.latitude, accuracy: c.accuracy };
    const ll = [c.latitude, c.longitude];
    if (map) {
      if (!myMarker) {
        myMarker = L.circleMarker(ll, { radius: 8, color: "#fff", weight: 3, fillColor: "#2563eb", fillOpacity: 1 })
          .bindTooltip(t.myPosition).addTo(map);
      } else {
        myMarker.setLatLng(ll);
      }
    }
    // clear a message about the position (finding it, or it failing), never one about anything else
    if (statusEl.dataset.geo !== "ok" && [t.locating, geoMessage].includes(statusEl.textContent)) status("");
    statusEl.dataset.geo = "ok";
    if (state.patrol && !state.stop) record(position, pos.timestamp || Date.now());
    renderBuildings();
    renderIssues();
  }

  function onGeoError(err) {
    // A timeout while a position is already known only means the phone stood still: keep the last one.
    if (err.code === 3 && position) return;
    statusEl.dataset.geo = "error";
    geoMessage = err.code === 1 ? t.locationDenied : t.noLocation + (err.message ? ": " + err.message : "");
    status(geoMessage, "error");
  }

  // A fix joins the outbox unless it repeats the last one (a phone standing still, or the position the
  // browser hands back after a reload): nothing is lost by leaving out an identical point.
  function record(p, time) {
    const last = state.last;
    if (last && last.lon === p.lon && last.lat === p.lat && time - last.t < 60000) return;
    state.queue.push({ id: uuid(), t: new Date(time).toISOString(), lon: p.lon, lat: p.lat,
                       accuracy: p.accuracy == null ? null : Math.round(p.accuracy * 10) / 10 });
    state.track.push([p.lat, p.lon]);
    state.last = { lon: p.lon, lat: p.lat, t: time };
    save();
    drawTrack();
    renderPatrol();
    flush();
  }

  // ------------------------------------------------------------------------------------- patrolling
  async function startPatrol() {
    const btn = $("patrol-btn");
    if (!navigator.onLine) { status(t.offline, "error"); return; }
    const gridId = Number($("grid").value);
    if (!state.pendingStart || state.pendingStart.grid_id !== gridId) {
      state.pendingStart = { client_id: uuid(), grid_id: gridId, started_at: new Date().toISOString() };
      save();
    }
    btn.disabled = true;
    btn.textContent = t.starting;
    try {
      adopt(await api("POST", cfg.urls.patrols, state.pendingStart));
    } catch (e) {
      if (e.status === 409) {
        const list = await api("GET", cfg.urls.patrols).catch(() => null);
        if (list && list.active) { adopt(list.active); return; }
      }
      state.pendingStart = e instanceof Offline ? state.pendingStart : null;
      save();
      status(t.startFailed + ": " + e.message, "error");
    } finally {
      renderPatrol();
    }
  }

  function adopt(p) {
    const same = state.patrol && state.patrol.id === p.id;
    if (!same) state = fresh();  // only ever reached with no local patrol, so no unsent point is dropped
    state.patrol = { id: p.id, grid: p.grid, started_at: p.started_at };
    state.pendingStart = null;
    save();
    if (position && !same) record(position, Date.now());
    status("");
    renderPatrol();
    renderBuildings();
  }

  function stopPatrol() {
    if (!state.patrol || state.stop) return;
    state.stop = { ended_at: new Date().toISOString() };
    save();
    renderPatrol();
    flush();
  }

  function finished(detail) {
    state = fresh();
    save();
    drawTrack();
    const km = (detail.length_m / 1000).toFixed(2);
    const msg = t.stopped + ": " + detail.points.filter((p) => p.status === "accepted").length + " " + t.points +
      ", " + km + " " + t.km + ", " + detail.visits.length + " " + t.visited;
    status(msg, "ok");
    $("patrol-info").dataset.lastPatrol = String(detail.id);
    showHistoryTrack(detail);
    loadHistory();
    renderBuildings();
  }

  function checkin(buildingId) {
    if (!state.patrol) return;
    const c = { client_id: uuid(), building_id: buildingId, at: new Date().toISOString() };
    if (position) { c.lon = position.lon; c.lat = position.lat; }
    state.checkins.push(c);
    save();
    if (!navigator.onLine) status(t.checkinQueued, "ok");
    flush();
  }

  function markChecked(id) {
    if (!state.checkedIn.includes(id)) state.checkedIn.push(id);
    save();
    renderBuildings();
  }

  // ------------------------------------------------------------------------------------- rendering
  function renderPatrol() {
    const btn = $("patrol-btn");
    const info = $("patrol-info");
    const sel = $("grid");
    if (state.patrol) {
      btn.textContent = state.stop ? t.stopping : t.stop;
      btn.className = "danger";
      btn.disabled = Boolean(state.stop);
      sel.disabled = true;
      if (state.patrol.grid) sel.value = String(state.patrol.grid.id);
      const started = new Date(state.patrol.started_at);
      const mins = Math.max(0, Math.round((Date.now() - started) / 60000));
      info.innerHTML = "<b>" + esc(t.active) + "</b> " + esc(state.patrol.grid ? state.patrol.grid.name : "") +
        " · " + esc(t.since) + " " + started.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" }) +
        " (" + mins + " " + esc(t.minutes) + ")<br><span id='recorded'>" + state.track.length + "</span> " +
        esc(t.recorded) + " · <span id='waiting'>" + state.queue.length + "</span> " + esc(t.waiting) +
        (state.rejected ? " · " + state.rejected + " " + esc(t.rejected) : "");
      document.body.dataset.patrol = String(state.patrol.id);
    } else {
      btn.textContent = t.start;
      btn.className = "primary";
      btn.disabled = !sel.options.length;
      sel.disabled = false;
      info.textContent = "";
      delete document.body.dataset.patrol;
    }
    document.body.dataset.recorded = String(state.track.length);
    document.body.dataset.waiting = String(state.queue.length + state.checkins.length);
    setNet();
  }

  function drawTrack() {
    if (!map) return;
    if (!trackLine) trackLine = L.polyline([], { color: "#dc2626", weight: 4 }).addTo(map);
    trackLine.setLatLngs(state.track);
  }

  // A phone in clear can be called; a masked one (138****5678) is shown as it is.
  function tel(phone) {
    if (!phone) return "";
    return /^\+?[\d-]{5,}$/.test(phone) ? "<a href='tel:" + esc(phone) + "'>" + esc(phone) + "</a>" : esc(phone);
  }

  // A distance as a person reads it: metres nearby, kilometres (one decimal) from 1 km
  function distanceText(m) {
    return m < 1000 ? Math.round(m) + " " + t.m : (m / 1000).toFixed(1) + " " + t.km;
  }

  function distanceM(a, b) {
    const r = Math.PI / 180;
    const dLat = (b.lat - a.lat) * r;
    const dLon = (b.lon - a.lon) * r;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(dLon / 2) ** 2;
    return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  // Metres from a position to a building's footprint, 0 inside it: what the server measures when
  // checking in (ST_Distance on the geography), on a local plane around the position (a building is
  // metres to a few km away: well within a metre of the geodesic). Far away, the great circle.
  function distanceToFootprint(a, f) {
    const g = f.geometry;
    const centre = distanceM(a, f.properties);
    if (!g || centre > 5000) return centre;
    const r = Math.PI / 180;
    const ky = 6371008.8 * r;
    const kx = ky * Math.cos(a.lat * r);
    const polygons = g.type === "MultiPolygon" ? g.coordinates : [g.coordinates];
    let inside = false;
    let best = Infinity;
    polygons.forEach((rings) => rings.forEach((ring) => {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const x1 = (ring[j][0] - a.lon) * kx, y1 = (ring[j][1] - a.lat) * ky;
        const x2 = (ring[i][0] - a.lon) * kx, y2 = (ring[i][1] - a.lat) * ky;
        if ((y1 > 0) !== (y2 > 0) && 0 < x1 + (x2 - x1) * (0 - y1) / (y2 - y1)) inside = !inside;
        const dx = x2 - x1, dy = y2 - y1;
        const len = dx * dx + dy * dy;
        const u = len ? Math.max(0, Math.min(1, -(x1 * dx + y1 * dy) / len)) : 0;
        best = Math.min(best, Math.hypot(x1 + u * dx, y1 + u * dy));
      }
    }));
    return inside ? 0 : best;
  }

  function renderBuildings() {
    const list = $("buildings");
    if (!buildings.length) return;
    const rows = buildings.map((f) => ({ p: f.properties, d: position ? distanceToFootprint(position, f) : null }));
    if (position) rows.sort((a, b) => a.d - b.d);
    const can = Boolean(state.patrol) && !state.stop;
    const pending = new Set(state.checkins.map((c) => c.building_id));
    // open issues filed at each building (the Issues tab's list): where there is work to do
    const open = new Map();
    issues.forEach((r) => { if (r.building_id) open.set(r.building_id, (open.get(r.building_id) || 0) + 1); });
    const head = (h) => "<span class='head'>" + esc(h.role_name) + " " + esc(h.name) + (h.phone ? " " + tel(h.phone) : "") + "</span>";
    list.innerHTML = rows.map((r) => {
      const done = state.checkedIn.includes(r.p.id);
      const queued = pending.has(r.p.id);
      const n = open.get(r.p.id) || 0;
      return "<li data-building='" + r.p.id + "'><div><b>" + esc(r.p.address || r.p.name) + "</b><br><small>" +
        (r.d == null ? "" : esc(distanceText(r.d)) + " · ") + r.p.households + " " + esc(t.households) +
        (n ? " · <span class='open-issues'>" + esc(plural(t.openIssues, n).replace("%(n)s", n)) + "</span>" : "") +
        (heads[r.p.id] ? "<br>" + heads[r.p.id].map(head).join(" · ") : "") +
        "</small><br><button type='button' class='linkish open-register'>" + esc(t.register.open) + "</button></div>" +
        (done ? "<span class='badge'>" + esc(t.checkedIn) + "</span>"
              : "<button type='button' class='checkin'" + (can && !queued ? "" : " disabled") +
                " title='" + esc(can ? "" : t.needsPatrol) + "'>" + esc(t.checkin) + "</button>") + "</li>";
    }).join("");
    if (buildingsLayer) {
      buildingsLayer.eachLayer((l) => {
        const done = state.checkedIn.includes(l.feature.properties.id);
        l.setStyle({ fillColor: done ? "#16a34a" : "#94a3b8" });
      });
    }
  }

  async function loadHistory() {
    const list = $("history");
    try {
      const data = await api("GET", cfg.urls.patrols);
      if (!data.patrols.length) { list.innerHTML = "<li class='hint'>" + esc(t.noHistory) + "</li>"; return data; }
      list.innerHTML = data.patrols.map((p) => {
        const s = new Date(p.started_at);
        const mins = p.ended_at ? Math.round((new Date(p.ended_at) - s) / 60000) + " " + t.minutes : t.active;
        return "<li data-patrol='" + p.id + "'><div><b>" + esc(s.toLocaleDateString(LOCALE)) + " " +
          esc(s.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" })) + "</b> " + esc(p.grid.name) +
          "<br><small>" + esc(mins) + " · " + (p.length_m / 1000).toFixed(2) + " " + esc(t.km) + " · " +
          p.points + " " + esc(t.points) + " · " + p.buildings_visited + " " + esc(t.visited) +
          (p.issues ? " · " + esc(plural(t.issuesFound, p.issues).replace("%(n)s", p.issues)) : "") + "</small></div></li>";
      }).join("");
      return data;
    } catch (e) {
      list.innerHTML = "<li class='error'>" + esc(e instanceof Offline ? t.offline : t.error + ": " + e.message) + "</li>";
      return null;
    }
  }

  function showHistoryTrack(detail) {
    if (!map) return;
    if (historyLayer) historyLayer.remove();
    if (!detail.track) return;
    historyLayer = L.geoJSON(detail.track, { style: { color: "#7c3aed", weight: 4, dashArray: "6 4" } }).addTo(map);
    map.fitBounds(historyLayer.getBounds(), { padding: [30, 30], maxZoom: 18 });
  }

  // ------------------------------------------------------------------------ residents (住户登记)
  // A building's residents by flat; for whoever keeps its register (the people API's `can_edit`: a
  // grid leader in their grid), a form to register someone and a "moved out" button each. Online only.
  const R = t.register;

  function showBuildingList(show) {
    $("building-sheet").hidden = show;
    $("buildings").hidden = !show;
  }

  async function openBuilding(id, message) {
    const sheet = $("building-sheet");
    sheet.dataset.building = String(id);
    if (!message) sheet.innerHTML = "<p class='hint'>" + esc(t.loading) + "</p>";
    showBuildingList(false);
    const f = buildings.find((b) => b.properties.id === id);
    const title = f ? (f.properties.address || f.properties.name) : "";
    try {
      const [d, hh] = await Promise.all([
        api("GET", cfg.urls.residents + "?building=" + id),
        api("GET", cfg.urls.households + "?building=" + id),
      ]);
      sheet.innerHTML = "<button type='button' class='back'>‹ " + esc(R.back) + "</button>" +
        (message ? "<p class='done'>" + esc(message) + "</p>" : "") +
        "<h3>" + esc(title) + "</h3>" + registerHtml(id, d, hh.results);
    } catch (e) {
      sheet.innerHTML = "<button type='button' class='back'>‹ " + esc(R.back) + "</button><p class='error'>" +
        esc(e instanceof Offline ? t.offline : t.error + ": " + e.message) + "</p>";
    }
    $("tab-buildings").scrollTop = 0;
  }

  function registerHtml(id, d, households) {
    const flats = byFlat(d.results, households).map((f) =>
      "<li data-household='" + f.household.id + "'><small>" + esc(f.name) + "</small>" + f.residents.map((r) =>
        "<div class='resident'><span>" + esc(r.name) + "</span>" + (r.is_head ? "<span class='badge'>" + esc(R.head) + "</span>" : "") +
        (r.phone ? tel(r.phone) : "") +
        (d.can_edit ? "<button type='button' class='linkish move-out' data-resident='" + r.id + "' data-name='" + esc(r.name) + "'>" + esc(R.moveOut) + "</button>" : "") +
        "</div>").join("") + "</li>").join("");
    return "<h4>" + esc(R.residents) + "</h4>" +
      (flats ? "<ul class='flats'>" + flats + "</ul>" : "<p class='hint'>" + esc(R.none) + "</p>") +
      (d.can_edit && households.length ? "<details class='register'><summary>" + esc(R.register) + "</summary>" +
        "<form id='register-form' data-building='" + id + "'>" +
        "<label>" + esc(R.household) + " <select name='household'>" + households.map((h) =>
          "<option value='" + h.id + "'>" + esc(flatName(h)) + "</option>").join("") + "</select></label>" +
        "<label>" + esc(R.name) + " <input name='name' required maxlength='100' autocomplete='off'></label>" +
        "<label>" + esc(R.phone) + " <input name='phone' type='tel' autocomplete='off'></label>" +
        "<label>" + esc(R.idNumber) + " <input name='id_number' autocomplete='off' spellcheck='false'></label>" +
        "<label class='check'><input type='checkbox' name='is_head'> " + esc(R.head) + "</label>" +
        "<button type='submit' class='primary'>" + esc(R.registerDo) + "</button>" +
        "<p class='error' id='register-error' hidden></p></form></details>" : "");
  }

  function registerEvents() {
    const sheet = $("building-sheet");
    sheet.addEventListener("click", async (e) => {
      if (e.target.closest("button.back")) { showBuildingList(true); return; }
      const out = e.target.closest("button.move-out");
      if (!out || !window.confirm(R.moveOutConfirm.replace("{name}", out.dataset.name))) return;
      out.disabled = true;
      try {
        await api("POST", cfg.urls.residents + "/" + out.dataset.resident + "/move-out", {});
        openBuilding(Number(sheet.dataset.building), R.movedOut + ": " + out.dataset.name);
      } catch (err) {
        out.disabled = false;
        status(err instanceof Offline ? t.offline : err.message, "error");
      }
    });
    sheet.addEventListener("submit", async (e) => {
      e.preventDefault();
      const form = e.target;
      const body = { household: Number(form.household.value), name: form.name.value, phone: form.phone.value,
                     id_number: form.id_number.value, is_head: form.is_head.checked };
      form.querySelectorAll("button, input, select").forEach((el) => { el.disabled = true; });
      try {
        const r = await api("POST", cfg.urls.residents, body);
        openBuilding(Number(form.dataset.building), R.registered + ": " + r.name);
      } catch (err) {
        const el = $("register-error");
        el.textContent = err instanceof Offline ? t.offline : err.message;
        el.hidden = false;
        form.querySelectorAll("button, input, select").forEach((x) => { x.disabled = false; });
      }
    });
  }

  // ----------------------------------------------------------------------------------------- issues
  // Open issues of my grids from the issues app's staff API, sorted by distance from my position.
  async function loadIssues() {
    if (!cfg.issues || !navigator.onLine) return;
    const list = $("issues");
    try {
      const seen = new Map();
      for (const g of grids) {
        const d = await api("GET", cfg.urls.issues + "?status=open&page_size=500&within=" +
          encodeURIComponent(g.properties.code));
        d.results.forEach((r) => seen.set(r.id, r));
      }
      // the ones waiting for me (to accept, resolve…), marked in the list
      const mine = await api("GET", cfg.urls.issues + "?awaiting=true&page_size=500");
      awaitingIds = new Set(mine.results.map((r) => r.id));
      // how many wait for me, on the Issues tab itself (seen from the Buildings tab too)
      const tab = document.querySelector(".tabs [data-tab=issues]");
      let badge = tab.querySelector(".tab-badge");
      if (!badge) { badge = document.createElement("span"); badge.className = "tab-badge"; tab.append(" ", badge); }
      badge.textContent = awaitingIds.size ? String(awaitingIds.size) : "";
      badge.title = t.awaitingMe;
      badge.hidden = !awaitingIds.size;
      issues = Array.from(seen.values());
      renderIssues();
    } catch (e) {
      list.innerHTML = "<li class='error'>" + esc(t.error + ": " + e.message) + "</li>";
    }
  }

  function renderIssues() {
    if (!cfg.issues) return;
    const list = $("issues");
    const rows = issues.map((r) => ({ r, d: position ? distanceM(position, r) : null }));
    if (position) rows.sort((a, b) => a.d - b.d);
    list.innerHTML = rows.length ? rows.map(({ r, d }) =>
      "<li data-issue='" + r.id + "'><div><b>" + esc(r.category_name) + "</b> <small>" + esc(r.tracking_code) +
      "</small><br>" + esc((r.description || "").slice(0, 80)) + "<br><small>" +
      (d == null ? "" : esc(distanceText(d)) + " · ") + esc((t.statuses || {})[r.status] || r.status) +
      "</small></div>" +
      (awaitingIds.has(r.id) ? "<span class='badge awaiting'>" + esc(t.awaitingMe) + "</span>" : "") +
      (r.overdue ? "<span class='badge overdue'>" + esc(t.overdue) + "</span>" : "") + "</li>").join("")
      : "<li class='hint'>" + esc(t.noIssues) + "</li>";
    document.body.dataset.issues = String(issues.length);
    renderBuildings(); // their open-issue counts
    if (map) {
      if (issuesLayer) issuesLayer.remove();
      issuesLayer = L.layerGroup(issues.map((r) => L.circleMarker([r.lat, r.lon], {
        radius: 6, color: "#fff", weight: 2, fillColor: r.overdue ? "#b91c1c" : "#f59e0b", fillOpacity: 1,
      }).bindTooltip(esc(r.category_name + " " + r.tracking_code)))).addTo(map);
    }
  }

  // ------------------------------------------------------------------ one issue: read it, call, act
  // The issues app's staff API: the detail with the actions this user may take now, and the loop's
  // action endpoint (the same the console uses). The list is hidden while an issue is open.
  function when(iso) {
    return iso ? new Date(iso).toLocaleString(LOCALE, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }) : "";
  }

  function showIssueList(show) {
    $("issue-sheet").hidden = show;
    $("issues").hidden = !show;
    $("report").hidden = !show;
  }

  async function openIssue(id) {
    const sheet = $("issue-sheet");
    sheet.dataset.issue = String(id);
    sheet.innerHTML = "<p class='hint'>" + esc(t.loading) + "</p>";
    showIssueList(false);
    try {
      renderIssue(await api("GET", cfg.urls.issue + id));
    } catch (e) {
      sheet.innerHTML = "<button type='button' class='back'>‹ " + esc(t.issue.back) + "</button><p class='error'>" +
        esc(e instanceof Offline ? t.offline : t.error + ": " + e.message) + "</p>";
    }
  }

  function renderIssue(d, done) {
    const L_ = t.issue;
    const who = [d.reporter && d.reporter.name ? esc(d.reporter.name) : "", tel(d.reporter && d.reporter.phone)].filter(Boolean).join(" ");
    const handler = d.responsible ? [esc(d.responsible.name), tel(d.responsible.phone)].filter(Boolean).join(" ") : "";
    const rows = [[L_.trackingCode, esc(d.tracking_code)], [L_.description, esc(d.description)], [L_.address, esc(d.address)],
                  [L_.received, esc(when(d.created_at))], [L_.due, esc(when(d.due_at))],
                  [L_.responsible, handler], [L_.reporter, who]]
      .filter((r) => r[1]).map((r) => "<tr><th>" + esc(r[0]) + "</th><td>" + r[1] + "</td></tr>").join("");
    let acts;
    if (d.actions.length || d.can_note) {
      acts = "<form id='issue-act' data-issue='" + d.id + "'>" +
        "<label>" + esc(L_.note) + " <textarea name='note' rows='2'></textarea></label>" +
        (d.actions.includes("rate") ? "<label>" + esc(L_.rating) + " <select name='rating'>" + [5, 4, 3, 2, 1].map((n) => "<option>" + n + "</option>").join("") + "</select></label>" : "") +
        (d.actions.includes("duplicate") ? "<label>" + esc(L_.duplicateOf) + " <input name='duplicate_of' autocapitalize='characters' spellcheck='false'></label>" : "") +
        // photos of the work done (处置照片): taken on the spot, kept with the step or a note alone
        "<label>" + esc(L_.stepPhotos) + " <input type='file' name='photos' accept='image/jpeg,image/png,image/webp' capture='environment' multiple></label>" +
        "<div class='acts'>" + d.actions.map((a) => "<button type='button' class='act' data-action='" + esc(a) + "'>" + esc(t.actions[a] || a) + "</button>").join("") +
        (d.can_note ? "<button type='button' class='act secondary' data-action='note'>" + esc(L_.addNote) + "</button>" : "") +
        "</div><p class='error' id='issue-act-error' hidden></p></form>" +
        (d.actions.length ? "" : "<p class='hint no-actions'>" + esc(L_.noActions) + "</p>");
    } else {
      acts = "<p class='hint no-actions'>" + esc(L_.noActions) + "</p>";
    }
    const history = d.history.slice(-6).reverse().map((e) =>
      "<li><small>" + esc(when(e.at)) + "</small> " + esc(t.actions[e.action] || e.action) +
      (e.to ? " → " + esc((t.statuses || {})[e.to] || e.to) : "") + (e.actor ? " · " + esc(e.actor) : "") +
      (e.note ? "<br><small>" + esc(e.note) + "</small>" : "") + photosHtml(e.photos) + "</li>").join("");
    $("issue-sheet").innerHTML = "<button type='button' class='back'>‹ " + esc(L_.back) + "</button>" +
      (done ? "<p class='done'>" + esc(done) + "</p>" : "") +
      "<h3>" + esc(d.category_name) + (d.subcategory_name ? " · " + esc(d.subcategory_name) : "") + "</h3>" +
      "<p><span class='badge st'>" + esc(d.status_label) + "</span>" +
      (d.overdue ? " <span class='badge overdue'>" + esc(t.overdue) + "</span>" : "") +
      " <button type='button' class='linkish show-on-map'>" + esc(L_.showOnMap) + "</button></p>" +
      "<table class='facts'>" + rows + "</table>" +
      photosHtml(d.photos) + acts +
      "<h4>" + esc(L_.history) + "</h4><ol class='history'>" + history + "</ol>";
    $("tab-issues").scrollTop = 0; // the sheet's top (and what was just done) in view
    document.body.dataset.issueOpen = String(d.id);
    issueShown = d;
    showOnMap(d);
  }

  function photosHtml(list) {
    return (list || []).length ? "<div class='photos'>" + list.map((p) => "<a href='" + esc(p.url) +
      "' target='_blank' rel='noopener'><img src='" + esc(p.url) + "' alt='' loading='lazy'></a>").join("") + "</div>" : "";
  }

  let issueMarker = null;
  let issueShown = null;
  function showOnMap(d) {
    if (!map) return;
    if (issueMarker) issueMarker.remove();
    issueMarker = L.circleMarker([d.lat, d.lon], { radius: 11, color: "#b91c1c", weight: 3, fill: false }).addTo(map);
    map.setView([d.lat, d.lon], Math.max(map.getZoom(), 17), { animate: false });
  }

  async function act(btn) {
    const form = btn.closest("form");
    const id = Number(form.dataset.issue);
    const action = btn.dataset.action;
    let body = { note: form.note.value };
    if (action === "rate" && form.rating) body.rating = Number(form.rating.value);
    if (action === "duplicate" && form.duplicate_of) body.duplicate_of = form.duplicate_of.value.trim() || null;
    if (form.photos && form.photos.files.length) {  // with photos the step goes as a form
      const data = new FormData();
      Object.entries(body).forEach(([k, v]) => { if (v !== null && v !== undefined) data.append(k, v); });
      Array.from(form.photos.files).forEach((f) => data.append("photos", f));
      body = data;
    }
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const d = await api("POST", cfg.urls.issue + id + "/actions/" + action, body);
      renderIssue(d, t.issue.done + ": " + (t.actions[action] || action));
      loadIssues();  // the list and the buildings' counts
    } catch (e) {
      const err = $("issue-act-error");
      err.textContent = e instanceof Offline ? t.offline : e.message;
      err.hidden = false;
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  }

  function issueEvents() {
    $("issues").addEventListener("click", (e) => {
      const li = e.target.closest("li[data-issue]");
      if (li) openIssue(Number(li.dataset.issue));
    });
    $("issue-sheet").addEventListener("click", (e) => {
      if (e.target.closest("button.back")) {
        showIssueList(true);
        delete document.body.dataset.issueOpen;
        if (issueMarker) { issueMarker.remove(); issueMarker = null; }
      } else if (e.target.closest("button.show-on-map") && issueShown) {
        showOnMap(issueShown);
      } else if (e.target.closest("button.act")) {
        act(e.target.closest("button.act"));
      }
    });
  }

  let categoriesLoaded = false;

  // Categories and issues come from the network: loaded at start, and again when back online or when
  // the tab is opened (the page may have been opened offline from the service worker's cache).
  async function refreshIssues() {
    if (!cfg.issues || !navigator.onLine) return;
    if (!categoriesLoaded) await loadCategories();
    await loadIssues();
  }

  async function loadCategories() {
    const sel = $("report-category");
    try {
      const d = await api("GET", cfg.urls.categories);
      const tops = d.results.filter((c) => !c.parent);
      const en = document.documentElement.lang === "en";
      const label = (c) => (en && c.name_en) || c.name;
      sel.innerHTML = tops.map((top) => "<optgroup label='" + esc(label(top)) + "'>" +
        d.results.filter((c) => c.parent === top.code).map((c) =>
          "<option value='" + esc(c.code) + "' data-parent='" + esc(top.code) + "'>" + esc(label(c)) + "</option>").join("") +
        "</optgroup>").join("");
      categoriesLoaded = true;
    } catch (e) {
      sel.innerHTML = "";
      status(t.error + ": " + e.message, "error");
    }
  }

  // Reporting sends the photo at once (a photo is too big for the outbox): it needs a connection.
  async function reportIssue(ev) {
    ev.preventDefault();
    const form = ev.target;
    if (!navigator.onLine) { status(t.reportNeedsNetwork, "error"); return; }
    if (!position) { status(t.reportNeedsPosition, "error"); return; }
    const opt = form.subcategory.selectedOptions[0];
    const data = new FormData(form);
    data.set("category", opt ? opt.dataset.parent : "");
    data.set("lon", position.lon.toFixed(7));
    data.set("lat", position.lat.toFixed(7));
    data.set("client_id", uuid());
    data.set("source", "patrol");
    if (!form.photos.files.length) data.delete("photos");
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    try {
      const url = state.patrol && !state.stop ? patrolUrl("/issues") : cfg.urls.issues;
      const issue = await api("POST", url, data);
      status(t.reported + " " + issue.tracking_code, "ok");
      document.body.dataset.reported = issue.tracking_code;
      form.reset();
      $("report").open = false;
      loadIssues();
    } catch (e) {
      status(t.reportFailed + ": " + e.message, "error");
    } finally {
      btn.disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------------- offline
  // Keep the page and its scripts in the browser's cache and let a service worker answer from it, so a
  // reload without network still opens the page and resumes the patrol from the outbox.
  async function prepareOffline() {
    if (!("serviceWorker" in navigator) || !window.caches) return;
    try {
      await navigator.serviceWorker.register(cfg.urls.sw, { scope: cfg.urls.page });
      if (navigator.onLine) {
        const assets = Array.from(document.querySelectorAll("script[src], link[rel=stylesheet][href]"))
          .map((e) => e.src || e.href);
        const cache = await caches.open(CACHE);
        // fresh copies from the server (`reload`: the worker goes to the network for these), so the
        // cache holds this release, not the one it served from its cache
        const urls = Array.from(new Set([cfg.urls.page, location.pathname + location.search, cfg.urls.myMap].concat(assets)));
        await cache.addAll(urls.map((u) => new Request(u, { cache: "reload", credentials: "same-origin" })));
      }
      await navigator.serviceWorker.ready;
      document.body.dataset.offlineReady = "yes";
    } catch (e) {
      document.body.dataset.offlineReady = "no";  // the page still works online
    }
  }

  // ------------------------------------------------------------------------------------------ start
  function tabs() {
    document.querySelectorAll(".tabs [role=tab]").forEach((b) => b.addEventListener("click", () => {
      document.querySelectorAll(".tabs [role=tab]").forEach((x) => x.setAttribute("aria-selected", String(x === b)));
      document.querySelectorAll(".tab").forEach((s) => { s.hidden = s.id !== "tab-" + b.dataset.tab; });
    }));
  }

  window.linliPhoneInit = async function (m) {
    map = m;
    window.linliMap = m;
    tabs();
    renderPatrol();
    drawTrack();
    $("patrol-btn").addEventListener("click", () => (state.patrol ? stopPatrol() : startPatrol()));
    $("buildings").addEventListener("click", (e) => {
      const b = e.target.closest("button.checkin");
      if (b) checkin(Number(b.closest("li").dataset.building));
      const r = e.target.closest("button.open-register");
      if (r) openBuilding(Number(r.closest("li").dataset.building));
    });
    registerEvents();
    $("history").addEventListener("click", async (e) => {
      const li = e.target.closest("li[data-patrol]");
      if (!li) return;
      try { showHistoryTrack(await api("GET", cfg.urls.patrols + "/" + li.dataset.patrol)); }
      catch (err) { status(t.error + ": " + err.message, "error"); }
    });
    window.addEventListener("online", () => { setNet(); flush(); refreshIssues(); });
    window.addEventListener("offline", setNet);
    setInterval(() => { renderPatrol(); flush(); }, 5000);

    status(t.loading);
    let ready = "ready";
    try {
      if (!navigator.onLine && !(navigator.serviceWorker && navigator.serviceWorker.controller)) throw new Offline(t.offline);
      const data = await api("GET", cfg.urls.myMap);
      grids = data.grids.features;
      buildings = data.buildings.features;
      heads = data.heads || {};
      const sel = $("grid");
      sel.innerHTML = grids.map((g) => "<option value='" + g.properties.id + "'>" + esc(g.properties.name) +
        " " + esc(g.properties.code.slice(-3)) + "</option>").join("");
      const gridLayer = L.geoJSON(data.grids, { style: { color: "#ea580c", weight: 3, fillOpacity: 0.04 } })
        .bindTooltip((l) => esc(l.feature.properties.name)).addTo(map);
      buildingsLayer = L.geoJSON(data.buildings, { style: { color: "#475569", weight: 1, fillColor: "#94a3b8", fillOpacity: 0.8 } })
        .bindTooltip((l) => esc(l.feature.properties.address || l.feature.properties.name)).addTo(map);
      if (grids.length) {
        map.fitBounds(gridLayer.getBounds(), { padding: [10, 10], animate: false });
        status("");
      } else {
        ready = "empty";
        status(t.noGrids, "error");
        // kept in the list too: the status line is taken over by location messages
        $("buildings").innerHTML = "<li class='hint'>" + esc(t.noGrids) + "</li>";
      }
      renderBuildings();
    } catch (e) {
      ready = "error";
      status(t.loadFailed + ": " + e.message, "error");
      $("buildings").innerHTML = "<li class='error'>" + esc(t.loadFailed) + "</li>";
    }
    renderPatrol();
    if (state.patrol) status(t.resumed + (state.queue.length ? " · " + state.queue.length + " " + t.waiting : ""), "ok");

    if ("geolocation" in navigator) {
      if (!position) { statusEl.dataset.geo = "waiting"; if (ready === "ready" && !state.patrol) status(t.locating); }
      navigator.geolocation.watchPosition(onFix, onGeoError, { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 });
    } else {
      status(t.noLocation, "error");
    }

    if (navigator.onLine) {
      const list = await loadHistory();
      // The server is the authority on whether a patrol is running (another phone may have stopped it).
      if (list) {
        if (!state.patrol && list.active) adopt(list.active);
        else if (state.patrol && !state.stop && !(list.active && list.active.id === state.patrol.id)) {
          state.stop = { ended_at: new Date().toISOString() };
          save();
        }
      }
      flush();
    } else {
      $("history").innerHTML = "<li class='hint'>" + esc(t.offline) + "</li>";
    }
    if (cfg.issues) {
      $("report-form").addEventListener("submit", reportIssue);
      issueEvents();
      await refreshIssues();
      document.querySelector(".tabs [data-tab=issues]").addEventListener("click", refreshIssues);
    }
    document.body.dataset.phoneReady = ready;
    prepareOffline();
  };
})();
