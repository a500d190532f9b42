// The mini-kafka console page: renders /api/state as it streams from /api/events, browses
// records through /api/messages, and sends chaos operations to /api/chaos/{op}.
"use strict";

const $ = (sel) => document.querySelector(sel);
const VIEWS = ["cluster", "topics", "messages", "groups", "timeline", "chaos"];
let state = null;
let lastRecords = null;
const busy = new Set();  // nodes with an operation in flight from this page

// -- the token: from ?token= in the link printed at start, kept for this tab ---------------
(function takeToken() {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem("console-token", given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  $("#token").value = sessionStorage.getItem("console-token") || "";
  $("#token").addEventListener("input", (e) => sessionStorage.setItem("console-token", e.target.value));
})();

// -- helpers -----------------------------------------------------------------------------
function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;"}[c]));
}
function dash(v) { return v === null || v === undefined ? "–" : esc(v); }
function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
function clock(ms) { return new Date(ms).toLocaleTimeString([], {hour12: false}); }
function stateBadge(s) { return `<span class="state state-${esc(s)}">${esc(s)}</span>`; }

// -- views and routing --------------------------------------------------------------------
function showView() {
  const name = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "cluster";
  for (const v of VIEWS) {
    $(`#view-${v}`).classList.toggle("active", v === name);
    $(`nav a[data-view=${v}]`).classList.toggle("active", v === name);
  }
}
window.addEventListener("hashchange", showView);
showView();

function render() {
  if (!state) return;
  $("#updated").textContent = state.at_ms ? `read at ${clock(state.at_ms)}` : "";
  const errors = Object.entries(state.errors || {});
  const banner = $("#banner");
  banner.hidden = !errors.length;
  banner.innerHTML = errors.map(([k, v]) => `<div><b>${esc(k)}</b>: ${esc(v)}</div>`).join("");
  renderCluster(state.cluster);
  renderTopics(state.topics);
  renderGroups(state.groups);
  renderTimeline(state.timeline);
  renderChaos(state.cluster, state.faults);
  fillBrowseTopics(state.topics);
}

// -- cluster ------------------------------------------------------------------------------
function renderCluster(c) {
  const card = (k, v, id) => `<div class="card" id="${id}"><div class="k">${k}</div><div class="v">${v}</div></div>`;
  $("#cluster-summary").innerHTML = [
    card("Controller", dash(c.controller), "card-controller"),
    card("Raft term", dash(c.raft && c.raft.term), "card-term"),
    card("Commit index", dash(c.raft && c.raft.commit_index), "card-commit"),
    card("Metadata offset", dash(c.metadata_offset), "card-metadata"),
    card("Fenced brokers", c.fenced_brokers && c.fenced_brokers.length ? esc(c.fenced_brokers.join(", ")) : "none", "card-fenced"),
  ].join("");
  $("#nodes tbody").innerHTML = (c.nodes || []).map((n) => {
    let detail = "";
    if (n.role === "coordinator") {
      detail = n.raft_role ? `raft ${esc(n.raft_role)}, term ${dash(n.term)}, commit ${dash(n.commit_index)}` : "";
    } else if (n.registered) {
      detail = `${n.fenced ? '<span class="badge bad">fenced</span>' : "unfenced"}, epoch ${dash(n.broker_epoch)}`;
    } else if (n.registered === false) {
      detail = "not registered";
    }
    const faults = (n.faults || []).length ? `<span class="badge warn">${n.faults.length} rule(s)</span>` : "";
    const live = n.state !== "dead";
    return `<tr data-node="${esc(n.name)}" data-state="${esc(n.state)}">
      <td><b>${esc(n.name)}</b>${n.name === c.controller ? ' <span class="badge">controller</span>' : ""}</td>
      <td>${esc(n.role)}</td><td class="node-state">${stateBadge(n.state)}</td>
      <td class="num">${live ? dash(n.pid) : "–"}</td><td class="num">${live ? duration(n.uptime_ms ?? (n.started_ms ? state.at_ms - n.started_ms : null)) : "–"}</td>
      <td class="num">${live && n.cpu_percent !== null && n.cpu_percent !== undefined ? n.cpu_percent.toFixed(1) + "%" : "–"}</td>
      <td class="num">${live ? bytes(n.rss_bytes) : "–"}</td><td>${detail}</td><td>${faults}</td></tr>`;
  }).join("");
}

// -- topics -------------------------------------------------------------------------------
function replicas(p) {
  return p.replicas.map((r) => {
    const cls = r === p.leader ? "leader" : (p.isr.includes(r) ? "" : "out");
    return `<span class="replica ${cls}">${r}</span>`;
  }).join("");
}
function renderTopics(t) {
  const showInternal = $("#show-internal").checked;
  const topics = t.topics || [];
  const under = topics.reduce((a, x) => a + x.under_replicated, 0);
  const offline = topics.reduce((a, x) => a + x.offline, 0);
  $("#topics-summary").innerHTML = `${topics.length} topics, ${topics.reduce((a, x) => a + x.partitions.length, 0)} partitions ·
    <span class="badge ${under ? "warn" : ""}" id="under-replicated-count">${under} under-replicated</span>
    <span class="badge ${offline ? "bad" : ""}" id="offline-count">${offline} offline</span>`;
  $("#topics").innerHTML = topics.filter((x) => showInternal || !x.internal).map((x) => `
    <div class="topic" data-topic="${esc(x.name)}">
      <div class="topic-head"><h3>${esc(x.name)}</h3>
        <span class="muted">RF ${dash(x.replication_factor)}, min ISR ${dash(x.min_insync_replicas)}</span>
        ${x.under_replicated ? `<span class="badge warn">${x.under_replicated} under-replicated</span>` : ""}
        ${x.offline ? `<span class="badge bad">${x.offline} offline</span>` : ""}</div>
      <table><thead><tr><th>Partition</th><th>Leader</th><th>Replicas</th><th>ISR</th><th class="num">Leader epoch</th>
        <th class="num">High watermark</th><th class="num">Log end</th><th class="num">Size on disk</th></tr></thead><tbody>
      ${x.partitions.map((p) => `<tr data-partition="${esc(x.name)}/${p.partition}" data-isr="${p.isr.join(",")}"
          class="${p.offline ? "offline" : (p.under_replicated ? "under-replicated" : "")}">
        <td>${p.partition}</td><td>${p.offline ? '<span class="badge bad">none</span>' : p.leader}</td>
        <td>${replicas(p)}</td><td class="isr">${esc(p.isr.join(", "))}${p.under_min_isr ? ' <span class="badge bad">below min ISR</span>' : ""}</td>
        <td class="num">${p.leader_epoch}</td><td class="num">${dash(p.high_watermark)}</td>
        <td class="num">${dash(p.log_end_offset)}</td>
        <td class="num" title="${esc(Object.entries(p.replica_bytes).map(([b, s]) => `broker ${b}: ${bytes(s)}`).join("\n"))}">${bytes(p.size_bytes)}</td></tr>`).join("")}
      </tbody></table></div>`).join("") || '<p class="muted">No topics.</p>';
}
$("#show-internal").addEventListener("change", render);

// -- charts -------------------------------------------------------------------------------
function polyline(points, x0, x1, yMax, w, h, cls) {
  if (!points.length) return "";
  const xs = (t) => ((t - x0) / Math.max(1, x1 - x0)) * w;
  const ys = (v) => h - (v / Math.max(1, yMax)) * (h - 6) - 3;
  return `<polyline class="${cls}" points="${points.map(([t, v]) => `${xs(t).toFixed(1)},${ys(v).toFixed(1)}`).join(" ")}"/>`;
}
// The charts span what the console has seen (at least a minute), up to its history window.
function span() {
  const t = state.timeline, x1 = state.at_ms;
  const seen = [...(t.rates.produced_records || []).map((p) => p[0]), ...t.events.map((e) => e.at_ms)];
  const first = seen.length ? Math.min(...seen) : x1;
  return [Math.max(x1 - t.history_ms, Math.min(first, x1 - 60000)), x1];
}
function curve(points, cls, klass = "curve") {
  const [x0, x1] = span();
  const max = Math.max(1, ...points.map((p) => p[1]));
  return `<svg class="${klass}" viewBox="0 0 1000 100" preserveAspectRatio="none">${polyline(points, x0, x1, max, 1000, 100, cls)}</svg>`;
}

// -- consumer groups ----------------------------------------------------------------------
function renderGroups(g) {
  const groups = g.groups || [];
  $("#groups").innerHTML = groups.map((x) => `
    <div class="group" data-group="${esc(x.group_id)}">
      <div class="group-head"><h3>${esc(x.group_id)}</h3> ${stateBadge(x.state)}
        <span class="muted">${x.members.length} member(s)${x.protocol ? ", " + esc(x.protocol) : ""}</span>
        <span>total lag <b class="total-lag">${dash(x.total_lag)}</b></span></div>
      ${curve(x.lag_history, "line-produce")}
      <table><thead><tr><th>Topic</th><th>Partition</th><th class="num">Committed</th><th class="num">High watermark</th>
        <th class="num">Lag</th><th>Lag, last minutes</th><th>Member</th></tr></thead><tbody>
      ${x.partitions.map((p) => `<tr data-partition="${esc(p.topic)}/${p.partition}">
        <td>${esc(p.topic)}</td><td>${p.partition}</td><td class="num">${dash(p.committed)}</td>
        <td class="num">${dash(p.high_watermark)}</td><td class="num lag">${dash(p.lag)}</td>
        <td>${curve(p.lag_history, "line-produce", "spark")}</td><td>${p.client_id ? esc(p.client_id) : '<span class="muted">–</span>'}</td></tr>`).join("")}
      </tbody></table></div>`).join("") || '<p class="muted">No consumer groups.</p>';
}

// -- timeline -----------------------------------------------------------------------------
function renderTimeline(t) {
  const [x0, x1] = span(), w = 1000, h = 220;
  const produce = t.rates.produced_records || [], fetch = t.rates.fetched_records || [];
  const max = Math.max(1, ...produce.map((p) => p[1]), ...fetch.map((p) => p[1]));
  const marks = t.events.filter((e) => e.at_ms >= x0).map((e) => {
    const x = (((e.at_ms - x0) / (x1 - x0)) * w).toFixed(1);
    return `<line class="k-${esc(e.kind)}" x1="${x}" x2="${x}" y1="0" y2="${h}" stroke-width="2" vector-effect="non-scaling-stroke"><title>${esc(clock(e.at_ms) + " " + e.text)}</title></line>`;
  });
  $("#timeline-chart").innerHTML = marks.join("") +
    polyline(produce, x0, x1, max, w, h, "line-produce") + polyline(fetch, x0, x1, max, w, h, "line-fetch") +
    `<text x="6" y="14" font-size="12" fill="#6b7385">${Math.round(max)} records/s</text>`;
  $("#timeline-axis").innerHTML = `<span>${clock(x0)}</span><span>${duration(x1 - x0)}</span><span>${clock(x1)}</span>`;
  $("#events").innerHTML = t.events.slice().reverse().map((e) => `
    <li data-kind="${esc(e.kind)}"><span class="when">${clock(e.at_ms)}</span>
      <span class="kind k-${esc(e.kind)}">${esc(e.kind.replace("_", " "))}</span>
      <span>${e.details.length ? `<details><summary>${esc(e.text)}</summary>${e.details.map(esc).join("<br>")}</details>` : esc(e.text)}
      ${e.by ? `<span class="by">by ${esc(e.by)}</span>` : ""}</span></li>`).join("") ||
    '<li class="muted">Nothing has happened yet.</li>';
}

// -- chaos --------------------------------------------------------------------------------
const NODE_OPS = [["kill", "Kill"], ["pause", "Pause"], ["resume", "Resume"], ["restart", "Restart"], ["cut-off", "Cut off"]];
function renderChaos(c, f) {
  $("#chaos-nodes tbody").innerHTML = (c.nodes || []).map((n) => `
    <tr data-node="${esc(n.name)}" data-state="${esc(n.state)}"><td><b>${esc(n.name)}</b></td><td>${esc(n.role)}</td>
      <td class="node-state">${stateBadge(n.state)}${busy.has(n.name) ? ' <span class="muted">working…</span>' : ""}</td>
      <td>${NODE_OPS.map(([op, label]) => `<button data-op="${op}" data-node="${esc(n.name)}" class="${op === "kill" ? "danger" : ""}"
        ${busy.has(n.name) ? "disabled" : ""}>${label}</button>`).join("")}</td></tr>`).join("");
  const faults = f.faults || [];
  $("#faults").innerHTML = faults.map((x) => `<li data-fault-node="${esc(x.node)}" data-kind="${esc(x.kind)}">${esc(x.text)}</li>`).join("") ||
    '<li class="none">None: every node runs and no fault rule is set.</li>';
}
function logOp(text, error) {
  const li = document.createElement("li");
  li.textContent = `${clock(Date.now())} ${text}`;
  if (error) li.className = "error";
  $("#op-log").prepend(li);
}
async function runOp(op, node) {
  if (node) busy.add(node);
  render();
  try {
    const resp = await fetch(`/api/chaos/${op}`, {method: "POST",
      headers: {"Content-Type": "application/json", "X-Console-Token": $("#token").value},
      body: JSON.stringify(node ? {node} : {})});
    const body = await resp.json();
    if (!resp.ok) logOp(`${op} ${node || ""}: ${body.error}`, true);
    else logOp(`${op} ${node || ""}: done${body.healed ? " (" + body.healed.join(", ") + ")" : ""}`);
  } catch (e) {
    logOp(`${op} ${node || ""}: ${e}`, true);
  } finally {
    if (node) busy.delete(node);
    render();
  }
}
document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-op]");
  if (b && !b.disabled) runOp(b.dataset.op, b.dataset.node);
});

// -- messages -----------------------------------------------------------------------------
function fillBrowseTopics(t) {
  const sel = $("#browse-topic"), keep = sel.value;
  const names = (t.topics || []).map((x) => x.name);
  if (sel.options.length !== names.length || [...sel.options].some((o, i) => o.value !== names[i])) {
    sel.innerHTML = names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join("");
    if (names.includes(keep)) sel.value = keep;
  }
  fillPartitions();
}
function fillPartitions() {
  const topic = (state.topics.topics || []).find((x) => x.name === $("#browse-topic").value);
  const sel = $("#browse-partition"), keep = sel.value;
  const parts = topic ? topic.partitions.map((p) => String(p.partition)) : [];
  if (sel.options.length !== parts.length) {
    sel.innerHTML = parts.map((p) => `<option value="${p}">${p}</option>`).join("");
    if (parts.includes(keep)) sel.value = keep;
  }
}
$("#browse-topic").addEventListener("change", fillPartitions);
$("#browse-from").addEventListener("change", () => {
  $("#browse-offset").hidden = $("#browse-from").value !== "offset";
  $("#browse-time").hidden = $("#browse-from").value !== "time";
});
$("#browse-mode").addEventListener("change", renderRecords);
$("#browse").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = new URLSearchParams({topic: $("#browse-topic").value, partition: $("#browse-partition").value,
    limit: $("#browse-limit").value || "50"});
  const from = $("#browse-from").value;
  if (from === "offset") q.set("offset", $("#browse-offset").value || "0");
  if (from === "time" && $("#browse-time").value) q.set("timestamp_ms", String(new Date($("#browse-time").value).getTime()));
  $("#browse-info").textContent = "reading…";
  const resp = await fetch(`/api/messages?${q}`);
  const body = await resp.json();
  if (!resp.ok) {
    lastRecords = null;
    $("#browse-info").textContent = `error: ${body.error}`;
    $("#browse-notes").innerHTML = "";
    $("#records tbody").innerHTML = "";
    return;
  }
  lastRecords = body;
  renderRecords();
});
function decode(b64) {
  const raw = atob(b64), out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}
function show(blob, mode) {
  if (blob === null || blob === undefined) return '<span class="muted">null</span>';
  const data = decode(blob.base64);
  const cut = blob.truncated ? `<span class="muted"> … (${bytes(blob.size)} in all)</span>` : "";
  let text;
  if (mode === "hex") {
    const hex = [...data].map((x) => x.toString(16).padStart(2, "0"));
    const rows = [];
    for (let i = 0; i < hex.length; i += 16) rows.push(hex.slice(i, i + 16).join(" "));
    text = rows.join("\n");
  } else {
    text = new TextDecoder("utf-8", {fatal: false}).decode(data);
    if (mode === "json") {
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { text = `(not JSON) ${text}`; }
    }
  }
  return `<pre class="value">${esc(text)}</pre>${cut}`;
}
function renderRecords() {
  const body = lastRecords;
  if (!body) return;
  const mode = $("#browse-mode").value;
  $("#browse-info").textContent = `${body.topic}/${body.partition}: offsets ${body.log_start_offset}..${body.high_watermark - 1} ` +
    `(high watermark ${body.high_watermark}); showing ${body.records.length} from ${body.from_offset}`;
  $("#browse-notes").innerHTML = body.notes.map((n) => `<div class="note">${esc(n.text)}</div>`).join("");
  $("#records tbody").innerHTML = body.records.map((r) => `<tr data-offset="${r.offset}">
    <td class="num">${r.offset}</td><td>${esc(new Date(r.timestamp).toISOString())}</td>
    <td>${show(r.key, mode === "json" ? "text" : mode)}</td><td class="record-value">${show(r.value, mode)}</td>
    <td>${r.headers.map((h) => `<div><b>${esc(h.key)}</b>: ${show(h.value, mode === "json" ? "text" : mode)}</div>`).join("")}</td></tr>`).join("") ||
    '<tr><td colspan="5" class="muted">No records there.</td></tr>';
}

// -- live updates -------------------------------------------------------------------------
function connect() {
  const live = $("#live");
  const source = new EventSource("/api/events");
  source.addEventListener("state", (e) => {
    state = JSON.parse(e.data);
    live.textContent = state.running ? "live" : "no cluster";
    live.className = `live ${state.running ? "on" : "off"}`;
    render();
  });
  source.onerror = () => { live.textContent = "reconnecting…"; live.className = "live off"; };
}
connect();
