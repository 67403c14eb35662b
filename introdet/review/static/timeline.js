// The timeline: per-second intro probability, season recurrences, the predicted intro and
// credits, the label (saved, and the unsaved one being edited) and the playhead, on a canvas.
// Click or drag to seek; drag a label edge to move it. Plain canvas 2D, no library.
"use strict";

const RECURRING_COLORS = {
  intro: "#5fb3f9", credits: "#ba82ff", logo: "#d9a441", recap: "#f2d24b", other: "#8d95a3",
  preview: "#6fd08c", commercial: "#f07f6f",
};
const LANES = { probTop: 8, probBottom: 92, recurring: 100, label: 122, ticks: 150 };
const EDGE_PX = 7; // how close to a label edge a press grabs it

class Timeline {
  constructor(canvas, { onSeek, onEdge }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onSeek = onSeek; // (seconds, final)
    this.onEdge = onEdge; // ("start" | "end", seconds, final)
    this.data = null;
    this.drag = null;
    canvas.addEventListener("pointerdown", (e) => this.press(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.release(e));
    canvas.addEventListener("pointercancel", (e) => this.release(e));
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  // data: {duration, probabilities, fps, intro, credits, segments, recurring}; view: what draw() shows
  set(data) { this.data = data; this.resize(); }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const { width, height } = this.canvas.getBoundingClientRect();
    this.canvas.width = Math.max(1, Math.round(width * ratio));
    this.canvas.height = Math.max(1, Math.round(height * ratio));
    this.ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    this.width = width; this.height = height;
    if (this.view) this.draw(this.view);
  }

  x(t) { return (t / (this.data.duration || 1)) * this.width; }
  t(x) { return Math.min(Math.max(x / this.width, 0), 1) * (this.data.duration || 0); }

  draw(view) { // view: {time, label: {start, end}|null, pending: {start, end}|null}
    this.view = view;
    const { ctx, data } = this;
    ctx.clearRect(0, 0, this.width, this.height);
    if (!data) return;
    this.shade(data.intro && [data.intro.start, data.intro.end], "rgba(95,179,249,0.22)", "#5fb3f9");
    this.shade(data.credits, "rgba(186,130,255,0.22)", "#ba82ff");
    for (const s of data.segments || []) { // the other types, each in its own colour
      const color = RECURRING_COLORS[s.type];
      if (s.type !== "intro" && s.type !== "credits" && color) this.shade([s.start, s.end], `${color}38`, color);
    }
    this.curve(data.probabilities, data.fps || 1);
    this.recurring(data.recurring || []);
    this.label(view.label, view.pending);
    this.ticks();
    this.playhead(view.time);
  }

  shade(span, fill, edge) {
    if (!span) return;
    const [a, b] = [this.x(span[0]), this.x(span[1])];
    this.ctx.fillStyle = fill;
    this.ctx.fillRect(a, LANES.probTop, b - a, LANES.label + 18 - LANES.probTop);
    this.ctx.strokeStyle = edge;
    this.ctx.lineWidth = 1;
    this.ctx.strokeRect(a + 0.5, LANES.probTop + 0.5, Math.max(b - a - 1, 1), LANES.probBottom - LANES.probTop);
  }

  curve(probs, fps) {
    const { ctx } = this;
    const h = LANES.probBottom - LANES.probTop;
    ctx.strokeStyle = "#2c313b";
    ctx.beginPath(); // the 0.5 line: a second above it is intro to the model
    ctx.moveTo(0, LANES.probBottom - h / 2); ctx.lineTo(this.width, LANES.probBottom - h / 2);
    ctx.stroke();
    if (!probs.length) {
      ctx.fillStyle = "#8d95a3";
      ctx.fillText("no prediction record", 8, LANES.probTop + 16);
      return;
    }
    ctx.beginPath();
    ctx.moveTo(0, LANES.probBottom);
    probs.forEach((p, k) => { // row k covers [k / fps, (k + 1) / fps)
      const y = LANES.probBottom - p * h;
      ctx.lineTo(this.x(k / fps), y); ctx.lineTo(this.x((k + 1) / fps), y);
    });
    ctx.lineTo(this.x(probs.length / fps), LANES.probBottom);
    ctx.closePath();
    ctx.fillStyle = "rgba(95,179,249,0.35)"; ctx.fill();
    ctx.strokeStyle = "#5fb3f9"; ctx.lineWidth = 1.2; ctx.stroke();
  }

  recurring(stretches) {
    const { ctx } = this;
    ctx.font = "10px system-ui, sans-serif";
    for (const [a, b, kind, count] of stretches) {
      ctx.fillStyle = RECURRING_COLORS[kind] || RECURRING_COLORS.other;
      ctx.fillRect(this.x(a), LANES.recurring, Math.max(this.x(b) - this.x(a), 2), 12);
      ctx.fillStyle = "#15171c";
      ctx.fillText(`${kind} ×${count}`, this.x(a) + 3, LANES.recurring + 10);
    }
  }

  label(saved, pending) {
    const { ctx } = this;
    const top = LANES.label, h = 18;
    if (saved && saved.start !== null) {
      ctx.fillStyle = "#4fd18b";
      ctx.fillRect(this.x(saved.start), top, this.x(saved.end) - this.x(saved.start), h);
    } else if (saved) {
      ctx.fillStyle = "#4fd18b"; ctx.font = "11px system-ui, sans-serif";
      ctx.fillText("label: no intro", 6, top + 13);
    }
    if (!pending) return;
    const [a, b] = [pending.start, pending.end];
    const unsaved = !saved || saved.start !== a || saved.end !== b;
    if (unsaved && a !== null && b !== null) {
      ctx.strokeStyle = "#f2b84b"; ctx.lineWidth = 2; ctx.setLineDash([5, 3]);
      ctx.strokeRect(this.x(a), top + 1, this.x(b) - this.x(a), h - 2);
      ctx.setLineDash([]);
    }
    ctx.fillStyle = unsaved ? "#f2b84b" : "#e3e6eb";
    for (const t of [a, b]) { // edge handles: what a drag grabs
      if (t !== null) ctx.fillRect(this.x(t) - 2, top - 4, 4, h + 8);
    }
  }

  ticks() {
    const { ctx } = this;
    const d = this.data.duration || 0;
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => d / s <= 16) || 600;
    ctx.fillStyle = "#8d95a3"; ctx.strokeStyle = "#3a404d"; ctx.font = "10px system-ui, sans-serif";
    for (let t = 0; t <= d; t += step) {
      const x = this.x(t);
      ctx.beginPath(); ctx.moveTo(x + 0.5, LANES.ticks - 6); ctx.lineTo(x + 0.5, LANES.ticks); ctx.stroke();
      ctx.fillText(clock(t, false), Math.min(x + 2, this.width - 30), LANES.ticks + 11);
    }
  }

  playhead(t) {
    const x = Math.round(this.x(t)) + 0.5;
    this.ctx.strokeStyle = "#ff5c5c"; this.ctx.lineWidth = 2;
    this.ctx.beginPath(); this.ctx.moveTo(x, 0); this.ctx.lineTo(x, this.height); this.ctx.stroke();
  }

  edgeAt(x) { // the pending label's edge under x, if any
    const p = this.view && this.view.pending;
    if (!p) return null;
    const near = ["start", "end"]
      .filter((k) => p[k] !== null && Math.abs(this.x(p[k]) - x) <= EDGE_PX)
      .sort((a, b) => Math.abs(this.x(p[a]) - x) - Math.abs(this.x(p[b]) - x));
    return near[0] || null;
  }

  press(e) {
    if (!this.data) return;
    const x = e.offsetX;
    this.drag = this.edgeAt(x) || "seek";
    this.canvas.setPointerCapture(e.pointerId);
    this.emit(x, false);
  }

  move(e) {
    if (!this.data) return;
    if (!this.drag) {
      this.canvas.style.cursor = this.edgeAt(e.offsetX) ? "ew-resize" : "crosshair";
      return;
    }
    this.emit(e.offsetX, false);
  }

  release(e) {
    if (!this.drag) return;
    this.emit(e.offsetX, true);
    this.drag = null;
  }

  emit(x, final) {
    const t = this.t(x);
    if (this.drag === "seek") this.onSeek(t, final);
    else this.onEdge(this.drag, t, final);
  }
}

// 83.5 -> "1:23.500" (ms: false -> "1:23"); an hour or more -> "1:02:03.000"
function clock(t, ms = true) {
  if (t === null || t === undefined || Number.isNaN(t)) return "—";
  const total = Math.round(t * 1000);
  const s = Math.floor(total / 1000), m = Math.floor(s / 60), h = Math.floor(m / 60);
  const pad = (n) => String(n).padStart(2, "0");
  const base = h ? `${h}:${pad(m % 60)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  return ms ? `${base}.${String(total % 1000).padStart(3, "0")}` : base;
}
