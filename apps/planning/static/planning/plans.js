/* The plan list: create a plan from the current areas or propose one, then open it in the editor. */
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
})();
