// Live progress: poll the gateway's status JSON and update the rows in place.
"use strict";
(function () {
  function fmtTime(el) {
    var t = Number(el.getAttribute("data-epoch"));
    if (t) el.textContent = new Date(t * 1000).toLocaleString();
  }
  function rate(v) { return v === null || v === undefined ? "-" : v.toFixed(1); }
  function setProgress(box, p, status) {
    if (!box) return;
    var row = box.closest("[data-row-batch],[data-row-job]") || box.parentElement;
    var st = row && row.querySelector("[data-status]");
    if (st && status) { st.textContent = status; st.className = "status s-" + status; }
    if (!p) return;
    box.querySelector(".bar span").style.width = p.percent + "%";
    box.querySelector(".units").textContent = (p.units_done + p.units_failed) + "/" + p.units_total;
    box.querySelector(".tps").textContent = rate(p.completion_tps);
    box.querySelector(".ptps").textContent = rate(p.prompt_tps);
    box.querySelector(".hits").textContent = p.cache_hit_units;
    box.querySelector(".cached").textContent = p.cached_tokens;
    box.querySelector(".eta").textContent = p.eta === "finished" ? "finished" : "ETA " + p.eta;
  }
  function refresh() {
    fetch("/dashboard/api/status", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        data.batches.forEach(function (b) {
          setProgress(document.querySelector('.progress[data-batch="' + b.id + '"]'), b.progress, b.status);
        });
        data.jobs.forEach(function (j) {
          setProgress(document.querySelector('.progress[data-job="' + j.id + '"]'), j.progress, j.status);
        });
        var e = data.engine, h = document.querySelector('[data-engine="health"]');
        if (h) { h.textContent = e.is_healthy ? "ready" : "not answering"; h.className = e.is_healthy ? "ok" : "bad"; }
        var busy = document.querySelector('[data-engine="busy"]');
        if (busy && e.busy_slots !== null) busy.textContent = e.busy_slots;
        var rs = document.querySelector('[data-engine="restarts"]');
        if (rs) rs.textContent = e.restarts;
      })
      .catch(function () {});
  }
  function act(url) {
    fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-Heavylift-Action": "1" } })
      .then(function (r) { return r.json(); })
      .then(function () { window.location.reload(); });
  }
  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t.dataset.cancelBatch) act("/dashboard/api/batches/" + t.dataset.cancelBatch + "/cancel");
    else if (t.dataset.cancelJob) act("/dashboard/api/jobs/" + t.dataset.cancelJob + "/cancel");
    else if (t.dataset.resumeJob) act("/dashboard/api/jobs/" + t.dataset.resumeJob + "/resume");
  });
  document.querySelectorAll("[data-epoch]").forEach(fmtTime);
  if (window.HEAVYLIFT_LIVE) setInterval(refresh, 1000);
})();
