/* The staff console on the territory map: one layer per level, buildings, issues (clustered pins
   coloured by status, a heatmap), center households and service stations; filters, search, and a side
   panel for the selected area (chain, households, people, open issues, indicators) or issue (details,
   history, the actions this user may take). Hooked through django-leaflet's callback.
   Small layers are one GeoJSON download; layers too big for that (a city's buildings) come as vector
   tiles from /tiles/{layer}/{z}/{x}/{y}.mvt, drawn on canvas by protomaps-leaflet. So do the issues
   when the filters match more than cfg.issueTiles.limit of them (/api/console/issue-count): counts
   per screen cell below zoom 14, single issues from 14.
   No inline handlers and no eval: the page runs under a strict Content-Security-Policy. */
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("map-config").textContent);
  const t = cfg.labels;
  const urls = cfg.urls || {};
  const user = cfg.user;
  const lang = document.documentElement.lang || "zh-hans";
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
  const SELECTED = { color: "#facc15", weight: 4 };

  function status(text, isError) {
    statusEl.textContent = text;
    statusEl.className = "status" + (isError ? " error" : "") + (text ? "" : " hidden");
  }

  const { esc, plural, byFlat, flatName } = window.linli;

  async function readError(res) {
    let msg = res.status + " " + res.statusText;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    return new Error(msg);
  }

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!res.ok) throw await readError(res);
    return res.json();
  }

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function postJSON(url, body) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw await readError(res);
    return res.json();
  }

  async function postForm(url, data) {
    const res = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: data,
    });
    if (!res.ok) throw await readError(res);
    return res.json();
  }

  function formOf(body, files) {
    const data = new FormData();
    Object.entries(body).forEach(([k, v]) => {
      if (v !== null && v !== undefined) data.append(k, typeof v === "object" ? JSON.stringify(v) : v);
    });
    Array.from(files).forEach((f) => data.append("photos", f));
    return data;
  }

  function photosHtml(list) {
    return (list || []).length ? "<div class='photos'>" + list.map((p) =>
      "<a href='" + esc(p.url) + "' target='_blank' rel='noopener'><img src='" + esc(p.url) + "' alt='" + esc(t.photo) + "' loading='lazy'></a>").join("") + "</div>" : "";
  }

  function rows(pairs) {
    return "<table>" + pairs.filter((p) => p[1] !== null && p[1] !== undefined && p[1] !== "")
      .map((p) => "<tr><th>" + esc(p[0]) + "</th><td>" + esc(p[1]) + "</td></tr>").join("") + "</table>";
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString(lang === "en" ? "en-GB" : "zh-CN", { dateStyle: "short", timeStyle: "short" }) : "";
  }

  // How far a due time is, in whole days from a day on, else whole hours: "3 days overdue", "due in 5 hours"
  function dueIn(iso) {
    const ms = new Date(iso) - Date.now();
    const hours = Math.floor(Math.abs(ms) / 3600000);
    const n = hours >= 24 ? Math.floor(hours / 24) : hours;
    const text = hours === 0 ? t.underAnHour : plural(hours >= 24 ? t.days : t.hours, n).replace("%(n)s", n);
    return (ms < 0 ? t.overdueBy : t.dueIn).replace("{t}", text);
  }

  function day(d) {
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  }

  function pct(x) {
    return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%";
  }

  function chainHtml(chain) {
    if (!chain.length) return "<p class='hint'>" + esc(t.outside) + "</p>";
    return "<ul class='chain'>" + chain.map((a) =>
      "<li><span class='lvl'>" + esc(t.levels[a.level]) + "</span>" + esc(a.name) +
      (a.code ? " <code>" + esc(a.code) + "</code>" : "") + "</li>").join("") + "</ul>";
  }

  // ------------------------------------------------------------------ side panel: areas and buildings

  let selection = 0;  // bumps on every new selection so late answers for an old one are dropped
  let highlighted = null;

  function highlight(layer) {
    if (highlighted && highlighted.linliStyle) highlighted.setStyle(highlighted.linliStyle);
    highlighted = layer && layer.setStyle ? layer : null;
    if (highlighted) {
      highlighted.linliStyle = highlighted.linliStyle || Object.assign({}, highlighted.options);
      highlighted.setStyle(SELECTED);
    }
  }

  function section(id, title) {
    return "<section class='sec' id='" + id + "'><h3>" + esc(title) + "</h3><p class='hint loading'>" + esc(t.loading) + "</p></section>";
  }

  function fill(id, token, html) {
    if (token !== selection) return;
    const el = document.getElementById(id);
    if (el) el.querySelector(".loading, .body").outerHTML = "<div class='body'>" + html + "</div>";
  }

  function fillError(id, token, err) {
    fill(id, token, "<p class='error-text'>" + esc(t.failed) + ": " + esc(err.message) + "</p>");
  }

  async function showAt(latlng, feature, kind, layer, fromSearch) {
    issueInUrl(null);
    const token = ++selection;
    highlight(layer);
    clearIssueRing();
    const p = feature ? feature.properties : null;
    let head = homeLink() + "<h2>" + esc(p ? p.name : t.point) + "</h2>";
    if (p && kind === "buildings") {
      head += rows([[t.address, p.address], [t.floors, p.floors], [t.units, p.units], [t.households, p.households]]);
    } else if (p) {
      head += rows([[t.level, t.levels[p.level]], [t.code, p.code], [t.households, p.households],
                    [t.buildings, p.buildings], [t.mgmt, p.management_type ? t.mgmtTypes[p.management_type] : null],
                    [t.version, p.version]]);
    }
    const isArea = p && kind !== "buildings";
    let extra = "";
    // The intake areas (numeric codes) filter the issues by code prefix and have indicators; a compound
    // (code with "C") and a building list the issues filed on them.
    const issuesByCode = isArea && /^\d+$/.test(p.code || "");
    // signed in: open issues, who to call, then indicators (intake areas) and people
    const contacts = section("sec-contacts", t.contacts);
    if (user && issuesByCode) {
      extra += section("sec-issues", t.openIssues) + contacts + section("sec-indicators", t.indicators);
      if (p.level === "community" || p.level === "grid") extra += section("sec-people", t.people);
    } else if (user && isArea) {
      extra += section("sec-issues", t.openIssues) + contacts;
    } else if (user && p && kind === "buildings") {
      extra += section("sec-issues", t.openIssues) + contacts + section("sec-people", t.residents);
    } else if (!user && p) {
      extra = "<p class='hint'>" + esc(t.peopleLogin) + "</p>";
    }
    panel.innerHTML = head + "<section class='sec' id='sec-chain'><h3>" + esc(t.chain) + "</h3><p class='hint loading'>" +
      esc(t.loading) + "</p></section>" + extra;
    panel.dataset.selected = isArea ? "area:" + p.id : (p ? "building:" + p.id : "point");
    // A click: everything covering the point (grid and compound alike); a search result: the area's own chain.
    const chainUrl = isArea && fromSearch ? urls.area + p.id
      : cfg.locateUrl + "?lon=" + latlng.lng.toFixed(7) + "&lat=" + latlng.lat.toFixed(7);
    getJSON(chainUrl).then((d) => fill("sec-chain", token, chainHtml(d.chain)), (e) => fillError("sec-chain", token, e));
    if (!user || !p) return;
    loadContacts(isArea ? "area" : "building", p, token);
    if (isArea && !issuesByCode) {
      loadPanelIssues("compound=" + encodeURIComponent(p.code), token);
    } else if (isArea) {
      loadPanelIssues("within=" + encodeURIComponent(p.code), token);
      loadIndicators(p, token);
      if (p.level === "community" || p.level === "grid") loadCenters(p, token);
    } else {
      loadPanelIssues("building=" + p.id, token);
      loadResidents("building", p.id, token);
    }
  }

  // A list of issues, each a link that opens it. opts: empty (text when there are none), countText (instead
  // of "N issues shown"), due (each says when it is due).
  function issueListHtml(list, total, opts) {
    const o = opts || {};
    if (!list.length) return "<p class='hint'>" + esc(o.empty || t.noOpenIssues) + "</p>";
    return "<p class='hint'>" + esc(o.countText || total + " " + t.issueCount) + "</p><ul class='issue-list'>" + list.map((i) =>
      "<li><button type='button' class='linkish issue-link' data-issue='" + i.id + "'>" +
      "<span class='dot st-" + esc(i.status) + "'></span>" + esc(i.category_name) + " · " + esc(t.statuses[i.status]) +
      (i.overdue ? " <span class='badge overdue'>" + esc(t.overdue) + "</span>" : "") +
      "</button><span class='sub'>" + esc(i.tracking_code) + (o.due && i.due_at ? " · " + esc(t.due) + " " + esc(when(i.due_at)) + " <span class='due-in" + (i.overdue ? " late" : "") + "'>(" + esc(dueIn(i.due_at)) + ")</span>" : "") +
      " " + esc((i.description || "").slice(0, 40)) + "</span></li>").join("") + "</ul>";
  }

  // ------------------------------------------------------------------ side panel: home (my work)

  // What the console opens on for a signed-in user: the issues awaiting them (soonest due first), the
  // overdue ones of their area, and their area's indicators. "‹ My work" atop every panel comes back.
  const HOME_LIST = 8;
  const HOME_AWAITING = 15;

  function homeLink() {
    return user ? "<button type='button' class='linkish home-link'>‹ " + esc(t.myWork) + "</button>" : "";
  }

  function showHome(message) {
    issueInUrl(null);
    const token = ++selection;
    highlight(null);
    clearIssueRing();
    panel.dataset.selected = "home";
    const areas = cfg.workAreas || [];
    panel.innerHTML = "<h2>" + esc(t.myWork) + "</h2>" + (message ? "<p class='notice'>" + esc(message) + "</p>" : "") +
      (areas.length ? "<p class='sub work-areas'>" + areas.map((a) => esc(a.name)).join(" · ") + "</p>" : "") +
      section("sec-awaiting", t.awaitingMe) + section("sec-overdue", t.overdueOpen) +
      (areas.length ? section("sec-indicators", t.indicators + " · " + areas[0].name) : "") +
      "<p class='hint'>" + esc(t.clickHint) + "</p>";
    loadHomeList("sec-awaiting", "awaiting=true", "awaiting", t.nothingAwaiting, token);
    loadHomeList("sec-overdue", "status=open&overdue=true", "overdue", t.noOverdue, token);
    if (areas.length) loadIndicators(areas[0], token);
  }

  // What an awaiting issue's status asks of the user that can be done to many at once (the API's
  // bulk actions): dispatch to the routed party, accept, close after the resident's rating.
  const BULK_BY_STATUS = { collected: "dispatch", consulted: "dispatch", returned: "dispatch", dispatched: "accept", rated: "close" };

  async function loadHomeList(id, query, show, emptyText, token) {
    try {
      const d = await getJSON(urls.issues + "?" + query + "&order=due&page_size=" + (show === "awaiting" ? HOME_AWAITING : HOME_LIST));
      if (show === "awaiting") awaitingCount(d.count);
      let html = issueListHtml(d.results, d.count, { empty: emptyText, countText: t.inAll.replace("{n}", d.count), due: true });
      if (show === "awaiting" && d.results.some((i) => BULK_BY_STATUS[i.status])) html += bulkForm(d.results);
      fill(id, token, html + (d.count ? "<button type='button' class='button small secondary show-on-map' data-show='" + show + "'>" + esc(t.showOnMap) + "</button>" : ""));
      if (show === "awaiting") addBulkChecks(d.results);
    } catch (e) { fillError(id, token, e); }
  }

  // Checkboxes on the awaiting issues that can be moved together, and a button per action.
  function bulkForm(list) {
    const actions = [...new Set(list.map((i) => BULK_BY_STATUS[i.status]).filter(Boolean))];
    return "<form class='bulk' id='bulk-form'><div class='actions'>" + actions.map((a) =>
      "<button type='button' class='button small bulk-action' data-bulk='" + a + "' disabled>" + esc(t.bulkDo.replace("{action}", t.actions[a]).replace("{n}", 0)) + "</button>").join("") +
      "</div><p class='error-text' id='bulk-error' hidden></p></form>";
  }

  function addBulkChecks(list) {
    const byId = {};
    list.forEach((i) => { byId[i.id] = i; });
    document.querySelectorAll("#sec-awaiting .issue-list li").forEach((li) => {
      const id = Number(li.querySelector(".issue-link").dataset.issue);
      const action = BULK_BY_STATUS[byId[id].status];
      if (!action) return;
      li.classList.add("pick");
      li.innerHTML = "<input type='checkbox' class='bulk-pick' data-issue='" + id + "' data-bulk='" + action + "' aria-label='" +
        esc(byId[id].tracking_code) + "'><div>" + li.innerHTML + "</div>";
    });
  }

  function bulkCounts() {
    document.querySelectorAll("#bulk-form .bulk-action").forEach((b) => {
      const n = document.querySelectorAll(".bulk-pick[data-bulk='" + b.dataset.bulk + "']:checked").length;
      b.textContent = t.bulkDo.replace("{action}", t.actions[b.dataset.bulk]).replace("{n}", n);
      b.disabled = n === 0;
    });
  }

  async function bulkAct(action) {
    const ids = Array.from(document.querySelectorAll(".bulk-pick[data-bulk='" + action + "']:checked")).map((c) => Number(c.dataset.issue));
    const errEl = document.getElementById("bulk-error");
    document.querySelectorAll("#bulk-form button").forEach((b) => { b.disabled = true; });
    try {
      const d = await postJSON(urls.issuesActions + action, { ids });
      showHome(t.bulkDone.replace("{action}", t.actions[action]).replace("{n}", d.count));
      loadIssues();
    } catch (e) {
      errEl.textContent = e.message;  // names the issue; nothing was changed
      errEl.hidden = false;
      bulkCounts();
    }
  }

  // The "Awaiting me" choice of the status filter says how many there are.
  function awaitingCount(n) {
    const opt = filtersEl && filtersEl.status.querySelector("option[value='awaiting']");
    if (opt) opt.textContent = t.awaitingMe + " (" + n + ")";
  }

  async function refreshAwaitingCount() {
    try { awaitingCount((await getJSON(urls.issues + "?awaiting=true&page_size=1")).count); } catch (e) { /* the count stays */ }
  }

  // The home lists on the map: the filters set to match them (any category, any time).
  function showOnMap(which) {
    filtersEl.category.value = "";
    filtersEl.start.value = "";
    filtersEl.end.value = "";
    filtersEl.status.value = which === "awaiting" ? "awaiting" : "open";
    filtersEl.overdue.checked = which === "overdue";
    filtersEl.dispatchEvent(new Event("change"));
  }

  // The open issues of an area or building (`query`: the issues API's within, compound or building)
  async function loadPanelIssues(query, token) {
    try {
      const d = await getJSON(urls.issues + "?" + query + "&status=open&page_size=10");
      fill("sec-issues", token, issueListHtml(d.results, d.count));
    } catch (e) { fillError("sec-issues", token, e); }
  }

  async function loadIndicators(p, token) {
    const end = new Date();
    const start = new Date(end.getFullYear() - 1, end.getMonth(), end.getDate() + 1);
    try {
      const d = await getJSON(urls.indicators + "?area=" + encodeURIComponent(p.code) + "&start=" + day(start) + "&end=" + day(end));
      fill("sec-indicators", token, "<div class='indicators'>" + rows([
        [t.received, d.received], [t.closureRate, pct(d.closure_rate)], [t.onTimeRate, pct(d.on_time_rate)],
        [t.reworkRate, pct(d.rework_rate)], [t.satisfaction, pct(d.satisfaction)],
        [t.avgHours, d.avg_handling_hours == null ? "–" : Number(d.avg_handling_hours).toFixed(1)],
        [t.per1000, d.per_1000_households == null ? "–" : Number(d.per_1000_households).toFixed(1)],
      ]) + "</div>");
    } catch (e) { fillError("sec-indicators", token, e); }
  }

  async function loadCenters(p, token) {
    try {
      const d = await getJSON(urls.centers + "?area=" + p.id);
      const cov = (d.coverage || []).map((c) => [c.name || c.code || c.grid, pct(c.coverage != null ? c.coverage : c.ratio)]);
      const list = d.centers.length ? "<ul class='people'>" + d.centers.slice(0, 12).map((c) =>
        "<li>" + esc(c.member) + " <span class='sub'>" + esc(c.count) + " " + esc(t.linked) + "</span></li>").join("") +
        (d.centers.length > 12 ? "<li class='sub'>… +" + (d.centers.length - 12) + "</li>" : "") + "</ul>"
        : "<p class='hint'>" + esc(t.noPeople) + "</p>";
      fill("sec-people", token, "<p class='hint'>" + esc(t.centers) + ": " + d.centers.length + "</p>" + list +
        (cov.length ? "<h4>" + esc(t.coverage) + "</h4>" + rows(cov) : ""));
    } catch (e) { fillError("sec-people", token, e); }
  }

  // Who to call about the place: its staff and heads, nearest first (where each works, when it is not
  // the place itself), phones as tel: links where they are not masked; the compound's property company.
  // Street and community staff also get an "end" button on the grid leaders, workers and heads, and a
  // form to assign one (the roles the answer's `assignable` lists for this place).
  async function loadContacts(key, p, token) {
    try {
      fill("sec-contacts", token, contactsHtml(await getJSON(urls.contacts + "?" + key + "=" + p.id), key, p));
    } catch (e) { fillError("sec-contacts", token, e); }
  }

  function contactsHtml(d, key, p, message) {
    const tel = (phone, masked) => !phone ? "" : masked ? esc(phone)
      : "<a href='tel:" + encodeURIComponent(phone) + "'>" + esc(phone) + "</a>";
    const here = (c) => c.place.id === p.id && (c.place.level === "building") === (key === "building");
    const items = d.results.map((c) => "<li><span class='role'>" + esc(c.role_name) + "</span> " + esc(c.name) +
      (c.can_end ? " <button type='button' class='linkish contact-end' data-contact='" + c.id + "' data-name='" +
        esc(c.name) + "'>" + esc(t.endAssignment) + "</button>" : "") +
      " <span class='sub'>" + [tel(c.phone, c.masked), here(c) ? "" : esc(c.place.name)].filter(Boolean).join(" · ") +
      "</span></li>");
    if (d.company) {
      items.push("<li><span class='role'>" + esc(t.company) + "</span> " + esc(d.company.name) +
        " <span class='sub'>" + tel(d.company.phone, false) + "</span></li>");
    }
    let html = (message ? "<p class='ok-text'>" + esc(message) + "</p>" : "") +
      (items.length ? "<ul class='people contacts'>" + items.join("") + "</ul>" : "<p class='hint'>" + esc(t.noContacts) + "</p>");
    // a community: each of its grids with its leader and workers; a grid without a leader says so
    if (d.grids && d.grids.length) {
      html += "<h4>" + esc(t.gridStaff) + "</h4><ul class='people contacts grid-staff'>" + d.grids.map((g) =>
        "<li data-grid='" + esc(g.code) + "'><button type='button' class='linkish open-area' data-code='" + esc(g.code) + "'>" +
        esc(g.name) + "</button> " + (g.staff.some((c) => c.role === "grid_leader") ? "" : "<span class='badge overdue'>" + esc(t.noLeader) + "</span>") +
        g.staff.map((c) => "<span class='sub'><span class='role'>" + esc(c.role_name) + "</span> " + esc(c.name) +
          (c.phone ? " · " + tel(c.phone, c.masked) : "") + "</span>").join("") + "</li>").join("") + "</ul>";
    }
    if (d.assignable && d.assignable.length) {
      html += "<details class='assign'><summary>" + esc(t.assign) + "</summary><form id='assign-form' data-key='" + key +
        "' data-place='" + p.id + "'><label>" + esc(t.role) + " <select name='role'>" +
        d.assignable.map((r) => "<option value='" + esc(r.role) + "'>" + esc(r.role_name) + "</option>").join("") +
        "</select></label><label>" + esc(t.personName) + " <input name='name' required maxlength='100'></label>" +
        "<label>" + esc(t.phone) + " <input name='phone' type='tel' inputmode='tel' maxlength='20'></label>" +
        "<label>" + esc(t.login) + " <input name='username' autocomplete='off' placeholder='" + esc(t.loginHint) + "'></label>" +
        "<button type='submit' class='button small'>" + esc(t.assignDo) + "</button>" +
        "<p class='error-text' id='assign-error' hidden></p></form></details>";
    }
    return html;
  }

  function contactsShown(d, key, p, message) {
    const body = document.querySelector("#sec-contacts .body");
    if (body) body.innerHTML = contactsHtml(d, key, p, message);
  }

  async function contactAssign(form) {
    const key = form.dataset.key, p = { id: Number(form.dataset.place) };
    const err = document.getElementById("assign-error");
    const body = { role: form.role.value, name: form.name.value, phone: form.phone.value, username: form.username.value };
    body[key] = p.id;
    form.querySelectorAll("button, input, select").forEach((el) => { el.disabled = true; });
    try {
      const d = await postJSON(urls.contacts, body);
      const gone = d.replaced.length ? t.replaced : "";
      contactsShown(d, key, p, [t.assigned, gone].filter(Boolean).join(" · "));
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      form.querySelectorAll("button, input, select").forEach((el) => { el.disabled = false; });
    }
  }

  async function contactEnd(btn) {
    if (!window.confirm(t.endConfirm.replace("{name}", btn.dataset.name))) return;
    const [kind, id] = panel.dataset.selected.split(":");
    const key = kind === "building" ? "building" : "area";
    btn.disabled = true;
    try {
      await postJSON(urls.contacts + "/" + btn.dataset.contact + "/end", {});
      contactsShown(await getJSON(urls.contacts + "?" + key + "=" + id), key, { id: Number(id) }, t.ended + ": " + btn.dataset.name);
    } catch (e) {
      btn.disabled = false;
      status(e.message, true);
    }
  }

  async function loadResidents(key, id, token) {
    try {
      const d = await getJSON(urls.residents + "?" + key + "=" + id);
      if (key === "building" && d.can_edit) {
        // the staff who keep this building's register (住户登记): every resident by household, a
        // form to register one, a "moved out" button each
        const hh = await getJSON(urls.households + "?building=" + id);
        fill("sec-people", token, registerHtml(id, d, hh.results));
        return;
      }
      const list = d.results.slice(0, 15);
      fill("sec-people", token, list.length ? "<ul class='people'>" + list.map((r) =>
        "<li>" + esc(r.name) + " <span class='sub'>" + esc(r.phone || "") + "</span></li>").join("") +
        (d.results.length > list.length ? "<li class='sub'>… +" + (d.results.length - list.length) + (d.next_offset ? "+" : "") + "</li>" : "") + "</ul>"
        : "<p class='hint'>–</p>");
    } catch (e) { fillError("sec-people", token, e); }
  }

  function registerHtml(buildingId, d, households, message) {
    const R = t.register;
    const rowsHtml = byFlat(d.results, households).map((f) =>
      "<li data-household='" + f.household.id + "'><div class='flat'>" + esc(f.name) + "</div><ul>" +
      f.residents.map((r) => "<li class='resident'><span>" + esc(r.name) + "</span>" +
        (r.is_head ? "<span class='badge'>" + esc(R.head) + "</span>" : "") +
        (r.phone ? "<span class='phone'>" + esc(r.phone) + "</span>" : "") +
        "<button type='button' class='linkish resident-out' data-resident='" + r.id + "' data-name='" + esc(r.name) + "'>" + esc(R.moveOut) + "</button></li>").join("") +
      "</ul></li>").join("");
    return (message ? "<p class='ok-text'>" + esc(message) + "</p>" : "") +
      (rowsHtml ? "<ul class='people register'>" + rowsHtml + "</ul>" : "<p class='hint'>–</p>") +
      (d.next_offset ? "<p class='sub'>" + esc(R.moreResidents) + "</p>" : "") +
      "<details class='register-form'" + (households.length ? "" : " hidden") + "><summary>" + esc(R.register) + "</summary>" +
      "<form id='resident-form' class='form compact' data-building='" + buildingId + "'>" +
      "<label>" + esc(R.household) + "<select name='household' required>" + households.map((h) =>
        "<option value='" + h.id + "'>" + esc(flatName(h)) + "</option>").join("") + "</select></label>" +
      "<label>" + esc(R.name) + "<input name='name' required maxlength='100' autocomplete='off'></label>" +
      "<label>" + esc(R.phone) + "<input name='phone' inputmode='tel' autocomplete='off'></label>" +
      "<label>" + esc(R.idNumber) + "<input name='id_number' autocomplete='off' spellcheck='false'></label>" +
      "<label class='check'><input type='checkbox' name='is_head'> " + esc(R.head) + "</label>" +
      "<button type='submit' class='button small'>" + esc(R.registerDo) + "</button>" +
      "<p class='error-text' id='resident-error' hidden></p></form></details>";
  }

  async function registerShown(buildingId, message, open) {
    const [d, hh] = await Promise.all([getJSON(urls.residents + "?building=" + buildingId), getJSON(urls.households + "?building=" + buildingId)]);
    const body = document.querySelector("#sec-people .body");
    if (!body) return;
    body.innerHTML = registerHtml(buildingId, d, hh.results, message);
    if (open) body.querySelector(".register-form").open = true;
  }

  async function residentRegister(form) {
    const err = document.getElementById("resident-error");
    const body = { household: Number(form.household.value), name: form.name.value, phone: form.phone.value,
                   id_number: form.id_number.value, is_head: form.is_head.checked };
    form.querySelectorAll("button, input, select").forEach((el) => { el.disabled = true; });
    try {
      const r = await postJSON(urls.residents, body);
      await registerShown(form.dataset.building, t.register.registered + ": " + r.name, true);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      form.querySelectorAll("button, input, select").forEach((el) => { el.disabled = false; });
    }
  }

  async function residentMoveOut(btn) {
    if (!window.confirm(t.register.moveOutConfirm.replace("{name}", btn.dataset.name))) return;
    const buildingId = panel.dataset.selected.split(":")[1];
    btn.disabled = true;
    try {
      await postJSON(urls.residents + "/" + btn.dataset.resident + "/move-out", {});
      await registerShown(buildingId, t.register.movedOut + ": " + btn.dataset.name, false);
    } catch (e) {
      btn.disabled = false;
      status(e.message, true);
    }
  }

  // ------------------------------------------------------------------ side panel: one issue

  function issueHtml(d, message) {
    const head = homeLink() + "<h2><span class='dot st-" + esc(d.status) + "'></span>" + esc(d.category_name) +
      (d.subcategory_name ? " · " + esc(d.subcategory_name) : "") + "</h2>" +
      (message ? "<p class='notice'>" + esc(message) + "</p>" : "") +
      "<p class='issue-status'><span class='badge st-" + esc(d.status) + "'>" + esc(d.status_label) + "</span>" +
      (d.overdue ? " <span class='badge overdue'>" + esc(t.overdue) + "</span>" : "") + "</p>" +
      rows([[t.trackingCode, d.tracking_code], [t.description, d.description], [t.address, d.address],
            [t.priority, t.priorities[d.priority]], [t.source, t.sources[d.source]],
            [t.received_at, when(d.created_at)], [t.due, when(d.due_at)], [t.responsible, d.responsible && [d.responsible.name, d.responsible.phone].filter(Boolean).join(" ")],
            [t.reporter, d.reporter && [d.reporter.name, d.reporter.phone].filter(Boolean).join(" ")],
            [t.rework, d.rework_count || null], [t.rating, d.rating]]);
    const photos = photosHtml(d.photos);
    const areas = ["street", "community", "grid", "neighbourhood", "compound"].map((k) => d.areas[k] && Object.assign({ level: k }, d.areas[k])).filter(Boolean);
    let actions = "<section class='sec' id='sec-actions'><h3>" + esc(t.actionsTitle) + "</h3>";
    if (d.actions.length || d.can_note) {
      actions += "<form id='action-form' class='form compact' data-issue='" + d.id + "'>" +
        "<label>" + esc(t.note) + "<textarea name='note' rows='2'></textarea></label>" +
        (d.actions.includes("rate") ? "<label>" + esc(t.rating) + "<select name='rating'>" + [5, 4, 3, 2, 1].map((n) => "<option>" + n + "</option>").join("") + "</select></label>" : "") +
        (d.actions.includes("duplicate") ? "<label>" + esc(t.duplicateOf) + "<input name='duplicate_of' autocapitalize='characters' spellcheck='false'></label>" : "") +
        // dispatch to the party routed at intake, or to one chosen here (fillHandlers lists them)
        (d.actions.includes("dispatch") ? "<label>" + esc(t.dispatchTo) + "<select name='responsible' id='dispatch-to'><option value=''>" +
          esc(d.responsible && d.responsible.kind !== "none" ? t.keepResponsible.replace("%(name)s", d.responsible.name) : t.chooseResponsible) +
          "</option></select></label>" : "") +
        // photos of the work done (处置照片): kept with the step, or with a note alone
        "<label>" + esc(t.stepPhotos) + "<input type='file' name='photos' accept='image/jpeg,image/png,image/webp' multiple></label>" +
        "<div class='actions'>" + d.actions.map((a) => "<button type='button' class='button small action' data-action='" + esc(a) + "'>" +
          esc(t.actions[a] || a) + "</button>").join("") +
        // a note alone (called the resident, will visit tomorrow): the history keeps it, the status stays
        (d.can_note ? "<button type='button' class='button small secondary action' data-action='note'>" + esc(t.addNote) + "</button>" : "") +
        "</div><p class='error-text' id='action-error' hidden></p></form>" +
        (d.actions.length ? "" : "<p class='hint no-actions'>" + esc(t.noActions) + "</p>");
    } else {
      actions += "<p class='hint no-actions'>" + esc(t.noActions) + "</p>";
    }
    actions += "</section>";
    const history = "<section class='sec'><h3>" + esc(t.history) + "</h3><ol class='history'>" + d.history.map((e) =>
      "<li><span class='sub'>" + esc(when(e.at)) + "</span> " + esc(t.actions[e.action] || e.action) +
      (e.to ? " → " + esc(t.statuses[e.to] || e.to) : "") + (e.actor ? " · " + esc(e.actor) : "") +
      (e.note ? "<div class='note'>" + esc(e.note) + "</div>" : "") + photosHtml(e.photos) + "</li>").join("") + "</ol></section>";
    return head + photos + "<section class='sec'><h3>" + esc(t.chain) + "</h3>" + chainHtml(areas) + "</section>" + actions + history;
  }

  // The filters are in the address too (?status=awaiting&category=…): a bookmark of "my queue" or a
  // link to a filtered view opens with them; values the page does not offer are ignored.
  const FILTER_KEYS = ["category", "status", "start", "end"];
  function filtersFromUrl() {
    if (!filtersEl) return;
    const q = new URLSearchParams(location.search);
    FILTER_KEYS.forEach((k) => {
      const v = q.get(k);
      if (v == null) return;
      const el = filtersEl[k];
      if (el.tagName === "SELECT" && !Array.from(el.options).some((o) => o.value === v)) return;
      el.value = v;
    });
    filtersEl.overdue.checked = q.get("overdue") === "true";
  }
  function filtersInUrl() {
    const u = new URL(location.href);
    FILTER_KEYS.forEach((k) => { if (filtersEl[k].value) u.searchParams.set(k, filtersEl[k].value); else u.searchParams.delete(k); });
    if (filtersEl.overdue.checked) u.searchParams.set("overdue", "true");
    else u.searchParams.delete("overdue");
    if (u.href !== location.href) history.replaceState(null, "", u);
  }

  // The open issue is in the address (?issue=<id>): a link to it opens it, a reload keeps it.
  function issueInUrl(id) {
    const u = new URL(location.href);
    if (id) u.searchParams.set("issue", id);
    else u.searchParams.delete("issue");
    if (u.href !== location.href) history.replaceState(null, "", u);
  }

  async function selectIssue(id, message) {
    issueInUrl(id);
    const token = ++selection;
    highlight(null);
    clearIssueRing();
    panel.dataset.selected = "issue:" + id;
    panel.innerHTML = homeLink() + "<h2>" + esc(t.issues) + " #" + esc(id) + "</h2><p class='hint loading'>" + esc(t.loading) + "</p>";
    try {
      const d = await getJSON(urls.issue + id);
      if (token !== selection) return;
      panel.innerHTML = issueHtml(d, message);
      fillHandlers(d, token);
      // show the pin: zoom in or spiderfy its cluster until it is on screen (no-op when it already is);
      // from tiles: ring the point, at a zoom where points are drawn
      const m = markersById[id];
      if (m && issueLayer._map) showIssueMarker(m);
      else if (issueMode === "tiles") showTiledIssue(d);
    } catch (e) {
      if (token === selection) panel.innerHTML = homeLink() + "<h2>#" + esc(id) + "</h2><p class='error-text'>" + esc(t.failed) + ": " + esc(e.message) + "</p>";
    }
  }

  // The parties the issue can be dispatched to by hand, grouped by kind
  async function fillHandlers(d, token) {
    const sel = document.getElementById("dispatch-to");
    if (!sel) return;
    try {
      const res = await getJSON(urls.issue + d.id + "/handlers");
      if (token !== selection) return;
      const kinds = [];
      res.results.forEach((h) => { if (!kinds.includes(h.kind)) kinds.push(h.kind); });
      sel.insertAdjacentHTML("beforeend", kinds.map((k) => "<optgroup label='" + esc(t.responsibleKinds[k] || k) + "'>" +
        res.results.filter((h) => h.kind === k).map((h) => "<option value='" + esc(h.kind + ":" + h.id) + "'>" + esc(h.name) + "</option>").join("") +
        "</optgroup>").join(""));
      sel.dataset.ready = "ready";
    } catch (e) {
      sel.dataset.ready = "error";
    }
  }

  panel.addEventListener("change", (ev) => { if (ev.target.classList.contains("bulk-pick")) bulkCounts(); });
  panel.addEventListener("submit", (ev) => {
    if (ev.target.id === "assign-form") {
      ev.preventDefault();
      contactAssign(ev.target);
    } else if (ev.target.id === "resident-form") {
      ev.preventDefault();
      residentRegister(ev.target);
    }
  });

  panel.addEventListener("click", async (ev) => {
    const link = ev.target.closest(".issue-link");
    if (link) { selectIssue(Number(link.dataset.issue)); return; }
    if (ev.target.closest(".home-link")) { showHome(); return; }
    const show = ev.target.closest(".show-on-map");
    if (show) { showOnMap(show.dataset.show); return; }
    const bulk = ev.target.closest(".bulk-action");
    if (bulk) { bulkAct(bulk.dataset.bulk); return; }
    const end = ev.target.closest(".contact-end");
    if (end) { contactEnd(end); return; }
    const out = ev.target.closest(".resident-out");
    if (out) { residentMoveOut(out); return; }
    const openArea = ev.target.closest(".open-area");
    if (openArea) { openLinkedArea(openArea.dataset.code, openResult); return; }
    const btn = ev.target.closest("button.action");
    if (!btn) return;
    const form = btn.closest("form");
    const id = Number(form.dataset.issue);
    const body = { note: form.note.value };
    if (btn.dataset.action === "rate" && form.rating) body.rating = Number(form.rating.value);
    if (btn.dataset.action === "duplicate" && form.duplicate_of) body.duplicate_of = form.duplicate_of.value.trim() || null;
    if (btn.dataset.action === "dispatch" && form.responsible && form.responsible.value) {
      const [kind, rid] = form.responsible.value.split(":");
      body.responsible = { kind, id: Number(rid) };
    }
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    const errEl = document.getElementById("action-error");
    try {
      const url = urls.issue + id + "/actions/" + btn.dataset.action;
      // with photos the step goes as a form (multipart), its fields alongside
      const files = form.photos ? form.photos.files : [];
      const d = files.length ? await postForm(url, formOf(body, files)) : await postJSON(url, body);
      ++selection;
      panel.innerHTML = issueHtml(d, t.done + ": " + (t.actions[btn.dataset.action] || btn.dataset.action));
      fillHandlers(d, selection);
      loadIssues();
      refreshAwaitingCount();
    } catch (e) {
      errEl.textContent = e.message;
      errEl.hidden = false;
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  });

  // ------------------------------------------------------------------ issues layer

  const STATUS_COLORS = {
    collected: "#f59e0b", consulted: "#eab308", dispatched: "#2563eb", accepted: "#7c3aed", returned: "#ea580c",
    resolved: "#16a34a", rated: "#0d9488", closed: "#6b7280", rejected: "#9ca3af", duplicate: "#9ca3af",
  };
  const icons = {};
  function issueIcon(st, overdue) {
    const key = st + (overdue ? "!" : "");
    if (!icons[key]) {
      icons[key] = L.divIcon({
        className: "issue-pin st-" + st + (overdue ? " overdue" : ""),
        html: overdue ? "!" : "", iconSize: [16, 16], iconAnchor: [8, 8],
      });
    }
    return icons[key];
  }

  let issueLayer = null;
  let heatLayer = null;
  let issueRequest = 0;
  let chunkDone = () => {};
  let markersById = {};
  const countEl = document.getElementById("issue-count");
  const filtersEl = document.getElementById("filters");

  function filterQuery() {
    if (!filtersEl) return "";
    const q = new URLSearchParams();
    ["category", "status", "start", "end"].forEach((k) => { if (filtersEl[k].value) q.set(k, filtersEl[k].value); });
    if (filtersEl.overdue.checked) q.set("overdue", "true");
    if (filtersEl.status.value === "awaiting") {  // "Awaiting me": whose turn it is, not a status
      q.delete("status");
      q.set("awaiting", "true");
    }
    return q.toString();
  }

  // The issues layer is one overlay ("Issues") holding either the clustered GeoJSON pins or, when the
  // filters match more than cfg.issueTiles.limit issues, the `issues` vector tiles.
  const issueTiles = cfg.issueTiles;
  let issuesOverlay = null;
  let issueTileLayer = null;
  let issueMode = "geojson";
  let issueRing = null;

  // The console's filters in the tile layer's terms (/tiles/layers.json): category, status as a comma
  // list (the issues API's "open" and "closed" expanded), since/until for the received period, overdue.
  function tileQuery() {
    const q = new URLSearchParams();
    if (!filtersEl) return "";
    if (filtersEl.category.value) q.set("category", filtersEl.category.value);
    const st = filtersEl.status.value;
    if (st && st !== "awaiting") q.set("status", (issueTiles.statusGroups[st] || st.split(",")).join(","));
    if (filtersEl.start.value) q.set("since", filtersEl.start.value);
    if (filtersEl.end.value) q.set("until", filtersEl.end.value);
    if (filtersEl.overdue.checked) q.set("overdue", "true");
    return q.toString();
  }

  // Counts as markercluster draws its clusters (same colours by size), on canvas; a red ring when some
  // are overdue. The server keeps each count COUNT_RADIUS_PX inside its cell, so a circle of at most
  // that radius is never cut at a tile seam.
  const COUNT_STYLES = [  // [below, outer radius, outer fill, inner fill]
    [10, 12, "rgba(181, 226, 140, 0.75)", "rgba(110, 204, 57, 0.8)"],
    [100, 14, "rgba(241, 211, 87, 0.75)", "rgba(240, 194, 12, 0.8)"],
    [Infinity, 16, "rgba(253, 156, 115, 0.75)", "rgba(241, 128, 23, 0.8)"],
  ];

  function countLabel(n) {
    if (n < 10000) return String(n);
    return lang === "en" ? Math.round(n / 1000) + "k" : (n / 10000).toFixed(1).replace(/\.0$/, "") + "万";
  }

  const countSymbolizer = {
    draw(ctx, geom, z, f) {
      const n = f.props.count;
      const p = geom[0][0];
      const style = COUNT_STYLES.find((c) => n < c[0]);
      const r = Math.min(style[1], issueTiles.countRadiusPx);
      ctx.save();
      ctx.beginPath(); ctx.arc(p.x, p.y, r, 0, 2 * Math.PI); ctx.fillStyle = style[2]; ctx.fill();
      ctx.beginPath(); ctx.arc(p.x, p.y, r - 4, 0, 2 * Math.PI); ctx.fillStyle = style[3]; ctx.fill();
      if (f.props.overdue > 0) {
        ctx.beginPath(); ctx.arc(p.x, p.y, r - 1, 0, 2 * Math.PI);
        ctx.strokeStyle = "#dc2626"; ctx.lineWidth = 2; ctx.stroke();
      }
      ctx.fillStyle = "#1f2933";
      ctx.font = "600 11px 'Noto Sans CJK SC', 'PingFang SC', sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(countLabel(n), p.x, p.y + 0.5);
      ctx.restore();
    },
  };

  // Single issues from zoom 14: a dot in the pin's status colour, a red ring when overdue.
  const pointSymbolizer = {
    draw(ctx, geom, z, f) {
      const p = geom[0][0];
      ctx.save();
      ctx.beginPath(); ctx.arc(p.x, p.y, 5, 0, 2 * Math.PI);
      ctx.fillStyle = STATUS_COLORS[f.props.status] || "#6b7280"; ctx.fill();
      ctx.strokeStyle = f.props.overdue ? "#dc2626" : "#ffffff"; ctx.lineWidth = f.props.overdue ? 2 : 1.5; ctx.stroke();
      ctx.restore();
    },
  };

  function issueTilesLayer(query) {
    const map = window.linliMap;
    if (!map.getPane("linliIssueTiles")) {
      map.createPane("linliIssueTiles").style.zIndex = 460;  // above the territory tiles, below markers
    }
    const isCount = (z, f) => f.props.count !== undefined;
    const layer = protomapsL.leafletLayer({
      url: issueTiles.url + (query ? "?" + query : ""), levelDiff: 0, maxDataZoom: 16,
      minZoom: issueTiles.minZoom, pane: "linliIssueTiles", attribution: "",
      paintRules: [
        { dataLayer: issueTiles.layer, symbolizer: countSymbolizer, filter: isCount },
        { dataLayer: issueTiles.layer, symbolizer: pointSymbolizer, filter: (z, f) => !isCount(z, f) },
      ],
      labelRules: [],
    });
    layer.linliTiles = true;
    return layer;
  }

  // A click on the issue tiles: a point opens its issue, a count zooms in towards it. Returns whether
  // the click was taken (else it goes on to the areas underneath).
  function issueTilesClick(latlng) {
    if (issueMode !== "tiles" || !issueTileLayer || !issueTileLayer._map) return false;
    const map = window.linliMap;
    const points = map.getZoom() >= issueTiles.pointsFromZoom;
    // the nearest first: widen the brush until something is under it
    for (const brush of points ? [4, 8] : [8, issueTiles.countRadiusPx]) {
      const found = (issueTileLayer.queryTileFeaturesDebug(latlng.lng, latlng.lat, brush).get("") || [])
        .filter((h) => h.layerName === issueTiles.layer);
      if (!found.length) continue;
      const f = found[0].feature;
      if (f.props.count === undefined) selectIssue(f.id);
      else map.setView(latlng, Math.min(map.getZoom() + 2, issueTiles.pointsFromZoom));
      return true;
    }
    return false;
  }

  function clearIssueRing() {
    if (issueRing) { issueRing.remove(); issueRing = null; }
  }

  function ringAt(ll) {
    const map = window.linliMap;
    if (!map.getPane("linliIssueRing")) map.createPane("linliIssueRing").style.zIndex = 470;
    clearIssueRing();
    issueRing = L.circleMarker(ll, { pane: "linliIssueRing", radius: 11, color: "#facc15", weight: 4, fill: false,
                                      interactive: false, className: "issue-ring" }).addTo(map);
  }

  // The opened issue's pin, on screen and ringed. markercluster's zoomToShowLayer takes one zoom step
  // towards the pin's cluster and then waits for that cluster's icon, which never shows when the pin
  // is deeper (several issues at one building stay a cluster at every zoom), so the view is set here:
  // the zoom below the deepest cluster that holds the pin (its `__parent`, as markercluster's own code
  // reads it), and at the highest zoom the cluster left around it is spiderfied.
  function showIssueMarker(m) {
    const map = window.linliMap;
    const done = () => {
      const parent = issueLayer.getVisibleParent(m);
      if (parent && parent !== m) {
        issueLayer.once("spiderfied", () => ringAt(m.getLatLng()));  // on its leg
        parent.spiderfy();
      } else {
        ringAt(m.getLatLng());
      }
    };
    const ll = m._preSpiderfyLatlng || m.getLatLng();
    const zoom = Math.min(Math.max(map.getZoom(), m.__parent._zoom + 1), map.getMaxZoom());
    if (zoom === map.getZoom() && map.getBounds().contains(ll)) done();
    else { map.once("moveend", done); map.setView(ll, zoom, { animate: false }); }
  }

  // The issue opened from the tiles (or the side list while tiles are shown): a ring at its point, the
  // map at a zoom where single issues are drawn.
  function showTiledIssue(d) {
    const map = window.linliMap;
    const ll = L.latLng(d.lat, d.lon);
    ringAt(ll);
    if (map.getZoom() < issueTiles.pointsFromZoom) map.setView(ll, issueTiles.pointsFromZoom + 2);
    else if (!map.getBounds().contains(ll)) map.panTo(ll);
  }

  function issuesReady(t0) {
    requestAnimationFrame(() => {
      document.body.dataset.issuesMs = String(Math.round(performance.now() - t0));
      document.body.dataset.issuesReady = "ready";
    });
  }

  async function loadIssues() {
    if (!issueLayer) return;
    const exportEl = document.getElementById("issues-export");  // the same filters, as a workbook
    if (exportEl) exportEl.href = exportEl.dataset.base + "?" + filterQuery();
    const req = ++issueRequest;
    const t0 = performance.now();
    document.body.dataset.issuesReady = "loading";
    countEl.textContent = t.loading;
    countEl.classList.remove("error-text");
    try {
      // too many for pins? (the same filters, counted up to the limit)
      const counted = await getJSON(urls.issuesCount + "?" + filterQuery());
      if (req !== issueRequest) return;
      // the tiles do not know whose turn it is: "awaiting me" stays with the pins (the newest ones)
      const awaiting = filtersEl.status.value === "awaiting";
      if ((counted.over && !awaiting) || issueTiles.force) {
        showIssueTiles(counted, t0, req);
        return;
      }
      const data = await getJSON(urls.issuesGeojson + "?" + filterQuery());
      if (req !== issueRequest) return;
      const markers = [];
      const heat = [];
      markersById = {};
      for (const f of data.features) {
        const c = f.geometry.coordinates;
        const p = f.properties;
        const m = L.marker([c[1], c[0]], { icon: issueIcon(p.status, p.overdue), title: p.code, keyboard: false });
        m.linliIssue = p.id;
        markersById[p.id] = m;
        markers.push(m);
        heat.push([c[1], c[0], p.overdue ? 1 : 0.5]);
      }
      setIssueMode("geojson");
      issueLayer.clearLayers();
      // markercluster adds big batches in chunks between frames; "ready" waits for the last chunk
      const added = new Promise((resolve) => { chunkDone = resolve; });
      issueLayer.addLayers(markers);
      if (!markers.length || !issueLayer._map) chunkDone();
      await added;
      if (req !== issueRequest) return;
      heatLayer.setLatLngs(heat);
      const n = data.features.length;
      countEl.textContent = n + " " + t.issueCount;
      countEl.dataset.count = String(n);
      countEl.removeAttribute("title");
      await new Promise((r) => requestAnimationFrame(() => r()));
      document.body.dataset.issuesMs = String(Math.round(performance.now() - t0));
      document.body.dataset.issuesReady = "ready";
    } catch (e) {
      if (req !== issueRequest) return;
      countEl.textContent = t.failed + ": " + e.message;
      countEl.classList.add("error-text");
      document.body.dataset.issuesReady = "error";
    }
  }

  // Swap what the "Issues" overlay holds; the overlay stays where the layer control has it.
  function setIssueMode(mode) {
    if (mode === "geojson" && issueTileLayer) {
      issuesOverlay.removeLayer(issueTileLayer);
      issueTileLayer = null;
      clearIssueRing();  // pins show the selected issue themselves
    }
    if (mode === "tiles" && issueMode === "geojson") {
      issueLayer.clearLayers();
      markersById = {};
      issuesOverlay.removeLayer(issueLayer);
    }
    if (mode === "geojson" && !issuesOverlay.hasLayer(issueLayer)) issuesOverlay.addLayer(issueLayer);
    issueMode = mode;
    document.body.dataset.issuesMode = mode;
  }

  // A new tile layer for every load (new filters, or a write the tiles must show): its URL carries the
  // filters, and the browser revalidates each tile with its ETag (the issues layer is no-cache).
  function showIssueTiles(counted, t0, req) {
    setIssueMode("tiles");
    const query = tileQuery();
    const layer = issueTilesLayer(query);
    if (issueTileLayer) issuesOverlay.removeLayer(issueTileLayer);
    issueTileLayer = layer;
    heatLayer.setLatLngs([]);  // the heatmap needs the points: not with tiles
    countEl.textContent = counted.over ? t.issuesOver.replace("{n}", counted.limit)
      : t.issuesTiles.replace("{n}", counted.count);
    countEl.dataset.count = counted.over ? "" : String(counted.count);
    countEl.title = t.issuesTilesHint;
    // "ready" once the tiles in view are drawn (at once when the overlay is off or the map is zoomed
    // out below the layer's minimum zoom, where no tile is fetched)
    layer.once("load", () => { if (req === issueRequest) issuesReady(t0); });
    issuesOverlay.addLayer(layer);
    if (!layer._map || window.linliMap.getZoom() < issueTiles.minZoom) issuesReady(t0);
  }

  async function loadCategories() {
    const sel = document.getElementById("f-category");
    try {
      const d = await getJSON(urls.categories);
      const name = (c) => (lang === "en" && c.name_en ? c.name_en : c.name);
      const tops = d.results.filter((c) => !c.parent);
      cfg.categories = d.results;
      tops.forEach((c) => {
        sel.add(new Option(name(c), c.code));
        d.results.filter((s) => s.parent === c.code).forEach((s) => sel.add(new Option("　" + name(s), s.code)));
      });
    } catch (e) {
      status(t.failed + " " + t.category + ": " + e.message, true);
    }
  }

  // ------------------------------------------------------------------ center households, stations

  function centersLayer(communityIds) {
    const group = L.layerGroup();
    group.linliLoad = async () => {
      try {
        for (const id of communityIds) {
          const d = await getJSON(urls.centers + "?area=" + id);
          d.centers.forEach((c) => {
            L.circleMarker([c.lat, c.lon], { radius: 6, color: "#b91c1c", weight: 2, fillColor: "#fde047", fillOpacity: 1, className: "center-marker" })
              .bindTooltip(t.centerOf + ": " + c.member + " (" + c.count + " " + t.linked + ")").addTo(group);
          });
        }
      } catch (e) {
        status(t.failed + " " + t.centers + ": " + e.message, true);
      }
    };
    return group;
  }

  // Stations per community (the analytics API scopes by `within`; communities outside the user's scope
  // answer 403 and are skipped).
  function stationsLayer(communityCodes) {
    const group = L.geoJSON(null, {
      pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 7, color: "#065f46", weight: 2, fillColor: "#34d399", fillOpacity: 0.9, className: "station-marker" }),
      style: { color: "#065f46", weight: 2, fillOpacity: 0.1 },
      onEachFeature: (f, l) => {
        const p = f.properties || {};
        l.bindTooltip(esc(p.name || t.stations) + (p.kind_label ? " · " + esc(p.kind_label) : ""));
      },
    });
    group.linliLoad = async () => {
      for (const code of communityCodes) {
        const res = await fetch(urls.stations + "?within=" + encodeURIComponent(code), { credentials: "same-origin" });
        if (res.status === 403) continue;
        if (!res.ok) { status(t.failed + " " + t.stations + ": " + (await readError(res)).message, true); return; }
        group.addData(await res.json());
      }
    };
    return group;
  }

  // ------------------------------------------------------------------ search

  function setupSearch(map, index) {
    const form = document.getElementById("search");
    const list = document.getElementById("search-results");
    let found = [];
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const q = form.q.value.trim();
      if (!q) return;
      list.hidden = false;
      list.innerHTML = "<li class='hint'>" + esc(t.loading) + "</li>";
      try {
        found = (await getJSON(urls.search + "?q=" + encodeURIComponent(q))).results;
        list.innerHTML = found.length ? found.map((r, i) => "<li><button type='button' class='linkish' data-i='" + i + "'>" +
          "<span class='lvl'>" + esc(t.levels[r.level]) + "</span> " + esc(r.kind === "building" ? r.address || r.name : r.name) +
          (r.code ? " <code>" + esc(r.code) + "</code>" : "") + "</button></li>").join("")
          : "<li class='hint'>" + esc(t.searchEmpty) + "</li>";
      } catch (e) {
        list.innerHTML = "<li class='error-text'>" + esc(t.failed) + ": " + esc(e.message) + "</li>";
      }
    });
    // a search result: zoom there and open its panel
    function open(r) {
      const bounds = r.bbox ? L.latLngBounds([r.bbox[1], r.bbox[0]], [r.bbox[3], r.bbox[2]]) : null;
      if (bounds) map.fitBounds(bounds, { padding: [40, 40], maxZoom: 18 });
      const key = r.kind === "building" ? "buildings" : r.level;
      const hit = index[key] && index[key][r.id];
      const center = bounds ? bounds.getCenter() : map.getCenter();
      if (hit) showAt(center, hit.feature, key, hit.layer, true);
      else showAt(center, { properties: Object.assign({}, r, { name: r.name || r.address }) }, key, null, true);
    }
    list.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-i]");
      if (!b) return;
      list.hidden = true;
      open(found[Number(b.dataset.i)]);
    });
    document.addEventListener("click", (ev) => { if (!form.contains(ev.target)) list.hidden = true; });
    return open;
  }

  let openResult = null;  // a search result's opener (setupSearch), once the map is there

  // `/?area=<code>`: open that current area's panel (links from elsewhere, e.g. a coverage gap).
  async function openLinkedArea(code, openResult) {
    try {
      const d = await getJSON(urls.search + "?q=" + encodeURIComponent(code) + "&limit=5");
      const r = d.results.find((x) => x.kind !== "building" && x.code === code);
      if (r) openResult(r);
      else status(t.noSuchArea.replace("{code}", code), true);
    } catch (e) { status(t.failed + ": " + e.message, true); }
  }

  // ------------------------------------------------------------------ intake: click to pin, staff form

  let picking = false;
  let pin = null;

  function intakeForm(latlng, address) {
    const cats = (cfg.categories || []).filter((c) => !c.parent);
    const name = (c) => (lang === "en" && c.name_en ? c.name_en : c.name);
    panel.dataset.selected = "new-issue";
    panel.innerHTML = "<h2>" + esc(t.newIssue) + "</h2><p class='hint'>" + latlng.lat.toFixed(6) + ", " + latlng.lng.toFixed(6) + "</p>" +
      "<form id='intake' class='form compact'>" +
      "<label>" + esc(t.category) + "<select name='category' required>" + cats.map((c) => "<option value='" + esc(c.code) + "'>" + esc(name(c)) + "</option>").join("") + "</select></label>" +
      "<label>" + esc(t.subcategory) + "<select name='subcategory'></select></label>" +
      "<label>" + esc(t.source) + "<select name='source'>" + Object.keys(t.sources).map((k) => "<option value='" + k + "'" + (k === "hotline" ? " selected" : "") + ">" + esc(t.sources[k]) + "</option>").join("") + "</select></label>" +
      "<label>" + esc(t.description) + "<textarea name='description' rows='3' required maxlength='4000'></textarea></label>" +
      "<label>" + esc(t.address) + "<input name='address' value='" + esc(address || "") + "'></label>" +
      "<label>" + esc(t.reporterName) + "<input name='reporter_name'></label>" +
      "<label>" + esc(t.reporterPhone) + "<input name='reporter_phone' inputmode='tel'></label>" +
      "<p class='error-text' id='intake-error' hidden></p>" +
      "<div class='actions'><button type='submit' class='button small'>" + esc(t.submit) + "</button> " +
      "<button type='button' class='button small secondary' id='intake-cancel'>" + esc(t.cancel) + "</button></div></form>";
    const form = document.getElementById("intake");
    const subs = () => {
      form.subcategory.innerHTML = "<option value=''>" + esc(t.any) + "</option>" +
        (cfg.categories || []).filter((c) => c.parent === form.category.value).map((c) => "<option value='" + esc(c.code) + "'>" + esc(name(c)) + "</option>").join("");
    };
    form.category.addEventListener("change", subs);
    subs();
    document.getElementById("intake-cancel").addEventListener("click", () => {
      if (pin) { pin.remove(); pin = null; }
      panel.innerHTML = "";
      delete panel.dataset.selected;
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const err = document.getElementById("intake-error");
      const body = { lon: latlng.lng, lat: latlng.lat };
      ["category", "subcategory", "source", "description", "address", "reporter_name", "reporter_phone"].forEach((k) => { body[k] = form[k].value; });
      form.querySelector("button[type=submit]").disabled = true;
      try {
        const d = await postJSON(urls.issues, body);
        if (pin) { pin.remove(); pin = null; }
        await selectIssue(d.id, t.filed + ": " + d.tracking_code);
        if (d.duplicates && d.duplicates.length) {
          panel.insertAdjacentHTML("beforeend", "<section class='sec'><h3>" + esc(t.nearby) + "</h3>" + issueListHtml(d.duplicates, d.duplicates.length) + "</section>");
        }
        loadIssues();
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
        form.querySelector("button[type=submit]").disabled = false;
      }
    });
  }

  async function pick(map, latlng) {
    picking = false;
    map.getContainer().classList.remove("picking");
    status("");
    if (pin) pin.remove();
    pin = L.marker(latlng, { icon: L.divIcon({ className: "new-pin", iconSize: [22, 22], iconAnchor: [11, 22] }) }).addTo(map);
    const at = "?lon=" + latlng.lng.toFixed(7) + "&lat=" + latlng.lat.toFixed(7);
    // the address (optional) and whether the point is in the user's areas, asked together
    const [loc, place] = await Promise.all([getJSON(cfg.locateUrl + at).catch(() => null),
                                            getJSON(urls.issuesPlace + at).catch(() => null)]);
    intakeForm(latlng, loc && loc.building ? loc.building.name : "");
    // A point outside the user's areas is refused on submit: say so now, before the form is filled in.
    if (place && place.yours === false) {
      document.getElementById("intake").insertAdjacentHTML("beforebegin", "<p class='error-text' id='intake-outside'>" + esc(place.error) + "</p>");
      document.querySelector("#intake button[type=submit]").disabled = true;
    }
  }

  // ------------------------------------------------------------------ the map

  window.linliMapInit = async function (map) {
    window.linliMap = map;
    const control = L.control.layers(null, null, { collapsed: window.innerWidth < 700 }).addTo(map);
    const layers = {};
    const index = {};  // key -> id -> {feature, layer}, for search results
    let failures = 0;
    status(t.loading);
    const jobs = cfg.layers.map(async (spec) => {
      if (spec.tiles) {
        layers[spec.key] = tileLayer(map, spec);
        return;
      }
      try {
        const data = await getJSON(spec.url);
        index[spec.key] = {};
        const layer = L.geoJSON(data, {
          style: STYLES[spec.key],
          onEachFeature: (f, l) => {
            index[spec.key][f.properties.id] = { feature: f, layer: l };
            l.on("click", (e) => {
              L.DomEvent.stopPropagation(e);
              if (picking) pick(map, e.latlng);
              else if (!issueTilesClick(e.latlng)) showAt(e.latlng, f, spec.key, l);
            });
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
    map.on("overlayadd", (e) => {
      if (layers.buildings && !layers.buildings.linliTiles && map.hasLayer(layers.buildings)) layers.buildings.bringToFront();
      if (e.layer.linliLoad && !e.layer.linliLoaded) { e.layer.linliLoaded = true; e.layer.linliLoad(); }
    });

    if (user) {
      issueLayer = L.markerClusterGroup({
        chunkedLoading: true, chunkInterval: 100, maxClusterRadius: 50,  // clustered up to the max zoom, then spiderfied
        showCoverageOnHover: false, animate: false,  // no zoom animation of thousands of pins
        chunkProgress: (done, total) => {
          if (done < total) countEl.textContent = t.loading + " " + done + "/" + total;
          else chunkDone();
        },
      });
      issueLayer.on("click", (e) => { if (e.layer.linliIssue) selectIssue(e.layer.linliIssue); });
      issueLayer.on("unspiderfied", clearIssueRing);  // the ring stood on a leg that is gone
      heatLayer = L.heatLayer([], { radius: 20, blur: 15, minOpacity: 0.3 });
      issuesOverlay = L.layerGroup([issueLayer]);
      control.addOverlay(issuesOverlay, t.issues);
      control.addOverlay(heatLayer, t.heatmap);
      issuesOverlay.addTo(map);
      const communities = layers.community && layers.community.getLayers ? layers.community.getLayers().map((l) => l.feature.properties) : [];
      control.addOverlay(centersLayer(communities.map((p) => p.id)), t.centers);
      if (urls.stations) control.addOverlay(stationsLayer(communities.map((p) => p.code)), t.stations);
      filtersEl.addEventListener("change", () => { filtersInUrl(); loadIssues(); });
      filtersEl.addEventListener("submit", (ev) => ev.preventDefault());
      document.getElementById("new-issue").addEventListener("click", () => {
        picking = true;
        map.getContainer().classList.add("picking");
        status(t.pickPoint);
      });
      await loadCategories();
      filtersFromUrl();
      const linked = Number(new URLSearchParams(location.search).get("issue")) || null;
      // a linked issue opens once the pins are there, so the map can show and ring its pin
      if (!linked) showHome();
      loadIssues().then(() => { if (linked && selection === 0) selectIssue(linked); });
    }
    openResult = setupSearch(map, index);
    const linkedArea = new URLSearchParams(location.search).get("area");

    const extent = layers.street || layers.community;
    if (cfg.home) {  // the user's own areas (a grid leader's grid)
      map.fitBounds([[cfg.home[1], cfg.home[0]], [cfg.home[3], cfg.home[2]]], { padding: [20, 20], animate: false });
      if (!failures) status("");
    } else if (extent && extent.getLayers && extent.getLayers().length) {
      map.fitBounds(extent.getBounds(), { padding: [20, 20], animate: false });
      if (!failures) status("");
    } else if (!failures) {
      status(t.empty, true);
    }
    if (linkedArea) openLinkedArea(linkedArea, openResult);
    map.on("click", (e) => {
      if (picking) pick(map, e.latlng);
      else if (!issueTilesClick(e.latlng)) showAt(e.latlng, null, null, null);
    });
    document.body.dataset.mapReady = failures ? "error" : "ready";
  };

  // A vector tile layer: fills and outlines on canvas, tiles fetched at the map's own zoom (levelDiff 0)
  // so the server's minimum zoom per layer is the map's. Clicks fall through to the map (locate).
  function tileLayer(map, spec) {
    if (!map.getPane("linliTiles")) {
      map.createPane("linliTiles").style.zIndex = 450;  // above GeoJSON fills, below markers and tooltips
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
})();
