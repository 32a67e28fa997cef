// faultline report: draws the timeline, charts and the checkers' evidence from the JSON block
// embedded in the page. History values are only ever put into the page as text (textContent,
// canvas fillText), never parsed as HTML. Only what is visible is drawn, so 100,000 ops stay
// smooth.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("report-data").textContent);
  const C = data.calls;
  const count = C.t0.length;
  const END = Math.max(1, data.end);
  const KIND_NAMES = ["ok", "fail", "info", "never completed"];
  const css = getComputedStyle(document.documentElement);
  const KIND_COLORS = ["--ok", "--fail", "--info", "--open"].map((v) => css.getPropertyValue(v).trim());
  const LANE_H = 18, AXIS_H = 26, GUTTER = 76, BAR_H = 12;

  // ---------- small helpers ----------

  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) {
      for (const key of Object.keys(props)) {
        if (key === "text") node.textContent = props[key];
        else if (key === "className") node.className = props[key];
        else if (key === "style") Object.assign(node.style, props[key]);
        else if (key.startsWith("on")) node.addEventListener(key.slice(2), props[key]);
        else node.setAttribute(key, props[key]);
      }
    }
    for (const child of children || []) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    return node;
  }

  function show(value, limit) {
    let text = value === undefined ? "" : JSON.stringify(value);
    if (text === undefined) text = String(value);
    if (limit && text.length > limit) text = text.slice(0, limit - 1) + "…";
    return text;
  }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function fmtTime(us) {
    const s = us / 1e6;
    if (Math.abs(s) >= 10) return s.toFixed(1) + " s";
    if (Math.abs(s) >= 1) return s.toFixed(3) + " s";
    return (us / 1000).toFixed(3) + " ms";
  }

  function fmtTick(us, step) {
    const unit = step >= 1e6 ? [1e6, " s"] : step >= 1e3 ? [1e3, " ms"] : [1, " µs"];
    const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step / unit[0]) + 1e-9)));
    return (us / unit[0]).toFixed(decimals) + unit[1];
  }

  function endOf(i) { return C.t1[i] >= 0 ? C.t1[i] : END; }

  function setupCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { ctx: ctx, width: width, height: height };
  }

  function withAlpha(hex, alpha) {
    let h = hex.replace("#", "");
    if (h.length === 3) h = h.split("").map((c) => c + c).join("");
    const n = parseInt(h, 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function niceStep(span, target) {
    const raw = span / Math.max(1, target);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }

  // ---------- lanes: each one's calls sorted by start, with a running max of their ends ----------
  // A lane's calls normally do not overlap, but a malformed history may; the running max keeps
  // the binary search for the first visible call correct either way.

  const laneCount = data.lanes.length;
  const lanes = [];
  (function buildLanes() {
    const sizes = new Int32Array(laneCount);
    for (let i = 0; i < count; i++) sizes[C.lane[i]]++;
    for (let l = 0; l < laneCount; l++) lanes.push({ ids: new Int32Array(sizes[l]), maxEnd: new Float64Array(sizes[l]) });
    const fill = new Int32Array(laneCount);
    for (let i = 0; i < count; i++) { const l = C.lane[i]; lanes[l].ids[fill[l]++] = i; }
    for (const lane of lanes) {
      const ids = Array.from(lane.ids).sort((a, b) => C.t0[a] - C.t0[b] || a - b);
      lane.ids.set(ids);
      let max = -Infinity;
      for (let j = 0; j < ids.length; j++) { max = Math.max(max, endOf(ids[j])); lane.maxEnd[j] = max; }
    }
  })();

  function firstVisible(lane, t) {
    let lo = 0, hi = lane.ids.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (lane.maxEnd[mid] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  // Each call's colour as an index into one palette (ok, never completed, info, fail, then the
  // faults' colours), worked out once: drawing then batches by index, and a zoomed-out column's
  // stack of outcomes is always in the same order, so columns compare at a glance.
  const palette = [KIND_COLORS[0], KIND_COLORS[3], KIND_COLORS[2], KIND_COLORS[1]];
  const RANK_OF_KIND = [0, 3, 2, 1];
  const colorOf = new Uint8Array(count);
  const endAt = new Float64Array(count);
  (function precompute() {
    const faultIndex = new Map();
    for (let i = 0; i < count; i++) {
      endAt[i] = C.t1[i] >= 0 ? C.t1[i] : END;
      colorOf[i] = RANK_OF_KIND[C.k[i]];
      if (data.lanes[C.lane[i]] !== "nemesis") continue;
      const color = data.faultColors[data.fs[C.f[i]]];
      if (!color) continue;
      if (!faultIndex.has(color) && palette.length < 255) { faultIndex.set(color, palette.length); palette.push(color); }
      if (faultIndex.has(color)) colorOf[i] = faultIndex.get(color);
    }
  })();

  // ---------- timeline ----------

  const canvas = document.getElementById("timeline");
  const details = document.getElementById("details");
  const pad = END * 0.01;
  const view = { t0: -pad, t1: END + pad, y: 0 };
  let selected = -1;
  let drawn = 0;
  let frameWanted = false;
  let chartsTimer = null;

  function xOf(t, width) { return GUTTER + ((t - view.t0) / (view.t1 - view.t0)) * (width - GUTTER); }
  function tOf(x, width) { return view.t0 + ((x - GUTTER) / (width - GUTTER)) * (view.t1 - view.t0); }
  function maxScrollY(height) { return Math.max(0, laneCount * LANE_H - (height - AXIS_H)); }

  function drawTimeline() {
    frameWanted = false;
    const { ctx, width, height } = setupCanvas(canvas);
    view.y = Math.min(Math.max(0, view.y), maxScrollY(height));
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";

    const firstLane = Math.floor(view.y / LANE_H);
    const lastLane = Math.min(laneCount - 1, Math.floor((view.y + height - AXIS_H) / LANE_H));
    const laneTop = (l) => AXIS_H + l * LANE_H - view.y;

    // Lane stripes, so a long row of bars can be followed by eye.
    for (let l = firstLane; l <= lastLane; l++) {
      if (l % 2 === 1) { ctx.fillStyle = "#f4f4f4"; ctx.fillRect(GUTTER, laneTop(l), width - GUTTER, LANE_H); }
    }
    // Faults shade every lane for as long as they are in force.
    for (const fault of data.faults) {
      if (fault.t1 < view.t0 || fault.t0 > view.t1) continue;
      const x0 = Math.max(GUTTER, xOf(fault.t0, width)), x1 = Math.min(width, xOf(fault.t1, width));
      ctx.fillStyle = withAlpha(fault.color, 0.18);
      ctx.fillRect(x0, AXIS_H, Math.max(1, x1 - x0), height - AXIS_H);
      ctx.fillStyle = withAlpha(fault.color, 0.9);
      ctx.fillRect(x0, AXIS_H - 4, Math.max(1, x1 - x0), 4);
    }

    // Bars, batched by colour. Zoomed out, thousands of calls share a pixel column: calls
    // narrower than a pixel are counted per column and the column is drawn as a stack of its
    // outcomes in proportion (so a few failures among many oks show as a sliver, not a wall);
    // touching pieces of one colour merge into one rectangle before anything is drawn.
    drawn = 0;
    const batches = palette.map(() => []);
    const labels = [];
    const scale = (width - GUTTER) / (view.t1 - view.t0);
    const tally = new Float64Array(palette.length);
    for (let l = firstLane; l <= lastLane; l++) {
      const lane = lanes[l];
      const y = laneTop(l) + (LANE_H - BAR_H) / 2;
      let runColor = -1, runX0 = 0, runX1 = 0;
      let column = -1, columnCalls = 0;
      const endRun = () => { if (runColor >= 0) batches[runColor].push(runX0, y, runX1 - runX0, BAR_H); runColor = -1; };
      const piece = (color, x0, x1) => {
        if (color === runColor && x0 <= runX1 + 0.5) { if (x1 > runX1) runX1 = x1; return; }
        endRun();
        runColor = color; runX0 = x0; runX1 = x1;
      };
      const endColumn = () => {
        let only = -1;
        for (let c = 0; c < tally.length; c++) if (tally[c] > 0) only = only === -1 && tally[c] === columnCalls ? c : -2;
        if (only >= 0) piece(only, column, column + 1);
        else {
          endRun();
          let top = y + BAR_H;
          for (let c = 0; c < tally.length; c++) {
            if (tally[c] === 0) continue;
            const h = Math.max(1, (tally[c] / columnCalls) * BAR_H);
            top -= h;
            batches[c].push(column, Math.max(y, top), 1, h);
          }
        }
        tally.fill(0); column = -1; columnCalls = 0;
      };
      for (let j = firstVisible(lane, view.t0); j < lane.ids.length; j++) {
        const i = lane.ids[j];
        if (C.t0[i] > view.t1) break;
        if (endAt[i] < view.t0) continue;
        drawn++;
        const x0 = Math.max(GUTTER, GUTTER + (C.t0[i] - view.t0) * scale);
        const x1 = Math.min(width, GUTTER + (endAt[i] - view.t0) * scale);
        if (x1 - x0 < 1) {
          const c = Math.floor(x0);
          if (c !== column && column >= 0) endColumn();
          column = c; tally[colorOf[i]]++; columnCalls++;
          continue;
        }
        if (column >= 0) endColumn();
        piece(colorOf[i], x0, x1);
        if (x1 - x0 > 48 && labels.length < 3000) labels.push(i, x0, y, x1 - x0);
      }
      if (column >= 0) endColumn();
      endRun();
    }
    let rects = 0;
    batches.forEach((batch, color) => {
      ctx.fillStyle = palette[color];
      for (let b = 0; b < batch.length; b += 4) ctx.fillRect(batch[b], batch[b + 1], batch[b + 2], batch[b + 3]);
      rects += batch.length / 4;
    });
    window.faultlineReport.rects = rects;
    ctx.fillStyle = "#fff";
    for (let b = 0; b < labels.length; b += 4) {
      const i = labels[b], x0 = labels[b + 1], y = labels[b + 2], w = labels[b + 3];
      ctx.save();
      ctx.beginPath(); ctx.rect(x0, y, w, BAR_H); ctx.clip();
      ctx.fillStyle = C.k[i] === 2 ? "#222" : "#fff";
      ctx.fillText(data.fs[C.f[i]] + " " + show(C.t1[i] >= 0 && C.k[i] === 0 ? C.cv[i] : C.iv[i], 80), x0 + 3, y + BAR_H / 2 + 0.5);
      ctx.restore();
    }
    if (selected >= 0) {
      const l = C.lane[selected];
      if (l >= firstLane && l <= lastLane) {
        const x0 = Math.max(GUTTER, xOf(C.t0[selected], width)), x1 = Math.min(width, xOf(endOf(selected), width));
        ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
        ctx.strokeRect(x0 - 1, laneTop(l) + 1, Math.max(1, x1 - x0) + 2, LANE_H - 2);
      }
    }

    // Gutter with lane names, and the time axis, drawn last so bars slide under them.
    ctx.fillStyle = "#fff"; ctx.fillRect(0, AXIS_H, GUTTER, height - AXIS_H);
    ctx.fillStyle = "#333";
    for (let l = firstLane; l <= lastLane; l++) {
      const name = data.lanes[l];
      ctx.fillText(name, 4, laneTop(l) + LANE_H / 2, GUTTER - 8);
    }
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, width, AXIS_H - 4);
    ctx.strokeStyle = "#ccc"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(GUTTER, AXIS_H - 0.5); ctx.lineTo(width, AXIS_H - 0.5); ctx.stroke();
    drawAxis(ctx, width, 0, AXIS_H - 4, view.t0, view.t1);
    document.getElementById("view-range").textContent =
      fmtTime(Math.max(0, view.t0)) + " – " + fmtTime(Math.min(END, view.t1)) + " · " + drawn + " ops drawn";
    window.faultlineReport.drawn = drawn;
    window.faultlineReport.frames++;
  }

  function drawAxis(ctx, width, top, height, t0, t1) {
    const step = niceStep(t1 - t0, (width - GUTTER) / 110);
    ctx.fillStyle = "#555"; ctx.strokeStyle = "#bbb";
    ctx.textBaseline = "middle";
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const x = GUTTER + ((t - t0) / (t1 - t0)) * (width - GUTTER);
      ctx.beginPath(); ctx.moveTo(x + 0.5, top + height - 5); ctx.lineTo(x + 0.5, top + height); ctx.stroke();
      ctx.fillText(fmtTick(t, step), x + 3, top + height / 2 - 2);
    }
  }

  function requestDraw() {
    if (!frameWanted) { frameWanted = true; requestAnimationFrame(drawTimeline); }
    // Charts cost a pass over every call; redraw them once the zoom settles.
    clearTimeout(chartsTimer);
    chartsTimer = setTimeout(drawCharts, 150);
  }

  function zoomAt(factor, x) {
    const width = canvas.clientWidth;
    const t = tOf(x, width);
    const minSpan = 10; // microseconds: past this there is nothing more to see
    let span = Math.max(minSpan, (view.t1 - view.t0) * factor);
    span = Math.min(span, (END + 2 * pad) * 4);
    const frac = (x - GUTTER) / (width - GUTTER);
    view.t0 = t - frac * span; view.t1 = view.t0 + span;
    requestDraw();
  }

  function zoomTo(t0, t1) {
    const margin = Math.max(10, (t1 - t0) * 0.15);
    view.t0 = t0 - margin; view.t1 = t1 + margin;
    requestDraw();
  }

  function hit(x, y) {
    const width = canvas.clientWidth;
    if (x < GUTTER || y < AXIS_H) return -1;
    const l = Math.floor((y - AXIS_H + view.y) / LANE_H);
    if (l < 0 || l >= laneCount) return -1;
    const slack = 3 * (view.t1 - view.t0) / (width - GUTTER);
    const t = tOf(x, width);
    const lane = lanes[l];
    let best = -1, bestDistance = Infinity;
    for (let j = firstVisible(lane, t - slack); j < lane.ids.length; j++) {
      const i = lane.ids[j];
      if (C.t0[i] > t + slack) break;
      const distance = t < C.t0[i] ? C.t0[i] - t : t > endOf(i) ? t - endOf(i) : 0;
      if (distance <= slack && distance < bestDistance) { best = i; bestDistance = distance; }
    }
    return best;
  }

  function select(i) {
    selected = i;
    details.textContent = "";
    if (i < 0) { details.appendChild(el("p", { className: "hint", text: "No operation there." })); requestDraw(); return; }
    const rows = [
      ["operation", data.fs[C.f[i]]],
      ["outcome", KIND_NAMES[C.k[i]]],
      ["process", show(C.p[i]) + "  (lane: " + data.lanes[C.lane[i]] + ")"],
      ["node", C.n[i] >= 0 ? data.nodes[C.n[i]] : "—"],
      ["invoked at", fmtTime(C.t0[i]) + "  (history index " + C.i0[i] + ")"],
      ["completed at", C.t1[i] >= 0 ? fmtTime(C.t1[i]) + "  (history index " + C.i1[i] + ")" : "never"],
      ["latency", C.t1[i] >= 0 ? fmtTime(C.t1[i] - C.t0[i]) : "—"],
    ];
    const table = el("table", null, rows.map((r) => el("tr", null, [el("td", { text: r[0] }), el("td", { text: String(r[1]) })])));
    details.appendChild(table);
    details.appendChild(el("div", { className: "hint", text: "invoke value" }));
    details.appendChild(el("pre", { className: "op-value", text: show(C.iv[i]) }));
    if (C.t1[i] >= 0) {
      details.appendChild(el("div", { className: "hint", text: "completion value" }));
      details.appendChild(el("pre", { className: "op-value", text: show(C.cv[i]) }));
    }
    if (C.e[i] !== null) {
      details.appendChild(el("div", { className: "hint", text: "error" }));
      details.appendChild(el("pre", { text: show(C.e[i]) }));
    }
    requestDraw();
  }

  function reveal(i) {
    const height = canvas.clientHeight;
    const top = C.lane[i] * LANE_H;
    if (top < view.y || top + LANE_H > view.y + height - AXIS_H) view.y = top - (height - AXIS_H) / 2;
    zoomTo(C.t0[i], endOf(i));
    select(i);
    canvas.scrollIntoView({ block: "center" });
  }

  (function bindTimeline() {
    let drag = null;
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const rect = canvas.getBoundingClientRect();
      if (e.shiftKey) { view.y += e.deltaY; requestDraw(); return; }
      zoomAt(Math.pow(1.0015, e.deltaY), e.clientX - rect.left);
    }, { passive: false });
    canvas.addEventListener("pointerdown", (e) => {
      canvas.setPointerCapture(e.pointerId);
      drag = { x: e.clientX, y: e.clientY, t0: view.t0, t1: view.t1, vy: view.y, moved: false };
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; canvas.classList.add("dragging"); }
      if (!drag.moved) return;
      const dt = (dx / (canvas.clientWidth - GUTTER)) * (drag.t1 - drag.t0);
      view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt; view.y = drag.vy - dy;
      requestDraw();
    });
    canvas.addEventListener("pointerup", (e) => {
      if (drag && !drag.moved) {
        const rect = canvas.getBoundingClientRect();
        select(hit(e.clientX - rect.left, e.clientY - rect.top));
      }
      drag = null; canvas.classList.remove("dragging");
    });
    canvas.addEventListener("keydown", (e) => {
      const width = canvas.clientWidth, span = view.t1 - view.t0;
      if (e.key === "+" || e.key === "=") zoomAt(0.5, (width + GUTTER) / 2);
      else if (e.key === "-") zoomAt(2, (width + GUTTER) / 2);
      else if (e.key === "ArrowLeft") { view.t0 -= span / 10; view.t1 -= span / 10; requestDraw(); }
      else if (e.key === "ArrowRight") { view.t0 += span / 10; view.t1 += span / 10; requestDraw(); }
      else return;
      e.preventDefault();
    });
    document.getElementById("zoom-in").addEventListener("click", () => zoomAt(0.5, (canvas.clientWidth + GUTTER) / 2));
    document.getElementById("zoom-out").addEventListener("click", () => zoomAt(2, (canvas.clientWidth + GUTTER) / 2));
    document.getElementById("zoom-reset").addEventListener("click", () => { view.t0 = -pad; view.t1 = END + pad; view.y = 0; requestDraw(); });
    window.addEventListener("resize", requestDraw);
    const legend = document.getElementById("fault-legend");
    const seen = new Set();
    for (const fault of data.faults) {
      if (seen.has(fault.name)) continue;
      seen.add(fault.name);
      legend.appendChild(el("i", { style: { background: withAlpha(fault.color, 0.5) } }));
      legend.appendChild(document.createTextNode(fault.name));
    }
  })();

  // ---------- latency and throughput, over the timeline's visible range ----------

  function chartFrame(canvasId) {
    const c = document.getElementById(canvasId);
    const frame = setupCanvas(c);
    const { ctx, width, height } = frame;
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    const t0 = Math.max(view.t0, -pad), t1 = Math.min(view.t1, END + pad);
    frame.t0 = t0; frame.t1 = t1; frame.top = 8; frame.bottom = height - 22;
    frame.x = (t) => GUTTER + ((t - t0) / (t1 - t0)) * (width - GUTTER - 8);
    for (const fault of data.faults) {
      if (fault.t1 < t0 || fault.t0 > t1) continue;
      const x0 = Math.max(GUTTER, frame.x(fault.t0)), x1 = Math.min(width - 8, frame.x(fault.t1));
      ctx.fillStyle = withAlpha(fault.color, 0.18);
      ctx.fillRect(x0, frame.top, Math.max(1, x1 - x0), frame.bottom - frame.top);
    }
    ctx.strokeStyle = "#999";
    ctx.beginPath(); ctx.moveTo(GUTTER, frame.top); ctx.lineTo(GUTTER, frame.bottom); ctx.lineTo(width - 8, frame.bottom); ctx.stroke();
    const step = niceStep(t1 - t0, (width - GUTTER) / 110);
    ctx.fillStyle = "#555"; ctx.textBaseline = "top";
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ctx.fillText(fmtTick(t, step), frame.x(t) + 2, frame.bottom + 4);
    return frame;
  }

  function drawLatency() {
    const f = chartFrame("latency");
    const { ctx } = f;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < count; i++) {
      if (C.t1[i] < 0 || data.lanes[C.lane[i]] === "nemesis") continue;
      const ms = Math.max(0.001, (C.t1[i] - C.t0[i]) / 1000);
      lo = Math.min(lo, ms); hi = Math.max(hi, ms);
    }
    if (!isFinite(lo)) { ctx.fillText("no completed client operations", GUTTER + 10, f.top + 10); return; }
    // A little headroom either side, so points on a power of ten stay off the axes.
    const l0 = Math.floor(Math.log10(lo) - 0.05), l1 = Math.max(l0 + 1, Math.ceil(Math.log10(hi) + 0.05));
    const y = (ms) => f.bottom - ((Math.log10(Math.max(0.001, ms)) - l0) / (l1 - l0)) * (f.bottom - f.top);
    ctx.textBaseline = "middle"; ctx.fillStyle = "#555"; ctx.strokeStyle = "#eee";
    for (let p = l0; p <= l1; p++) {
      ctx.fillText(Math.pow(10, p) + " ms", 4, y(Math.pow(10, p)));
      ctx.beginPath(); ctx.moveTo(GUTTER, y(Math.pow(10, p)) + 0.5); ctx.lineTo(f.width - 8, y(Math.pow(10, p)) + 0.5); ctx.stroke();
    }
    const dot = count < 5000 ? 4 : 2;  // few points can be bigger; many would blur together
    for (const kind of [0, 2, 1]) {
      ctx.fillStyle = withAlpha(KIND_COLORS[kind], 0.6);
      for (let i = 0; i < count; i++) {
        if (C.k[i] !== kind || C.t1[i] < 0 || C.t0[i] < f.t0 || C.t0[i] > f.t1) continue;
        if (data.lanes[C.lane[i]] === "nemesis") continue;
        ctx.fillRect(f.x(C.t0[i]) - dot / 2, y((C.t1[i] - C.t0[i]) / 1000) - dot / 2, dot, dot);
      }
    }
  }

  function drawThroughput() {
    const f = chartFrame("throughput");
    const { ctx } = f;
    // Buckets of at least 10 ms: finer ones count single completions and show only noise.
    const buckets = Math.max(2, Math.min(Math.floor((f.width - GUTTER) / 6), Math.floor((f.t1 - f.t0) / 10000)));
    const span = (f.t1 - f.t0) / buckets;
    const counts = [new Float64Array(buckets), new Float64Array(buckets), new Float64Array(buckets)];
    for (let i = 0; i < count; i++) {
      if (C.t1[i] < 0 || C.t1[i] < f.t0 || C.t1[i] >= f.t1 || data.lanes[C.lane[i]] === "nemesis") continue;
      counts[C.k[i] === 3 ? 2 : C.k[i]][Math.floor((C.t1[i] - f.t0) / span)]++;
    }
    let max = 1;
    const perSecond = 1e6 / span;
    for (const series of counts) for (let b = 0; b < buckets; b++) { series[b] *= perSecond; max = Math.max(max, series[b]); }
    const step = niceStep(max, 4);
    const top = Math.ceil(max / step) * step;
    const y = (v) => f.bottom - (v / top) * (f.bottom - f.top);
    ctx.textBaseline = "middle"; ctx.fillStyle = "#555"; ctx.strokeStyle = "#eee";
    for (let v = 0; v <= top; v += step) {
      ctx.fillText(String(Math.round(v)), 4, y(v));
      ctx.beginPath(); ctx.moveTo(GUTTER, y(v) + 0.5); ctx.lineTo(f.width - 8, y(v) + 0.5); ctx.stroke();
    }
    counts.forEach((series, kind) => {
      ctx.strokeStyle = KIND_COLORS[kind]; ctx.lineWidth = 1.5; ctx.beginPath();
      for (let b = 0; b < buckets; b++) {
        const x = f.x(f.t0 + (b + 0.5) * span);
        if (b === 0) ctx.moveTo(x, y(series[b])); else ctx.lineTo(x, y(series[b]));
      }
      ctx.stroke();
    });
    ctx.lineWidth = 1;
  }

  function drawCharts() {
    drawLatency();
    drawThroughput();
    window.faultlineReport.charts++;
  }

  // ---------- evidence, drawn by kind (whatever checker declared it) ----------

  function describeOp(op) {
    return op.f + " " + show(op.iv, 60) + (op.type !== "invoke" ? " → " + op.type + " " + show(op.cv, 60) : " (never completed)");
  }

  // One op a checker points at; when it is a call of this history, a click finds it in the timeline.
  function opLink(op) {
    const text = op.text !== undefined ? op.text : "op " + op.index + ", process " + show(op.process) + ": " + describeOp(op);
    const node = el("span", { className: op.call >= 0 ? "op jump" : "op", text: text });
    if (op.call >= 0) node.addEventListener("click", () => reveal(op.call));
    return node;
  }

  function moreNote(box, shown, count, what) {
    if (count > shown) box.appendChild(el("p", { className: "hint", text: (count - shown) + " more " + what + " in results.json (" + count + " in all)." }));
  }

  function drawElements(item, box) {
    box.appendChild(el("p", { className: "elements", text: item.elements.join(", ") + (item.count > item.elements.length ? ", …" : "") }));
    box.appendChild(el("p", { className: "hint", text: plural(item.count, "element") + " in all." }));
  }

  function drawOps(item, box) {
    const rows = item.ops.map((op) => {
      const tr = el("tr", { className: op.call >= 0 ? "jump" : "" }, [
        el("td", { text: op.index !== undefined ? String(op.index) : "" }),
        el("td", { text: op.text !== undefined ? op.text : "process " + show(op.process) + ": " + describeOp(op) }),
        el("td", { text: op.note || "" }),
      ]);
      if (op.call >= 0) tr.addEventListener("click", () => reveal(op.call));
      return tr;
    });
    box.appendChild(el("table", { className: "ops" }, [
      el("tr", null, [el("th", { text: "op" }), el("th", { text: "operation" }), el("th", { text: "note" })]),
    ].concat(rows)));
    moreNote(box, item.ops.length, item.count, "ops");
  }

  function drawTable(item, box) {
    const rows = item.rows.map((row) => el("tr", null, row.map((cell) => {
      const td = el("td", { className: cell.call >= 0 ? "jump" : "", text: cell.text });
      if (cell.call >= 0) { td.title = "find op " + cell.text + " in the timeline"; td.addEventListener("click", () => reveal(cell.call)); }
      return td;
    })));
    box.appendChild(el("table", { className: "facts-table" }, [
      el("tr", null, item.columns.map((c) => el("th", { text: c }))),
    ].concat(rows)));
    moreNote(box, item.rows.length, item.count, "rows");
  }

  // The cycle as a small graph: transactions on a circle, one labelled arrow per edge.
  function cycleSvg(steps) {
    const NS = "http://www.w3.org/2000/svg", n = steps.length, r = 70 + 12 * n, size = 2 * r + 120;
    const mk = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const k in attrs) node.setAttribute(k, attrs[k]);
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const svg = mk("svg", { width: size, height: size, viewBox: "0 0 " + size + " " + size, class: "cycle-graph" });
    const defs = mk("defs", {});
    const marker = mk("marker", { id: "cycle-arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto" });
    marker.appendChild(mk("path", { d: "M0,0 L10,5 L0,10 z", fill: "#444" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    const at = (i) => [size / 2 + r * Math.cos(2 * Math.PI * i / n - Math.PI / 2), size / 2 + r * Math.sin(2 * Math.PI * i / n - Math.PI / 2)];
    const colour = { ww: "#1f77b4", wr: "#2ca02c", rw: "#d62728", process: "#9467bd", realtime: "#ff7f0e" };
    steps.forEach((step, i) => {
      const [x1, y1] = at(i), [x2, y2] = at((i + 1) % n), len = Math.hypot(x2 - x1, y2 - y1) || 1;
      const ux = (x2 - x1) / len, uy = (y2 - y1) / len, gap = 24;
      // two txns: the edges there and back would lie on one line, so each bows to its own side
      const bend = n === 2 ? 45 : 0, cx = (x1 + x2) / 2 - uy * bend, cy = (y1 + y2) / 2 + ux * bend;
      const sx = x1 + ux * gap - uy * bend * 0.4, sy = y1 + uy * gap + ux * bend * 0.4;
      const ex = x2 - ux * gap - uy * bend * 0.4, ey = y2 - uy * gap + ux * bend * 0.4;
      svg.appendChild(mk("path", { d: "M" + sx + "," + sy + " Q" + cx + "," + cy + " " + ex + "," + ey, fill: "none",
        stroke: colour[step.edge] || "#444", "stroke-width": 2, "marker-end": "url(#cycle-arrow)" }));
      svg.appendChild(mk("text", { x: cx - uy * 14, y: cy + ux * 14 + 4, "text-anchor": "middle",
        "font-size": 12, fill: colour[step.edge] || "#444" }, step.edge));
    });
    steps.forEach((step, i) => {
      const [x, y] = at(i);
      svg.appendChild(mk("circle", { cx: x, cy: y, r: 20, fill: "#fff", stroke: "#333", "stroke-width": 1.5 }));
      const index = step.from && step.from.index !== undefined ? step.from.index : i;
      svg.appendChild(mk("text", { x: x, y: y + 4, "text-anchor": "middle", "font-size": 12 }, "T" + index));
    });
    return svg;
  }

  function drawCycle(item, box) {
    if (item.steps.length > 1 && item.steps.length <= 12) box.appendChild(cycleSvg(item.steps));
    box.appendChild(el("ol", { className: "cycle" }, item.steps.map((step) => el("li", null, [
      opLink(step.from), " —" + step.edge + "→ ", opLink(step.to), step.why ? ": " + step.why : "",
    ]))));
    moreNote(box, item.steps.length, item.count, "steps");
  }

  // Intervals (holders, leaders) as bars on one time axis: pale where the interval may have
  // been, solid where it certainly was, the overlap as a red band, marked ops outlined in red.
  function intervalsSvg(item) {
    const NS = "http://www.w3.org/2000/svg", ROW = 26, LEFT = 150, W = 900, TOP = 22;
    const mk = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const k in attrs) node.setAttribute(k, attrs[k]);
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const rowOf = (call) => item.bars.findIndex((b) => b.ops.some((op) => op.call >= 0 && op.call === call));
    const loose = item.marks.filter((m) => rowOf(m.op.call) < 0);
    const rows = item.bars.length + (loose.length ? 1 : 0), H = TOP + rows * ROW + 8;
    let t0 = Infinity, t1 = -Infinity;
    for (const b of item.bars) { t0 = Math.min(t0, b.from); t1 = Math.max(t1, b.to); }
    for (const m of item.marks) if (m.op.call >= 0) { t0 = Math.min(t0, m.op.t0); t1 = Math.max(t1, m.op.t1 >= 0 ? m.op.t1 : m.op.t0); }
    const pad = Math.max(1000, (t1 - t0) * 0.04);
    t0 -= pad; t1 += pad;
    const x = (t) => LEFT + ((t - t0) / (t1 - t0)) * (W - LEFT - 10);
    const svg = mk("svg", { width: "100%", viewBox: "0 0 " + W + " " + H, class: "intervals-chart", preserveAspectRatio: "xMinYMin meet" });
    const step = niceStep(t1 - t0, 6);
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      svg.appendChild(mk("line", { x1: x(t), y1: TOP - 4, x2: x(t), y2: H - 4, stroke: "#eee" }));
      svg.appendChild(mk("text", { x: x(t), y: 12, "text-anchor": "middle", "font-size": 10, fill: "#777" }, fmtTick(t, step)));
    }
    if (item.overlap) {
      const [a, b] = item.overlap;
      svg.appendChild(mk("rect", { x: x(a), y: TOP - 4, width: Math.max(2, x(b) - x(a)), height: rows * ROW + 4,
        fill: "rgba(211,47,47,0.18)", stroke: "#d32f2f", "stroke-dasharray": "3,2", class: "overlap", "pointer-events": "none" }));
      svg.appendChild(mk("text", { x: x(a) + 2, y: H - 1, "font-size": 10, fill: "#d32f2f" }, "overlap " + fmtTime(b - a)));
    }
    const palette = ["#3b7dd8", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"], lanes = [];
    item.bars.forEach((b, n) => {
      if (!lanes.includes(b.lane)) lanes.push(b.lane);
      const colour = palette[lanes.indexOf(b.lane) % palette.length], y = TOP + n * ROW;
      svg.appendChild(mk("text", { x: LEFT - 6, y: y + 15, "text-anchor": "end", "font-size": 11, fill: "#333" }, b.label));
      svg.appendChild(mk("rect", { x: x(b.from), y: y + 5, width: Math.max(1, x(b.to) - x(b.from)), height: 12, fill: withAlpha(colour, 0.25), "pointer-events": "none" }));
      const bar = mk("rect", { x: x(b.start), y: y + 3, width: Math.max(2, x(b.end) - x(b.start)), height: 16, fill: colour, class: "certain" });
      const first = b.ops.find((op) => op.call >= 0);
      if (first) { bar.style.cursor = "pointer"; bar.addEventListener("click", () => reveal(first.call)); }
      bar.appendChild(mk("title", {}, b.label + ": certainly " + fmtTime(b.start) + " – " + fmtTime(b.end)));
      svg.appendChild(bar);
    });
    item.marks.forEach((m) => {
      if (m.op.call < 0) return;
      const row = rowOf(m.op.call), y = TOP + (row >= 0 ? row : item.bars.length) * ROW;
      const end = m.op.t1 >= 0 ? m.op.t1 : t1;
      const box = mk("rect", { x: x(m.op.t0), y: y + 1, width: Math.max(3, x(end) - x(m.op.t0)), height: 20, fill: "none",
        stroke: "#d32f2f", "stroke-width": 2.5, class: "mark", "pointer-events": "all" });
      box.style.cursor = "pointer";
      box.addEventListener("click", () => reveal(m.op.call));
      box.appendChild(mk("title", {}, m.note + ": op " + m.op.index));
      svg.appendChild(box);
      if (row < 0) svg.appendChild(mk("text", { x: LEFT - 6, y: y + 15, "text-anchor": "end", "font-size": 11, fill: "#d32f2f" }, m.note));
    });
    return svg;
  }

  function drawIntervals(item, box) {
    if (item.bars.length) box.appendChild(intervalsSvg(item));
    const lines = item.bars.map((b) => el("li", null, [b.label + ": certainly " + fmtTime(b.start) + " – " + fmtTime(b.end) +
      ", possibly " + fmtTime(b.from) + " – " + fmtTime(b.to) + "; "].concat(b.ops.map((op, n) => n ? el("span", null, [", ", opLink(op)]) : opLink(op)))));
    for (const m of item.marks) lines.push(el("li", { className: "marked" }, [m.note + ": ", opLink(m.op)]));
    box.appendChild(el("ul", { className: "intervals" }, lines));
    if (item.overlap) box.appendChild(el("p", { className: "hint", text: "Overlap (red band): " + fmtTime(item.overlap[0]) + " – " + fmtTime(item.overlap[1]) + " into the run." }));
    moreNote(box, item.bars.length, item.count, "intervals");
  }

  function drawOther(item, box) {
    box.appendChild(el("pre", { text: item.text }));
  }

  function drawWindow(ev, box) {
    const facts = [["model", ev.model], ["key", ev.key], ["reason", ev.reason]];
    box.appendChild(el("table", null, facts.filter((f) => f[1] !== null && f[1] !== undefined && f[1] !== "").map((f) =>
      el("tr", null, [el("th", { text: f[0] }), el("td", { text: typeof f[1] === "string" ? f[1] : show(f[1]) })]))));

    box.appendChild(el("h4", { text: "Operation that could not be linearized" }));
    box.appendChild(el("ul", null, ev.failed.map((op) => el("li", null, [
      op.text !== undefined ? op.text : "process " + show(op.process) + ": " + describeOp(op),
    ]))));

    if (ev.window.length) {
      box.appendChild(el("h4", { text: "Failing window (" + plural(ev.window.length, "operation") + "; outlined: could not be placed)" }));
      box.appendChild(windowTimeline(ev.window, describeOp));
      const times = ev.window.filter((op) => op.text === undefined);
      if (times.length) {
        const first = Math.min.apply(null, times.map((op) => op.t0));
        const last = Math.max.apply(null, times.map((op) => (op.t1 >= 0 ? op.t1 : op.t0)));
        box.appendChild(el("p", { className: "hint", text: "From " + fmtTime(first) + " to " + fmtTime(last) +
          " into the run. Click an operation to find it in the timeline above." }));
      }
    }
    if (ev.hasStateBefore) {
      box.appendChild(el("h4", { text: "Model state before the failed operation" }));
      box.appendChild(el("pre", { text: show(ev.stateBefore) }));
    }
    if (ev.prefix) {
      const p = ev.prefix;
      box.appendChild(el("h4", { text: "Longest linearizable prefix (" + plural(p.rows.length + p.omitted, "operation") + ")" }));
      if (p.omitted) box.appendChild(el("p", { className: "hint", text: p.omitted + " earlier operations not shown." }));
      const rows = p.rows.map((row, n) => {
        const tr = el("tr", { className: row.call >= 0 ? "jump" : "" }, [
          el("td", { text: String(p.omitted + n + 1) }),
          el("td", { text: show(row.op, 160) }),
          el("td", { text: show(row.state, 160) }),
        ]);
        if (row.call >= 0) tr.addEventListener("click", () => reveal(row.call));
        return tr;
      });
      box.appendChild(el("table", { className: "prefix" }, [
        el("tr", null, [el("th", { text: "#" }), el("th", { text: "operation" }), el("th", { text: "state after" })]),
      ].concat(rows)));
    }
  }

  const DRAW_EVIDENCE = { window: drawWindow, elements: drawElements, ops: drawOps, table: drawTable, cycle: drawCycle, intervals: drawIntervals };

  function drawEvidence(items) {
    if (!items || !items.length) return;
    const box = document.getElementById("evidence");
    document.getElementById("evidence-section").hidden = false;
    for (const item of items) {
      const part = el("div", { className: "evidence-item", "data-kind": item.kind, "data-checker": item.checker });
      part.appendChild(el("h3", { text: item.checker + ": " + item.label }));
      (DRAW_EVIDENCE[item.kind] || drawOther)(item, part);
      box.appendChild(part);
    }
  }

  function windowTimeline(all, describe) {
    const ops = all.filter((op) => op.text === undefined);  // an op the page cannot place is listed above only
    const processes = [];
    for (const op of ops) { const key = show(op.process); if (!processes.includes(key)) processes.push(key); }
    let t0 = Infinity, t1 = -Infinity;
    for (const op of ops) { t0 = Math.min(t0, op.t0); t1 = Math.max(t1, op.t1 >= 0 ? op.t1 : op.t0); }
    const span = Math.max(1, t1 - t0);
    const box = el("div", { className: "win", style: { height: (processes.length * 24 + 8) + "px" } });
    processes.forEach((p, n) => box.appendChild(el("div", { className: "lane-label", text: "p " + p, style: { top: (n * 24 + 8) + "px" } })));
    for (const op of ops) {
      const end = op.t1 >= 0 ? op.t1 : t1;
      const left = ((op.t0 - t0) / span) * 100, width = Math.max(0.6, ((end - op.t0) / span) * 100);
      const kind = op.type === "ok" ? 0 : op.type === "fail" ? 1 : op.type === "invoke" ? 3 : 2;
      const bar = el("div", {
        className: "bar k" + kind + (op.failed ? " failed" : ""),
        text: describe(op),
        title: describe(op) + "  [" + fmtTime(op.t0) + " – " + (op.t1 >= 0 ? fmtTime(op.t1) : "never") + "]",
        style: { left: "calc(60px + (100% - 64px) * " + (left / 100) + ")", width: "calc((100% - 64px) * " + (width / 100) + ")", top: (processes.indexOf(show(op.process)) * 24 + 5) + "px" },
      });
      if (op.call >= 0) bar.addEventListener("click", () => reveal(op.call));
      box.appendChild(bar);
    }
    return box;
  }

  // ---------- start ----------

  window.faultlineReport = {
    ready: false, drawn: 0, frames: 0, charts: 0, count: count,
    // For tests and benchmarks: where call i is drawn, in page coordinates (null if off-view).
    locate: function (i) {
      const rect = canvas.getBoundingClientRect();
      const width = canvas.clientWidth;
      const top = AXIS_H + C.lane[i] * LANE_H - view.y;
      if (top < AXIS_H || top + LANE_H > canvas.clientHeight) return null;
      const x0 = Math.max(GUTTER, xOf(C.t0[i], width)), x1 = Math.min(width, xOf(endOf(i), width));
      if (x1 < GUTTER || x0 > width) return null;
      return { x: rect.left + (x0 + x1) / 2, y: rect.top + top + LANE_H / 2 };
    },
    findCall: function (index) {
      for (let i = 0; i < count; i++) if (C.i0[i] === index || C.i1[i] === index) return i;
      return -1;
    },
    zoomTo: zoomTo,
    // For benchmarks: draw the timeline now and say how long it took, in milliseconds.
    redraw: function () { const t = performance.now(); drawTimeline(); return performance.now() - t; },
    reveal: reveal,
  };
  // A short run needs no tall canvas; a long one scrolls its lanes (drag, or shift+wheel).
  canvas.style.height = Math.min(560, AXIS_H + laneCount * LANE_H + 6) + "px";
  drawTimeline();
  window.faultlineReport.ready = true;
  window.faultlineReport.readyAt = performance.now();
  setTimeout(drawCharts, 0);
  drawEvidence(data.evidence);
})();
