// pilotlens view: the page. Plain JS, no build step. Every picture comes from the server's /api routes.
"use strict";

const $ = (id) => document.getElementById(id);
const PREFETCH = 8;          // frames asked for in one batch while playing
const DEFAULT_METHODS = ["visual_backprop", "grad_cam"];

const state = {
  info: null, position: 0, playing: false, timer: null,
  cache: new Map(),          // position -> result, for the current settings
  cacheKey: "",              // the settings the cache holds
  inflight: new Set(),       // positions being fetched
  shown: null,               // the result on screen
  occlusion: null,           // the last occlusion answer for the shown frame
  request: 0,                // newest scrub request (older answers are ignored)
  disagreeAt: -1,            // place in info.drive.disagreements
  liveAfter: 0, liveHistory: [],
};

// -- talking to the server ------------------------------------------------------------------------
async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const resp = await fetch(path, opts);
  const type = resp.headers.get("Content-Type") || "";
  if (!resp.ok) {
    const msg = type.includes("json") ? (await resp.json()).error : `${resp.status} ${resp.statusText}`;
    throw new Error(msg);
  }
  return type.includes("json") ? resp.json() : resp.blob();
}

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  box.textContent = String(err.message || err);
  box.hidden = false;
}

// -- settings from the controls -------------------------------------------------------------------
function settings() {
  const methods = [...document.querySelectorAll("#methods input:checked")].map((i) => i.value);
  const options = {};
  for (const input of document.querySelectorAll("#options input")) {
    if (!methods.includes(input.dataset.method) || input.value.trim() === input.dataset.default) continue;
    (options[input.dataset.method] ||= {})[input.dataset.option] = input.value.trim();
  }
  return {methods, layer: $("layer").value, target: $("target").value, view: $("view").value,
          colormap: $("colormap").value, alpha: Number($("alpha").value), options};
}

function settingsChanged() {
  const key = JSON.stringify(settings());
  if (key === state.cacheKey) return;
  state.cacheKey = key;
  state.cache.clear();
  state.inflight.clear();
  state.occlusion = null;
  buildMapPanels();
  updateLegend();
  if (state.info.live) return;  // the live loop picks the settings up with its next poll
  show(state.position);
  refreshInside();
}

// -- building the controls ------------------------------------------------------------------------
function option(select, value, label, disabled) {
  const o = document.createElement("option");
  o.value = value; o.textContent = label; o.disabled = !!disabled;
  select.appendChild(o);
}

function buildControls(info) {
  $("title").textContent = `${info.model} — ${info.live ? "live input" : info.drive.name + ` (${info.drive.frames} frames, ${info.drive.fps} fps)`}`;
  for (const name of Object.keys(info.methods)) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = name; box.checked = DEFAULT_METHODS.includes(name);
    box.addEventListener("change", () => { buildOptions(); settingsChanged(); });
    label.append(box, name + (info.methods[name].uses_layer ? " (layer)" : ""));
    $("methods").appendChild(label);
  }
  option($("layer"), "", "default: the last convolution");
  for (const l of info.layers) {
    option($("layer"), l.name, `${"\u00a0".repeat(2 * (l.name.split(".").length - 1))}${l.name}  ${l.kind}  ${l.shape.join("x")}`);
  }
  for (const t of info.targets) option($("target"), t.value, t.label);
  for (const v of info.views) option($("view"), v, v);
  for (const c of info.colormaps) option($("colormap"), c, c);
  for (const id of ["layer", "target", "view", "colormap"]) $(id).addEventListener("change", settingsChanged);
  $("alpha").addEventListener("change", settingsChanged);
  $("alpha").addEventListener("input", () => { $("alpha-value").textContent = $("alpha").value; });
  buildOptions();
}

function buildOptions() {
  const box = $("options");
  box.textContent = "";
  const methods = [...document.querySelectorAll("#methods input:checked")].map((i) => i.value);
  for (const m of methods) {
    const defaults = state.info.methods[m].defaults;
    const names = Object.keys(defaults);
    if (!names.length) continue;
    const head = document.createElement("div");
    head.className = "opt-head"; head.textContent = m;
    box.appendChild(head);
    for (const name of names) {
      const row = document.createElement("div");
      row.className = "opt";
      const label = document.createElement("label");
      label.textContent = name;
      const input = document.createElement("input");
      input.type = "text";
      input.dataset.method = m; input.dataset.option = name;
      input.dataset.default = input.value = defaults[name] === null ? "" : String(defaults[name]);
      input.placeholder = "default";
      input.addEventListener("change", settingsChanged);
      row.append(label, input);
      box.appendChild(row);
    }
  }
  if (!box.childElementCount) box.innerHTML = "<small>none</small>";
}

function buildMapPanels() {
  const box = $("maps");
  box.textContent = "";
  for (const m of settings().methods) {
    const fig = document.createElement("figure");
    fig.className = "panel";
    const cap = document.createElement("figcaption");
    cap.textContent = m;
    const img = document.createElement("img");
    img.alt = `${m} map`; img.dataset.method = m;
    fig.append(cap, img);
    box.appendChild(fig);
  }
}

function updateLegend() {
  const s = settings();
  $("legend-ramp").src = `/api/legend.png?colormap=${encodeURIComponent(s.colormap)}`;
  const signed = s.methods.filter((m) => state.shown && state.shown.signed && state.shown.signed[m]);
  $("legend-signed").hidden = !signed.length;
  // the drawing's scale (render/scale.py, sent in /api/info): that percentile of |map| is full colour, beyond it clipped
  const pct = state.info.clip;
  const scale = `full colour at the ${pct}th percentile of |value| (the top ${+(100 - pct).toFixed(2)} % saturate)`;
  const empty = "; a map with nothing in it says \"no evidence\" on it";
  $("legend-note").textContent = (signed.length
    ? `${signed.join(", ")}: signed, blue is evidence against the target, red evidence for it, ${scale}; other maps run from their lowest value to the same percentile`
    : `each map runs from its lowest value (dark) to ${scale}`) + empty;
}

// -- the drive -------------------------------------------------------------------------------------
async function fetchFrames(positions) {
  const want = positions.filter((p) => !state.cache.has(p) && !state.inflight.has(p));
  if (!want.length) return;
  const key = state.cacheKey;
  want.forEach((p) => state.inflight.add(p));
  try {
    const answer = await api("/api/explain", {positions: want, settings: JSON.parse(key)});
    if (key !== state.cacheKey) return;  // the settings changed meanwhile
    for (const r of answer.results) state.cache.set(r.position, r);
    showError(null);
  } finally {
    want.forEach((p) => state.inflight.delete(p));
  }
}

async function show(position) {
  const n = state.info.drive.frames;
  position = Math.max(0, Math.min(n - 1, position));
  state.position = position;
  $("scrub").value = position;
  if (!state.occlusion || state.occlusion.position !== position) state.occlusion = null;
  const ticket = ++state.request;
  try {
    if (!state.cache.has(position)) await fetchFrames([position]);
    if (ticket !== state.request) return;
    const result = state.cache.get(position);
    if (result) render(result);
  } catch (err) {
    if (ticket === state.request) showError(err);
  }
  drawTimeline();
  if (!state.playing) refreshInsideSoon();
}

let insideTimer = null;
function refreshInsideSoon() {  // scrubbing fast asks for the layer's insides once it settles
  clearTimeout(insideTimer);
  insideTimer = setTimeout(refreshInside, 250);
}

function render(result) {
  state.shown = result;
  const occ = state.occlusion;
  $("frame").src = occ ? occ.frame : result.frame;
  for (const img of document.querySelectorAll("#maps img")) {
    const m = img.dataset.method;
    const src = occ ? occ.maps[m] : result.maps[m];
    if (src) img.src = src;
  }
  const d = state.info.drive;
  $("frame-caption").textContent = d ? `frame ${result.index} (${result.position + 1} of ${d.frames})` : `live frame ${result.index}`;
  const fmt = (v) => (v === undefined || v === null ? "–" : Number(v).toFixed(3));
  let text = `predicted angle ${fmt(result.predicted.angle)}`;
  if (result.recorded && result.recorded.angle !== undefined) text += `   recorded ${fmt(result.recorded.angle)}`;
  if (result.predicted.throttle !== undefined) text += `   throttle ${fmt(result.predicted.throttle)}`;
  text += `   maps ${result.ms} ms/frame`;
  if (result.latency_ms !== undefined) text += `   latency ${result.latency_ms} ms   ${result.fps} frames/s`;
  $("readout").textContent = text;
  if (occ && occ.change.angle !== undefined) {
    const span = document.createElement("span");
    span.className = "occ";
    span.textContent = `   region hidden: angle ${fmt(occ.before.angle)} → ${fmt(occ.after.angle)} (change ${occ.change.angle >= 0 ? "+" : ""}${fmt(occ.change.angle)})`;
    $("readout").appendChild(span);
  }
  $("clear-occlusion").disabled = !occ;
  updateLegend();
}

function play() {
  if (state.playing) return pause();
  state.playing = true;
  $("play").innerHTML = "&#10074;&#10074;";
  const interval = 1000 / state.info.drive.fps;
  const tick = async () => {
    if (!state.playing) return;
    const next = state.position + 1;
    if (next >= state.info.drive.frames) return pause();
    const ahead = [];
    for (let p = next; p < Math.min(next + PREFETCH, state.info.drive.frames); p++) ahead.push(p);
    if (ahead.some((p) => !state.cache.has(p))) fetchFrames(ahead).catch(showError);
    if (state.cache.has(next)) {
      state.position = next;
      $("scrub").value = next;
      state.occlusion = null;
      render(state.cache.get(next));
      drawTimeline();
    }
    state.timer = setTimeout(tick, interval);
  };
  tick();
}

function pause() {
  const was = state.playing;
  state.playing = false;
  clearTimeout(state.timer);
  $("play").innerHTML = "&#9654;";
  if (was) refreshInsideSoon();
}

function nextDisagreement() {
  const list = state.info.drive.disagreements;
  if (!list.length) return showError(new Error("this drive has no recorded steering to compare with"));
  state.disagreeAt = (state.disagreeAt + 1) % list.length;
  pause();
  show(list[state.disagreeAt]);
}

// -- the timeline plot -----------------------------------------------------------------------------
function series() {
  if (state.info.live) {
    const h = state.liveHistory;
    return {n: Math.max(h.length, 2), rec: null, pred: h.map((e) => e.predicted.angle),
            thr: h.map((e) => e.predicted.throttle), cursor: h.length - 1};
  }
  const d = state.info.drive;
  return {n: d.frames, rec: d.recorded.angle || null, pred: d.predicted.angle || null,
          thr: d.predicted.throttle || d.recorded.throttle || null, cursor: state.position};
}

function drawTimeline() {
  const canvas = $("timeline");
  const w = canvas.width = canvas.clientWidth || 960;
  const h = canvas.height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, w, h);
  const s = series();
  const pad = 8;
  const values = [s.rec, s.pred, s.thr].filter(Boolean).flat().filter((v) => v !== null && v !== undefined);
  const top = Math.max(0.25, 1.15 * Math.max(0, ...values.map(Math.abs)));
  const x = (i) => pad + (w - 2 * pad) * (s.n > 1 ? i / (s.n - 1) : 0.5);
  const y = (v) => h / 2 - (h / 2 - pad) * v / top;
  g.strokeStyle = "#3a3f45"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(pad, y(0)); g.lineTo(w - pad, y(0)); g.stroke();
  g.fillStyle = "#9aa0a6"; g.font = "11px system-ui";
  g.fillText(`+${top.toFixed(2)} right`, w - pad - 70, pad + 10);
  g.fillText(`-${top.toFixed(2)} left`, w - pad - 70, h - pad - 2);
  g.fillText("0", w - pad - 10, y(0) - 3);
  const line = (vals, color, dash) => {
    if (!vals) return;
    g.strokeStyle = color; g.lineWidth = 1.6; g.setLineDash(dash || []);
    g.beginPath();
    let down = false;
    vals.forEach((v, i) => {
      if (v === null || v === undefined) { down = false; return; }
      if (down) g.lineTo(x(i), y(v)); else g.moveTo(x(i), y(v));
      down = true;
    });
    g.stroke(); g.setLineDash([]);
  };
  const css = getComputedStyle(document.documentElement);
  line(s.thr, css.getPropertyValue("--thr").trim(), [4, 3]);
  line(s.rec, css.getPropertyValue("--rec").trim());
  line(s.pred, css.getPropertyValue("--pred").trim());
  if (s.cursor >= 0) {
    g.strokeStyle = "#ffffff"; g.lineWidth = 1;
    g.beginPath(); g.moveTo(x(s.cursor), pad); g.lineTo(x(s.cursor), h - pad); g.stroke();
  }
  const occ = state.occlusion;
  if (occ && occ.after.angle !== undefined) {
    g.fillStyle = css.getPropertyValue("--occ").trim();
    g.beginPath(); g.arc(x(occ.position), y(occ.after.angle), 5, 0, 2 * Math.PI); g.fill();
    g.strokeStyle = g.fillStyle; g.setLineDash([2, 2]);
    g.beginPath(); g.moveTo(x(occ.position), y(occ.before.angle)); g.lineTo(x(occ.position), y(occ.after.angle)); g.stroke();
    g.setLineDash([]);
  }
}

function timelineSeek(event) {
  if (state.info.live) return;
  const rect = $("timeline").getBoundingClientRect();
  const f = (event.clientX - rect.left - 8) / Math.max(1, rect.width - 16);
  pause();
  show(Math.round(f * (state.info.drive.frames - 1)));
}

// -- ask the model: drag a box on the frame -------------------------------------------------------
function framePoint(event) {
  const img = $("frame");
  const rect = img.getBoundingClientRect();
  const sx = img.naturalWidth / rect.width, sy = img.naturalHeight / rect.height;
  return {x: (event.clientX - rect.left) * sx, y: (event.clientY - rect.top) * sy, sx, sy, rect};
}

function setupOcclusion() {
  const canvas = $("frame-draw");
  let start = null;
  const box = (a, b) => [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)];
  const paint = (b) => {
    const img = $("frame");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, canvas.width, canvas.height);
    if (!b) return;
    g.strokeStyle = "#ff5a5a"; g.lineWidth = 1.5;
    g.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
  };
  canvas.addEventListener("mousedown", (e) => {
    if (state.info.live) return;
    pause(); start = framePoint(e); e.preventDefault();
  });
  canvas.addEventListener("mousemove", (e) => { if (start) paint(box(start, framePoint(e))); });
  window.addEventListener("mouseup", async (e) => {
    if (!start) return;
    const end = framePoint(e);
    let b = box(start, end);
    start = null;
    if (b[2] - b[0] < 3 && b[3] - b[1] < 3) {  // a click: a box a fifth of the frame around it
      const img = $("frame"), rw = img.naturalWidth / 10, rh = img.naturalHeight / 10;
      b = [end.x - rw, end.y - rh, end.x + rw, end.y + rh];
    }
    paint(null);
    try {
      const answer = await api("/api/occlude", {position: state.position, box: b.map(Math.round),
                                                fill: $("fill").value, settings: settings()});
      state.occlusion = answer;
      if (state.shown) render(state.shown);
      drawTimeline();
      showError(null);
    } catch (err) { showError(err); }
  });
  $("clear-occlusion").addEventListener("click", () => {
    state.occlusion = null;
    if (state.shown) render(state.shown);
    drawTimeline();
  });
}

// -- inside the network ---------------------------------------------------------------------------
async function loadImage(img, url) {
  try {
    const blob = await api(url);
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.dataset.url = img.src = URL.createObjectURL(blob);
    img.title = "";
    return true;
  } catch (err) {
    img.removeAttribute("src");
    img.alt = img.title = err.message;
    return false;
  }
}

async function refreshInside() {
  if (!$("inside").open || state.playing) return;
  const layer = $("layer").value;
  const pos = state.info.live ? 0 : state.position;
  const q = (which) => `layer=${encodeURIComponent(layer)}&model=${which}`;
  const notes = [];
  if (!layer) notes.push("No layer chosen: showing the last convolution's feature maps and the first convolution's filters.");
  if (!state.info.untrained) notes.push("This pilot has no zoo architecture: no untrained twin to compare with.");
  const convs = state.info.layers.filter((l) => l.conv);
  const at = state.info.layers.findIndex((l) => l.name === layer);
  const before = convs.filter((l) => at >= 0 && state.info.layers.indexOf(l) <= at);
  const conv = layer ? (before.length ? before[before.length - 1] : convs[0]) : convs[0];
  $("filters-caption").textContent = conv ? `filters of ${conv.name}, trained` : "filters, trained";
  $("filters-caption-untrained").textContent = conv ? `filters of ${conv.name}, untrained` : "filters, untrained";
  const results = await Promise.all([
    loadImage($("feat-trained"), `/api/features.png?position=${pos}&${q("trained")}`),
    state.info.untrained && loadImage($("feat-untrained"), `/api/features.png?position=${pos}&${q("untrained")}`),
    loadImage($("filt-trained"), `/api/filters.png?${q("trained")}`),
    state.info.untrained && loadImage($("filt-untrained"), `/api/filters.png?${q("untrained")}`),
  ]);
  if (!results[0]) notes.push(`Feature maps: ${$("feat-trained").title}`);
  if (!results[2]) notes.push(`Filters: ${$("filt-trained").title}`);
  $("inside-note").textContent = notes.join(" ");
}

// -- export ----------------------------------------------------------------------------------------
function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function setupExport() {
  $("export-png").addEventListener("click", async () => {
    try {
      download(await api("/api/export.png", {position: state.position, settings: settings()}),
               `pilotlens-frame-${state.position}.png`);
      showError(null);
    } catch (err) { showError(err); }
  });
  $("export-mp4").addEventListener("click", async () => {
    const start = Number($("export-start").value), end = Number($("export-end").value);
    $("export-status").textContent = "rendering…";
    try {
      download(await api("/api/export.mp4", {start, end, settings: settings()}), `pilotlens-${start}-${end}.mp4`);
      $("export-status").textContent = "";
      showError(null);
    } catch (err) { $("export-status").textContent = ""; showError(err); }
  });
}

// -- live ------------------------------------------------------------------------------------------
async function pollLive() {
  try {
    const answer = await api("/api/live", {settings: settings(), after: state.liveAfter});
    state.liveHistory = answer.history;
    if (answer.answer) {
      state.liveAfter = answer.answer.seq;
      if (answer.answer.error) showError(new Error(answer.answer.error)); else { showError(null); render(answer.answer); }
      drawTimeline();
    }
    if (answer.error) showError(new Error(answer.error));
    if (answer.ended) { $("readout").textContent += "   (the live input ended)"; return; }
  } catch (err) {
    showError(err);
    await new Promise((r) => setTimeout(r, 1000));
  }
  pollLive();
}

// -- start -----------------------------------------------------------------------------------------
async function main() {
  try {
    state.info = await api("/api/info");
  } catch (err) { return showError(err); }
  const info = state.info;
  buildControls(info);
  state.cacheKey = JSON.stringify(settings());
  buildMapPanels();
  updateLegend();
  setupOcclusion();
  setupExport();
  $("inside").addEventListener("toggle", refreshInside);
  window.addEventListener("resize", drawTimeline);
  if (info.live) {
    document.body.classList.add("live");
    for (const id of ["export-mp4", "export-start", "export-end"]) $(id).disabled = true;
    drawTimeline();
    document.body.dataset.ready = "1";
    return pollLive();
  }
  const d = info.drive;
  $("scrub").max = d.frames - 1;
  $("export-end").max = d.frames; $("export-end").value = Math.min(d.frames, 100);
  $("scrub").addEventListener("input", () => { pause(); show(Number($("scrub").value)); });
  $("prev").addEventListener("click", () => { pause(); show(state.position - 1); });
  $("next").addEventListener("click", () => { pause(); show(state.position + 1); });
  $("play").addEventListener("click", play);
  $("disagree").addEventListener("click", nextDisagreement);
  $("timeline").addEventListener("click", timelineSeek);
  document.addEventListener("keydown", (e) => {
    if (["INPUT", "SELECT", "BUTTON", "TEXTAREA"].includes(e.target.tagName)) return;  // a button's own space
    if (e.key === "ArrowLeft") { pause(); show(state.position - 1); }
    else if (e.key === "ArrowRight") { pause(); show(state.position + 1); }
    else if (e.key === " ") { e.preventDefault(); play(); }
  });
  drawTimeline();
  await show(0);
  document.body.dataset.ready = "1";
}

main();
