// The review page: the episode list, the player (<video>, or frames decoded by the server),
// the timeline (timeline.js), label editing and saving, keyboard shortcuts. No framework.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const video = $("video");
const frameImg = $("frame");
const S = {
  rows: new Map(), order: [], ep: null, mode: "loading",
  stripT: 0, playing: false, lastTick: 0, frameBusy: false, frameShown: null,
  saved: null, pending: null, saveTimer: null, drawn: null,
  kind: "intro", // the segment type being labelled: intro, credits, recap or preview
};
const KINDS = ["intro", "credits", "recap", "preview"];

// --- server ---------------------------------------------------------------------------------

const enc = (id) => id.split("/").map(encodeURIComponent).join("/");
const mediaUrl = (kind, id, params = {}) =>
  `/${kind}/${enc(id)}?${new URLSearchParams({ ...params, token: TOKEN })}`;

async function api(path, options = {}) {
  const headers = { "X-Introdet-Token": TOKEN, "Content-Type": "application/json" };
  const r = await fetch(path, { ...options, headers });
  const body = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

function status(text, kind = "") {
  $("status").textContent = text;
  $("status").className = `status ${kind}`;
}

// --- episode list ---------------------------------------------------------------------------

async function loadList() {
  const data = await api("/api/episodes");
  document.title = data.title;
  $("title").textContent = data.title;
  $("labels-file").textContent = data.labels_file;
  for (const row of data.episodes) {
    S.rows.set(row.id, row);
    if (!S.order.includes(row.id)) S.order.push(row.id); // the first order stays put
  }
  $("failed").textContent = data.failed.map((f) => `left out: ${f.path} (${f.reason})`).join("\n");
  renderList();
}

function labelShort(label) {
  if (!label) return "";
  if (label.problem) return "✗";
  return label.start === null ? "no intro" : `${clock(label.start, false)}–${clock(label.end, false)}`;
}

function renderList() {
  const list = $("episodes");
  list.replaceChildren(...S.order.map((id) => {
    const row = S.rows.get(id);
    const li = document.createElement("li");
    li.className = `tier-${row.tier}` + (S.ep && S.ep.id === id ? " current" : "");
    li.dataset.id = id;
    li.innerHTML = '<span class="lab"></span><div class="id"></div><div class="why"></div>';
    li.querySelector(".lab").textContent = labelShort(row.label);
    li.querySelector(".id").textContent = id;
    li.querySelector(".why").textContent = row.reasons.join("; ") || "prediction and label agree";
    li.addEventListener("click", () => openEpisode(id));
    return li;
  }));
  const current = list.querySelector(".current");
  if (current) current.scrollIntoView({ block: "nearest" });
}

// --- the player: <video>, or the server's frames -----------------------------------------------

const duration = () => (S.ep && (S.ep.media.duration || S.ep.timeline.duration)) || 0;
const fps = () => (S.ep && (S.ep.timeline.video_fps || S.ep.media.fps)) || 25;
const now = () => (S.mode === "video" ? video.currentTime : S.stripT);

function seek(t) {
  t = Math.min(Math.max(t, 0), duration());
  if (S.mode === "video") video.currentTime = t;
  else { S.stripT = t; showFrame(); }
}

function togglePlay() {
  if (S.mode === "video") { if (video.paused) video.play(); else video.pause(); return; }
  S.playing = !S.playing;
  S.lastTick = performance.now();
}

function enterStrip(why) {
  const t = S.mode === "video" ? video.currentTime : 0;
  video.pause();
  video.removeAttribute("src");
  video.load();
  S.mode = "strip"; S.stripT = t; S.playing = false; S.frameShown = null;
  document.body.dataset.mode = "strip";
  $("strip-note").textContent = `frames decoded by the server: ${why}`;
  const strip = $("strip");
  const step = S.ep.media.strip_step || 5;
  const figures = [];
  for (let s = 0; s < duration(); s += step) {
    const fig = document.createElement("figure");
    fig.dataset.t = s;
    fig.innerHTML = '<img loading="lazy" alt=""><figcaption></figcaption>';
    fig.querySelector("img").src = mediaUrl("frame", S.ep.id, { t: s, size: 90 });
    fig.querySelector("figcaption").textContent = clock(s, false);
    fig.addEventListener("click", () => seek(s));
    figures.push(fig);
  }
  strip.replaceChildren(...figures);
  showFrame();
}

function showFrame() { // one request at a time; the newest playhead wins
  // the middle of the frame on screen: one URL per frame (cached), safe from ms rounding
  const rate = fps();
  const t = Math.round(((Math.floor(S.stripT * rate + 1e-6) + 0.5) / rate) * 1000) / 1000;
  if (S.frameBusy || t === S.frameShown) return;
  S.frameBusy = true; S.frameShown = t;
  frameImg.src = mediaUrl("frame", S.ep.id, { t, size: 360 });
}
frameImg.addEventListener("load", () => { S.frameBusy = false; showFrame(); });
frameImg.addEventListener("error", () => { S.frameBusy = false; status("a frame failed to decode", "bad"); });

video.addEventListener("error", () => {
  if (S.mode === "video") enterStrip("the browser could not play this file");
});
video.addEventListener("loadedmetadata", () => {
  if (S.mode === "video" && video.videoWidth === 0) enterStrip("the browser shows no picture for it");
});

function tick(stamp) { // one loop draws everything that moves
  if (S.mode === "strip" && S.playing) {
    S.stripT = Math.min(S.stripT + (stamp - S.lastTick) / 1000, duration());
    if (S.stripT >= duration()) S.playing = false;
    showFrame();
  }
  S.lastTick = stamp;
  if (S.ep) {
    const t = now();
    const key = `${t}|${JSON.stringify(S.pending)}|${JSON.stringify(S.saved)}`;
    if (key !== S.drawn) {
      S.drawn = key;
      timeline.draw({ time: t, label: S.saved && !S.saved.problem ? S.saved : null, pending: S.pending });
      $("time").textContent = clock(t);
      markStrip(t);
    }
  }
  requestAnimationFrame(tick);
}

function markStrip(t) {
  if (S.mode !== "strip") return;
  const step = S.ep.media.strip_step || 5;
  const figs = $("strip").children;
  const i = Math.min(Math.floor(t / step + 1e-6), figs.length - 1);
  const old = $("strip").querySelector(".current");
  if (old === figs[i]) return;
  if (old) old.classList.remove("current");
  if (figs[i]) { figs[i].classList.add("current"); figs[i].scrollIntoView({ block: "nearest", inline: "center" }); }
}

// --- one episode ------------------------------------------------------------------------------

async function openEpisode(id) {
  await flushSave();
  let ep;
  try { ep = await api(`/api/episode/${enc(id)}`); } catch (e) { status(e.message, "bad"); return; }
  S.ep = ep; S.playing = false; S.drawn = null;
  history.replaceState(null, "", `${location.search}#${encodeURIComponent(id)}`);
  setLabel(ep.label);
  timeline.set({ ...ep.timeline, duration: duration() });
  $("episode-title").textContent = `${ep.id}  ·  ${ep.series}`;
  $("media-why").textContent = `${ep.file}: ${ep.media.why}`;
  $("duration").textContent = `/ ${clock(duration())}  ·  ${fps().toFixed(3)} fps`;
  $("messages").textContent = "";
  S.rows.set(ep.id, { ...S.rows.get(ep.id), ...ep });
  renderList(); renderFacts();
  if (ep.media.playable) {
    S.mode = "video"; document.body.dataset.mode = "video";
    video.src = mediaUrl("video", ep.id);
  } else {
    S.mode = "strip";
    enterStrip(ep.media.why);
  }
}

function step(delta) { // the next/previous episode in the list's order
  if (!S.ep) return;
  const i = S.order.indexOf(S.ep.id) + delta;
  if (i >= 0 && i < S.order.length) openEpisode(S.order[i]);
}

function span(a, b, none = "no intro") { return a === null ? none : `${clock(a)} – ${clock(b)}`; }

function renderFacts() {
  const ep = S.ep, tl = ep.timeline;
  const none = `no ${S.kind}`;
  const saved = S.saved ? (S.saved.problem ? `rejected: ${S.saved.problem}` : span(S.saved.start, S.saved.end, none)) : "none yet";
  const unsaved = changed() ? `  (unsaved: ${span(S.pending.start, S.pending.end, none)})` : "";
  $("label-text").textContent = `${S.kind}: ${saved}${unsaved}`;
  $("pred-text").textContent = !tl.mode ? "no prediction record"
    : tl.intro ? `${span(tl.intro.start, tl.intro.end)}, score ${tl.intro.score === null ? "?" : tl.intro.score.toFixed(3)}, ${tl.mode} mode`
    : `no intro found (${tl.mode} mode)`;
  const others = Object.entries(tl.others || {}).map(([name, o]) => `${name}: ${o.intro ? span(...o.intro) : "no intro"}`);
  if (others.length) $("pred-text").textContent += `; ${others.join("; ")}`;
  // each segment with why it was found: the record's evidence, in its own words
  const why = (s) => `${s.type} ${span(s.start, s.end)}` + (s.evidence ? ` (${s.evidence})` : "")
    + (s.first_appearance ? ", first heard here" : "");
  $("segments-text").textContent = (tl.segments || []).map(why).join("; ") || "—";
  $("recurring-text").textContent = tl.recurring.map(([a, b, kind, n]) => `${kind} ${span(a, b)} ×${n}`).join("; ") || "—";
  $("doubt-text").textContent = (S.rows.get(ep.id).reasons || []).join("; ") || "prediction and label agree";
}

// --- the label --------------------------------------------------------------------------------

function setLabel(label) {
  if (S.ep) S.ep.label = label; // every type's saved label, for switching between them
  if (S.kind === "intro" || !label || label.problem) {
    S.saved = label && !label.problem ? { start: label.start, end: label.end } : label;
  } else { // another type: [start, end], null for none, absent when not labelled
    const seg = (label.segments || {})[S.kind];
    S.saved = seg === undefined ? null : seg === null ? { start: null, end: null }
      : { start: seg[0], end: seg[1] };
  }
  S.pending = S.saved && !S.saved.problem ? { ...S.saved } : { start: null, end: null };
}

async function setKind(kind) { // label another segment type of the episode
  await flushSave();
  S.kind = kind; $("kind").value = kind;
  setLabel(S.ep ? S.ep.label : null);
  S.drawn = null; renderFacts();
  status(`labelling the ${kind}`);
}

const changed = () => (S.saved
  ? Boolean(S.saved.problem) || S.saved.start !== S.pending.start || S.saved.end !== S.pending.end
  : S.pending.start !== null || S.pending.end !== null);
const ms = (t) => Math.round(t * 1000) / 1000;

function edit(which, t, delay = 0) {
  if (!S.ep) return;
  S.pending[which] = ms(Math.min(Math.max(t, 0), duration()));
  renderFacts();
  schedule(delay);
}

function nudge(which, seconds) {
  if (S.pending[which] === null) { status(`set the ${which} first`, "bad"); return; }
  edit(which, S.pending[which] + seconds, 400); // a run of nudges saves once
}

function schedule(delay) {
  clearTimeout(S.saveTimer); S.saveTimer = null;
  const { start, end } = S.pending;
  if (start === null || end === null) { status(`now set the ${start === null ? "start" : "end"}`); return; }
  if (end <= start) { status("the end must come after the start: not saved", "bad"); return; }
  if (!changed()) return;
  S.saveTimer = setTimeout(() => { S.saveTimer = null; save(); }, delay);
}

async function flushSave() {
  if (S.saveTimer) { clearTimeout(S.saveTimer); S.saveTimer = null; await save(); }
}

async function save(body = { start: S.pending.start, end: S.pending.end }) {
  const ep = S.ep;
  if (S.kind !== "intro") body = { ...body, type: S.kind };
  try {
    const res = await api(`/api/label/${enc(ep.id)}`, { method: "PUT", body: JSON.stringify(body) });
    S.rows.set(ep.id, { ...S.rows.get(ep.id), ...res });
    if (S.ep === ep) {
      // an edit made while this save was on its way (a quick nudge) is kept: its own save is
      // scheduled; taking the saved label as it is would undo it
      const pending = { ...S.pending };
      setLabel(res.label);
      if (pending.start !== body.start || pending.end !== body.end) S.pending = pending;
      $("messages").className = "messages";
      $("messages").textContent = [...res.notes, res.summary].join("\n");
      status(`saved ${ep.id}: ${S.kind} ${span(S.saved.start, S.saved.end, "none")}`, "ok");
      renderFacts();
    }
    renderList();
  } catch (e) {
    $("messages").className = "messages bad";
    $("messages").textContent = e.message;
    status("not saved: see the message below", "bad");
  }
}

function noIntro() {
  S.pending = { start: null, end: null };
  clearTimeout(S.saveTimer); S.saveTimer = null;
  save({ start: null, end: null });
}

function accept() {
  const tl = S.ep && S.ep.timeline;
  if (!tl || !tl.mode) { status("no prediction to accept", "bad"); return; }
  const found = S.kind === "intro" ? tl.intro : (tl.segments || []).find((s) => s.type === S.kind);
  if (!found) { noIntro(); return; }
  S.pending = { start: ms(found.start), end: ms(found.end) };
  schedule(0);
}

// --- controls ----------------------------------------------------------------------------------

const frame = () => 1 / fps();
const ACTIONS = {
  "play": togglePlay,
  "prev-episode": () => step(-1), "next-episode": () => step(1),
  "set-start": () => edit("start", now()), "set-end": () => edit("end", now()),
  "start-minus-frame": () => nudge("start", -frame()), "start-plus-frame": () => nudge("start", frame()),
  "start-minus-second": () => nudge("start", -1), "start-plus-second": () => nudge("start", 1),
  "end-minus-frame": () => nudge("end", -frame()), "end-plus-frame": () => nudge("end", frame()),
  "end-minus-second": () => nudge("end", -1), "end-plus-second": () => nudge("end", 1),
  "accept": accept, "no-intro": noIntro, "save": () => { clearTimeout(S.saveTimer); schedule(0); },
  "next-kind": () => setKind(KINDS[(KINDS.indexOf(S.kind) + 1) % KINDS.length]),
  "back": () => seek(now() - 1), "forward": () => seek(now() + 1),
  "back-frame": () => seek(now() - frame()), "forward-frame": () => seek(now() + frame()),
};
// key (lower case; "shift+" when Shift matters) -> action
const KEYS = {
  " ": "play", "j": "prev-episode", "k": "next-episode",
  "i": "set-start", "[": "set-start", "o": "set-end", "]": "set-end",
  "z": "start-minus-frame", "x": "start-plus-frame", "shift+z": "start-minus-second", "shift+x": "start-plus-second",
  "c": "end-minus-frame", "v": "end-plus-frame", "shift+c": "end-minus-second", "shift+v": "end-plus-second",
  "a": "accept", "n": "no-intro", "s": "save", "t": "next-kind",
  "arrowleft": "back", "arrowright": "forward", "shift+arrowleft": "back-frame", "shift+arrowright": "forward-frame",
};

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || !S.ep) return;
  const key = e.key.toLowerCase();
  const action = KEYS[(e.shiftKey ? "shift+" : "") + key] || KEYS[key];
  if (!action) return;
  e.preventDefault(); e.stopPropagation(); // the <video>'s own keys would act twice
  ACTIONS[action]();
}, true);

$("kind").addEventListener("change", () => { setKind($("kind").value); $("kind").blur(); });

for (const button of document.querySelectorAll("button[data-action]")) {
  button.addEventListener("click", () => { ACTIONS[button.dataset.action](); button.blur(); });
}

const timeline = new Timeline($("timeline"), {
  onSeek: (t) => seek(t),
  onEdge: (which, t, final) => {
    S.pending[which] = ms(t);
    if (final) { renderFacts(); schedule(0); }
  },
});

window.review = { now, seek, openEpisode, state: S }; // for the browser tests

(async () => {
  try { await loadList(); } catch (e) { status(e.message, "bad"); return; }
  const wanted = decodeURIComponent(location.hash.slice(1));
  openEpisode(S.rows.has(wanted) ? wanted : S.order[0]);
  requestAnimationFrame(tick);
})();
